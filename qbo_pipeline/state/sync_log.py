"""The sync log users read: one line per noteworthy thing that happened to a record."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from typing import TYPE_CHECKING

from qbo_pipeline.state._repo import Repository
from qbo_pipeline.state.errors import StateError
from qbo_pipeline.state.schema import DIRECTIONS, SYNC_LOG_STATUSES, sync_log as t
from qbo_pipeline.state.types import utcnow

if TYPE_CHECKING:  # pandas is imported lazily: the CLI and the webhook receiver never need it
    import pandas as pd

COLUMNS = ["id", "timestamp", "workspace_id", "entity", "direction", "status", "record_id", "details"]


@dataclass(frozen=True)
class SyncLogEntry:
    workspace_id: str
    entity: str
    direction: str  # push (to QBO) | pull (from QBO)
    status: str  # error | warning | info
    details: str
    record_id: str | None = None
    timestamp: datetime | None = None

    def row(self, now: datetime) -> dict:
        if self.direction not in DIRECTIONS:
            raise StateError(f"sync log direction must be push or pull, got {self.direction!r}")
        if self.status not in SYNC_LOG_STATUSES:
            raise StateError(f"sync log status must be one of {SYNC_LOG_STATUSES}, got {self.status!r}")
        return {
            "timestamp": self.timestamp or now,
            "workspace_id": self.workspace_id,
            "entity": self.entity,
            "direction": self.direction,
            "status": self.status,
            "record_id": self.record_id,
            "details": self.details,
        }


class SyncLogRepository(Repository):
    def add(
        self,
        workspace_id: str,
        entity: str,
        direction: str,
        status: str,
        details: str,
        record_id: str | None = None,
        *,
        conn: SAConnection | None = None,
    ) -> None:
        self.add_many([SyncLogEntry(workspace_id, entity, direction, status, details, record_id)], conn=conn)

    def add_many(self, entries: Iterable[SyncLogEntry], *, conn: SAConnection | None = None) -> int:
        now = utcnow()
        rows = [entry.row(now) for entry in entries]
        if not rows:
            return 0
        with self._write(conn) as c:
            for start in range(0, len(rows), 500):
                c.execute(sa.insert(t), rows[start : start + 500])
        return len(rows)

    def recent(
        self,
        workspace_id: str,
        *,
        limit: int = 100,
        status: str | None = None,
        entity: str | None = None,
        before_id: int | None = None,
    ) -> pd.DataFrame:
        """Newest entries first, as a DataFrame with COLUMNS (page with `before_id`)."""
        import pandas as pd

        query = sa.select(*[t.c[n] for n in COLUMNS]).where(t.c.workspace_id == workspace_id)
        if status is not None:
            query = query.where(t.c.status == status)
        if entity is not None:
            query = query.where(t.c.entity == entity)
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        query = query.order_by(t.c.id.desc()).limit(limit)
        with self._read() as c:
            rows = c.execute(query).all()
        frame = pd.DataFrame.from_records(rows, columns=COLUMNS)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        return frame
