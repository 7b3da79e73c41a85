"""The entity registry: one declarative `EntitySpec` per synced entity; everything else —
QBO JSON -> canonical frame, canonical row -> QBO request body, the asset graph's order, the
reconciliation rules — is generated from it.

Vocabulary
----------
- Canonical columns are JobsiteOn's column names (docs/jobsiteon-schema.md).
- `name` is the asset-key name (QBO-side plural: customers, items, invoices, ...), also the
  `entity` value of the id map. `get_spec` also resolves the JobsiteOn table name
  ("contacts") and the QBO entity name ("Customer").
- `direction`: TWO_WAY, PUSH (JobsiteOn -> QBO) or PULL (QBO -> JobsiteOn). The flags
  `push_creates`, `push_updates`, `pull_creates`, `pull_updates` default from it and can be
  overridden (items: PUSH but `pull_updates=True`, so edits made in QBO come back when they
  are the most recent; invoices: PUSH, QBO-created invoices are never pulled).
- `FieldMap(column, qbo_path, kind, ...)`: one canonical column <-> one QBO JSON path
  ("PrimaryEmailAddr.Address"; "LinkedTxn[TxnType=Payment].TxnId" picks the first list
  element whose TxnType is Payment). Kinds: text, email, phone, money, qty, date, bool, enum,
  ref (value is the referenced record's id: a QBO id in the QBO frame, a JobsiteOn id in the
  JobsiteOn frame), tax_code (canonical bool <-> TaxCodeRef through the workspace's tax-code
  mapping). Per field: `direction` (e.g. an invoice's amount_paid/balance/status are PULL),
  `conflict` (per-field override of the conflict policy), `read_only` (QBO computes it; never
  sent), `recomputed` (QBO derives it from pushed fields — an invoice's balance from its
  lines — so while the record is being pushed it is pulled on the next run), `check`
  (compared, never written: a difference is reported — invoice totals),
  `compare=False` (written, not compared: values that only round-trip through workspace
  settings, such as an account chosen by name). `derive` names a special reader/writer.
- `references`: the entities this one points at (from its ref fields, lines included), used
  to translate ids and by `topological_order()` (customers and items before invoices, ...).
- `match_keys`: how unlinked records find their twin, in order: `id_map` first, then e.g.
  `email` (scope "all": searched over every record of the other side, so a duplicate of an
  already linked record is caught) and `name` (scope "unlinked": a fallback among unlinked
  records; QBO's own DisplayName uniqueness backs it up).
- `conflict_policy`: most recent change wins unless a field overrides it; the loser's
  values are recorded in the plan for the sync log.
- `line_spec`: documents' lines (invoice_lines, ...): their columns <-> Line[] paths.

Generated functions
-------------------
- `qbo_to_frame(spec, records)`: QBO JSON (bare objects, read envelopes, CDC tombstones) ->
  DataFrame with `qbo_id`, `qbo_sync_token`, `qbo_updated_at` (UTC), `qbo_active`,
  `qbo_status` (active | inactive | voided | deleted), the canonical columns (refs as QBO
  ids, money/qty as Decimal, dates as datetime.date) and `lines` for documents.
  A transaction is voided when its PrivateNote says "Voided" and its total is zero.
- `row_to_qbo(spec, row, id_map_lookup=..., settings=..., existing=None, fields=None)`:
  canonical row -> QBO create body, or with `existing` (the current QBO object) a sparse
  update body holding only the changed fields plus Id/SyncToken/sparse.
- `topological_order()`, `REGISTRY`, `get_spec()`, `WorkspaceSettings.coerce()`.
"""
from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum
from typing import Any

import pandas as pd


class Direction(str, Enum):
    TWO_WAY = "two_way"
    PUSH = "push"  # JobsiteOn -> QBO
    PULL = "pull"  # QBO -> JobsiteOn


class Kind(str, Enum):
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    MONEY = "money"
    QTY = "qty"
    DATE = "date"
    BOOL = "bool"
    ENUM = "enum"
    REF = "ref"
    TAX_CODE = "tax_code"
    LINES = "lines"


class Conflict(str, Enum):
    MOST_RECENT = "most_recent"
    JOBSITEON = "jobsiteon"
    QBO = "qbo"


class RegistryError(ValueError):
    """A record cannot be mapped as asked (unmapped reference, missing setting, ...)."""


@dataclass(frozen=True)
class FieldMap:
    column: str
    qbo_path: str | None
    kind: Kind = Kind.TEXT
    ref: str | None = None
    direction: Direction | None = None
    conflict: Conflict | None = None
    read_only: bool = False
    compare: bool = True
    check: bool = False
    values: tuple[tuple[str, str], ...] = ()  # (canonical, QBO) for enums
    read_values: tuple[tuple[str, str], ...] = ()  # extra QBO -> canonical, read only
    derive: str | None = None
    required: bool = False
    recomputed: bool = False  # QBO recomputes it from pushed fields (balance from lines)


@dataclass(frozen=True)
class MatchKey:
    name: str  # id_map | email | name | doc_number | <composite name>
    columns: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # normalizers (reconcile.normalize.KEYS), one per column
    scope: str = "all"  # "all" | "unlinked"
    guard: tuple[tuple[str, str], ...] = ()  # (column, kind): both set and different -> no match


@dataclass(frozen=True)
class LineSpec:
    table: str
    parent_column: str
    detail_type: str | None  # None: the line carries no *Detail object (deposits)
    fields: tuple[FieldMap, ...]
    amount_of: tuple[str, str] | None = None  # (qty column, price column) -> Line.Amount
    amount_column: str | None = None  # lines that store their amount (deposits)
    account_line_detail: str | None = None  # lines without a linked txn post to an account

    @property
    def compared(self) -> tuple[FieldMap, ...]:
        return tuple(f for f in self.fields if f.compare)


@dataclass(frozen=True)
class Reference:
    column: str
    entity: str
    required: bool
    in_lines: bool


@dataclass(frozen=True)
class EntitySpec:
    name: str
    qbo_entity: str
    jobsiteon_table: str
    direction: Direction
    fields: tuple[FieldMap, ...]
    match_keys: tuple[MatchKey, ...]
    is_name_list: bool = False
    deletable_in_qbo: bool = True
    qbo_remove: str = "delete"  # what delete_qbo does: "void" | "delete"
    push_creates: bool | None = None
    push_updates: bool | None = None
    pull_creates: bool | None = None
    pull_updates: bool | None = None
    conflict_policy: Conflict = Conflict.MOST_RECENT
    line_spec: LineSpec | None = None
    archived_column: str | None = None  # JobsiteOn bool column meaning "inactive" (items)
    void_status: tuple[str, str] | None = None  # (column, value) meaning voided in JobsiteOn
    sync_statuses: tuple[str, tuple[str, ...]] | None = None  # only these rows sync
    qbo_inactive_policy: str = "archive"  # inactive in QBO -> "archive" in JobsiteOn | "flag"
    qbo_edit_policy: str = "overwrite"  # push-only field edited in QBO -> "overwrite" | "flag"
    jobsiteon_defaults: tuple[tuple[str, Any], ...] = ()  # set on records created from QBO
    qbo_create_defaults: tuple[tuple[str, str, bool], ...] = ()  # (path, setting, required)
    references: tuple[Reference, ...] = field(init=False)

    def __post_init__(self) -> None:
        push = self.direction in (Direction.TWO_WAY, Direction.PUSH)
        pull = self.direction in (Direction.TWO_WAY, Direction.PULL)
        for flag, default in (
            ("push_creates", push), ("push_updates", push),
            ("pull_creates", pull), ("pull_updates", pull),
        ):
            if getattr(self, flag) is None:
                object.__setattr__(self, flag, default)
        refs = [Reference(f.column, f.ref, f.required, False) for f in self.fields if f.kind is Kind.REF]
        if self.line_spec is not None:
            refs += [
                Reference(f.column, f.ref, f.required, True)
                for f in self.line_spec.fields if f.kind is Kind.REF
            ]
        object.__setattr__(self, "references", tuple(refs))

    # -- derived views -------------------------------------------------------------------

    @property
    def compared_fields(self) -> tuple[FieldMap, ...]:
        return tuple(f for f in self.fields if f.compare and f.derive != "active")

    @property
    def referenced_entities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.entity for r in self.references))

    @property
    def qbo_columns(self) -> list[str]:
        columns = list(QBO_META_COLUMNS) + [f.column for f in self.fields]
        return columns + (["lines"] if self.line_spec else [])

    def field_map(self, column: str) -> FieldMap:
        for fm in self.fields:
            if fm.column == column:
                return fm
        raise KeyError(f"{self.name} has no field {column!r}")

    def field_direction(self, fm: FieldMap) -> Direction:
        return fm.direction or self.direction

    def can_push(self, fm: FieldMap | None = None) -> bool:
        if fm is not None and (fm.read_only or fm.check):
            return False
        if fm is not None and fm.direction is Direction.PULL:
            return False
        return bool(self.push_updates) or (fm is not None and fm.direction is Direction.PUSH)

    def can_pull(self, fm: FieldMap | None = None) -> bool:
        if fm is not None and fm.check:
            return False
        if fm is not None and fm.direction is Direction.PUSH:
            return False
        if fm is not None and fm.direction is Direction.PULL:
            return True
        return bool(self.pull_updates)

    def with_conflict_overrides(self, overrides: Mapping[str, Conflict | str]) -> EntitySpec:
        """A copy whose fields named in `overrides` resolve conflicts as given (a workspace's
        policy: e.g. {"email": "jobsiteon"})."""
        unknown = set(overrides) - {f.column for f in self.fields} - {"lines"}
        if unknown:
            raise RegistryError(f"{self.name}: no field(s) {sorted(unknown)} to override")
        fields = tuple(
            replace(f, conflict=Conflict(overrides[f.column])) if f.column in overrides else f
            for f in self.fields
        )
        return replace(self, fields=fields)


QBO_META_COLUMNS = ("qbo_id", "qbo_sync_token", "qbo_updated_at", "qbo_active", "qbo_status")


# -- workspace settings --------------------------------------------------------------------

@dataclass(frozen=True)
class WorkspaceSettings:
    """What a workspace mapped at connect time, as the registry needs it."""

    income_account_id: str | None = None
    tax_code_taxable: str = "TAX"
    tax_code_non_taxable: str = "NON"
    tax_rate: Decimal | None = None  # fraction, 0.08 = 8 %
    txn_tax_code_id: str | None = None
    ap_account_id: str | None = None
    deposit_account_id: str | None = None
    refund_account_id: str | None = None
    accounts: Mapping[str, str] = field(default_factory=dict)  # account name -> QBO id
    payment_methods: Mapping[str, str] = field(default_factory=dict)  # method -> QBO id
    send_global_tax_calculation: bool = True

    _ALIASES = {
        "default_income_account_id": "income_account_id",
        "default_income_account": "income_account_id",
        "income_account": "income_account_id",
        "ap_account": "ap_account_id",
        "deposit_account": "deposit_account_id",
    }

    @classmethod
    def coerce(cls, value: object) -> WorkspaceSettings:
        """Accepts None, a WorkspaceSettings, the state's ConnectionSettings or a mapping;
        `tax_code_mapping` may be {"taxable"|"TAX"|True: code, "non_taxable"|"NON"|False: code}."""
        if isinstance(value, WorkspaceSettings):
            return value
        if value is None:
            return cls()
        if isinstance(value, Mapping):
            data = dict(value)
        elif hasattr(value, "__dataclass_fields__"):
            data = {name: getattr(value, name) for name in value.__dataclass_fields__}
        else:
            raise RegistryError(f"settings must be a mapping or dataclass, got {type(value).__name__}")
        known = set(cls.__dataclass_fields__)
        kwargs: dict[str, Any] = {}
        for key, item in data.items():
            key = cls._ALIASES.get(key, key)
            if key in known and item is not None:
                kwargs[key] = item
        mapping = data.get("tax_code_mapping") or {}
        for key, code in dict(mapping).items():
            marker = str(key).strip().lower()
            if marker in ("taxable", "tax", "true", "yes"):
                kwargs["tax_code_taxable"] = str(code)
            elif marker in ("non_taxable", "nontaxable", "non", "false", "no", "exempt"):
                kwargs["tax_code_non_taxable"] = str(code)
        if "tax_rate" in kwargs:
            kwargs["tax_rate"] = Decimal(str(kwargs["tax_rate"]))
        elif data.get("tax_percent") is not None:
            kwargs["tax_rate"] = Decimal(str(data["tax_percent"])) / 100
        return cls(**kwargs)

    def account_id(self, name: object, default: str | None) -> str | None:
        if isinstance(name, str) and name in self.accounts:
            return str(self.accounts[name])
        return default

    def account_name(self, account_id: object) -> str | None:
        for name, value in self.accounts.items():
            if str(value) == str(account_id):
                return name
        return None


# -- the registry --------------------------------------------------------------------------

F, K, D, C = FieldMap, Kind, Direction, Conflict


def _party_fields() -> tuple[FieldMap, ...]:
    return (
        F("name", "DisplayName", required=True),
        F("email", "PrimaryEmailAddr.Address", K.EMAIL),
        F("phone", "PrimaryPhone.FreeFormNumber", K.PHONE),
        F("billing_line1", "BillAddr.Line1"),
        F("billing_city", "BillAddr.City"),
        F("billing_state", "BillAddr.CountrySubDivisionCode"),
        F("billing_postal_code", "BillAddr.PostalCode"),
        F("billing_country", "BillAddr.Country"),
    )


def _sales_lines(table: str, parent: str) -> LineSpec:
    detail = "SalesItemLineDetail"
    return LineSpec(
        table=table,
        parent_column=parent,
        detail_type=detail,
        fields=(
            F("item_id", f"{detail}.ItemRef", K.REF, ref="items"),
            F("description", "Description"),
            F("qty", f"{detail}.Qty", K.QTY),
            F("unit_price", f"{detail}.UnitPrice", K.MONEY),
            F("taxable", f"{detail}.TaxCodeRef", K.TAX_CODE),
        ),
        amount_of=("qty", "unit_price"),
    )


def _sales_header(customer_required: bool = True) -> tuple[FieldMap, ...]:
    return (
        F("number", "DocNumber"),
        F("contact_id", "CustomerRef", K.REF, ref="customers", required=customer_required),
        F("issue_date", "TxnDate", K.DATE),
    )


def _doc_number_keys() -> tuple[MatchKey, ...]:
    return (MatchKey("id_map"), MatchKey("doc_number", ("number",), ("doc_number",), "all"))


def _party_keys() -> tuple[MatchKey, ...]:
    return (
        MatchKey("id_map"),
        MatchKey("email", ("email",), ("email",), "all"),
        MatchKey("name", ("name",), ("name",), "unlinked", guard=(("email", "email"),)),
    )


_SPECS = (
    EntitySpec(
        name="customers", qbo_entity="Customer", jobsiteon_table="contacts",
        direction=D.TWO_WAY, fields=_party_fields(), match_keys=_party_keys(),
        is_name_list=True, deletable_in_qbo=False,
    ),
    EntitySpec(
        name="items", qbo_entity="Item", jobsiteon_table="pricebook_items",
        direction=D.PUSH, pull_updates=True,
        fields=(
            F("name", "Name", required=True),
            F("description", "Description"),
            F("default_price", "UnitPrice", K.MONEY),
            F("type", "Type", K.ENUM, values=(("service", "Service"), ("part", "NonInventory")),
              read_values=(("part", "Inventory"),)),
            F("archived", "Active", K.BOOL, derive="active"),
        ),
        match_keys=(MatchKey("id_map"), MatchKey("name", ("name",), ("name",), "all")),
        is_name_list=True, deletable_in_qbo=False, archived_column="archived",
        qbo_create_defaults=(("IncomeAccountRef", "income_account_id", True),),
    ),
    EntitySpec(
        name="vendors", qbo_entity="Vendor", jobsiteon_table="vendors",
        direction=D.TWO_WAY, fields=_party_fields(), match_keys=_party_keys(),
        is_name_list=True, deletable_in_qbo=False,
    ),
    EntitySpec(
        name="invoices", qbo_entity="Invoice", jobsiteon_table="invoices",
        direction=D.PUSH,
        fields=_sales_header() + (
            F("due_date", "DueDate", K.DATE),
            F("tax_inclusive", None, K.BOOL, derive="tax_inclusive"),
            F("subtotal", None, K.MONEY, derive="subtotal", read_only=True, compare=False),
            F("tax", "TxnTaxDetail.TotalTax", K.MONEY, read_only=True, compare=False),
            F("total", "TotalAmt", K.MONEY, read_only=True, check=True),
            F("amount_paid", None, K.MONEY, derive="amount_paid", read_only=True, direction=D.PULL),
            F("balance", "Balance", K.MONEY, read_only=True, direction=D.PULL, recomputed=True),
            F("status", None, K.ENUM, derive="invoice_status", read_only=True, direction=D.PULL,
              recomputed=True),
        ),
        match_keys=_doc_number_keys(),
        qbo_remove="void", void_status=("status", "void"),
        sync_statuses=("status", ("approved", "partially_paid", "paid", "void")),
        line_spec=_sales_lines("invoice_lines", "invoice_id"),
    ),
    EntitySpec(
        name="credit_memos", qbo_entity="CreditMemo", jobsiteon_table="credit_memos",
        direction=D.TWO_WAY,
        fields=_sales_header() + (
            F("tax_inclusive", None, K.BOOL, derive="tax_inclusive"),
            F("subtotal", None, K.MONEY, derive="subtotal", read_only=True, compare=False),
            F("tax", "TxnTaxDetail.TotalTax", K.MONEY, read_only=True, compare=False),
            F("total", "TotalAmt", K.MONEY, read_only=True, check=True),
            F("remaining_credit", "RemainingCredit", K.MONEY, read_only=True, direction=D.PULL,
              recomputed=True),
        ),
        match_keys=_doc_number_keys(),
        line_spec=_sales_lines("credit_memo_lines", "credit_memo_id"),
    ),
    EntitySpec(
        name="refund_receipts", qbo_entity="RefundReceipt", jobsiteon_table="refund_receipts",
        direction=D.TWO_WAY,
        fields=_sales_header(customer_required=False) + (
            F("payment_method", "PaymentMethodRef", K.TEXT, derive="payment_method", compare=False),
            F("refund_from_account", "DepositToAccountRef", K.TEXT, derive="account", compare=False),
            F("total", "TotalAmt", K.MONEY, read_only=True, check=True),
        ),
        match_keys=_doc_number_keys(),
        line_spec=_sales_lines("refund_receipt_lines", "refund_receipt_id"),
    ),
    EntitySpec(
        name="purchase_orders", qbo_entity="PurchaseOrder", jobsiteon_table="purchase_orders",
        direction=D.TWO_WAY,
        fields=(
            F("number", "DocNumber"),
            F("vendor_id", "VendorRef", K.REF, ref="vendors", required=True),
            F("status", "POStatus", K.ENUM, values=(("open", "Open"), ("closed", "Closed"))),
            F("issue_date", "TxnDate", K.DATE),
            F("due_date", "DueDate", K.DATE),
            F("memo", "Memo"),
            F("total", "TotalAmt", K.MONEY, read_only=True, check=True),
        ),
        match_keys=_doc_number_keys(),
        line_spec=LineSpec(
            table="purchase_order_lines", parent_column="purchase_order_id",
            detail_type="ItemBasedExpenseLineDetail",
            fields=(
                F("item_id", "ItemBasedExpenseLineDetail.ItemRef", K.REF, ref="items"),
                F("description", "Description"),
                F("qty", "ItemBasedExpenseLineDetail.Qty", K.QTY),
                F("unit_cost", "ItemBasedExpenseLineDetail.UnitPrice", K.MONEY),
            ),
            amount_of=("qty", "unit_cost"),
        ),
        qbo_create_defaults=(("APAccountRef", "ap_account_id", False),),
    ),
    EntitySpec(
        name="payments", qbo_entity="Payment", jobsiteon_table="payments",
        direction=D.TWO_WAY,
        fields=(
            F("contact_id", "CustomerRef", K.REF, ref="customers", required=True),
            F("invoice_id", None, K.REF, ref="invoices", derive="payment_invoice"),
            F("amount", "TotalAmt", K.MONEY),
            F("paid_on", "TxnDate", K.DATE),
            F("method", "PaymentMethodRef", K.TEXT, derive="payment_method", compare=False),
            F("reference", "PaymentRefNum"),
        ),
        match_keys=(
            MatchKey("id_map"),
            MatchKey("payment", ("contact_id", "paid_on", "amount"), ("ref", "date", "money"), "unlinked"),
        ),
        qbo_remove="void", jobsiteon_defaults=(("origin", "qbo"),),
    ),
    EntitySpec(
        name="deposits", qbo_entity="Deposit", jobsiteon_table="deposits",
        direction=D.TWO_WAY,
        fields=(
            F("deposited_on", "TxnDate", K.DATE),
            F("account_name", "DepositToAccountRef", K.TEXT, derive="account", compare=False),
            F("memo", "PrivateNote"),
            F("total", "TotalAmt", K.MONEY, read_only=True, check=True),
        ),
        match_keys=(
            MatchKey("id_map"),
            MatchKey("deposit", ("deposited_on", "total"), ("date", "money"), "unlinked"),
        ),
        line_spec=LineSpec(
            table="deposit_lines", parent_column="deposit_id", detail_type=None,
            fields=(
                F("payment_id", "LinkedTxn[TxnType=Payment].TxnId", K.REF, ref="payments"),
                F("description", "Description"),
                F("amount", "Amount", K.MONEY),
            ),
            amount_column="amount", account_line_detail="DepositLineDetail",
        ),
    ),
)

REGISTRY: dict[str, EntitySpec] = {spec.name: spec for spec in _SPECS}


def get_spec(key: str | EntitySpec) -> EntitySpec:
    """The spec by registry name, JobsiteOn table name or QBO entity name."""
    if isinstance(key, EntitySpec):
        return key
    for spec in _SPECS:
        if key in (spec.name, spec.jobsiteon_table, spec.qbo_entity):
            return spec
    raise RegistryError(
        f"unknown entity {key!r}; use one of: {', '.join(REGISTRY)} "
        "(or a JobsiteOn table / QBO entity name)"
    )


def topological_order(specs: Iterable[EntitySpec] | None = None) -> list[EntitySpec]:
    """Specs ordered so every entity comes after the entities it references (stable:
    registry order among independent ones). Raises on a reference cycle."""
    pending = list(specs if specs is not None else _SPECS)
    names = {spec.name for spec in pending}
    done: list[EntitySpec] = []
    placed: set[str] = set()
    while pending:
        ready = [
            s for s in pending
            if all(dep in placed or dep not in names or dep == s.name for dep in s.referenced_entities)
        ]
        if not ready:
            raise RegistryError(f"reference cycle among {[s.name for s in pending]}")
        for spec in ready:
            done.append(spec)
            placed.add(spec.name)
            pending.remove(spec)
    return done


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
    spec = get_spec(spec)
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
        get_spec(entity).name: dict(zip(frame["jobsiteon_id"].astype(str), frame["qbo_id"].astype(str)))
        for entity, frame in frames.items()
    }

    def lookup(entity: str, jobsiteon_id: str) -> str | None:
        return tables.get(get_spec(entity).name, {}).get(str(jobsiteon_id))

    return lookup


def _row_dict(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    return row.to_dict() if isinstance(row, pd.Series) else dict(row)


def jobsiteon_active(spec: EntitySpec, row: Mapping[str, Any]) -> bool:
    """Whether the JobsiteOn record is live: not soft-deleted, not archived, not voided."""
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
    spec = get_spec(spec)
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
