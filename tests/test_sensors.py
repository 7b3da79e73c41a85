"""Sensors and the nightly schedule: what they request, with which run keys, tags and cursor,
evaluated through Dagster's own sensor/schedule contexts on a real state database, plus the
pure planning functions they delegate to."""
from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import dagster as dg
import pytest
import sqlalchemy as sa

from qbo_pipeline.partitions import MODE_TAG, WORKSPACE_TAG, workspaces
from qbo_pipeline.resources import StateResource
from qbo_pipeline.schedules import plan_nightly_runs
from qbo_pipeline.sensors import connections_sensor
from qbo_pipeline.sensors.cdc import plan_cdc_runs
from qbo_pipeline.sensors.connections import plan_partition_changes
from qbo_pipeline.sensors.inbox import (
    INTERVAL_ENV, RETRY_AFTER_SECONDS, WAIT_ENV, build_inbox_sensor, interval_seconds, plan_inbox_runs,
    wait_seconds,
)
from qbo_pipeline.state import ConnectionSettings, NewInboxEvent, PendingSummary
from qbo_pipeline.state.schema import connections as connections_table

from state_fixtures import tokens, vault, vault_key  # noqa: F401 - fixtures

INBOX_MAX_ID_TAG = "qbo_pipeline/inbox_max_id"


# ------------------------------------------------------------------ helpers

@pytest.fixture(autouse=True)
def _ticks_do_not_wait(monkeypatch):
    """Most tests here count one tick's queries; the waiting tick has tests of its own."""
    monkeypatch.setenv(WAIT_ENV, "0")


@pytest.fixture()
def state(db_url):
    resource = StateResource(database_url=db_url)
    yield resource
    resource.store().dispose()


def _event(workspace: str, n: int, entity: str = "Customer") -> NewInboxEvent:
    return NewInboxEvent(
        workspace_id=workspace, source="webhook", entity=entity, record_id=str(n), operation="Update",
        dedupe_key=f"{workspace}:{entity}:{n}", occurred_at=datetime.now(timezone.utc), realm_id=f"realm-{workspace}",
    )


def _connect(store, vault, workspace: str, status: str = "connected", **settings) -> None:
    store.connections.connect(workspace, f"realm-{workspace}", tokens(workspace), vault, company_name=workspace,
                              settings=settings or None)
    if status != "connected":
        store.connections.set_status(workspace, status)


def _instance(*partitions: str, on_disk: bool = False) -> dg.DagsterInstance:
    """An instance whose `workspaces` partitions exist (the connections sensor's job). An
    on-disk one has an instance ref, with which Dagster resolves run requests exactly as in
    the sensor daemon (partitions added by the same tick count)."""
    instance = dg.DagsterInstance.local_temp() if on_disk else dg.DagsterInstance.ephemeral()
    if partitions:
        instance.add_dynamic_partitions(workspaces.name, list(partitions))
    return instance


def _tick(sensor: dg.SensorDefinition, state: StateResource, instance: dg.DagsterInstance,
          cursor: str | None = None):
    ref = None if instance.is_ephemeral else instance.get_ref()
    context = dg.build_sensor_context(instance=instance, instance_ref=ref, cursor=cursor,
                                      resources={"state": state}, definitions=_defs())
    # As the sensor daemon does: partition keys resolve against the instance.
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        return sensor.evaluate_tick(context)


def _defs() -> dg.Definitions:
    """The project's Definitions: the sensors and schedule as deployed, and what Dagster
    resolves their partitioned run requests against."""
    from qbo_pipeline.definitions import defs

    return defs


@contextlib.contextmanager
def _count_statements(engine: sa.Engine):
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        # Transaction control (SQLite's explicit BEGIN) is not a query.
        if statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def _fake_connection(workspace: str, *, status: str = "connected", interval: int = 15):
    """What the planners read of a Connection (they are pure; no database needed)."""
    return SimpleNamespace(workspace_id=workspace, status=status,
                           settings=ConnectionSettings(pull_interval_minutes=interval))


# ------------------------------------------------------------------ inbox sensor

def test_inbox_sensor_requests_one_incremental_run_per_workspace_and_only_for_new_events(state, vault):
    store = state.store()
    sensor = _defs().get_sensor_def("inbox_sensor")
    instance = _instance("ws-a", "ws-b", "ws-c", "ws-reconnect")
    for workspace in ("ws-a", "ws-b", "ws-c"):
        _connect(store, vault, workspace)
    _connect(store, vault, "ws-reconnect", status="needs_reconnect")
    store.inbox.append([_event("ws-a", n) for n in range(3)])
    store.inbox.append([_event("ws-b", 1, "Invoice")])
    store.inbox.append([_event("ws-reconnect", n) for n in range(4)])
    store.inbox.append([_event("ws-c", n) for n in range(2)])
    max_ids = {s.workspace_id: s.max_id for s in store.inbox.pending_summary()}

    before = time.time()
    first = _tick(sensor, state, instance)
    after = time.time()
    runs = {r.partition_key: r for r in first.run_requests}
    # ws-reconnect has four pending events but needs a reconnect: no run for it.
    assert set(runs) == {"ws-a", "ws-b", "ws-c"}
    for workspace, run in runs.items():
        assert run.run_key == f"inbox:{workspace}:{max_ids[workspace]}"
        assert run.tags[WORKSPACE_TAG] == workspace
        assert run.tags[MODE_TAG] == "incremental"
        assert run.tags[INBOX_MAX_ID_TAG] == str(max_ids[workspace])
    # Each run selects the inbox batch, the ops assets and the steps of the entities its
    # events name — ws-b's invoice event does not sync customers.
    synced = {ws: sorted(k.path[1] for k in run.asset_selection if k.path[0] == "sync") for ws, run in runs.items()}
    assert synced == {"ws-a": ["customers"], "ws-b": ["invoices"], "ws-c": ["customers"]}
    assert all(dg.AssetKey(["ops", "inbox_batch"]) in run.asset_selection for run in runs.values())
    cursor = json.loads(first.cursor)
    assert set(cursor) == {"ws-a", "ws-b", "ws-c"}
    for workspace, entry in cursor.items():
        assert entry["id"] == max_ids[workspace]
        assert before <= entry["at"] <= after

    # Nothing new: the same pending events are not requested twice.
    second = _tick(sensor, state, instance, cursor=first.cursor)
    assert not second.run_requests
    assert second.skip_message and "no new inbox events" in second.skip_message
    assert json.loads(second.cursor) == cursor

    # One new event for ws-b: only ws-b gets a run, keyed by its new highest id.
    store.inbox.append([_event("ws-b", 2, "Invoice")])
    newest = max(s.max_id for s in store.inbox.pending_summary())
    third = _tick(sensor, state, instance, cursor=second.cursor)
    assert [(r.partition_key, r.run_key) for r in third.run_requests] == [("ws-b", f"inbox:ws-b:{newest}")]
    third_cursor = json.loads(third.cursor)
    assert third_cursor["ws-b"]["id"] == newest
    assert third_cursor["ws-a"] == cursor["ws-a"]

    # ws-a's run drained its events: it drops out of the cursor; a reconnect makes the
    # waiting workspace runnable.
    store.inbox.mark_processed([e.id for e in store.inbox.pending("ws-a")])
    _connect(store, vault, "ws-reconnect")
    fourth = _tick(sensor, state, instance, cursor=third.cursor)
    assert [(r.partition_key, r.run_key) for r in fourth.run_requests] == [
        ("ws-reconnect", f"inbox:ws-reconnect:{max_ids['ws-reconnect']}")]
    assert "ws-a" not in json.loads(fourth.cursor)


def test_a_workspace_connected_since_the_last_partition_sync_does_not_fail_the_tick(state, vault):
    """The connections sensor adds partitions every few seconds; events of a workspace
    connected in between must not fail the tick for every other workspace."""
    store = state.store()
    instance = _instance("ws-old", on_disk=True)
    _connect(store, vault, "ws-old")
    _connect(store, vault, "ws-new")
    store.inbox.append([_event("ws-old", 1), _event("ws-new", 1)])

    result = _tick(_defs().get_sensor_def("inbox_sensor"), state, instance)
    assert sorted(r.partition_key for r in result.run_requests) == ["ws-new", "ws-old"]
    assert [(r.partitions_def_name, list(r.partition_keys)) for r in result.dynamic_partitions_requests] == [
        (workspaces.name, ["ws-new"])]

    cdc = _tick(_defs().get_sensor_def("cdc_sweep_sensor"), state, instance)
    assert sorted(r.partition_key for r in cdc.run_requests) == ["ws-new", "ws-old"]
    assert [list(r.partition_keys) for r in cdc.dynamic_partitions_requests] == [["ws-new"]]


def test_inbox_sensor_tick_is_one_query_for_a_thousand_workspaces(state, vault):
    store = state.store()
    sensor = _defs().get_sensor_def("inbox_sensor")
    now = datetime.now(timezone.utc)
    settings = ConnectionSettings().to_dict()
    workspaces_ = [f"ws-{n:04d}" for n in range(1000)]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(connections_table), [
            {"workspace_id": ws, "realm_id": f"realm-{ws}", "status": "connected" if n % 10 else "needs_reconnect",
             "settings": settings, "updated_at": now}
            for n, ws in enumerate(workspaces_)
        ])
    store.inbox.append([_event(ws, n) for ws in workspaces_ for n in range(3)])
    runnable = [ws for n, ws in enumerate(workspaces_) if n % 10]
    instance = _instance(*runnable)

    def tick(cursor: str | None):
        return _tick(sensor, state, instance, cursor=cursor)

    with _count_statements(store.engine) as statements:
        result = tick(None)
    assert len(statements) == 1, statements
    assert sorted(r.partition_key for r in result.run_requests) == runnable
    assert len(json.loads(result.cursor)) == len(runnable)
    assert not result.dynamic_partitions_requests  # every partition exists: nothing to add

    # The follow-up tick (cursor holding 900 workspaces, nothing new) is one query too.
    with _count_statements(store.engine) as statements:
        again = tick(result.cursor)
    assert len(statements) == 1, statements
    assert not again.run_requests


def test_a_waiting_tick_requests_the_run_for_an_event_that_arrives_during_its_wait(state, vault, monkeypatch):
    monkeypatch.setenv(WAIT_ENV, "3")
    store = state.store()
    _connect(store, vault, "ws-a")
    instance = _instance("ws-a")
    arrived: list[float] = []

    def webhook_later():
        time.sleep(0.5)  # well after the tick's first (empty) look at the inbox
        store.inbox.append([_event("ws-a", 1)])
        arrived.append(time.monotonic())

    writer = threading.Thread(target=webhook_later)
    started = time.monotonic()
    writer.start()
    result = _tick(_defs().get_sensor_def("inbox_sensor"), state, instance)
    returned = time.monotonic()
    writer.join()
    newest = store.inbox.latest_id()
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [("ws-a", f"inbox:ws-a:{newest}")]
    # It returned on the event, not at the end of its 3 s wait.
    assert arrived[0] <= returned < started + 3


def test_a_waiting_tick_with_nothing_new_polls_only_the_primary_key(state, vault, monkeypatch):
    monkeypatch.setenv(WAIT_ENV, "1")
    store = state.store()
    _connect(store, vault, "ws-a")
    store.inbox.append([_event("ws-a", 1)])
    instance = _instance("ws-a")
    sensor = _defs().get_sensor_def("inbox_sensor")
    first = _tick(sensor, state, instance)  # requests ws-a's run at once: no wait
    assert len(first.run_requests) == 1

    with _count_statements(store.engine) as statements:
        again = _tick(sensor, state, instance, cursor=first.cursor)
    assert not again.run_requests and "no new inbox events" in again.skip_message
    summaries = [q for q in statements if "count(" in q.lower()]
    probes = [q for q in statements if q not in summaries]
    assert len(summaries) == 1  # the plan is made once; the wait only probes max(id)
    assert len(probes) >= 3 and all("max(inbox.id)" in q.lower() and "group by" not in q.lower() for q in probes)


def test_inbox_sensor_interval_is_configurable(monkeypatch):
    from qbo_pipeline.jobs import incremental_sync_job

    assert build_inbox_sensor(incremental_sync_job).minimum_interval_seconds == 4
    monkeypatch.setenv(INTERVAL_ENV, "15")
    assert build_inbox_sensor(incremental_sync_job).minimum_interval_seconds == 15
    monkeypatch.setenv(INTERVAL_ENV, "0")
    with pytest.raises(ValueError, match=INTERVAL_ENV):
        interval_seconds()


@pytest.mark.parametrize("raw", ["5", "-1", "soon"])
def test_wait_setting_refuses_values_that_would_skip_ticks(monkeypatch, raw):
    monkeypatch.setenv(WAIT_ENV, raw)
    with pytest.raises(ValueError, match=WAIT_ENV):
        wait_seconds()


def test_plan_inbox_runs_is_fresh_by_id_retries_stale_requests_and_forgets_drained_workspaces():
    pending = [PendingSummary("ws-a", 3, 10), PendingSummary("ws-b", 1, 7)]
    runs, cursor = plan_inbox_runs(pending, {}, now=1000.0)
    assert [(r.partition_key, r.run_key) for r in runs] == [("ws-a", "inbox:ws-a:10"), ("ws-b", "inbox:ws-b:7")]
    assert all(r.tags[MODE_TAG] == "incremental" for r in runs)
    assert cursor == {"ws-a": {"id": 10, "at": 1000.0}, "ws-b": {"id": 7, "at": 1000.0}}

    # Same ids a little later: nothing; ws-b got a newer event: only ws-b.
    runs, cursor = plan_inbox_runs([PendingSummary("ws-a", 3, 10), PendingSummary("ws-b", 2, 12)], cursor, now=1004.0)
    assert [r.run_key for r in runs] == ["inbox:ws-b:12"]
    assert cursor == {"ws-a": {"id": 10, "at": 1000.0}, "ws-b": {"id": 12, "at": 1004.0}}

    # ws-a's events are still pending long after its run was requested (the run died):
    # requested again under a distinct key; ws-b was drained and leaves the cursor.
    late = 1000.0 + RETRY_AFTER_SECONDS
    runs, cursor = plan_inbox_runs([PendingSummary("ws-a", 3, 10)], cursor, now=late)
    assert [r.run_key for r in runs] == [f"inbox:ws-a:10:retry{int(late)}"]
    assert cursor == {"ws-a": {"id": 10, "at": late}}
    runs, _ = plan_inbox_runs([PendingSummary("ws-a", 3, 10)], cursor, now=late + 1)
    assert runs == []


# ------------------------------------------------------------------ CDC sensor

def test_plan_cdc_runs_gives_each_workspace_one_run_per_interval_slot():
    fifteen, five = _fake_connection("ws-slow", interval=15), _fake_connection("ws-fast", interval=5)
    now = 900.0 * 1000 + 10  # 10 s into a 15-minute (and a 5-minute) slot
    runs, cursor = plan_cdc_runs([fifteen, five], {}, now)
    assert [(r.partition_key, r.run_key) for r in runs] == [
        ("ws-slow", "cdc:ws-slow:900:1000"), ("ws-fast", "cdc:ws-fast:300:3000")]
    assert all(r.tags == {WORKSPACE_TAG: r.partition_key, MODE_TAG: "cdc"} for r in runs)
    assert cursor == {"ws-slow": 1000, "ws-fast": 3000}

    assert plan_cdc_runs([fifteen, five], cursor, now + 200) == ([], cursor)
    runs, cursor = plan_cdc_runs([fifteen, five], cursor, now + 300)
    assert [r.run_key for r in runs] == ["cdc:ws-fast:300:3001"]
    runs, cursor = plan_cdc_runs([fifteen, five], cursor, now + 900)
    assert [r.run_key for r in runs] == ["cdc:ws-slow:900:1001", "cdc:ws-fast:300:3003"]
    # A workspace that is no longer connected leaves the cursor.
    _, cursor = plan_cdc_runs([five], cursor, now + 900)
    assert cursor == {"ws-fast": 3003}


def test_cdc_sensor_uses_each_workspaces_pull_interval(state, vault):
    store = state.store()
    _connect(store, vault, "ws-default")
    _connect(store, vault, "ws-fast")
    store.connections.update_settings("ws-fast", pull_interval_minutes=5)
    _connect(store, vault, "ws-reconnect", status="needs_reconnect")
    sensor = _defs().get_sensor_def("cdc_sweep_sensor")
    instance = _instance("ws-default", "ws-fast", "ws-reconnect")

    before = time.time()
    first = _tick(sensor, state, instance)
    after = time.time()
    runs = {r.partition_key: r for r in first.run_requests}
    assert set(runs) == {"ws-default", "ws-fast"}
    for workspace, interval in (("ws-default", 900), ("ws-fast", 300)):
        prefix, slot = runs[workspace].run_key.rsplit(":", 1)
        assert prefix == f"cdc:{workspace}:{interval}"
        assert int(before // interval) <= int(slot) <= int(after // interval)
        assert runs[workspace].tags[WORKSPACE_TAG] == workspace
        assert json.loads(first.cursor)[workspace] == int(slot)

    second = _tick(sensor, state, instance, cursor=first.cursor)
    if int(time.time() // 300) == int(after // 300):  # same slot (true unless the test straddled a boundary)
        assert not second.run_requests
        assert "no workspace is due" in second.skip_message


# ------------------------------------------------------------------ connections sensor

def test_plan_partition_changes_keeps_live_workspaces_and_drops_disconnected_ones():
    connections = [_fake_connection("ws-new"), _fake_connection("ws-kept"),
                   _fake_connection("ws-paused", status="needs_reconnect"),
                   _fake_connection("ws-gone", status="disconnected")]
    assert plan_partition_changes(connections, {"ws-kept", "ws-gone", "ws-unknown"}) == (
        ["ws-new", "ws-paused"], ["ws-gone", "ws-unknown"])
    assert plan_partition_changes(connections, {"ws-new", "ws-kept", "ws-paused"}) == ([], [])


def test_connections_sensor_adds_and_removes_workspace_partitions(state, vault):
    store = state.store()
    instance = _instance("ws-kept", "ws-gone")
    _connect(store, vault, "ws-kept")
    _connect(store, vault, "ws-new")
    _connect(store, vault, "ws-paused", status="needs_reconnect")
    _connect(store, vault, "ws-gone", status="disconnected")

    result = _tick(connections_sensor, state, instance)
    assert not result.run_requests
    requests = result.dynamic_partitions_requests
    added = [r for r in requests if isinstance(r, dg.AddDynamicPartitionsRequest)]
    deleted = [r for r in requests if isinstance(r, dg.DeleteDynamicPartitionsRequest)]
    assert [(r.partitions_def_name, list(r.partition_keys)) for r in added] == [(workspaces.name, ["ws-new", "ws-paused"])]
    assert [(r.partitions_def_name, list(r.partition_keys)) for r in deleted] == [(workspaces.name, ["ws-gone"])]

    # Once the daemon applied them, the next tick has nothing to do.
    instance.add_dynamic_partitions(workspaces.name, ["ws-new", "ws-paused"])
    instance.delete_dynamic_partition(workspaces.name, "ws-gone")
    again = _tick(connections_sensor, state, instance)
    assert not again.dynamic_partitions_requests
    assert "3 workspace partition(s), no change" in again.skip_message


# ------------------------------------------------------------------ nightly schedule

def test_plan_nightly_runs_keys_each_workspace_by_date():
    runs = plan_nightly_runs([_fake_connection("ws-a"), _fake_connection("ws-b")], "2026-03-01")
    assert [(r.partition_key, r.run_key) for r in runs] == [
        ("ws-a", "nightly:2026-03-01:ws-a"), ("ws-b", "nightly:2026-03-01:ws-b")]
    assert all(r.tags[MODE_TAG] == "full" and r.tags["qbo_pipeline/trigger"] == "nightly" for r in runs)
    assert plan_nightly_runs([], "2026-03-01") == []


def test_nightly_schedule_runs_every_connected_workspace_once_per_night(state, vault):
    store = state.store()
    for workspace in ("ws-a", "ws-b", "ws-c"):
        _connect(store, vault, workspace)
    _connect(store, vault, "ws-paused", status="needs_reconnect")
    _connect(store, vault, "ws-gone", status="disconnected")
    schedule = _defs().get_schedule_def("nightly_reconciliation")
    instance = _instance("ws-a", "ws-b", "ws-c", "ws-paused")

    def evaluate(when: datetime):
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                            resources={"state": state}, repository_def=_defs().get_repository_def())
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            return schedule.evaluate_tick(context)

    night = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)
    result = evaluate(night)
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
        (ws, f"nightly:2026-03-01:{ws}") for ws in ("ws-a", "ws-b", "ws-c")]
    for run in result.run_requests:
        assert run.tags[WORKSPACE_TAG] == run.partition_key
        assert run.tags[MODE_TAG] == "full"
    # The same night evaluated again yields the same keys (the daemon dedupes them); the
    # next night new ones.
    assert [r.run_key for r in evaluate(night).run_requests] == [r.run_key for r in result.run_requests]
    assert {r.run_key.split(":")[1] for r in evaluate(night + timedelta(days=1)).run_requests} == {"2026-03-02"}

    for workspace in ("ws-a", "ws-b", "ws-c"):
        store.connections.disconnect(workspace)
    empty = evaluate(night)
    assert not empty.run_requests
    assert empty.skip_message == "no connected workspace"
