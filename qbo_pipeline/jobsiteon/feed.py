"""JobsiteOn's change feed: an outbox table written in the same transaction as each change.

Why an outbox and not an `updated_at` watermark ("give me rows with updated_at > T"):
- No missed rows from long transactions: a row stamped updated_at=10:00:00 by a transaction
  that commits at 10:00:05 is invisible to a reader at 10:00:02, whose watermark then moves
  past 10:00:00 — that change is lost for good. A watermark also breaks under clock skew
  between application servers stamping updated_at. Here every change gets a `seq`, and
  appends are serialized (below) so seq order is commit order: a reader that has seen seq N
  has seen everything below N, so "seq > last seen" never skips a committed change.
- Deletes are visible: a hard delete leaves no row for a watermark query to find; the feed
  has an explicit 'delete' entry (and soft deletes are entries too).
- Ordered and exact: ties on updated_at (same millisecond, bulk updates) make watermark
  paging ambiguous; seq is a strict total order that pages with `seq > :last LIMIT n`.
- Atomic with the change: the entry commits or rolls back with the data, so there is never
  an entry without its change or a change without its entry.
- Echo-free: each entry records its `source` — 'user' (made in JobsiteOn) or 'integration'
  (written by our sync) — so the pipeline pushes only user changes and never sends its own
  writes back to QBO.

Commit order on PostgreSQL: sequence values are handed out at INSERT time, not at commit, so
two concurrent writers could commit seq 11 before seq 10 and a reader could move past 10
before it becomes visible. `append_changes` therefore takes a transaction-scoped advisory
lock right before inserting the entries: the lock is held only from the (last) feed insert
to commit, and Postgres makes a commit visible before it releases the transaction's locks,
so the next writer's seq is always drawn after the previous one is visible. SQLite already
serializes writers (one write transaction at a time, BEGIN IMMEDIATE in the store).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from qbo_pipeline.jobsiteon.schema import change_feed

# Arbitrary constant naming "the JobsiteOn change feed append lock" (pg_advisory_xact_lock key).
_FEED_LOCK_KEY = 0x4A4F4246  # "JOBF"

FEED_COLUMNS = ("seq", "workspace_id", "entity", "record_id", "operation", "source", "changed_at")


def append_changes(
    conn: Connection,
    workspace_id: str,
    source: str,
    changed_at: dt.datetime,
    changes: Iterable[tuple[str, str, str]],
) -> int:
    """Appends (entity, record_id, operation) entries; call it last in the transaction."""
    rows = [
        {
            "workspace_id": workspace_id,
            "entity": entity,
            "record_id": record_id,
            "operation": operation,
            "source": source,
            "changed_at": changed_at,
        }
        for entity, record_id, operation in changes
    ]
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FEED_LOCK_KEY})
    conn.execute(change_feed.insert(), rows)
    return len(rows)


def changes_since(
    conn: Connection, seq: int, limit: int, workspace_id: str | None = None
) -> list[dict]:
    query = sa.select(*(change_feed.c[name] for name in FEED_COLUMNS)).where(
        change_feed.c.seq > seq
    )
    if workspace_id is not None:
        query = query.where(change_feed.c.workspace_id == workspace_id)
    query = query.order_by(change_feed.c.seq).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def latest_seq(conn: Connection, workspace_id: str | None = None) -> int:
    query = sa.select(sa.func.max(change_feed.c.seq))
    if workspace_id is not None:
        query = query.where(change_feed.c.workspace_id == workspace_id)
    return int(conn.execute(query).scalar() or 0)
