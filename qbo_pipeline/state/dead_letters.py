"""Dead letters: sync failures that need a person (or a later retry), one open row per
failing (workspace, entity, direction, operation, record); a repeat bumps `attempts`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from qbo_pipeline.state._repo import Repository
from qbo_pipeline.state.db import upsert_insert
from qbo_pipeline.state.errors import StateError
from qbo_pipeline.state.inbox import InboxRepository, NewInboxEvent
from qbo_pipeline.state.schema import DIRECTIONS, dead_letters as t
from qbo_pipeline.state.types import utcnow

_NATURAL_KEY = ("workspace_id", "entity", "direction", "operation", "record_key")


@dataclass(frozen=True)
class DeadLetter:
    id: int
    workspace_id: str
    entity: str
    direction: str
    operation: str
    record_key: str
    record_ids: list[str]
    category: str
    code: str | None
    message: str
    hint: str | None
    payload: Any
    attempts: int
    first_seen: datetime
    last_seen: datetime
    requeued_at: datetime | None
    resolved_at: datetime | None
    resolution_note: str | None


def record_key(record_ids: str | Sequence[str]) -> tuple[str, list[str]]:
    """(natural-key text, id list) for one record id or a batch of ids (order-insensitive)."""
    ids = [record_ids] if isinstance(record_ids, str) else sorted({str(i) for i in record_ids})
    if not ids:
        raise StateError("a dead letter needs at least one record id")
    return ",".join(ids), ids


class DeadLettersRepository(Repository):
    def add(
        self,
        workspace_id: str,
        entity: str,
        direction: str,
        operation: str,
        record_ids: str | Sequence[str],
        *,
        category: str,
        message: str,
        code: str | None = None,
        hint: str | None = None,
        payload: Any = None,
        conn: SAConnection | None = None,
    ) -> DeadLetter:
        """Adds a dead letter, or — if one is open for the same record and operation —
        increments its attempts and refreshes the error details."""
        if direction not in DIRECTIONS:
            raise StateError(f"dead letter direction must be push or pull, got {direction!r}")
        key, ids = record_key(record_ids)
        now = utcnow()
        payload = _jsonable(payload)
        stmt = upsert_insert(self._dialect, t).values(
            workspace_id=workspace_id,
            entity=entity,
            direction=direction,
            operation=operation,
            record_key=key,
            record_ids=ids,
            category=category,
            code=code,
            message=message,
            hint=hint,
            payload=payload,
            attempts=1,
            first_seen=now,
            last_seen=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c[name] for name in _NATURAL_KEY],
            index_where=t.c.resolved_at.is_(None),
            set_={
                "attempts": t.c.attempts + 1,
                "last_seen": stmt.excluded.last_seen,
                "category": stmt.excluded.category,
                "code": stmt.excluded.code,
                "message": stmt.excluded.message,
                "hint": stmt.excluded.hint,
                "payload": stmt.excluded.payload,
            },
        ).returning(*t.c)
        with self._write(conn) as c:
            return _letter(c.execute(stmt).one())

    def get(self, dead_letter_id: int) -> DeadLetter | None:
        with self._read() as c:
            row = c.execute(sa.select(t).where(t.c.id == dead_letter_id)).first()
        return _letter(row) if row else None

    def list_open(
        self,
        workspace_id: str | None = None,
        *,
        category: str | None = None,
        entity: str | None = None,
        limit: int = 1000,
    ) -> list[DeadLetter]:
        """Unresolved letters, most recently seen first."""
        query = sa.select(t).where(t.c.resolved_at.is_(None)).order_by(t.c.last_seen.desc(), t.c.id.desc()).limit(limit)
        if workspace_id is not None:
            query = query.where(t.c.workspace_id == workspace_id)
        if category is not None:
            query = query.where(t.c.category == category)
        if entity is not None:
            query = query.where(t.c.entity == entity)
        with self._read() as c:
            return [_letter(r) for r in c.execute(query)]

    def count_open(self, workspace_id: str | None = None) -> dict[str, int]:
        """Open letters per category."""
        query = (
            sa.select(t.c.category, sa.func.count())
            .where(t.c.resolved_at.is_(None))
            .group_by(t.c.category)
        )
        if workspace_id is not None:
            query = query.where(t.c.workspace_id == workspace_id)
        with self._read() as c:
            return {category: int(n) for category, n in c.execute(query)}

    def resolve(self, ids: Iterable[int], note: str = "resolved") -> int:
        """Closes letters by id; returns how many were open."""
        ids = list(ids)
        if not ids:
            return 0
        with self._write() as c:
            return c.execute(
                sa.update(t)
                .where(t.c.id.in_(ids), t.c.resolved_at.is_(None))
                .values(resolved_at=utcnow(), resolution_note=note)
            ).rowcount

    def resolve_matching(
        self,
        workspace_id: str,
        entity: str,
        direction: str,
        operation: str,
        record_ids: str | Sequence[str],
        note: str = "succeeded on retry",
        *,
        conn: SAConnection | None = None,
    ) -> int:
        """Closes the open letter for this record and operation, if any (call after a
        successful sync of a record that had failed)."""
        key, _ = record_key(record_ids)
        with self._write(conn) as c:
            return c.execute(
                sa.update(t)
                .where(
                    t.c.workspace_id == workspace_id,
                    t.c.entity == entity,
                    t.c.direction == direction,
                    t.c.operation == operation,
                    t.c.record_key == key,
                    t.c.resolved_at.is_(None),
                )
                .values(resolved_at=utcnow(), resolution_note=note)
            ).rowcount

    def requeue_counterparts(self, letters: Iterable[DeadLetter], *, synced: Iterable[str] = ()) -> int:
        """After a blocked pair's own record synced: puts the other half back in the inbox
        so the next incremental run examines it too — unless it is among the `synced`
        records (the two were linked to each other). Returns the events added."""
        synced = set(synced)
        now = utcnow()
        events = [
            _inbox_event(letter, pair, f"counterpart:{letter.id}:{pair[0]}:{pair[1]}", now,
                         {"counterpart_of_dead_letter_id": letter.id})
            for letter in letters
            if (pair := counterpart(letter)) is not None and pair[1] not in synced
        ]
        return InboxRepository(self._engine).append(events) if events else 0

    def requeue(self, ids: Iterable[int]) -> list[DeadLetter]:
        """Puts the records of open letters back in the inbox (push → source "jobsiteon",
        pull → source "cdc") in one transaction and stamps `requeued_at`. The letters stay
        open: a success closes them (`resolve_matching`), a new failure bumps attempts."""
        ids = list(ids)
        if not ids:
            return []
        now = utcnow()
        with self._write() as c:
            letters = [
                _letter(r) for r in c.execute(sa.select(t).where(t.c.id.in_(ids), t.c.resolved_at.is_(None)))
            ]
            events = [
                _inbox_event(letter, record, f"requeue:{letter.id}:{record[0]}:{record[1]}:{now.isoformat()}", now,
                             {"requeued_dead_letter_id": letter.id})
                for letter in letters
                for record in requeued_records(letter)
            ]
            InboxRepository(self._engine).append(events, conn=c)
            if letters:
                c.execute(
                    sa.update(t).where(t.c.id.in_([l.id for l in letters])).values(requeued_at=now)
                )
        return letters


def counterpart(letter: DeadLetter) -> tuple[str, str] | None:
    """For a blocked pair (a "duplicate record" between a JobsiteOn and a QBO record), the
    other side's record as (inbox source, record id); None for any other letter.

    Fixing one half (renaming the JobsiteOn contact) must let the other half sync too: an
    incremental run only creates into a side it read in full, and it reads JobsiteOn in
    full only when an unlinked QBO record is in its scope."""
    payload = letter.payload if isinstance(letter.payload, dict) else {}
    source, key = ("cdc", "qbo_id") if letter.direction == "push" else ("jobsiteon", "jobsiteon_id")
    other = payload.get(key)
    if letter.operation != "reconcile" or other in (None, "") or str(other) in letter.record_ids:
        return None
    return source, str(other)


def requeued_records(letter: DeadLetter) -> list[tuple[str, str]]:
    """(inbox source, record id) a retry puts back: the letter's records and its counterpart."""
    own = "jobsiteon" if letter.direction == "push" else "cdc"
    records = [(own, str(record_id)) for record_id in letter.record_ids]
    other = counterpart(letter)
    return records + ([other] if other else [])


def _inbox_event(letter: DeadLetter, record: tuple[str, str], dedupe_key: str, now, payload: dict) -> NewInboxEvent:
    source, record_id = record
    return NewInboxEvent(workspace_id=letter.workspace_id, source=source, entity=letter.entity, record_id=record_id,
                         operation=letter.operation, dedupe_key=dedupe_key, occurred_at=now, payload=payload)


def _letter(row: sa.Row) -> DeadLetter:
    return DeadLetter(**row._mapping)


def _jsonable(payload: Any) -> Any:
    """Round-trips through JSON so Decimals, dates etc. are stored as text, not rejected."""
    if payload is None:
        return None
    return json.loads(json.dumps(payload, default=str))
