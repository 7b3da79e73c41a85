"""The inbox: change hints from QBO webhooks, CDC sweeps and the JobsiteOn change feed,
waiting to be drained by a per-workspace incremental run.

An event is only a hint that a record changed; the drain re-reads the record itself. So the
inbox dedupes (per workspace, by `dedupe_key`) and never needs to be ordered exactly."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from qbo_pipeline.state._repo import Repository
from qbo_pipeline.state.db import upsert_insert
from qbo_pipeline.state.errors import StateError
from qbo_pipeline.state.schema import INBOX_SOURCES, connections as connections_table, inbox as t
from qbo_pipeline.state.types import utcnow

# Rows per INSERT statement: keeps bind parameters well under SQLite's limit.
_CHUNK = 500


@dataclass(frozen=True)
class NewInboxEvent:
    workspace_id: str
    source: str  # webhook | cdc | jobsiteon
    entity: str
    record_id: str
    operation: str
    dedupe_key: str
    occurred_at: datetime | None = None
    realm_id: str | None = None
    payload: str | dict[str, Any] | list[Any] | None = None  # stored as JSON text

    def row(self, received_at: datetime) -> dict[str, Any]:
        if self.source not in INBOX_SOURCES:
            raise StateError(f"inbox source must be one of {INBOX_SOURCES}, got {self.source!r}")
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            raise StateError(
                f"inbox event {self.entity} {self.record_id}: occurred_at must be timezone-aware"
            )
        payload = self.payload
        if payload is not None and not isinstance(payload, str):
            payload = json.dumps(payload, separators=(",", ":"), default=str)
        return {
            "workspace_id": self.workspace_id,
            "realm_id": self.realm_id,
            "source": self.source,
            "entity": self.entity,
            "record_id": self.record_id,
            "operation": self.operation,
            "occurred_at": self.occurred_at,
            "payload": payload,
            "dedupe_key": self.dedupe_key,
            "received_at": received_at,
        }


@dataclass(frozen=True)
class InboxEvent:
    id: int
    workspace_id: str
    realm_id: str | None
    source: str
    entity: str
    record_id: str
    operation: str
    occurred_at: datetime | None
    payload: str | None
    dedupe_key: str
    received_at: datetime
    processed_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None

    @classmethod
    def from_row(cls, row: sa.Row) -> InboxEvent:
        return cls(**row._mapping)


# The webhook receiver's hot path. SQLAlchemy cannot cache a compiled Postgres
# INSERT ... ON CONFLICT (its dialect Insert opts out of the compiled cache), and compiling a
# multi-row statement per delivery cost as much as the database round trip. This statement
# is static, so it compiles once; all rows travel as one JSON parameter.
_PG_APPEND = sa.text(
    """
    INSERT INTO inbox (workspace_id, realm_id, source, entity, record_id, operation,
                       occurred_at, payload, dedupe_key, received_at)
    SELECT r.workspace_id, r.realm_id, r.source, r.entity, r.record_id, r.operation,
           r.occurred_at, r.payload, r.dedupe_key, :received_at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        workspace_id text, realm_id text, source text, entity text, record_id text,
        operation text, occurred_at timestamptz, payload text, dedupe_key text)
    ON CONFLICT (workspace_id, dedupe_key) DO NOTHING
    RETURNING id
    """
).bindparams(sa.bindparam("received_at", type_=sa.DateTime(timezone=True)))


def _append_postgres(conn: SAConnection, rows: list[dict[str, Any]], received_at: datetime) -> int:
    for row in rows:
        del row["received_at"]
        if row["occurred_at"] is not None:
            row["occurred_at"] = row["occurred_at"].isoformat()
    result = conn.execute(_PG_APPEND, {"rows": json.dumps(rows), "received_at": received_at})
    return len(result.all())


class PendingSummary(NamedTuple):
    workspace_id: str
    pending: int
    max_id: int
    # The entity names of the pending events (as the events name them), when asked for.
    entities: tuple[str, ...] | None = None


class InboxRepository(Repository):
    def append(self, events: Iterable[NewInboxEvent], *, conn: SAConnection | None = None) -> int:
        """Stores events in one transaction, silently skipping duplicates (same workspace
        and dedupe_key, whether already stored or repeated within `events`). Returns how
        many were new."""
        now = utcnow()
        rows = [event.row(now) for event in events]
        if not rows:
            return 0
        with self._write(conn) as c:
            if self._dialect == "postgresql":
                return _append_postgres(c, rows, now)
            inserted = 0
            for start in range(0, len(rows), _CHUNK):
                stmt = (
                    upsert_insert(self._dialect, t)
                    .values(rows[start : start + _CHUNK])
                    .on_conflict_do_nothing(index_elements=[t.c.workspace_id, t.c.dedupe_key])
                )
                inserted += c.execute(stmt).rowcount
        return inserted

    def pending_summary(
        self, after_id: int | None = None, *, runnable_only: bool = False, with_entities: bool = False
    ) -> list[PendingSummary]:
        """Per workspace with unprocessed events: how many, and the highest id. With
        `after_id`, only workspaces that received something newer than that id. With
        `runnable_only`, only workspaces whose connection is 'connected' (a workspace that
        needs a reconnect or was disconnected keeps its events pending but gets no run).
        With `with_entities`, each summary also lists the entities its events name (what
        the inbox sensor narrows a run's asset selection to).

        One query over the partial index of pending rows: its cost follows the number of
        pending events, not the processed history (for the inbox sensor's 4 s ticks). The
        connection filter is a semi-join on the connections primary key."""
        group = [t.c.workspace_id, t.c.entity] if with_entities else [t.c.workspace_id]
        query = (
            sa.select(*group, sa.func.count().label("pending"), sa.func.max(t.c.id).label("max_id"))
            .where(t.c.processed_at.is_(None))
            .group_by(*group)
            .order_by(*group)
        )
        if runnable_only:
            connected = sa.select(connections_table.c.workspace_id).where(
                connections_table.c.workspace_id == t.c.workspace_id, connections_table.c.status == "connected"
            )
            query = query.where(connected.exists())
        if not with_entities:
            if after_id is not None:
                query = query.having(sa.func.max(t.c.id) > after_id)
            with self._engine.connect() as c:
                return [PendingSummary(ws, int(n), int(m)) for ws, n, m in c.execute(query)]
        with self._engine.connect() as c:
            rows = c.execute(query).all()
        summaries: list[PendingSummary] = []
        for ws, entity, n, m in rows:
            if summaries and summaries[-1].workspace_id == ws:
                last = summaries[-1]
                summaries[-1] = PendingSummary(ws, last.pending + int(n), max(last.max_id, int(m)), last.entities + (entity,))
            else:
                summaries.append(PendingSummary(ws, int(n), int(m), (entity,)))
        if after_id is not None:
            summaries = [s for s in summaries if s.max_id > after_id]
        return summaries

    def latest_id(self) -> int:
        """The highest inbox id (0 when empty): a primary-key lookup, cheap enough to poll
        several times a second for "has anything arrived?"."""
        with self._read() as c:
            return int(c.execute(sa.select(sa.func.max(t.c.id))).scalar_one() or 0)

    def claim(self, workspace_id: str, limit: int, worker: str) -> list[InboxEvent]:
        """Claims up to `limit` unclaimed pending events of a workspace for `worker`, oldest
        first. Concurrent claimers (threads or processes) never receive the same event:
        Postgres skips rows another transaction has locked; SQLite serializes writers."""
        pending = (
            sa.select(t.c.id)
            .where(t.c.workspace_id == workspace_id, t.c.processed_at.is_(None), t.c.claimed_by.is_(None))
            .order_by(t.c.id)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            pending = pending.with_for_update(skip_locked=True)
        stmt = (
            sa.update(t)
            .where(t.c.id.in_(pending.scalar_subquery()))
            .values(claimed_by=worker, claimed_at=utcnow())
            .returning(*t.c)
        )
        with self._write() as c:
            events = [InboxEvent.from_row(r) for r in c.execute(stmt)]
        return sorted(events, key=lambda e: e.id)

    def mark_processed(self, ids: Iterable[int], *, conn: SAConnection | None = None) -> int:
        """Marks events processed (drops them from the pending index); returns how many."""
        ids = list(ids)
        done = 0
        now = utcnow()
        with self._write(conn) as c:
            for start in range(0, len(ids), _CHUNK):
                done += c.execute(
                    sa.update(t)
                    .where(t.c.id.in_(ids[start : start + _CHUNK]), t.c.processed_at.is_(None))
                    .values(processed_at=now)
                ).rowcount
        return done

    def release(self, ids: Iterable[int]) -> int:
        """Returns claimed, unprocessed events to the pool (after a failed drain)."""
        ids = list(ids)
        released = 0
        with self._write() as c:
            for start in range(0, len(ids), _CHUNK):
                released += c.execute(
                    sa.update(t)
                    .where(t.c.id.in_(ids[start : start + _CHUNK]), t.c.processed_at.is_(None))
                    .values(claimed_by=None, claimed_at=None)
                ).rowcount
        return released

    def release_claimed_by(self, worker: str) -> int:
        """Returns every unprocessed event claimed by `worker` (a run id) to the pool — the
        failure sensor's cleanup after a failed run; processed events stay processed."""
        with self._write() as c:
            return c.execute(
                sa.update(t)
                .where(t.c.claimed_by == worker, t.c.processed_at.is_(None))
                .values(claimed_by=None, claimed_at=None)
            ).rowcount

    def release_stale(self, older_than: timedelta = timedelta(minutes=15)) -> int:
        """Releases claims older than `older_than` whose worker died before finishing."""
        with self._write() as c:
            return c.execute(
                sa.update(t)
                .where(
                    t.c.processed_at.is_(None),
                    t.c.claimed_by.is_not(None),
                    t.c.claimed_at < utcnow() - older_than,
                )
                .values(claimed_by=None, claimed_at=None)
            ).rowcount

    def pending(self, workspace_id: str, limit: int = 1000) -> list[InboxEvent]:
        """Pending events of a workspace (claimed or not), oldest first — for inspection."""
        with self._read() as c:
            rows = c.execute(
                sa.select(t)
                .where(t.c.workspace_id == workspace_id, t.c.processed_at.is_(None))
                .order_by(t.c.id)
                .limit(limit)
            )
            return [InboxEvent.from_row(r) for r in rows]

    def count(self, workspace_id: str | None = None, *, pending_only: bool = False) -> int:
        query = sa.select(sa.func.count()).select_from(t)
        if workspace_id is not None:
            query = query.where(t.c.workspace_id == workspace_id)
        if pending_only:
            query = query.where(t.c.processed_at.is_(None))
        with self._read() as c:
            return int(c.execute(query).scalar_one())

    def purge_processed(self, older_than: timedelta = timedelta(days=30)) -> int:
        """Deletes processed events older than `older_than`; returns how many."""
        with self._write() as c:
            return c.execute(
                sa.delete(t).where(t.c.processed_at.is_not(None), t.c.processed_at < utcnow() - older_than)
            ).rowcount
