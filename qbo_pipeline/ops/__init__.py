"""Operations tooling: plain functions (no Dagster) that the ops assets and the CLI share.

health (health.py)
    sync_health(state, workspace_id, jobsiteon=None, *, stale_inbox_after=30 min) -> dict
    all_health(state, jobsiteon=None) -> list[dict]
        connection + company, last success per entity (cursors `last_success:<entity>`), inbox
        depth, open dead letters (total, by category), mapping completeness per entity,
        last nightly run (cursor `last_full_run`), overall status ok | degraded |
        needs_reconnect | disconnected and the reasons.

errors (errors.py) — the dead-letter queue; its life cycle is in the module docstring
    list_errors(state, workspace_id=None, *, category=None, entity=None) -> list[dict]
    retry_dead_letters(state, ids=(), *, all_open=False, workspace_id=None) -> RetryResult
    resolve_dead_letters(state, ids, note) -> list[DeadLetter]          (by hand)
    resolve_succeeded(state, ws, entity, direction, operation, record_ids, *, conn=None) -> int
        (for the sync step: closes the record's letter after a successful retry, and logs it)

dedupe (dedupe.py; steps in dedupe_plan / dedupe_qbo / dedupe_jobsiteon / dedupe_log)
    plan_dedupe(client, state, workspace_id, "customer"|"vendor"|"item", *, progress=False) -> DedupePlan
    apply_dedupe(client, state, jobsiteon, plan, *, progress=False) -> list[MergeResult]
    undo_merge(client, state, jobsiteon, merge_id, *, progress=False) -> UndoResult
    load_merge(state, merge_id) -> dict (the undo record)

clients.py: qbo_client_for(state, workspace_id) -> QBOClient (from the environment).
render.py: text views (format_health, format_errors, format_plan, ...).
"""
from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: the CLI imports this package for every command, and health/dedupe
# pull in pandas, which the other commands never need.
_LAZY = {
    "all_health": "health",
    "sync_health": "health",
    "list_errors": "errors",
    "resolve_dead_letters": "errors",
    "resolve_succeeded": "errors",
    "retry_dead_letters": "errors",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
