"""Incremental runs narrowed to the entities their inbox events name: which assets the inbox
sensor selects, when it requests a run (and when a queued run already covers the events),
and that a narrowed run syncs its entities and leaves the others' events for their own run."""
from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import httpx
import pytest

from pipeline_fixtures import make_workspace, materialize
from qbo_pipeline.assets.selection import covered_by, incremental_selection, spec_for_event_entity, synced_entities
from qbo_pipeline.partitions import INCREMENTAL
from qbo_pipeline.sensors.inbox import plan_inbox_runs, queued_runs
from qbo_pipeline.state import NewInboxEvent, PendingSummary

OPS = ["ops/inbox_batch", "ops/inbox_processed", "ops/dead_letters", "ops/sync_health"]


def _keys(selection) -> list[str]:
    return [key.to_user_string() for key in selection]


def test_event_entities_map_to_the_assets_of_their_registry_entity():
    # QBO's names (webhooks, CDC), JobsiteOn's tables (change feed) and registry names.
    assert {spec_for_event_entity(n).name for n in ("Customer", "customer", "contacts", "customers")} == {"customers"}
    assert spec_for_event_entity("Account") is None and spec_for_event_entity("TaxCode") is None
    assert _keys(incremental_selection(["contacts", "Customer"])) == OPS + [
        "qbo/customers", "jobsiteon/contacts", "reconcile/customers_diff", "sync/customers"]
    # Registry order whatever the event order; entities the sync does not cover add nothing.
    both = _keys(incremental_selection(["Invoice", "Account", "Customer"]))
    assert both == OPS + ["qbo/customers", "jobsiteon/contacts", "reconcile/customers_diff", "sync/customers",
                          "qbo/invoices", "jobsiteon/invoices", "reconcile/invoices_diff", "sync/invoices"]
    assert _keys(incremental_selection(["Account"])) == OPS
    assert synced_entities(["Invoice", "Account", "contacts", "Customer"]) == ["customers", "invoices"]

    customers_only = incremental_selection(["Customer"])
    assert covered_by(customers_only, "contacts") and covered_by(customers_only, "Customer")
    assert not covered_by(customers_only, "Invoice")
    assert covered_by(customers_only, "Account"), "every run closes events of entities nobody syncs"
    assert covered_by(None, "Invoice"), "a run of the whole graph covers everything"


def test_the_whole_graph_selection_matches_the_jobs_assets():
    from qbo_pipeline.definitions import defs

    job_keys = {k.to_user_string() for k in defs.resolve_job_def("incremental_sync").asset_layer.executable_asset_keys}
    everything = set(_keys(incremental_selection(
        ["Customer", "Item", "Vendor", "Invoice", "CreditMemo", "RefundReceipt", "PurchaseOrder", "Payment", "Deposit"])))
    assert everything == job_keys


def test_runs_select_the_pending_entities_and_a_new_entity_behind_a_seen_id_is_fresh():
    runs, cursor = plan_inbox_runs([PendingSummary("ws-a", 2, 10, ("Customer", "contacts"))], {}, now=100.0)
    assert [r.run_key for r in runs] == ["inbox:ws-a:10"]
    assert _keys(runs[0].asset_selection) == OPS + [
        "qbo/customers", "jobsiteon/contacts", "reconcile/customers_diff", "sync/customers"]
    assert cursor == {"ws-a": {"id": 10, "at": 100.0, "synced": ["customers"]}}

    # An Invoice event with a lower id committed late; the customers run left it pending.
    runs, cursor = plan_inbox_runs([PendingSummary("ws-a", 1, 9, ("Invoice",))], cursor, now=104.0)
    assert [r.run_key for r in runs] == ["inbox:ws-a:9:invoices"]
    assert "sync/invoices" in _keys(runs[0].asset_selection)
    assert cursor["ws-a"]["synced"] == ["invoices"]
    assert plan_inbox_runs([PendingSummary("ws-a", 1, 9, ("Invoice",))], cursor, now=108.0)[0] == []

    # Without entities (QBO_PIPELINE_INCREMENTAL_SELECTION=all) runs take the whole graph.
    runs, cursor = plan_inbox_runs([PendingSummary("ws-b", 1, 3)], {}, now=100.0)
    assert runs[0].asset_selection is None and cursor == {"ws-b": {"id": 3, "at": 100.0}}


def test_a_queued_run_that_covers_the_new_events_takes_them_instead_of_a_new_run():
    cursor = {"ws-a": {"id": 10, "at": 100.0, "synced": ["customers"]}}
    pending = [PendingSummary("ws-a", 3, 12, ("Customer",))]
    runs, next_cursor = plan_inbox_runs(pending, cursor, now=104.0, queued={"ws-a": frozenset({"customers"})})
    assert runs == [] and next_cursor["ws-a"]["id"] == 12
    # Only when nothing new arrives after that does the workspace stay quiet.
    assert plan_inbox_runs(pending, next_cursor, now=108.0, queued={})[0] == []
    # A queued run of the whole graph covers anything; one for other entities does not.
    assert plan_inbox_runs(pending, cursor, now=104.0, queued={"ws-a": None})[0] == []
    runs, _ = plan_inbox_runs([PendingSummary("ws-a", 4, 13, ("Customer", "Invoice"))], cursor, now=104.0,
                              queued={"ws-a": frozenset({"customers"})})
    assert [r.run_key for r in runs] == ["inbox:ws-a:13"]
    # A queued run of another workspace changes nothing.
    runs, _ = plan_inbox_runs(pending, cursor, now=104.0, queued={"ws-b": None})
    assert [r.run_key for r in runs] == ["inbox:ws-a:12"]


def test_queued_runs_reads_not_yet_started_runs_of_the_job():
    from qbo_pipeline.definitions import defs
    from qbo_pipeline.partitions import run_tags

    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.storage.dagster_run import DagsterRun

    job_name = defs.resolve_job_def("incremental_sync").name
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("qbo_pipeline"), "__repository__"),
                             job_name)
    moves = {dg.DagsterRunStatus.QUEUED: DagsterEventType.RUN_ENQUEUED,
             dg.DagsterRunStatus.STARTED: DagsterEventType.RUN_START,
             dg.DagsterRunStatus.SUCCESS: DagsterEventType.RUN_SUCCESS}
    with dg.DagsterInstance.ephemeral() as instance:
        def add(workspace: str, status, selection=None):
            run = instance.add_run(DagsterRun(job_name=job_name, tags=run_tags(workspace, INCREMENTAL),
                                              asset_selection=None if selection is None else frozenset(selection),
                                              remote_job_origin=origin))
            if status in moves:
                instance.run_storage.handle_run_event(
                    run.run_id, DagsterEvent(event_type_value=moves[status].value, job_name=job_name))
            assert instance.get_run_by_id(run.run_id).status == status

        add("ws-queued", dg.DagsterRunStatus.QUEUED, incremental_selection(["Customer"]))
        add("ws-queued", dg.DagsterRunStatus.QUEUED, incremental_selection(["Invoice"]))
        add("ws-all", dg.DagsterRunStatus.QUEUED)
        add("ws-created", dg.DagsterRunStatus.NOT_STARTED, incremental_selection(["Vendor"]))
        add("ws-started", dg.DagsterRunStatus.STARTED, incremental_selection(["Customer"]))
        add("ws-done", dg.DagsterRunStatus.SUCCESS)
        assert queued_runs(instance, "incremental_sync") == {
            "ws-queued": frozenset({"customers", "invoices"}), "ws-all": None, "ws-created": frozenset({"vendors"})}
        assert queued_runs(instance, "full_sync") == {}


# ------------------------------------------------------------------ a narrowed run, for real


@pytest.fixture()
def workspace(emulator, tmp_path):
    return make_workspace(emulator.base_url, f"sqlite:///{tmp_path / 'state.db'}",
                          f"sqlite:///{tmp_path / 'jobsiteon.db'}", scale=0.01)


def _edit_qbo_customer_phone(workspace, customer_id: str, phone: str) -> None:
    base = workspace.emulator_url
    token = httpx.post(f"{base}/_emulator/companies/{workspace.realm_id}/tokens").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = f"{base}/v3/company/{workspace.realm_id}/customer"
    current = httpx.get(f"{url}/{customer_id}", headers=headers).json()["Customer"]
    httpx.post(url, headers=headers, json={"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True,
                                           "PrimaryPhone": {"FreeFormNumber": phone}}).raise_for_status()


def _event(workspace, source: str, entity: str, record_id: str, key: str) -> NewInboxEvent:
    return NewInboxEvent(workspace_id=workspace.workspace_id, source=source, entity=entity, record_id=record_id,
                         operation="Update", dedupe_key=key, occurred_at=datetime.now(timezone.utc))


def _step_keys(result) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}


def test_a_run_narrowed_to_customers_syncs_them_and_leaves_a_vendor_event_pending(workspace):
    instance = dg.DagsterInstance.ephemeral()
    full = materialize(workspace, instance)
    assert full.success, [e.message for e in full.all_events if e.is_failure]
    state, jobsiteon = workspace.state, workspace.jobsiteon
    ws = workspace.workspace_id
    # The full run closed its batch from the sync steps' outcomes (no longer inputs).
    full_steps = _step_keys(full)
    assert {"ops__inbox_processed", "sync__customers", "sync__deposits"} <= full_steps
    processed = next(e for e in full.get_asset_materialization_events()
                     if e.materialization.asset_key.to_user_string() == "ops/inbox_processed").materialization
    writes = sum(int(n) for e in full.get_asset_materialization_events()
                 if e.materialization.asset_key.path[0] == "sync"
                 for k, n in e.materialization.metadata["outcomes"].value.items() if k.endswith(":ok"))
    assert writes > 0 and processed.metadata["writes"].value == writes

    customers = state.id_map.frame(ws, "customers")
    live = set(jobsiteon.read_frame(ws, "contacts").query("deleted_at.isna()", engine="python")["id"])
    link = customers[customers["jobsiteon_id"].isin(live)].iloc[0]
    vendor = state.id_map.frame(ws, "vendors").iloc[0]
    _edit_qbo_customer_phone(workspace, link.qbo_id, "(415) 555-0142")
    jobsiteon.update_record(ws, "vendors", vendor.jobsiteon_id, phone="(415) 555-0199")
    state.inbox.append([_event(workspace, "webhook", "Customer", link.qbo_id, "c1"),
                        _event(workspace, "jobsiteon", "vendors", vendor.jobsiteon_id, "v1")])

    narrowed = materialize(workspace, instance, mode=INCREMENTAL, selection=incremental_selection(["Customer"]))
    assert narrowed.success, [e.message for e in narrowed.all_events if e.is_failure]
    assert _step_keys(narrowed) == {"ops__inbox_batch", "qbo__customers", "jobsiteon__contacts",
                                    "reconcile__customers_diff", "sync__customers", "ops__inbox_processed",
                                    "ops__dead_letters", "ops__sync_health"}
    assert jobsiteon.get(ws, "contacts", link.jobsiteon_id)["phone"] == "(415) 555-0142"
    # The vendor event is back in the pool, unclaimed, for the run its id triggers.
    [waiting] = state.inbox.pending(ws)
    assert (waiting.entity, waiting.claimed_by) == ("vendors", None)

    vendors = materialize(workspace, instance, mode=INCREMENTAL, selection=incremental_selection(["vendors"]))
    assert vendors.success
    assert state.inbox.pending(ws) == []
    qbo_vendor = workspace.qbo_get(f"vendor/{vendor.qbo_id}")["Vendor"]
    assert qbo_vendor["PrimaryPhone"]["FreeFormNumber"] == "(415) 555-0199"
