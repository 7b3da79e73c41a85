"""QBO JSON <-> canonical frames for any EntitySpec: JSON paths, value conversion, the named
derived fields (an invoice's amount_paid/status, a payment's invoice, ...), `qbo_to_frame`
and `row_to_qbo`. Everything is driven by the spec; nothing here names an entity except the
derived-field helpers the registry refers to by name."""
from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from qbo_pipeline.entity_model import EntitySpec, FieldMap, Kind, RegistryError, WorkspaceSettings

F, K = FieldMap, Kind


def _resolve(spec: EntitySpec | str) -> EntitySpec:
    if isinstance(spec, EntitySpec):
        return spec
    from qbo_pipeline.entities import get_spec  # the registry imports this module

    return get_spec(spec)


# -- JSON paths ----------------------------------------------------------------------------

def _segments(path: str) -> list[tuple[str, tuple[str, str] | None]]:
    out = []
    for part in path.split("."):
        if part.endswith("]") and "[" in part:
            name, condition = part[:-1].split("[", 1)
            key, _, value = condition.partition("=")
            out.append((name, (key, value)))
        else:
            out.append((part, None))
    return out


def get_path(record: Mapping[str, Any] | None, path: str) -> Any:
    node: Any = record
    for name, condition in _segments(path):
        if not isinstance(node, Mapping):
            return None
        node = node.get(name)
        if condition is not None:
            key, value = condition
            node = next(
                (x for x in node or [] if isinstance(x, Mapping) and str(x.get(key)) == value), None
            )
    return node


def set_path(body: dict[str, Any], path: str, value: Any) -> None:
    segments = _segments(path)
    node = body
    for index, (name, condition) in enumerate(segments):
        last = index == len(segments) - 1
        if condition is not None:
            key, cond_value = condition
            items = node.setdefault(name, [])
            element = next((x for x in items if str(x.get(key)) == cond_value), None)
            if element is None:
                element = {key: cond_value}
                items.append(element)
            if last:
                raise RegistryError(f"path {path!r} cannot end in a list filter")
            node = element
        elif last:
            node[name] = value
        else:
            node = node.setdefault(name, {})


# -- value conversion ----------------------------------------------------------------------

def _missing(value: object) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _decimal(value: object) -> Decimal | None:
    from qbo_pipeline.reconcile import money

    return money.to_decimal(value)


def _read_value(fm: FieldMap, raw: Any, settings: WorkspaceSettings) -> Any:
    from qbo_pipeline.reconcile import money

    if _missing(raw):
        return None
    kind = fm.kind
    if kind is Kind.REF:
        value = raw.get("value") if isinstance(raw, Mapping) else raw
        return None if _missing(value) else str(value)
    if kind is Kind.TAX_CODE:
        code = raw.get("value") if isinstance(raw, Mapping) else raw
        if code is None:
            return None
        return str(code) != settings.tax_code_non_taxable and str(code) != "NON"
    if kind is Kind.MONEY:
        return money.money(raw)
    if kind is Kind.QTY:
        return money.quantity(raw)
    if kind is Kind.DATE:
        return dt.date.fromisoformat(str(raw)[:10])
    if kind is Kind.BOOL:
        return bool(raw)
    if kind is Kind.ENUM:
        for canonical, qbo in fm.values + fm.read_values:
            if str(raw) == qbo:
                return canonical
        return str(raw).lower()
    if isinstance(raw, Mapping):  # a ref read as text (name)
        raw = raw.get("name")
        return None if raw is None else str(raw)
    return str(raw)


def _json_number(value: Decimal) -> int | float:
    """A JSON-native number from an exact Decimal (2-4 decimals round-trip through the
    float's shortest repr unchanged)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _write_value(
    fm: FieldMap, value: Any, settings: WorkspaceSettings, lookup: Callable[[str, str], str | None],
    record_label: str,
) -> Any:
    from qbo_pipeline.reconcile import money

    if _missing(value):
        return None
    kind = fm.kind
    if kind is Kind.REF:
        qbo_id = lookup(fm.ref, str(value))
        if qbo_id is None:
            raise RegistryError(
                f"{record_label}: {fm.column} {value} is not linked to a QBO {fm.ref} record; "
                f"sync {fm.ref} first (or fix the reference)"
            )
        return {"value": str(qbo_id)}
    if kind is Kind.TAX_CODE:
        taxable = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
        return {"value": settings.tax_code_taxable if taxable else settings.tax_code_non_taxable}
    if kind is Kind.MONEY:
        return _json_number(money.money(value))
    if kind is Kind.QTY:
        return _json_number(money.quantity(value).normalize())
    if kind is Kind.DATE:
        return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)[:10]
    if kind is Kind.BOOL:
        return bool(value)
    if kind is Kind.ENUM:
        for canonical, qbo in fm.values:
            if str(value) == canonical:
                return qbo
        raise RegistryError(
            f"{record_label}: {fm.column} has the value {value!r}, which QBO cannot take; "
            f"use one of {[c for c, _ in fm.values]}"
        )
    return str(value)


# -- derived fields ------------------------------------------------------------------------

def _is_voided(record: Mapping[str, Any]) -> bool:
    note = str(record.get("PrivateNote") or "")
    total = _decimal(record.get("TotalAmt"))
    return "Voided" in note and (total is None or total == 0)


def _read_subtotal(record: Mapping[str, Any], settings: WorkspaceSettings) -> Decimal | None:
    from qbo_pipeline.reconcile import money

    amounts = []
    for line in record.get("Line") or []:
        if line.get("DetailType") == "SubTotalLineDetail":
            return money.money(line.get("Amount"))
        if line.get("DetailType") == "SalesItemLineDetail":
            amounts.append(money.money(line.get("Amount")) or Decimal(0))
    return sum(amounts, money.ZERO) if amounts else None


def _read_amount_paid(record: Mapping[str, Any], settings: WorkspaceSettings) -> Decimal | None:
    from qbo_pipeline.reconcile import money

    total, balance = money.money(record.get("TotalAmt")), money.money(record.get("Balance"))
    if total is None:
        return None
    return total - (balance if balance is not None else total)


def _read_invoice_status(record: Mapping[str, Any], settings: WorkspaceSettings) -> str | None:
    from qbo_pipeline.reconcile import money

    if _is_voided(record):
        return "void"
    total, balance = money.money(record.get("TotalAmt")), money.money(record.get("Balance"))
    if total is None:
        return None
    balance = total if balance is None else balance
    if total > 0 and balance <= 0:
        return "paid"
    if 0 < balance < total:
        return "partially_paid"
    return "approved"


def _read_tax_inclusive(record: Mapping[str, Any], settings: WorkspaceSettings) -> bool:
    return record.get("GlobalTaxCalculation") == "TaxInclusive"


def _read_payment_invoice(record: Mapping[str, Any], settings: WorkspaceSettings) -> str | None:
    for line in record.get("Line") or []:
        for linked in line.get("LinkedTxn") or []:
            if linked.get("TxnType") == "Invoice" and linked.get("TxnId") is not None:
                return str(linked["TxnId"])
    return None


def _read_ref_name(fm: FieldMap) -> Callable[[Mapping[str, Any], WorkspaceSettings], str | None]:
    def read(record: Mapping[str, Any], settings: WorkspaceSettings) -> str | None:
        ref = get_path(record, fm.qbo_path) if fm.qbo_path else None
        if not isinstance(ref, Mapping):
            return None
        if ref.get("name"):
            return str(ref["name"])
        if fm.derive == "payment_method":
            for name, value in settings.payment_methods.items():
                if str(value) == str(ref.get("value")):
                    return name
            return None
        return settings.account_name(ref.get("value"))

    return read


_READERS: dict[str, Callable[[Mapping[str, Any], WorkspaceSettings], Any]] = {
    "subtotal": _read_subtotal,
    "amount_paid": _read_amount_paid,
    "invoice_status": _read_invoice_status,
    "tax_inclusive": _read_tax_inclusive,
    "payment_invoice": _read_payment_invoice,
}


def _read_field(fm: FieldMap, record: Mapping[str, Any], settings: WorkspaceSettings) -> Any:
    if fm.derive == "active":
        active = record.get("Active")
        return not (True if active is None else bool(active))
    if fm.derive in ("payment_method", "account"):
        return _read_ref_name(fm)(record, settings)
    if fm.derive is not None:
        return _READERS[fm.derive](record, settings)
    return _read_value(fm, get_path(record, fm.qbo_path), settings)


# -- QBO JSON -> canonical frame -----------------------------------------------------------

def _unwrap(spec: EntitySpec, record: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = record.get(spec.qbo_entity)
    if isinstance(inner, Mapping) and "Id" not in record:
        return inner
    return record


def _line_position(line: Mapping[str, Any], index: int) -> int:
    number = line.get("LineNum")
    try:
        return int(number)
    except (TypeError, ValueError):
        return index


def _read_lines(spec: EntitySpec, record: Mapping[str, Any], settings: WorkspaceSettings) -> list[dict]:
    ls = spec.line_spec
    out: list[dict] = []
    for index, line in enumerate(record.get("Line") or [], start=1):
        kind = line.get("DetailType")
        if ls.detail_type is not None and kind not in (ls.detail_type, "DescriptionOnly"):
            continue  # SubTotalLine (computed), discounts, groups: not JobsiteOn lines
        if ls.detail_type is None and kind == "SubTotalLineDetail":
            continue
        row: dict[str, Any] = {"position": _line_position(line, index)}
        for fm in ls.fields:
            row[fm.column] = _read_value(fm, get_path(line, fm.qbo_path), settings)
        if line.get("Id") is not None:
            row["qbo_line_id"] = str(line["Id"])
        out.append(row)
    return out


def _qbo_row(spec: EntitySpec, record: Mapping[str, Any], settings: WorkspaceSettings) -> dict[str, Any]:
    record = _unwrap(spec, record)
    meta = record.get("MetaData") or {}
    row: dict[str, Any] = {
        "qbo_id": None if record.get("Id") is None else str(record["Id"]),
        "qbo_sync_token": None if record.get("SyncToken") is None else str(record["SyncToken"]),
        "qbo_updated_at": meta.get("LastUpdatedTime"),
    }
    if str(record.get("status", "")).lower() == "deleted":
        row.update(qbo_active=False, qbo_status="deleted")
        for fm in spec.fields:
            row[fm.column] = None
        if spec.line_spec:
            row["lines"] = []
        return row
    if spec.is_name_list:
        active = record.get("Active")
        active = True if active is None else bool(active)
        row.update(qbo_active=active, qbo_status="active" if active else "inactive")
    else:
        voided = _is_voided(record)
        row.update(qbo_active=not voided, qbo_status="voided" if voided else "active")
    for fm in spec.fields:
        row[fm.column] = _read_field(fm, record, settings)
    if spec.is_name_list and not row["qbo_active"]:
        # QBO renames a customer deleted in its UI "Name (deleted)"; the twin keeps its name.
        name_field = spec.fields[0].column
        name = row.get(name_field)
        if isinstance(name, str) and name.endswith(" (deleted)"):
            row[name_field] = name[: -len(" (deleted)")]
    if spec.line_spec:
        row["lines"] = _read_lines(spec, record, settings)
    return row


def qbo_to_frame(
    spec: EntitySpec | str, records: Iterable[Mapping[str, Any]], settings: object = None
) -> pd.DataFrame:
    """QBO JSON objects -> the canonical QBO frame (module docstring). `settings` (optional)
    resolves tax codes and account/payment-method ids to names."""
    spec = _resolve(spec)
    resolved = WorkspaceSettings.coerce(settings)
    rows = [_qbo_row(spec, record, resolved) for record in records]
    frame = pd.DataFrame.from_records(rows, columns=spec.qbo_columns) if rows else pd.DataFrame(
        {name: pd.Series(dtype=object) for name in spec.qbo_columns}
    )
    frame["qbo_updated_at"] = pd.to_datetime(frame["qbo_updated_at"], utc=True, format="ISO8601")
    frame["qbo_active"] = frame["qbo_active"].astype(bool)
    for fm in spec.fields:
        if fm.kind is Kind.BOOL and frame[fm.column].notna().all():
            frame[fm.column] = frame[fm.column].astype(bool)
    return frame


# -- canonical row -> QBO body -------------------------------------------------------------

IdMapLookup = Callable[[str, str], "str | None"]


def id_map_lookup_from_frames(frames: Mapping[str, pd.DataFrame]) -> IdMapLookup:
    """A lookup (entity, jobsiteon_id) -> qbo_id over id-map frames keyed by entity name."""
    tables = {
        _resolve(entity).name: dict(zip(frame["jobsiteon_id"].astype(str), frame["qbo_id"].astype(str)))
        for entity, frame in frames.items()
    }

    def lookup(entity: str, jobsiteon_id: str) -> str | None:
        return tables.get(_resolve(entity).name, {}).get(str(jobsiteon_id))

    return lookup


def _row_dict(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    return row.to_dict() if isinstance(row, pd.Series) else dict(row)


def jobsiteon_active(spec: EntitySpec, row: Mapping[str, Any]) -> bool:
    """Whether the JobsiteOn record is live: not soft-deleted, not archived, not voided (an
    explicit "active" key — the plan's deactivate/reactivate values — decides first)."""
    if isinstance(row.get("active"), bool):
        return row["active"]
    if not _missing(row.get("deleted_at")):
        return False
    if spec.archived_column and bool(row.get(spec.archived_column)):
        return False
    if spec.void_status and row.get(spec.void_status[0]) == spec.void_status[1]:
        return False
    return True


def _write_derived(
    spec: EntitySpec, fm: FieldMap, body: dict[str, Any], row: Mapping[str, Any],
    settings: WorkspaceSettings, lookup: IdMapLookup, label: str,
    existing: Mapping[str, Any] | None = None,
) -> None:
    value = row.get(fm.column)
    if fm.derive == "tax_inclusive":
        if settings.send_global_tax_calculation:
            body["GlobalTaxCalculation"] = "TaxInclusive" if bool(value) else "TaxExcluded"
    elif fm.derive == "payment_invoice":
        amount_value = row.get("amount")
        if _missing(amount_value):  # an update of the link alone keeps the paid amount
            amount_value = body.get("TotalAmt", (existing or {}).get("TotalAmt"))
        amount = _write_value(F("amount", None, K.MONEY), amount_value, settings, lookup, label)
        if _missing(value):
            body["Line"] = []
        else:
            ref = _write_value(fm, value, settings, lookup, label)
            body["Line"] = [{"Amount": amount, "LinkedTxn": [{"TxnId": ref["value"], "TxnType": "Invoice"}]}]
    elif fm.derive == "payment_method":
        method_id = settings.payment_methods.get(value) if isinstance(value, str) else None
        if method_id is not None:
            body[fm.qbo_path] = {"value": str(method_id)}
    elif fm.derive == "account":
        default = settings.refund_account_id if spec.name == "refund_receipts" else None
        account_id = settings.account_id(value, default or settings.deposit_account_id)
        if account_id is not None:
            body[fm.qbo_path] = {"value": str(account_id)}


def _position_key(line: Mapping[str, Any]) -> float:
    position = line.get("position")
    return 0.0 if _missing(position) else float(position)


def qbo_lines(
    spec: EntitySpec, lines: Sequence[Mapping[str, Any]] | None, settings: WorkspaceSettings,
    lookup: IdMapLookup, label: str = "record",
) -> list[dict[str, Any]]:
    """JobsiteOn lines -> QBO Line[] (Amount = round_half_up(qty x price) as QBO demands)."""
    from qbo_pipeline.reconcile import money

    ls = spec.line_spec
    out = []
    for line in sorted(lines or [], key=_position_key):
        entry: dict[str, Any] = {}
        if ls.detail_type:
            entry["DetailType"] = ls.detail_type
            entry[ls.detail_type] = {}
        for fm in ls.fields:
            value = _write_value(fm, line.get(fm.column), settings, lookup, f"{label} line")
            if value is None:
                continue
            if fm.kind is Kind.REF and "[" in (fm.qbo_path or ""):
                set_path(entry, fm.qbo_path, value["value"])
                if spec.name == "deposits":
                    entry["LinkedTxn"][0]["TxnLineId"] = "0"
            else:
                set_path(entry, fm.qbo_path, value)
        if ls.amount_of:  # from the values as sent, so QBO's Qty x UnitPrice check (6070) holds
            qty, price = ls.amount_of
            entry["Amount"] = _json_number(money.line_amount(money.quantity(line.get(qty)), money.money(line.get(price))))
        elif ls.amount_column:
            entry["Amount"] = _json_number(money.money(line.get(ls.amount_column)) or money.ZERO)
        if ls.account_line_detail and "LinkedTxn" not in entry:
            if settings.income_account_id is None:
                raise RegistryError(
                    f"{label}: a {ls.table} line without a payment posts to an income account, "
                    "but the workspace has no default income account; map it in the connection settings"
                )
            entry["DetailType"] = ls.account_line_detail
            entry[ls.account_line_detail] = {"AccountRef": {"value": settings.income_account_id}}
        out.append(entry)
    return out


def _canonical_lines(spec: EntitySpec, lines: Sequence[Mapping[str, Any]] | None, translate=None) -> tuple:
    from qbo_pipeline.reconcile import normalize

    kinds = [(fm.column, fm.kind.value) for fm in spec.line_spec.compared]
    return normalize.comparable_lines(list(lines or []), kinds, translate)


def row_to_qbo(
    spec: EntitySpec | str,
    row: Mapping[str, Any] | pd.Series,
    *,
    id_map_lookup: IdMapLookup,
    settings: object = None,
    existing: Mapping[str, Any] | None = None,
    fields: Iterable[str] | None = None,
) -> dict[str, Any]:
    """A canonical JobsiteOn row -> a QBO create body, or (with `existing`, the current QBO
    object) a sparse update body with only the changed fields plus Id/SyncToken/sparse.

    `fields` limits an update to those canonical columns (the plan's `fields`); without it
    the changes are found by comparing with `existing`. References go through
    `id_map_lookup(entity, jobsiteon_id) -> qbo_id`; an unmapped one raises RegistryError.
    Read-only fields (totals, balances, MetaData) are never sent."""
    spec = _resolve(spec)
    settings = WorkspaceSettings.coerce(settings)
    row = _row_dict(row)
    label = f"{spec.name} {row.get('id', '(new)')}"
    existing = _unwrap(spec, existing) if existing is not None else None
    wanted = set(fields) if fields is not None else None

    body: dict[str, Any] = {}
    for fm in spec.fields:
        if fm.read_only or fm.derive == "active":
            continue
        if existing is not None:
            if wanted is not None and fm.column not in wanted:
                continue
            if wanted is None and not _field_differs(fm, row, existing, settings, id_map_lookup, label):
                continue
        if fm.derive:
            _write_derived(spec, fm, body, row, settings, id_map_lookup, label, existing)
            continue
        value = _write_value(fm, row.get(fm.column), settings, id_map_lookup, label)
        if value is None:
            if existing is None:
                continue
            value = _empty_value(fm)
        set_path(body, fm.qbo_path, value)
    if spec.line_spec is not None:
        send_lines = existing is None or (wanted is not None and "lines" in wanted)
        if existing is not None and wanted is None:
            current = _canonical_lines(spec, _read_lines(spec, existing, settings))
            translate = {
                r.column: (lambda v, ent=r.entity: None if _missing(v) else id_map_lookup(ent, str(v)))
                for r in spec.references if r.in_lines
            }
            send_lines = _canonical_lines(spec, row.get("lines"), translate) != current
        if send_lines:
            body["Line"] = qbo_lines(spec, row.get("lines"), settings, id_map_lookup, label)
    if spec.is_name_list:
        active = jobsiteon_active(spec, row)
        current_active = True if existing is None else existing.get("Active", True) is not False
        if active != current_active or (existing is None and not active):
            body["Active"] = active
    for path, setting, required in spec.qbo_create_defaults:
        if existing is not None and get_path(existing, path) is not None:
            continue
        value = getattr(settings, setting)
        if value is None:
            if required and existing is None:
                raise RegistryError(
                    f"{label}: QBO needs {path} to create a {spec.qbo_entity}, but the workspace "
                    f"has no {setting}; map it in the connection settings"
                )
            continue
        set_path(body, path, {"value": str(value)})
    if existing is None:
        if settings.txn_tax_code_id and spec.line_spec and spec.line_spec.detail_type == "SalesItemLineDetail":
            body["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": settings.txn_tax_code_id}}
        return body
    for key, value in list(body.items()):
        current = existing.get(key)
        if isinstance(value, dict) and isinstance(current, Mapping) and not key.endswith("Ref"):
            merged = copy.deepcopy(dict(current))
            merged.update(value)
            body[key] = merged
    update = {"Id": str(existing["Id"]), "SyncToken": str(existing.get("SyncToken", "0")), "sparse": True}
    update.update(body)
    return update


def _empty_value(fm: FieldMap) -> Any:
    """What clears a field in a sparse update (QBO keeps fields that are simply omitted)."""
    if fm.kind in (Kind.MONEY, Kind.QTY):
        return 0
    if fm.kind is Kind.BOOL:
        return False
    return "" if fm.kind in (Kind.TEXT, Kind.EMAIL, Kind.PHONE) else None


def _field_differs(
    fm: FieldMap, row: Mapping[str, Any], existing: Mapping[str, Any], settings: WorkspaceSettings,
    lookup: IdMapLookup, label: str,
) -> bool:
    from qbo_pipeline.reconcile import normalize

    current = _read_field(fm, existing, settings)
    wanted = row.get(fm.column)
    if fm.kind is Kind.REF and not _missing(wanted):
        wanted = lookup(fm.ref, str(wanted))
    return normalize.comparable(fm.kind.value, wanted) != normalize.comparable(fm.kind.value, current)
