"""Sync health per workspace: connection, freshness, backlog, errors, mapping completeness and
the last nightly reconciliation, summed up in one word.

Overall status, first match wins:
  disconnected     no connection, or disconnected
  needs_reconnect  QuickBooks rejected the refresh token: a person must reconnect
  degraded         open dead letters, a failed nightly run or residual diff left by it, or
                   inbox events waiting longer than `stale_inbox_after`
  ok               everything else
`reasons` lists, in words, why the status is not ok.

Inputs the sync writes (contract): cursor `last_success:<registry entity name>` = ISO time of
the entity's last successful sync; cursor `last_full_run` = JSON
{"finished_at", "status", "residual_diff", "writes"} from the nightly run (residual_diff: a
number, or per-entity numbers).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.state import StateStore

if TYPE_CHECKING:
    from qbo_pipeline.jobsiteon.store import JobsiteOnStore

LAST_SUCCESS_PREFIX = "last_success:"
LAST_FULL_RUN = "last_full_run"
OK_RUN_STATUSES = frozenset({"ok", "success", "succeeded", "passed", "completed"})
DEFAULT_STALE_INBOX = timedelta(minutes=30)


def sync_health(
    state: StateStore,
    workspace_id: str,
    jobsiteon: JobsiteOnStore | None = None,
    *,
    stale_inbox_after: timedelta = DEFAULT_STALE_INBOX,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The health of one workspace as a JSON-ready dict (see the module docstring).

    Mapping completeness counts JobsiteOn's live (not deleted, syncable) records when
    `jobsiteon` is given; without it only the id-map links are reported."""
    now = now or datetime.now(timezone.utc)
    connection = state.connections.get(workspace_id)
    cursors = state.cursors.all(workspace_id)
    pending = state.inbox.count(workspace_id, pending_only=True)
    oldest = state.inbox.pending(workspace_id, limit=1) if pending else []
    oldest_at = oldest[0].received_at if oldest else None
    by_category = dict(sorted(state.dead_letters.count_open(workspace_id).items()))
    open_letters = sum(by_category.values())
    nightly = _nightly(cursors.get(LAST_FULL_RUN))
    mapping = _mapping(state, workspace_id, jobsiteon)

    reasons: list[str] = []
    if connection is None or connection.status == "disconnected":
        status = "disconnected"
        reasons.append(
            f"workspace {workspace_id} has no live QuickBooks connection; "
            f"connect it with: qbo-pipeline connect --workspace {workspace_id}"
        )
    elif connection.status == "needs_reconnect":
        status = "needs_reconnect"
        reasons.append(
            "QuickBooks rejected the stored refresh token; reconnect with: "
            f"qbo-pipeline connect --workspace {workspace_id} (sync resumes by itself)"
        )
    else:
        status = "ok"
    if open_letters:
        summary = ", ".join(f"{c} {n}" for c, n in by_category.items())
        reasons.append(f"{open_letters} open dead letter(s) ({summary}); see: qbo-pipeline errors --workspace {workspace_id}")
    if nightly is not None:
        if not nightly["ok"]:
            reasons.append(f"last nightly run ended with status {nightly.get('status')!r}")
        elif nightly["residual_total"]:
            reasons.append(f"last nightly run left {nightly['residual_total']} residual difference(s)")
    if oldest_at is not None and now - oldest_at > stale_inbox_after:
        minutes = int((now - oldest_at).total_seconds() // 60)
        reasons.append(f"{pending} inbox event(s) pending, the oldest for {minutes} min: is the inbox sensor running?")
    if status == "ok" and reasons:
        status = "degraded"

    return {
        "workspace_id": workspace_id,
        "status": status,
        "reasons": reasons,
        "connection": connection.status if connection else "disconnected",
        "realm_id": connection.realm_id if connection else None,
        "company": connection.company_name if connection else None,
        "last_success": _last_success(cursors),
        "inbox": {"pending": pending, "oldest_received_at": _iso(oldest_at)},
        "dead_letters": {"open": open_letters, "by_category": by_category},
        "mapping": mapping,
        "last_nightly": nightly,
        "checked_at": _iso(now),
    }


def all_health(state: StateStore, jobsiteon: JobsiteOnStore | None = None, **options: Any) -> list[dict[str, Any]]:
    """`sync_health` of every workspace that has a connection (disconnected ones included)."""
    return [sync_health(state, c.workspace_id, jobsiteon, **options) for c in state.connections.list()]


def _last_success(cursors: dict[str, str | None]) -> dict[str, str | None]:
    result: dict[str, str | None] = {name: None for name in REGISTRY}
    for source, value in cursors.items():
        if source.startswith(LAST_SUCCESS_PREFIX):
            result[source[len(LAST_SUCCESS_PREFIX):]] = value
    return result


def _nightly(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        return {"status": "unreadable", "raw": raw[:200], "ok": False, "residual_total": None}
    residual = data.get("residual_diff")
    if isinstance(residual, dict):
        total = sum(int(v or 0) for v in residual.values() if isinstance(v, (int, float)))
    elif isinstance(residual, (int, float)):
        total = int(residual)
    else:
        total = 0
    status = data.get("status")
    return {**data, "ok": str(status).lower() in OK_RUN_STATUSES, "residual_total": total}


def _mapping(state: StateStore, workspace_id: str, jobsiteon: JobsiteOnStore | None) -> dict[str, dict[str, Any]]:
    counts = _jobsiteon_counts(jobsiteon, workspace_id) if jobsiteon is not None else {}
    mapping: dict[str, dict[str, Any]] = {}
    for name in REGISTRY:
        links = state.id_map.count(workspace_id, name)
        records = counts.get(name)
        percent = None
        if records:
            # Links to since-deleted records can outnumber live records; never show > 100 %.
            percent = round(min(links, records) * 100.0 / records, 1)
        elif records == 0:
            percent = 100.0
        mapping[name] = {"links": links, "records": records, "percent": percent}
    return mapping


def _jobsiteon_counts(jobsiteon: JobsiteOnStore, workspace_id: str) -> dict[str, int]:
    """Live records per registry entity, counting only those the sync would sync
    (e.g. invoices that are approved, paid or void — drafts never reach QBO)."""
    from qbo_pipeline.jobsiteon.specs import ENTITIES

    counts: dict[str, int] = {}
    try:
        with jobsiteon.engine.connect() as conn:
            for name, spec in REGISTRY.items():
                table = ENTITIES[spec.jobsiteon_table].table
                query = (
                    sa.select(sa.func.count())
                    .select_from(table)
                    .where(table.c.workspace_id == workspace_id, table.c.deleted_at.is_(None))
                )
                if spec.sync_statuses is not None:
                    column, values = spec.sync_statuses
                    query = query.where(table.c[column].in_(values))
                counts[name] = int(conn.execute(query).scalar_one())
    except sa.exc.SQLAlchemyError:
        return {}  # JobsiteOn's database is not reachable/initialised: report links only
    return counts


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
