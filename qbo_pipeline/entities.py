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

Module layout: entity_model.py defines the types, entity_codec.py the JSON <-> frame codec,
this module the registry itself; everything is importable from here.
"""
from __future__ import annotations

from collections.abc import Iterable

from qbo_pipeline.entity_codec import (
    IdMapLookup, get_path, id_map_lookup_from_frames, jobsiteon_active, qbo_lines, qbo_to_frame,
    row_to_qbo, set_path,
)
from qbo_pipeline.entity_model import (
    QBO_META_COLUMNS, Conflict, Direction, EntitySpec, FieldMap, Kind, LineSpec, MatchKey, Reference,
    RegistryError, WorkspaceSettings,
)

__all__ = [
    "QBO_META_COLUMNS", "REGISTRY", "Conflict", "Direction", "EntitySpec", "FieldMap", "IdMapLookup", "Kind",
    "LineSpec", "MatchKey", "Reference", "RegistryError", "WorkspaceSettings", "get_path", "get_spec",
    "id_map_lookup_from_frames", "jobsiteon_active", "qbo_lines", "qbo_to_frame", "row_to_qbo", "set_path",
    "topological_order",
]

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


def _doc_number_keys(party: str) -> tuple[MatchKey, ...]:
    # A number alone does not make two documents the same: a QBO-only invoice that happens to
    # carry a JobsiteOn invoice's number (entered in QBO by hand) belongs to another customer.
    # Linking them would overwrite the bookkeeper's document; the guard blocks it instead.
    return (MatchKey("id_map"), MatchKey("doc_number", ("number",), ("doc_number",), "all",
                                         guard=((party, "ref"),)))


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
        match_keys=_doc_number_keys("contact_id"),
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
        match_keys=_doc_number_keys("contact_id"),
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
        match_keys=_doc_number_keys("contact_id"),
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
        match_keys=_doc_number_keys("vendor_id"),
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
                # QBO keeps no Description on a line that deposits a payment (LinkedTxn), so
                # comparing it would read every pushed deposit back as changed in QBO.
                F("description", "Description", compare=False),
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
