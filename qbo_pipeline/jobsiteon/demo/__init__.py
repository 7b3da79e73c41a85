"""Demo books of a believable Austin-area contractor, on both sides of the integration.

`generate_books(seed, scale)` returns `DemoBooks`: JobsiteOn's rows (plain dicts per table)
and an overlapping QuickBooks company (QBO JSON objects), with deliberately planted cases
recorded in `DemoBooks.scenarios` so tests and the demo summary can assert on them:

  email_matches                 ~15 % of contacts already in QBO with the same email (case may
                                differ); about a third with the name spelled differently
                                (capitalisation/spacing) — must link, not duplicate
  conflict_jobsiteon_newer,     a linked contact whose phone differs on the two sides, with
  conflict_qbo_newer            both update times known: "most recent wins" picks the winner
  item_price_conflict           the same for a pricebook item's price
  matched_items, matched_vendors  already in QBO under the same name
  qbo_only_customers / _items / _vendors   exist only in QBO
  qbo_only_invoices             invoices created in QBO — must NOT be pulled into JobsiteOn
  duplicate_names_in_qbo        two QBO customers whose names differ only by case/spacing
                                (the dedupe tool's target)
  name_taken_different_email    a JobsiteOn contact whose name a different QBO customer (other
                                email) already uses — creating it hits 6240
  customer_also_vendor          the same name as a JobsiteOn contact and a vendor (and that
                                vendor is in QBO): QBO's cross-list uniqueness, 6240
  duplicate_invoice_number      a JobsiteOn invoice whose number a QBO-only invoice already has
  tax_inclusive_invoices, draft_invoices, void_invoices, archived_items, deleted_contacts

Everything is deterministic given (seed, scale, as_of); `as_of` defaults to today because the
dates are "over the past year". Pure Python: the word lists are in catalog.py.

Tax: the workspace's rate is 8 %, the rate of the emulator's sandbox company ("California"
code), so JobsiteOn's and QBO's totals agree for tax-exclusive invoices. About 3 % of
invoices are tax-inclusive (a US QBO company cannot express that; they are the "total
mismatch" cases).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DEMO_TAX_RATE = Decimal("0.08")

JOBSITEON_TABLES = (
    "contacts", "pricebook_items", "invoices", "invoice_lines", "payments", "vendors",
    "deposits", "deposit_lines", "credit_memos", "credit_memo_lines", "refund_receipts",
    "refund_receipt_lines", "purchase_orders", "purchase_order_lines",
)
QBO_ENTITIES = ("Customer", "Vendor", "Item", "Invoice", "Payment")


@dataclass
class DemoBooks:
    """Plain rows per JobsiteOn table, QBO JSON per QBO entity, and the planted scenarios."""

    seed: int
    scale: float
    as_of: dt.date
    company_name: str
    tax_rate: Decimal
    contacts: list[dict] = field(default_factory=list)
    pricebook_items: list[dict] = field(default_factory=list)
    invoices: list[dict] = field(default_factory=list)
    invoice_lines: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    vendors: list[dict] = field(default_factory=list)
    deposits: list[dict] = field(default_factory=list)
    deposit_lines: list[dict] = field(default_factory=list)
    credit_memos: list[dict] = field(default_factory=list)
    credit_memo_lines: list[dict] = field(default_factory=list)
    refund_receipts: list[dict] = field(default_factory=list)
    refund_receipt_lines: list[dict] = field(default_factory=list)
    purchase_orders: list[dict] = field(default_factory=list)
    purchase_order_lines: list[dict] = field(default_factory=list)
    qbo_customers: list[dict] = field(default_factory=list)
    qbo_vendors: list[dict] = field(default_factory=list)
    qbo_items: list[dict] = field(default_factory=list)
    qbo_invoices: list[dict] = field(default_factory=list)
    qbo_payments: list[dict] = field(default_factory=list)
    scenarios: dict[str, Any] = field(default_factory=dict)

    def rows_by_table(self) -> dict[str, list[dict]]:
        return {name: getattr(self, name) for name in JOBSITEON_TABLES}

    def counts(self) -> dict[str, int]:
        counts = {name: len(rows) for name, rows in self.rows_by_table().items()}
        for entity in QBO_ENTITIES:
            counts[f"qbo {entity}"] = len(self._qbo_list(entity))
        return counts

    def _qbo_list(self, entity: str) -> list[dict]:
        return {
            "Customer": self.qbo_customers, "Vendor": self.qbo_vendors, "Item": self.qbo_items,
            "Invoice": self.qbo_invoices, "Payment": self.qbo_payments,
        }[entity]

    # -- JobsiteOn

    def load_jobsiteon(self, store, workspace_id: str, *, name: str | None = None) -> dict:
        """Bulk-inserts the JobsiteOn side into `workspace_id` (created if missing) in one
        transaction; every record gets a 'create' change-feed entry with source 'user'.
        The ids are fixed by the seed, so one seed loads once per database."""
        store.create_schema()
        store.ensure_workspace(workspace_id, name or self.company_name, tax_rate=self.tax_rate)
        return store.bulk_load(workspace_id, self.rows_by_table(), origin="user")

    # -- QBO

    def qbo_seed_requests(self, today: dt.date | None = None) -> list[dict[str, Any]]:
        """Bodies for successive `POST /_emulator/companies/{realm}/seed` calls, oldest first.

        The emulator backdates a whole call (`backdate_days` is per request), so objects are
        grouped by how long ago they were last updated — the planted conflicts need their
        QBO update times to land where `scenarios` says. References (by name, payments by
        DocNumber) always point to objects of the same or an earlier call. `today` (default:
        the real today) anchors the days to the emulator's clock."""
        shift = ((today or dt.date.today()) - self.as_of).days
        groups: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for entity in QBO_ENTITIES:
            for obj in self._qbo_list(entity):
                obj = _jsonable(obj)
                days = max(0, obj.pop("days_before_as_of", 0) + shift)
                groups[days][entity].append(obj)
        return [{**groups[days], "backdate_days": days} for days in sorted(groups, reverse=True)]

    def qbo_seed_payload(self) -> dict[str, list[dict]]:
        """The whole QBO side as ONE seed body {"Customer": [...], "Vendor": [...], "Item": [...],
        "Invoice": [...], "Payment": [...]}: QBO JSON objects, references by name (payments
        link invoices by DocNumber), amounts as JSON numbers. Seeded in one call everything
        gets the same update time; `seed_qbo` uses `qbo_seed_requests` to keep the planted
        update times."""
        payload: dict[str, list[dict]] = {entity: [] for entity in QBO_ENTITIES}
        for body in self.qbo_seed_requests():
            for entity in QBO_ENTITIES:
                payload[entity] += body.get(entity, [])
        return payload

    def seed_qbo(self, emulator_base_url: str, realm_id: str, *, timeout: float = 120.0) -> dict:
        """Seeds the QBO side into an emulator company through its control API; returns the
        created QBO ids per entity. Raises if the emulator rejected any object."""
        import httpx

        url = f"{emulator_base_url.rstrip('/')}/_emulator/companies/{realm_id}/seed"
        created: dict[str, list] = {entity: [] for entity in QBO_ENTITIES}
        with httpx.Client(timeout=timeout) as client:
            for body in self.qbo_seed_requests():
                response = client.post(url, json=body)
                if response.status_code >= 400:
                    raise RuntimeError(
                        f"seeding QBO company {realm_id} at {url} failed with HTTP "
                        f"{response.status_code}: {response.text[:500]} — check that the "
                        "emulator is running and the realm exists (POST /_emulator/companies)"
                    )
                result = response.json()
                if result.get("faults"):
                    raise RuntimeError(
                        f"the emulator rejected {len(result['faults'])} demo object(s) while "
                        f"seeding realm {realm_id}, e.g. {json.dumps(result['faults'][:3])[:800]}"
                        " — the demo payload and the emulator disagree; fix the generator"
                    )
                for entity, ids in result.get("ids", {}).items():
                    created.setdefault(entity, []).extend(ids)
        return created

    def summary(self) -> str:
        lines = [f"Demo books: {self.company_name} (seed {self.seed}, scale {self.scale}, "
                 f"as of {self.as_of})"]
        lines += [f"  {name:<24} {count:>7,}" for name, count in self.counts().items()]
        lines.append("Planted scenarios:")
        for name, value in self.scenarios.items():
            size = len(value) if isinstance(value, list) else 1
            lines.append(f"  {name:<30} {size:>5}")
        return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        # 2-decimal money fits a double exactly enough that repr gives back the same digits.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def generate_books(seed: int = 7, scale: float = 1.0, *, as_of: dt.date | None = None) -> DemoBooks:
    """The demo books for `seed`; counts scale linearly with `scale` (0.05 is test-sized)."""
    from qbo_pipeline.jobsiteon.demo import catalog
    from qbo_pipeline.jobsiteon.demo.qbo_side import QboPlanter

    as_of = as_of or dt.date.today()
    books = DemoBooks(seed=seed, scale=scale, as_of=as_of, company_name="",
                      tax_rate=DEMO_TAX_RATE)
    generator = QboPlanter(books, seed, scale, as_of)
    books.company_name = generator.rng.choice(catalog.CONTRACTOR_NAMES)
    generator.items()
    generator.vendors()
    generator.contacts()
    generator.invoices()
    generator.deposits()
    generator.credit_memos()
    generator.refund_receipts()
    generator.purchase_orders()
    generator.qbo_side()
    return books


__all__ = ["DemoBooks", "generate_books", "JOBSITEON_TABLES", "QBO_ENTITIES", "DEMO_TAX_RATE"]
