"""Cursors: per (workspace, source) watermarks such as the CDC "changed since" time or the
JobsiteOn change-feed sequence; also small counters (see `bump`)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from qbo_pipeline.state._repo import Repository
from qbo_pipeline.state.db import upsert_insert
from qbo_pipeline.state.schema import cursors as t
from qbo_pipeline.state.types import utcnow

# Workspace id under which process-wide counters live (e.g. the webhook receiver's).
GLOBAL = "_global"


class CursorsRepository(Repository):
    def get(self, workspace_id: str, source: str, *, conn: SAConnection | None = None) -> str | None:
        with self._read(conn) as c:
            return c.execute(
                sa.select(t.c.value).where(t.c.workspace_id == workspace_id, t.c.source == source)
            ).scalar()

    def get_with_time(self, workspace_id: str, source: str) -> tuple[str | None, datetime | None]:
        with self._read() as c:
            row = c.execute(
                sa.select(t.c.value, t.c.updated_at).where(t.c.workspace_id == workspace_id, t.c.source == source)
            ).first()
        return (row[0], row[1]) if row else (None, None)

    def set(self, workspace_id: str, source: str, value: str, *, conn: SAConnection | None = None) -> None:
        stmt = upsert_insert(self._dialect, t).values(
            workspace_id=workspace_id, source=source, value=value, updated_at=utcnow()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.workspace_id, t.c.source],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        with self._write(conn) as c:
            c.execute(stmt)

    def all(self, workspace_id: str) -> dict[str, str | None]:
        with self._read() as c:
            rows = c.execute(sa.select(t.c.source, t.c.value).where(t.c.workspace_id == workspace_id))
            return {source: value for source, value in rows}

    def delete(self, workspace_id: str, source: str) -> bool:
        with self._write() as c:
            return bool(
                c.execute(sa.delete(t).where(t.c.workspace_id == workspace_id, t.c.source == source)).rowcount
            )

    def bump(self, workspace_id: str, source: str, by: int = 1, *, conn: SAConnection | None = None) -> None:
        """Atomically adds `by` to an integer counter stored as a cursor (created at 0)."""
        stmt = upsert_insert(self._dialect, t).values(
            workspace_id=workspace_id, source=source, value=str(by), updated_at=utcnow()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.workspace_id, t.c.source],
            set_={
                "value": sa.cast(sa.cast(t.c.value, sa.BigInteger) + by, sa.Text),
                "updated_at": stmt.excluded.updated_at,
            },
        )
        with self._write(conn) as c:
            c.execute(stmt)

    def counter(self, workspace_id: str, source: str) -> int:
        value = self.get(workspace_id, source)
        return int(value) if value else 0
