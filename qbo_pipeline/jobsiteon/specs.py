"""Which table (and line table) backs each JobsiteOn entity, and how incoming values are
normalized to the column types before they are compared or written."""
from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pandas as pd
import sqlalchemy as sa

from qbo_pipeline.jobsiteon import schema
from qbo_pipeline.jobsiteon.schema import UTCDateTime


class StoreError(Exception):
    """Base class of the JobsiteOn store's errors."""


class InvalidRecord(StoreError, ValueError):
    """A record cannot be written as given (unknown field, bad value, missing required field)."""


class RecordNotFound(StoreError, LookupError):
    """The record (or workspace) named does not exist."""


ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("invoices", "status"): schema.INVOICE_STATUSES,
    ("pricebook_items", "type"): schema.ITEM_TYPES,
    ("payments", "origin"): schema.PAYMENT_ORIGINS,
    ("purchase_orders", "status"): schema.PURCHASE_ORDER_STATUSES,
}

HIDDEN_COLUMNS = ("workspace_id", "created_at")


@dataclass(frozen=True)
class EntitySpec:
    name: str
    table: sa.Table
    id_prefix: str
    lines: sa.Table | None = None
    parent_column: str | None = None

    @property
    def frame_columns(self) -> list[str]:
        return [c.name for c in self.table.columns if c.name not in HIDDEN_COLUMNS]

    @property
    def writable_columns(self) -> list[str]:
        """Columns an upsert may carry (besides `lines`); updated_at may be given to
        record when the change really happened."""
        return [c for c in self.frame_columns if c != "id"]

    @property
    def line_columns(self) -> list[str]:
        if self.lines is None:
            return []
        return [c.name for c in self.lines.columns if c.name not in ("id", self.parent_column)]


ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec("contacts", schema.contacts, "con"),
        EntitySpec("pricebook_items", schema.pricebook_items, "itm"),
        EntitySpec("invoices", schema.invoices, "inv", schema.invoice_lines, "invoice_id"),
        EntitySpec("payments", schema.payments, "pay"),
        EntitySpec("vendors", schema.vendors, "ven"),
        EntitySpec("deposits", schema.deposits, "dep", schema.deposit_lines, "deposit_id"),
        EntitySpec(
            "credit_memos", schema.credit_memos, "crm", schema.credit_memo_lines, "credit_memo_id"
        ),
        EntitySpec(
            "refund_receipts",
            schema.refund_receipts,
            "rfr",
            schema.refund_receipt_lines,
            "refund_receipt_id",
        ),
        EntitySpec(
            "purchase_orders",
            schema.purchase_orders,
            "po",
            schema.purchase_order_lines,
            "purchase_order_id",
        ),
    )
}


# The entity registry (qbo_pipeline/entities.py) names two entities after their QBO side;
# the store answers to those names too. Feed entries always carry the table name.
ALIASES = {"customers": "contacts", "items": "pricebook_items"}


def get_spec(entity: str) -> EntitySpec:
    try:
        return ENTITIES[ALIASES.get(entity, entity)]
    except KeyError:
        raise InvalidRecord(
            f"unknown JobsiteOn entity {entity!r}; use one of: {', '.join(ENTITIES)}"
        ) from None


def is_missing(value: object) -> bool:
    """None, and the missing markers pandas frames carry (NaN, NaT, pd.NA)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _decimal(value: object, scale: int) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, float):
        value = repr(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, int):
        value = int(value)  # numpy integers
    return Decimal(value).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def _datetime(value: object) -> dt.datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, dt.datetime):
        raise TypeError("expected a datetime or an ISO-8601 string")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    raise TypeError("expected a date or an ISO-8601 date string")


def _bool(value: object) -> bool:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise TypeError("expected true or false")
    if value in (True, False):
        return bool(value)
    raise TypeError("expected true or false")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(value)
    raise TypeError("expected text")


def coerce_value(column: sa.Column, value: object) -> object:
    """`value` as the Python type the column reads back as (raises TypeError/ValueError)."""
    if is_missing(value):
        return None
    column_type = column.type
    if isinstance(column_type, UTCDateTime):
        return _datetime(value)
    if isinstance(column_type, sa.Numeric):
        return _decimal(value, column_type.scale or 0)
    if isinstance(column_type, sa.Boolean):
        return _bool(value)
    if isinstance(column_type, sa.Date):
        return _date(value)
    if isinstance(column_type, sa.Integer):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError("expected an integer")
        return int(value)
    return _text(value)


def coerce_field(spec: EntitySpec, table: sa.Table, record_id: str, field: str, value: object):
    """Coerces one field, with an error that names the record, the cause and the fix."""
    if field not in table.columns:
        known = spec.line_columns if table is spec.lines else spec.writable_columns
        raise InvalidRecord(
            f"{spec.name} {record_id}: unknown field {field!r} for {table.name}; "
            f"remove it or use one of: {', '.join(known)}"
        )
    try:
        coerced = coerce_value(table.columns[field], value)
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise InvalidRecord(
            f"{spec.name} {record_id}: field {field!r} has the invalid value {value!r} "
            f"({exc or type(exc).__name__}); send a value of type {table.columns[field].type}"
        ) from None
    allowed = ENUMS.get((table.name, field))
    if allowed and coerced is not None and coerced not in allowed:
        raise InvalidRecord(
            f"{spec.name} {record_id}: {field} {coerced!r} is not allowed; "
            f"use one of: {', '.join(allowed)}"
        )
    return coerced


def python_default(column: sa.Column) -> object:
    """The value the column's server default would give, as the column reads it back."""
    default = column.server_default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if isinstance(arg, str):
        return coerce_value(column, arg)
    if isinstance(arg, sa.sql.elements.True_):
        return True
    if isinstance(arg, sa.sql.elements.False_):
        return False
    return None


def insert_defaults(table: sa.Table) -> dict[str, object]:
    return {c.name: python_default(c) for c in table.columns}


def normalize_lines(spec: EntitySpec, record_id: str, lines: object) -> list[dict]:
    """Lines as full dicts of the line columns, positions 1..n unless given."""
    if not isinstance(lines, list | tuple):
        if is_missing(lines):
            return []
        raise InvalidRecord(f"{spec.name} {record_id}: `lines` must be a list of dicts")
    assert spec.lines is not None
    defaults = {c: python_default(spec.lines.columns[c]) for c in spec.line_columns}
    normalized = []
    for index, line in enumerate(lines, start=1):
        if not isinstance(line, Mapping):
            raise InvalidRecord(f"{spec.name} {record_id}: line {index} is not a dict")
        row = dict(defaults)
        row["position"] = index
        for field, value in line.items():
            if field in ("id", spec.parent_column):
                continue  # lines are owned by their parent; their ids are derived
            coerced = coerce_field(spec, spec.lines, f"{record_id} line {index}", field, value)
            if coerced is None and not spec.lines.columns[field].nullable:
                coerced = defaults[field]
            row[field] = coerced
        normalized.append(row)
    normalized.sort(key=lambda row: row["position"])
    return normalized
