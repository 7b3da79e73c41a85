"""`JobsiteOnStore`: what the integration reads (canonical frames) and writes (batched, atomic,
change-fed) in JobsiteOn's database, plus a few user actions for the demo and tests.

Write rules (`apply`, and every user action, which goes through the same path):
- one transaction per call; any failing record rolls the whole batch back;
- upserts are by id; a dict may be partial (only the fields given change on an existing
  record); `lines` replaces a document's lines, omitting it keeps them;
- a record whose values do not change is not touched: no updated_at bump, no feed entry
  (so re-applying the same data is idempotent and cannot make a stale copy look newest);
- JobsiteOn's own derived fields are maintained like the product does: document totals from
  the lines (`money.compute_document_totals`, the workspace's tax rate) unless the caller
  gives subtotal/tax/total; an invoice's balance (total - amount_paid, 0 when void) and its
  payment status; and an invoice's amount_paid = sum of its live payments whenever payments
  are written or deleted;
- every changed record gets a change_feed entry in the same transaction, with source 'user'
  or 'integration'.

Why that outbox rather than an updated_at watermark (details in feed.py): a watermark misses
rows stamped by transactions that commit after the reader moved past their timestamp (long
transactions, clock skew between app servers), never sees hard deletes, and pages ambiguously
on equal timestamps; feed entries are atomic with their change, strictly ordered by a seq
that follows commit order, include deletes, and say who wrote them so the sync never echoes
its own writes.

Entities are named by table (contacts, pricebook_items, invoices, payments, vendors, deposits,
credit_memos, refund_receipts, purchase_orders); the registry's "customers" and "items" are
accepted as aliases.
"""
from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from qbo_pipeline.jobsiteon import feed, schema
from qbo_pipeline.jobsiteon.batch import (
    ORIGINS,
    PAID_STATUSES,
    WriteBatch,
    chunks,
    new_id,
    utcnow,
    workspace_tax_rate,
)
from qbo_pipeline.jobsiteon.money import ZERO
from qbo_pipeline.jobsiteon.specs import (
    ENTITIES,
    EntitySpec,
    InvalidRecord,
    RecordNotFound,
    StoreError,
    coerce_field,
    coerce_value,
    get_spec,
    insert_defaults,
)

__all__ = ["JobsiteOnStore", "StoreError", "InvalidRecord", "RecordNotFound", "ENTITIES"]

class JobsiteOnStore:
    """JobsiteOn's database as the integration sees it. Thread-safe (engine-level pooling)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str | None = None, *, create: bool = True) -> JobsiteOnStore:
        from qbo_pipeline.jobsiteon.db import make_engine

        store = cls(make_engine(url))
        if create:
            store.create_schema()
        return store

    def create_schema(self) -> None:
        schema.create_schema(self.engine)

    # ------------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it starts with BEGIN IMMEDIATE: a deferred
        transaction that reads first and writes later can fail with "database is locked"
        (no busy wait) when another writer got in between."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                dbapi = conn.connection.dbapi_connection
                if not getattr(dbapi, "in_transaction", False):
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    # ------------------------------------------------------------------ workspaces

    def ensure_workspace(
        self, workspace_id: str, name: str, *, tax_rate: Decimal | str | None = None
    ) -> None:
        """Creates the workspace if missing; updates its name (and tax rate, if given)."""
        table = schema.workspaces
        rate = None
        if tax_rate is not None:
            try:
                rate = coerce_value(table.c.tax_rate, tax_rate)
            except (TypeError, ValueError, ArithmeticError):
                raise InvalidRecord(
                    f"workspace {workspace_id}: tax_rate {tax_rate!r} is not a number; pass a "
                    "fraction such as Decimal('0.0825') for 8.25 %"
                ) from None
        now = utcnow()
        with self._write() as conn:
            row = conn.execute(
                sa.select(table.c.name, table.c.tax_rate).where(table.c.id == workspace_id)
            ).first()
            if row is None:
                conn.execute(
                    table.insert().values(
                        id=workspace_id,
                        name=name,
                        tax_rate=rate if rate is not None else ZERO,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return
            values = {}
            if row.name != name:
                values["name"] = name
            if rate is not None and row.tax_rate != rate:
                values["tax_rate"] = rate
            if values:
                conn.execute(
                    table.update().where(table.c.id == workspace_id).values(**values, updated_at=now)
                )

    def workspace_tax_rate(self, workspace_id: str) -> Decimal:
        with self.engine.connect() as conn:
            return workspace_tax_rate(conn, workspace_id)

    # ------------------------------------------------------------------ reads

    def read_frame(
        self, workspace_id: str, entity: str, ids: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """The canonical frame of one entity (docs/jobsiteon-schema.md), soft deletes included.

        One query for the headers and one for the lines (per 500 ids when `ids` is given).
        """
        spec = get_spec(entity)
        table = spec.table
        columns = [table.c[name] for name in spec.frame_columns]
        headers: list[dict] = []
        lines_by_parent: dict[str, list[dict]] = defaultdict(list)
        with self.engine.connect() as conn:
            if ids is None:
                batches: Iterable[Sequence[str] | None] = [None]
            else:
                batches = list(chunks(sorted(set(ids))))
            for batch in batches:
                query = sa.select(*columns).where(table.c.workspace_id == workspace_id)
                if batch is not None:
                    query = query.where(table.c.id.in_(batch))
                headers.extend(dict(row) for row in conn.execute(query).mappings())
                if spec.lines is not None:
                    for parent_id, line in self._read_lines(conn, spec, workspace_id, batch):
                        lines_by_parent[parent_id].append(line)
        headers.sort(key=lambda row: row["id"])
        if spec.lines is not None:
            for row in headers:
                row["lines"] = lines_by_parent.get(row["id"], [])
        return _to_frame(spec, headers)

    def _read_lines(
        self, conn: Connection, spec: EntitySpec, workspace_id: str, parent_ids: Sequence[str] | None
    ) -> Iterator[tuple[str, dict]]:
        lines, parent = spec.lines, spec.table
        parent_col = lines.c[spec.parent_column]
        query = (
            sa.select(parent_col, *(lines.c[name] for name in spec.line_columns))
            .join(parent, parent.c.id == parent_col)
            .where(parent.c.workspace_id == workspace_id)
            .order_by(parent_col, lines.c.position)
        )
        if parent_ids is not None:
            query = query.where(parent_col.in_(parent_ids))
        for row in conn.execute(query).mappings():
            line = dict(row)
            yield line.pop(spec.parent_column), line

    def get(self, workspace_id: str, entity: str, record_id: str) -> dict | None:
        """One record as a dict (with `lines` for documents), or None."""
        frame = self.read_frame(workspace_id, entity, ids=[record_id])
        if frame.empty:
            return None
        record = frame.iloc[0].to_dict()
        for key in ("updated_at", "deleted_at"):
            value = record.get(key)
            record[key] = None if pd.isna(value) else value.to_pydatetime()
        return record

    # ------------------------------------------------------------------ change feed

    def changes_since(
        self, seq: int = 0, limit: int = 1000, *, workspace_id: str | None = None
    ) -> list[dict]:
        """Feed entries with seq > `seq`, oldest first: seq, workspace_id, entity, record_id,
        operation ('create'|'update'|'delete'), source ('user'|'integration'), changed_at."""
        with self.engine.connect() as conn:
            return feed.changes_since(conn, seq, limit, workspace_id)

    def latest_seq(self, workspace_id: str | None = None) -> int:
        with self.engine.connect() as conn:
            return feed.latest_seq(conn, workspace_id)

    # ------------------------------------------------------------------ writes

    def apply(
        self,
        workspace_id: str,
        entity: str,
        upserts: Sequence[Mapping[str, object]],
        deletes: Iterable[str] = (),
        *,
        origin: str = "integration",
    ) -> list[str]:
        """Upserts and soft-deletes records of one entity in ONE transaction.

        Returns the ids of the records of `entity` that actually changed (created, updated
        or deleted), in the order processed. Side effects on other records (an invoice's
        amount_paid after a payment) are fed too but not returned.
        """
        spec = get_spec(entity)
        deletes = list(deletes)
        with self._batch(workspace_id, origin, f"{entity} batch") as batch:
            changed = batch.upsert(spec, upserts)
            changed += batch.delete(spec, deletes)
        return changed

    @contextlib.contextmanager
    def _batch(self, workspace_id: str, origin: str, what: str) -> Iterator[WriteBatch]:
        """One write transaction as a `WriteBatch`; feed entries are appended at the end."""
        if origin not in ORIGINS:
            raise InvalidRecord(f"origin must be one of {ORIGINS}, not {origin!r}")
        try:
            with self._write() as conn:
                batch = WriteBatch(conn, workspace_id, origin, utcnow())
                batch.require_workspace()
                yield batch
                batch.finish()
        except sa.exc.IntegrityError as exc:
            cause = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise InvalidRecord(
                f"{what} for workspace {workspace_id} was rolled back: the database rejected "
                f"a record ({cause}); fix that record (unique ids, line positions, required "
                "fields) and retry"
            ) from exc

    def bulk_load(
        self,
        workspace_id: str,
        rows_by_table: Mapping[str, Sequence[Mapping[str, object]]],
        *,
        origin: str = "user",
        chunk_size: int = 5000,
    ) -> dict[str, int]:
        """Inserts many NEW rows at once (initial loads, the demo): one transaction,
        executemany per table, a 'create' feed entry per entity record. Rows are written as
        given — totals and statuses are not derived — so they must already be consistent.
        Tables: entity tables and their line tables (parents are written first)."""
        order = [spec.table for spec in ENTITIES.values()] + [
            spec.lines for spec in ENTITIES.values() if spec.lines is not None
        ]
        by_name = {table.name: table for table in order}
        unknown = set(rows_by_table) - set(by_name)
        if unknown:
            raise InvalidRecord(
                f"bulk_load: unknown tables {sorted(unknown)}; use: {', '.join(by_name)}"
            )
        entity_tables = {spec.table.name for spec in ENTITIES.values()}
        counts: dict[str, int] = {}
        what = "bulk load (every row must be new: were these ids loaded before?)"
        with self._batch(workspace_id, origin, what) as batch:
            for table in order:
                rows = rows_by_table.get(table.name) or []
                if not rows:
                    continue
                defaults = insert_defaults(table)
                if table.name in entity_tables:
                    defaults.update(created_at=batch.now, updated_at=batch.now)
                full = []
                for row in rows:
                    record = {**defaults, **{k: v for k, v in row.items() if k != "lines"}}
                    if table.name in entity_tables:
                        record["workspace_id"] = workspace_id
                    full.append(record)
                for chunk in chunks(full, chunk_size):
                    batch.conn.execute(table.insert(), list(chunk))
                counts[table.name] = len(full)
                if table.name in entity_tables:
                    batch.changes.extend((table.name, row["id"], "create") for row in full)
        return counts

    # ------------------------------------------------------------------ user actions

    def create_contact(
        self,
        workspace_id: str,
        name: str,
        email: str | None = None,
        phone: str | None = None,
        *,
        contact_id: str | None = None,
        origin: str = "user",
        **address: object,
    ) -> str:
        """A contact created in JobsiteOn by a user; returns its id. `address` takes the
        billing_* columns."""
        contact_id = contact_id or new_id(ENTITIES["contacts"])
        record = {"id": contact_id, "name": name, "email": email, "phone": phone, **address}
        self.apply(workspace_id, "contacts", [record], origin=origin)
        return contact_id

    def create_record(
        self, workspace_id: str, entity: str, *, origin: str = "user", **fields: object
    ) -> str:
        """Any record created by a user (documents may pass `lines`); returns its id."""
        spec = get_spec(entity)
        record_id = str(fields.pop("id", None) or new_id(spec))
        self.apply(workspace_id, entity, [{"id": record_id, **fields}], origin=origin)
        return record_id

    def update_record(
        self, workspace_id: str, entity: str, record_id: str, *, origin: str = "user", **fields
    ) -> bool:
        """A user's edit of an existing record; True if anything changed."""
        spec = get_spec(entity)
        with self._batch(workspace_id, origin, f"update of {entity} {record_id}") as batch:
            changed = batch.upsert(spec, [{"id": record_id, **fields}], must_exist=True)
        return bool(changed)

    def archive_item(self, workspace_id: str, item_id: str, archived: bool = True) -> bool:
        """Archives (or, with archived=False, restores) a pricebook item."""
        return self.update_record(workspace_id, "pricebook_items", item_id, archived=archived)

    def soft_delete(self, workspace_id: str, entity: str, record_id: str) -> bool:
        return bool(self.apply(workspace_id, entity, [], [record_id], origin="user"))

    def void_invoice(self, workspace_id: str, invoice_id: str) -> bool:
        invoices = ENTITIES["invoices"]
        with self._batch(workspace_id, "user", f"void of invoice {invoice_id}") as batch:
            invoice = batch.require(invoices, invoice_id)
            if invoice["amount_paid"] > 0:
                raise InvalidRecord(
                    f"invoice {invoice_id} has {invoice['amount_paid']} in payments and cannot "
                    "be voided; delete or refund its payments first"
                )
            changed = batch.upsert(invoices, [{"id": invoice_id, "status": "void"}])
        return bool(changed)

    def record_payment(
        self,
        workspace_id: str,
        invoice_id: str,
        amount: Decimal | str | int,
        *,
        paid_on: dt.date | None = None,
        method: str | None = "check",
        reference: str | None = None,
        payment_id: str | None = None,
    ) -> str:
        """A payment a user records against an invoice; the invoice's amount_paid, balance
        and status change in the same transaction. Returns the payment id."""
        payments = ENTITIES["payments"]
        payment_id = payment_id or new_id(payments)
        amount = coerce_field(payments, payments.table, payment_id, "amount", amount)
        with self._batch(workspace_id, "user", f"payment on invoice {invoice_id}") as batch:
            invoice = batch.require(ENTITIES["invoices"], invoice_id)
            if invoice["status"] not in PAID_STATUSES or invoice["deleted_at"] is not None:
                state = "deleted" if invoice["deleted_at"] is not None else invoice["status"]
                raise InvalidRecord(
                    f"invoice {invoice_id} is {state}; only approved invoices take payments "
                    "— approve it first"
                )
            if amount is None or amount <= 0 or amount > invoice["balance"]:
                raise InvalidRecord(
                    f"payment of {amount} on invoice {invoice_id} must be positive and at most "
                    f"its balance {invoice['balance']}; record the amount actually owed"
                )
            payment = {
                "id": payment_id,
                "contact_id": invoice["contact_id"],
                "invoice_id": invoice_id,
                "amount": amount,
                "paid_on": paid_on or dt.date.today(),
                "method": method,
                "reference": reference,
                "origin": "jobsiteon",
            }
            batch.upsert(payments, [payment])
        return payment_id


def _to_frame(spec: EntitySpec, rows: list[dict]) -> pd.DataFrame:
    columns = spec.frame_columns + (["lines"] if spec.lines is not None else [])
    frame = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(
        {name: pd.Series(dtype=object) for name in columns}
    )
    for name in ("updated_at", "deleted_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    for column in spec.table.columns:
        if isinstance(column.type, sa.Boolean) and column.name in frame:
            frame[column.name] = frame[column.name].astype(bool)
    return frame
