"""Inbox sensor: turns pending webhook, CDC and JobsiteOn change events into one incremental
run per workspace. One indexed query on the state database per tick (and, when something is
pending, one look at the run queue); no QBO or JobsiteOn calls.

A tick that finds nothing to request waits for new events instead of returning at once:
it polls the inbox's highest id (a primary-key lookup) every 0.2 s for up to
QBO_PIPELINE_INBOX_WAIT_SECONDS (default 3.5 s) and plans again as soon as one arrives.
The sensor daemon starts a tick at most every 5 s, so a plain tick leaves a webhook waiting
2.5 s on average and 5 s at worst before its run is even requested; a waiting tick covers
most of that gap and requests the run within a few hundred milliseconds. The wait stays
below the daemon's 5 s loop so the next tick is never skipped, and far below the sensor's
60 s evaluation timeout. 0 turns waiting off (one query per tick)."""

import json
import os
import time
from typing import Iterable, Mapping

import dagster as dg

from qbo_pipeline.assets.selection import incremental_selection, synced_entities
from qbo_pipeline.partitions import INCREMENTAL, WORKSPACE_TAG, run_tags
from qbo_pipeline.sensors.partitions import missing_partitions_requests

# The sensor daemon loops every 5 s; an interval under that keeps webhook latency low
# (dagster-notes.md: "Use <= 4 s where latency matters").
DEFAULT_INTERVAL_SECONDS = 4
INTERVAL_ENV = "QBO_PIPELINE_INBOX_INTERVAL_SECONDS"
# Events still pending this long after their run was requested (the run failed, or was
# killed) are requested again.
RETRY_AFTER_SECONDS = 300
# "entities" (default): a run selects only the assets of the entities its events name;
# "all": every run executes the whole sync graph (the escape hatch, and the benchmark's
# baseline).
SELECTION_ENV = "QBO_PIPELINE_INCREMENTAL_SELECTION"
WAIT_ENV = "QBO_PIPELINE_INBOX_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 3.5
# The daemon's sensor loop: a wait this long or longer would make it skip the next tick.
SENSOR_LOOP_SECONDS = 5.0
PROBE_INTERVAL_SECONDS = 0.2


def select_by_entity() -> bool:
    value = os.environ.get(SELECTION_ENV, "entities").strip().lower()
    if value not in ("entities", "all"):
        raise ValueError(f"{SELECTION_ENV}={value!r}: use 'entities' (default) or 'all'")
    return value == "entities"


def _seconds_setting(name: str, default: float, parse, low: float, high: float, why: str):
    raw = os.environ.get(name, str(default)).strip()
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValueError(f"{name}={raw!r}: {why}")
    return value


def interval_seconds() -> int:
    """The inbox sensor's minimum interval: QBO_PIPELINE_INBOX_INTERVAL_SECONDS, default 4."""
    return _seconds_setting(INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS, int, 1, 24 * 3600,
                            "a whole number of seconds, at least 1")


def wait_seconds() -> float:
    high = SENSOR_LOOP_SECONDS - 1
    return _seconds_setting(WAIT_ENV, DEFAULT_WAIT_SECONDS, float, 0, high,
                            f"use 0 to {high:g} seconds (the sensor daemon starts a tick every "
                            f"{SENSOR_LOOP_SECONDS:g} s; a longer wait would skip ticks)")


def wait_for_new_events(latest_id, seen: int, deadline: float, interval: float = PROBE_INTERVAL_SECONDS) -> bool:
    """Poll `latest_id()` until it passes `seen` (True) or the monotonic `deadline` passes (False)."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))
        if latest_id() > seen:
            return True


def plan_inbox_runs(
    pending: Iterable, cursor: dict[str, dict], now: float, retry_after: float = RETRY_AFTER_SECONDS,
    queued: Mapping[str, frozenset[str] | None] | None = None,
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
    newer id the tick already saw, then left by that run) also make the workspace fresh.

    `queued` maps a workspace to the entities a run of it that is queued but not started
    yet will sync (None: all). That run claims whatever is pending when it starts, so new
    events it covers need no run of their own: a burst of webhooks while a run waits in the
    queue (behind the one-run-per-workspace limit) adds no run. Pass it only from a look at
    the run queue taken after the inbox query, so a run seen queued claims after it."""
    queued = queued or {}
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
        if workspace in queued and _covers(queued[workspace], synced):
            next_cursor[workspace] = {"id": summary.max_id, "at": now}
            if queued[workspace] is not None:
                next_cursor[workspace]["synced"] = sorted(queued[workspace])
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


def _covers(queued_entities: frozenset[str] | None, synced: list[str] | None) -> bool:
    if queued_entities is None:
        return True
    return synced is not None and set(synced) <= queued_entities


# A run in these states has not executed its inbox_batch step yet (STARTING: the run worker
# is booting), so it will claim every event committed before it gets there.
NOT_YET_CLAIMED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING]


def queued_runs(instance: dg.DagsterInstance, job_name: str) -> dict[str, frozenset[str] | None]:
    """Workspaces with a run of `job_name` that has not started yet, and what it syncs
    (None: the whole graph). One query on the run storage."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=NOT_YET_CLAIMED))
    queued: dict[str, frozenset[str] | None] = {}
    for run in runs:
        workspace = run.tags.get(WORKSPACE_TAG)
        if not workspace:
            continue
        entities = None if run.asset_selection is None else frozenset(
            key.path[1] for key in run.asset_selection if key.path[0] == "sync")
        if workspace in queued and (queued[workspace] is None or entities is None):
            queued[workspace] = None
        else:
            queued[workspace] = entities if workspace not in queued else queued[workspace] | entities
    return queued


def build_inbox_sensor(job, interval: int | None = None) -> dg.SensorDefinition:
    @dg.sensor(
        name="inbox_sensor",
        job=job,
        minimum_interval_seconds=interval if interval is not None else interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"state"},
        description="Starts an incremental sync for each connected workspace with new inbox "
        "events (webhooks, CDC sweeps, JobsiteOn changes). Reads one indexed query per tick.",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext):
        cursor = json.loads(context.cursor or "{}")
        store = context.resources.state.store()
        by_entity, wait = select_by_entity(), wait_seconds()
        deadline = time.monotonic() + wait
        while True:
            # Read before planning: an event committed while we plan counts as new below.
            seen = store.inbox.latest_id() if wait else 0
            pending = store.inbox.pending_summary(runnable_only=True, with_entities=by_entity)
            # After the inbox query: a run seen queued here claims everything that query saw.
            queued = queued_runs(context.instance, job.name) if pending else {}
            runs, next_cursor = plan_inbox_runs(pending, cursor, time.time(), queued=queued)
            if runs or not wait or not wait_for_new_events(store.inbox.latest_id, seen, deadline):
                break
        serialized = json.dumps(next_cursor, sort_keys=True)
        if not runs:
            total = sum(s.pending for s in pending)
            return dg.SensorResult(skip_reason=f"no new inbox events ({total} pending, already requested "
                                               "or waiting for a queued run)", cursor=serialized)
        context.log.info(f"requesting {len(runs)} incremental run(s): " + ", ".join(
            f"{r.partition_key} ({len(r.asset_selection) if r.asset_selection else 'all'} assets)" for r in runs))
        return dg.SensorResult(run_requests=runs, cursor=serialized,
                               dynamic_partitions_requests=missing_partitions_requests(context.instance, runs))

    return inbox_sensor
