"""The pipeline running by itself, as deployed: a QBO edit travels emulator webhook ->
receiver -> inbox -> inbox sensor (the real `dagster-daemon`, dagster-postgres storage from
deploy/dagster.postgres.yaml, the queued run coordinator with its tag limits and pools) ->
an incremental run -> the JobsiteOn contact; a re-delivered webhook writes nothing."""
from __future__ import annotations

import time

import dagster as dg
import httpx
import pytest

from daemon_fixtures import DaemonStack
from qbo_pipeline.partitions import INCREMENTAL, MODE_TAG, WORKSPACE_TAG

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]
# Upper bounds for a busy 2-core machine; an idle one needs a fraction (see the printout).
TIMEOUT = 240


def _linked_live_contact(stack: DaemonStack) -> tuple[str, str]:
    """(JobsiteOn contact id, QBO customer id) of a linked contact that is live on both sides."""
    workspace_id = stack.workspace.workspace_id
    id_map = stack.state.id_map.frame(workspace_id, "customers")
    contacts = stack.jobsiteon.read_frame(workspace_id, "contacts").set_index("id")
    for row in id_map.itertuples():
        contact = contacts.loc[row.jobsiteon_id] if row.jobsiteon_id in contacts.index else None
        if contact is None or contact["deleted_at"] is not None and str(contact["deleted_at"]) not in ("NaT", "None"):
            continue
        customer = stack.qbo("GET", f"customer/{row.qbo_id}")["Customer"]
        if customer.get("Active", True):
            return str(row.jobsiteon_id), str(row.qbo_id)
    raise AssertionError("the initial sync linked no live customer")


def test_a_qbo_edit_reaches_jobsiteon_through_the_daemon_and_a_redelivery_writes_nothing(tmp_path, pg_server):
    started = time.monotonic()
    with DaemonStack(tmp_path, record_webhooks=True) as stack:
        workspace_id = stack.workspace.workspace_id
        stack.initial_sync()
        assert workspace_id not in stack.instance.get_dynamic_partitions("workspaces")
        stack.start_daemon()
        stack.wait_for_partition()

        contact_id, customer_id = _linked_live_contact(stack)
        new_phone = f"(415) 555-{int(time.time()) % 10000:04d}"
        assert stack.jobsiteon.get(workspace_id, "contacts", contact_id)["phone"] != new_phone
        deliveries_before = len(stack.recorder.deliveries)
        stack.qbo_sparse_update("Customer", customer_id, {"PrimaryPhone": {"FreeFormNumber": new_phone}})
        edited_at = time.monotonic()

        contact = stack.wait_for(
            lambda: (c := stack.jobsiteon.get(workspace_id, "contacts", contact_id)) and c["phone"] == new_phone and c,
            TIMEOUT, f"contact {contact_id} to get the phone edited in QBO customer {customer_id}", interval=0.1)
        latency = time.monotonic() - edited_at

        # The inbox event of that webhook is processed by a successful incremental run of the
        # workspace, which the daemon launched through the queue.
        def processed_event():
            events = [e for e in stack.state.inbox.pending(workspace_id) if e.record_id == customer_id]
            return not events
        stack.wait_for(processed_event, TIMEOUT, "the webhook's inbox event to be marked processed")
        stack.wait_until_quiet(TIMEOUT)
        incremental = stack.runs(**{MODE_TAG: INCREMENTAL})
        assert incremental, "no incremental run in the instance"
        assert all(r.tags[WORKSPACE_TAG] == workspace_id for r in incremental)
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in incremental), \
            [(r.run_id, r.status) for r in incremental] + [stack.daemon_log_tail()]
        assert all(r.job_name == "incremental_sync" and r.tags.get("dagster/partition") == workspace_id
                   for r in incremental)
        assert any(r.tags.get("dagster/sensor_name") == "inbox_sensor" for r in incremental)
        feed_after_sync = stack.jobsiteon.latest_seq(workspace_id)
        runs_after_sync = {r.run_id for r in stack.runs()}

        # Intuit re-delivers the same notification later (say our 200 was lost).
        body, headers = next(
            (b, h) for b, h in stack.recorder.deliveries[deliveries_before:] if f'"id":"{customer_id}"' in b.decode())
        inbox_rows = stack.state.inbox.count(workspace_id)
        replay = httpx.post(stack.receiver.webhook_url, content=body, headers={
            "content-type": "application/json", "intuit-signature": headers["intuit-signature"]})
        assert replay.status_code == 200
        assert stack.state.inbox.count(workspace_id) == inbox_rows, "the re-delivery was stored again"
        # Two inbox-sensor intervals: nothing is requested, nothing is written.
        time.sleep(9)
        stack.assert_daemon_alive()
        assert {r.run_id for r in stack.runs()} == runs_after_sync, "the re-delivery launched a run"
        assert stack.jobsiteon.latest_seq(workspace_id) == feed_after_sync, "the re-delivery wrote to JobsiteOn"
        assert stack.jobsiteon.get(workspace_id, "contacts", contact_id)["updated_at"] == contact["updated_at"]

    elapsed = time.monotonic() - started
    print(f"\nQBO edit -> JobsiteOn contact through the daemon: {latency:.1f}s; whole test {elapsed:.0f}s")
