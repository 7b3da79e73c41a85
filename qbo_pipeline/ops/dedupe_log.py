"""Dedupe undo records, kept in the operation log (`state.operations`, key
`dedupe:merge:<merge id>`) so any machine sharing the state database can undo a merge.

The record is written before the first write of a merge and updated after each step, so a
crash leaves everything needed to resume or undo. While a merge is unfinished, cursor
`dedupe_open:<kind>:<survivor>:<duplicate>` of the workspace points at it: running the same
dedupe again resumes that merge (same merge id, same requestids) instead of starting anew.

Record (JSON):
  merge_id, workspace_id, realm_id, entity (customer|vendor|item), state
  (applying|applied|undoing|undone), created_at, applied_at, undone_at, reason,
  survivor {qbo_id, name, jobsiteon_id}, duplicate {qbo_id, name, jobsiteon_id},
  qbo_changes [RefChange dicts, each with status applied|already|conflict|missing],
  deactivation {name_before, active_before, name_after, changed},
  jobsiteon_changes [{entity, id, column, before, after[, position]}],
  jobsiteon_deleted {entity, id, was_deleted}, id_map_removed {jobsiteon_id, qbo_id, ...},
  problems [text]
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from qbo_pipeline.ops.dedupe_plan import DedupeError
from qbo_pipeline.state import StateStore

KEY_PREFIX = "dedupe:merge:"
OPEN_CURSOR = "dedupe_open:{kind}:{survivor}:{duplicate}"
PENDING, SUCCEEDED = "pending", "succeeded"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def open_merge(state: StateStore, base: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The unfinished record for this survivor/duplicate pair (resumed=True), or a new one
    built from `base` (needs workspace_id, entity, survivor, duplicate)."""
    cursor = _cursor(base)
    merge_id = state.cursors.get(base["workspace_id"], cursor)
    if merge_id:
        found = state.operations.get(KEY_PREFIX + merge_id)
        if found is not None and isinstance(found.outcome, dict) and found.outcome.get("state") == "applying":
            return found.outcome, True
    record = {
        "merge_id": f"M{uuid.uuid4().hex[:12]}",
        "state": "applying",
        "created_at": now_iso(),
        "qbo_changes": [],
        "jobsiteon_changes": [],
        "problems": [],
        **base,
    }
    state.operations.reserve(KEY_PREFIX + record["merge_id"])
    save(state, record)
    state.cursors.set(base["workspace_id"], cursor, record["merge_id"])
    return record, False


def save(state: StateStore, record: dict[str, Any]) -> None:
    done = record["state"] in ("applied", "undone")
    state.operations.finish(KEY_PREFIX + record["merge_id"], SUCCEEDED if done else PENDING, record)


def close(state: StateStore, record: dict[str, Any]) -> None:
    """Marks the merge applied and forgets the resume pointer."""
    record["state"] = "applied"
    record["applied_at"] = now_iso()
    save(state, record)
    forget_open(state, record)


def forget_open(state: StateStore, record: dict[str, Any]) -> None:
    """Drops the resume pointer if it still points at this merge."""
    cursor = _cursor(record)
    if state.cursors.get(record["workspace_id"], cursor) == record["merge_id"]:
        state.cursors.delete(record["workspace_id"], cursor)


def load(state: StateStore, merge_id: str) -> dict[str, Any]:
    found = state.operations.get(KEY_PREFIX + merge_id.strip())
    if found is None or not isinstance(found.outcome, dict):
        raise DedupeError(
            f"no dedupe merge {merge_id!r} in the operation log; the merge ids are printed by "
            "`qbo-pipeline dedupe --apply` and written to the sync log"
        )
    return found.outcome


def _cursor(record: dict[str, Any]) -> str:
    return OPEN_CURSOR.format(kind=record["entity"], survivor=record["survivor"]["qbo_id"],
                              duplicate=record["duplicate"]["qbo_id"])
