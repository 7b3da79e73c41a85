"""The operation log: idempotency keys for side effects (a QBO create, a JobsiteOn write).

Usage: `record, is_new = ops.reserve(key)`; if not new and `record.status == "succeeded"`,
reuse `record.outcome` instead of repeating the side effect; otherwise do the work and
`ops.finish(key, "succeeded", outcome)` (or "failed")."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from qbo_pipeline.state._repo import Repository
from qbo_pipeline.state.db import upsert_insert
from qbo_pipeline.state.errors import StateError
from qbo_pipeline.state.schema import operations as t
from qbo_pipeline.state.types import utcnow

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


@dataclass(frozen=True)
class OperationRecord:
    key: str
    status: str
    outcome: Any
    created_at: datetime
    updated_at: datetime


class OperationsRepository(Repository):
    def reserve(self, key: str, *, conn: SAConnection | None = None) -> tuple[OperationRecord, bool]:
        """Records `key` as pending if unseen. Returns the stored record and whether this
        call created it (False: someone already started or finished the operation)."""
        now = utcnow()
        stmt = (
            upsert_insert(self._dialect, t)
            .values(key=key, status=PENDING, outcome=None, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=[t.c.key])
        )
        with self._write(conn) as c:
            created = c.execute(stmt).rowcount == 1
            row = c.execute(sa.select(t).where(t.c.key == key)).one()
        return OperationRecord(**row._mapping), created

    def finish(self, key: str, status: str, outcome: Any = None, *, conn: SAConnection | None = None) -> None:
        if status not in (SUCCEEDED, FAILED, PENDING):
            raise StateError(f"operation status must be succeeded, failed or pending, got {status!r}")
        now = utcnow()
        stmt = upsert_insert(self._dialect, t).values(
            key=key, status=status, outcome=outcome, created_at=now, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.key],
            set_={"status": stmt.excluded.status, "outcome": stmt.excluded.outcome, "updated_at": now},
        )
        with self._write(conn) as c:
            c.execute(stmt)

    def get(self, key: str) -> OperationRecord | None:
        with self._read() as c:
            row = c.execute(sa.select(t).where(t.c.key == key)).first()
        return OperationRecord(**row._mapping) if row else None

    def get_many(self, keys: Iterable[str]) -> dict[str, OperationRecord]:
        keys = list(keys)
        found: dict[str, OperationRecord] = {}
        with self._read() as c:
            for start in range(0, len(keys), 500):
                for row in c.execute(sa.select(t).where(t.c.key.in_(keys[start : start + 500]))):
                    found[row.key] = OperationRecord(**row._mapping)
        return found

    def forget(self, key: str) -> bool:
        """Deletes a key so the operation may run again (e.g. after a manual fix)."""
        with self._write() as c:
            return bool(c.execute(sa.delete(t).where(t.c.key == key)).rowcount)
