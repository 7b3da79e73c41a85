"""One write transaction against JobsiteOn's tables: normalize, upsert by id (partial
updates, lines replaced, no-ops skipped), soft delete, keep JobsiteOn's derived fields, and
append the change-feed entries last (see feed.py for why last)."""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from qbo_pipeline.jobsiteon import feed, schema
from qbo_pipeline.jobsiteon.money import ZERO, compute_document_totals, sum_line_costs
from qbo_pipeline.jobsiteon.specs import (
    ENTITIES,
    EntitySpec,
    InvalidRecord,
    RecordNotFound,
    coerce_field,
    insert_defaults,
    normalize_lines,
)

ORIGINS = ("integration", "user")
IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and Postgres' parameter limits
PAID_STATUSES = ("approved", "partially_paid", "paid")
TOTALS = ("subtotal", "tax", "total")


def new_id(spec: EntitySpec) -> str:
    return f"{spec.id_prefix}_{uuid.uuid4().hex}"


def chunks(items: Sequence, size: int = IN_CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def invoice_status(status: str, total: Decimal, amount_paid: Decimal) -> str:
    """The status JobsiteOn shows for an approved invoice, from its payments."""
    if status not in PAID_STATUSES:
        return status  # draft and void are set by the user, not by payments
    if amount_paid > 0 and amount_paid >= total:
        return "paid"
    if amount_paid > 0:
        return "partially_paid"
    return "approved"


class WriteBatch:
    """The work of one write transaction: upserts, deletes, derived updates, feed entries."""

    def __init__(self, conn: Connection, workspace_id: str, origin: str, now: dt.datetime):
        self.conn = conn
        self.workspace_id = workspace_id
        self.source = origin
        self.now = now
        self.changes: list[tuple[str, str, str]] = []
        self.touched_invoices: set[str] = set()
        self._tax_rate: Decimal | None = None

    def require_workspace(self) -> None:
        exists = self.conn.execute(
            sa.select(schema.workspaces.c.id).where(schema.workspaces.c.id == self.workspace_id)
        ).first()
        if exists is None:
            raise RecordNotFound(
                f"workspace {self.workspace_id} does not exist; call "
                "JobsiteOnStore.ensure_workspace(workspace_id, name) first"
            )

    @property
    def tax_rate(self) -> Decimal:
        if self._tax_rate is None:
            self._tax_rate = workspace_tax_rate(self.conn, self.workspace_id)
        return self._tax_rate

    # -- reading current state

    def require(self, spec: EntitySpec, record_id: str) -> dict:
        record = self._existing(spec, [record_id]).get(record_id)
        if record is None:
            raise RecordNotFound(
                f"{spec.name} {record_id} does not exist in workspace {self.workspace_id}; "
                "check the id (and the workspace)"
            )
        return record

    def _existing(self, spec: EntitySpec, ids: Sequence[str]) -> dict[str, dict]:
        """Current rows by id, locked for update (PostgreSQL) in id order to avoid deadlocks."""
        table = spec.table
        found: dict[str, dict] = {}
        for chunk in chunks(sorted(ids)):
            query = (
                sa.select(table)
                .where(table.c.id.in_(chunk))
                .order_by(table.c.id)
                .with_for_update()
            )
            for row in self.conn.execute(query).mappings():
                if row["workspace_id"] != self.workspace_id:
                    raise InvalidRecord(
                        f"{spec.name} {row['id']} belongs to another workspace, not "
                        f"{self.workspace_id}; ids are global — use a new id"
                    )
                found[row["id"]] = dict(row)
        return found

    def _existing_lines(self, spec: EntitySpec, ids: Sequence[str]) -> dict[str, list[dict]]:
        lines = spec.lines
        result: dict[str, list[dict]] = defaultdict(list)
        for chunk in chunks(list(ids)):
            query = (
                sa.select(lines.c[spec.parent_column], *(lines.c[n] for n in spec.line_columns))
                .where(lines.c[spec.parent_column].in_(chunk))
                .order_by(lines.c[spec.parent_column], lines.c.position)
            )
            for row in self.conn.execute(query).mappings():
                line = dict(row)
                result[line.pop(spec.parent_column)].append(line)
        return result

    # -- upserts

    def _normalize(self, spec: EntitySpec, record: Mapping[str, object]) -> dict:
        record_id = record.get("id")
        if not isinstance(record_id, str) or not record_id:
            raise InvalidRecord(
                f"{spec.name}: every upsert needs a non-empty string `id` (got {record_id!r})"
            )
        normalized: dict[str, object] = {"id": record_id}
        for field, value in record.items():
            if field in ("id", "workspace_id"):
                continue
            if field == "lines" and spec.lines is not None:
                normalized["lines"] = normalize_lines(spec, record_id, value)
            elif field == "created_at":
                raise InvalidRecord(
                    f"{spec.name} {record_id}: created_at is set by the store; remove it"
                )
            else:
                normalized[field] = coerce_field(spec, spec.table, record_id, field, value)
        return normalized

    def upsert(
        self, spec: EntitySpec, upserts: Sequence[Mapping[str, object]], *, must_exist=False
    ) -> list[str]:
        records = [self._normalize(spec, record) for record in upserts]
        ids = [record["id"] for record in records]
        if len(set(ids)) != len(ids):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            raise InvalidRecord(
                f"{spec.name}: ids {duplicates} appear more than once in one batch; "
                "merge them into one upsert each"
            )
        existing = self._existing(spec, ids)
        if must_exist and len(existing) != len(ids):
            missing = sorted(set(ids) - set(existing))
            raise RecordNotFound(
                f"{spec.name} {missing[:10]} do not exist in workspace {self.workspace_id}; "
                "check the ids (and the workspace)"
            )
        old_lines = self._existing_lines(spec, list(existing)) if spec.lines is not None else {}
        table = spec.table
        defaults = insert_defaults(table)
        inserts: list[dict] = []
        updates: dict[tuple[str, ...], list[dict]] = defaultdict(list)
        replaced_lines: dict[str, list[dict]] = {}
        changed: list[str] = []
        for record in records:
            record_id = record["id"]
            given = set(record)
            new_lines = record.pop("lines", None)
            before = existing.get(record_id)
            lines_before = old_lines.get(record_id, []) if before is not None else []
            lines = new_lines if new_lines is not None else lines_before
            merged = {**(before or defaults), **record}
            merged["workspace_id"] = self.workspace_id
            self._derive(spec, merged, given, lines, before)
            self._require_fields(spec, merged)
            lines_changed = new_lines is not None and new_lines != lines_before
            stamp = record.get("updated_at") or self.now
            if before is None:
                merged.update(created_at=self.now, updated_at=stamp)
                inserts.append(merged)
                operation = "create"
            else:
                diff = {
                    name: merged[name]
                    for name in spec.writable_columns
                    if name != "updated_at" and merged[name] != before[name]
                }
                if not diff and not lines_changed:
                    continue
                diff["updated_at"] = stamp
                diff["_id"] = record_id
                updates[tuple(sorted(diff))].append(diff)
                deleted_now = before["deleted_at"] is None and merged["deleted_at"] is not None
                operation = "delete" if deleted_now else "update"
            if new_lines is not None and (before is None or lines_changed):
                replaced_lines[record_id] = new_lines
            self._note_payment(spec, merged, before)
            changed.append(record_id)
            self.changes.append((spec.name, record_id, operation))

        if inserts:
            for chunk in chunks(inserts, 5000):
                self.conn.execute(table.insert(), list(chunk))
        for keys, rows in updates.items():
            statement = (
                table.update()
                .where(table.c.id == sa.bindparam("_id"))
                .values({key: sa.bindparam(key) for key in keys if key != "_id"})
            )
            self.conn.execute(statement, rows)
        if replaced_lines:
            self._replace_lines(spec, replaced_lines)
        return changed

    def _replace_lines(self, spec: EntitySpec, lines_by_parent: dict[str, list[dict]]) -> None:
        lines = spec.lines
        parent_col = lines.c[spec.parent_column]
        for chunk in chunks(list(lines_by_parent)):
            self.conn.execute(lines.delete().where(parent_col.in_(chunk)))
        rows = [
            {**line, "id": f"{parent_id}/{line['position']}", spec.parent_column: parent_id}
            for parent_id, parent_lines in lines_by_parent.items()
            for line in parent_lines
        ]
        if rows:
            self.conn.execute(lines.insert(), rows)

    def _require_fields(self, spec: EntitySpec, merged: dict) -> None:
        for column in spec.table.columns:
            if column.name in ("created_at", "updated_at"):
                continue
            if not column.nullable and merged.get(column.name) is None:
                raise InvalidRecord(
                    f"{spec.name} {merged['id']}: required field {column.name!r} is empty; "
                    "fill it in and retry"
                )

    def _derive(
        self, spec: EntitySpec, merged: dict, given: set[str], lines: list[dict], before
    ) -> None:
        """JobsiteOn's computed fields, unless the caller supplied them."""
        lines_moved = before is None or "lines" in given
        if spec.name in ("invoices", "credit_memos"):
            if (lines_moved or "tax_inclusive" in given) and not given & set(TOTALS):
                subtotal, tax, total = compute_document_totals(
                    lines, self.tax_rate, bool(merged["tax_inclusive"])
                )
                merged.update(subtotal=subtotal, tax=tax, total=total)
        if spec.name == "invoices":
            if "balance" not in given:
                void = merged["status"] == "void"
                merged["balance"] = ZERO if void else merged["total"] - merged["amount_paid"]
            if "status" not in given:
                merged["status"] = invoice_status(
                    merged["status"], merged["total"], merged["amount_paid"]
                )
        elif spec.name == "credit_memos":
            if before is None and "remaining_credit" not in given:
                merged["remaining_credit"] = merged["total"]
        elif spec.name == "refund_receipts" and lines_moved and "total" not in given:
            merged["total"] = compute_document_totals(lines, self.tax_rate, False)[2]
        elif spec.name == "purchase_orders" and lines_moved and "total" not in given:
            merged["total"] = sum_line_costs(lines)
        elif spec.name == "deposits" and lines_moved and "total" not in given:
            merged["total"] = sum((line["amount"] for line in lines), ZERO)

    def _note_payment(self, spec: EntitySpec, after: dict, before: dict | None) -> None:
        if spec.name != "payments":
            return
        for row in (after, before):
            if row is not None and row.get("invoice_id"):
                self.touched_invoices.add(row["invoice_id"])

    # -- deletes

    def delete(self, spec: EntitySpec, ids: Sequence[str]) -> list[str]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        existing = self._existing(spec, ids)
        missing = [record_id for record_id in ids if record_id not in existing]
        if missing:
            raise RecordNotFound(
                f"cannot delete {spec.name} {missing[:10]}: not found in workspace "
                f"{self.workspace_id}; drop them from the batch (nothing was written)"
            )
        live = [record_id for record_id in ids if existing[record_id]["deleted_at"] is None]
        table = spec.table
        for chunk in chunks(live):
            self.conn.execute(
                table.update()
                .where(table.c.id.in_(chunk))
                .values(deleted_at=self.now, updated_at=self.now)
            )
        for record_id in live:
            self._note_payment(spec, existing[record_id], None)
            self.changes.append((spec.name, record_id, "delete"))
        return live

    # -- end of batch

    def finish(self) -> None:
        """Invoices follow their payments, then the feed entries are appended."""
        if self.touched_invoices:
            self._refresh_invoice_payments(sorted(self.touched_invoices))
        feed.append_changes(self.conn, self.workspace_id, self.source, self.now, self.changes)

    def _refresh_invoice_payments(self, invoice_ids: list[str]) -> None:
        payments = schema.payments
        paid: dict[str, Decimal] = {}
        for chunk in chunks(invoice_ids):
            query = (
                sa.select(payments.c.invoice_id, sa.func.sum(payments.c.amount))
                .where(
                    payments.c.invoice_id.in_(chunk),
                    payments.c.workspace_id == self.workspace_id,
                    payments.c.deleted_at.is_(None),
                )
                .group_by(payments.c.invoice_id)
            )
            for invoice_id, total in self.conn.execute(query):
                paid[invoice_id] = Decimal(str(total)).quantize(Decimal("0.01"))
        spec = ENTITIES["invoices"]
        existing = self._existing(spec, invoice_ids)
        missing = sorted(set(invoice_ids) - set(existing))
        if missing:
            raise InvalidRecord(
                f"payments reference invoices {missing[:10]} that do not exist in workspace "
                f"{self.workspace_id}; create or sync those invoices first, or clear invoice_id"
            )
        updates = [
            {"id": invoice_id, "amount_paid": paid.get(invoice_id, ZERO)}
            for invoice_id in invoice_ids
        ]
        self.upsert(spec, updates, must_exist=True)


def workspace_tax_rate(conn: Connection, workspace_id: str) -> Decimal:
    rate = conn.execute(
        sa.select(schema.workspaces.c.tax_rate).where(schema.workspaces.c.id == workspace_id)
    ).scalar()
    return rate if rate is not None else ZERO
