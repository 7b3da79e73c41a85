"""Inbox sensor: turns pending webhook, CDC and JobsiteOn change events into one incremental
run per workspace. One indexed query per tick; no QBO or JobsiteOn calls."""

import json
import os
import time
from typing import Iterable

import dagster as dg

from qbo_pipeline.assets.selection import incremental_selection, synced_entities
from qbo_pipeline.partitions import INCREMENTAL, run_tags
from qbo_pipeline.sensors.partitions import missing_partitions_requests

# The sensor daemon loops every 5 s; an interval under that keeps webhook latency low
# (dagster-notes.md: "Use <= 4 s where latency matters").
DEFAULT_INTERVAL_SECONDS = 4
# Events still pending this long after their run was requested (the run failed, or was
# killed) are requested again.
RETRY_AFTER_SECONDS = 300
# "entities" (default): a run selects only the assets of the entities its events name;
# "all": every run executes the whole sync graph (the escape hatch, and the benchmark's
# baseline).
SELECTION_ENV = "QBO_PIPELINE_INCREMENTAL_SELECTION"


def select_by_entity() -> bool:
    value = os.environ.get(SELECTION_ENV, "entities").strip().lower()
    if value not in ("entities", "all"):
        raise ValueError(f"{SELECTION_ENV}={value!r}: use 'entities' (default) or 'all'")
    return value == "entities"


def plan_inbox_runs(
    pending: Iterable, cursor: dict[str, dict], now: float, retry_after: float = RETRY_AFTER_SECONDS
) -> tuple[list[dg.RunRequest], dict[str, dict]]:
    """Pure decision: which workspaces get a run now, and the next cursor.

    `pending` is the inbox's per-workspace summary (workspace_id, pending, max_id, and
    optionally entities) of runnable workspaces; `cursor` maps a workspace to {"id": highest
    inbox id a run was requested for, "at": when, "synced": the entities that run syncs}.
    The run key carries that id, so a repeated tick (or a restarted daemon) never launches
    the same work twice.

    With the entities known, a run selects only their assets (qbo_pipeline.assets.selection):
    ~8 steps for one entity instead of the whole graph's ~40 — most of an incremental run's
    time. Pending events of an entity outside the last request (one that committed after a
    newer id the tick already saw, then left by that run) also make the workspace fresh."""
    runs: list[dg.RunRequest] = []
    next_cursor: dict[str, dict] = {}
    for summary in pending:
        workspace = summary.workspace_id
        last = cursor.get(workspace)
        entities = getattr(summary, "entities", None)
        synced = None if entities is None else synced_entities(entities)
        uncovered = (last is not None and synced is not None and "synced" in last
                     and not set(synced) <= set(last["synced"]))
        fresh = last is None or summary.max_id > last["id"] or uncovered
        stale = last is not None and not fresh and now - last["at"] >= retry_after
        if not (fresh or stale):
            next_cursor[workspace] = last
            continue
        run_key = f"inbox:{workspace}:{summary.max_id}"
        if stale:
            run_key += f":retry{int(now)}"
        elif uncovered and summary.max_id <= last["id"]:
            run_key += ":" + "+".join(synced)
        runs.append(
            dg.RunRequest(
                run_key=run_key,
                partition_key=workspace,
                tags={**run_tags(workspace, INCREMENTAL), "qbo_pipeline/inbox_max_id": str(summary.max_id)},
                asset_selection=None if entities is None else incremental_selection(entities),
            )
        )
        next_cursor[workspace] = {"id": summary.max_id, "at": now}
        if synced is not None:
            next_cursor[workspace]["synced"] = synced
    # Workspaces with nothing pending drop out of the cursor, which keeps it small.
    return runs, next_cursor


def build_inbox_sensor(job, interval_seconds: int = DEFAULT_INTERVAL_SECONDS) -> dg.SensorDefinition:
    @dg.sensor(
        name="inbox_sensor",
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"state"},
        description="Starts an incremental sync for each connected workspace with new inbox "
        "events (webhooks, CDC sweeps, JobsiteOn changes). Reads one indexed query per tick.",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext):
        cursor = json.loads(context.cursor or "{}")
        store = context.resources.state.store()
        pending = store.inbox.pending_summary(runnable_only=True, with_entities=select_by_entity())
        runs, next_cursor = plan_inbox_runs(pending, cursor, time.time())
        serialized = json.dumps(next_cursor, sort_keys=True)
        if not runs:
            total = sum(s.pending for s in pending)
            return dg.SensorResult(skip_reason=f"no new inbox events ({total} pending, already requested)", cursor=serialized)
        context.log.info(f"requesting {len(runs)} incremental run(s): " + ", ".join(
            f"{r.partition_key} ({len(r.asset_selection) if r.asset_selection else 'all'} assets)" for r in runs))
        return dg.SensorResult(run_requests=runs, cursor=serialized,
                               dynamic_partitions_requests=missing_partitions_requests(context.instance, runs))

    return inbox_sensor
