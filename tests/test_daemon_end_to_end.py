"""The pipeline running by itself, as deployed: a QBO edit travels emulator webhook ->
receiver -> inbox -> inbox sensor (the real `dagster-daemon`, dagster-postgres storage from
deploy/dagster.postgres.yaml, the queued run coordinator with its tag limits and pools) ->
an incremental run -> the JobsiteOn contact; a re-delivered webhook writes nothing."""
from __future__ import annotations

import time

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from daemon_fixtures import DaemonStack
from qbo_pipeline.launcher.worker_process import WorkerProcess
from qbo_pipeline.partitions import INCREMENTAL, MODE_TAG, WORKSPACE_TAG

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]
# Upper bounds for a busy 2-core machine; an idle one needs a fraction (see the printout).
TIMEOUT = 300


def _linked_live_contact(stack: DaemonStack) -> tuple[str, str]:
    """(JobsiteOn contact id, QBO customer id) of a linked contact that is live on both sides."""
    workspace_id = stack.workspace.workspace_id
    id_map = stack.state.id_map.frame(workspace_id, "customers")
    contacts = stack.jobsiteon.read_frame(workspace_id, "contacts")
    live = set(contacts.loc[contacts["deleted_at"].isna(), "id"])
    for row in id_map.itertuples():
        if row.jobsiteon_id in live and stack.qbo("GET", f"customer/{row.qbo_id}")["Customer"].get("Active", True):
            return str(row.jobsiteon_id), str(row.qbo_id)
    raise AssertionError("the initial sync linked no live customer")


def _webhook_row(stack: DaemonStack, customer_id: str):
    with stack.state.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id, claimed_by, processed_at FROM inbox WHERE workspace_id = :ws AND source = 'webhook' "
            "AND entity = 'Customer' AND record_id = :rid ORDER BY id DESC LIMIT 1"),
            {"ws": stack.workspace.workspace_id, "rid": customer_id}).first()


def test_a_qbo_edit_reaches_jobsiteon_through_the_daemon_and_a_redelivery_writes_nothing(tmp_path, pg_server):
    started = time.monotonic()
    phases: list[tuple[str, float]] = []

    def phase(name: str) -> None:
        phases.append((name, time.monotonic()))

    with DaemonStack(tmp_path, record_webhooks=True) as stack:
        workspace_id = stack.workspace.workspace_id
        phase("set-up")
        stack.initial_sync()
        phase("initial sync")
        assert workspace_id not in stack.instance.get_dynamic_partitions("workspaces")
        stack.start_daemon()
        stack.wait_for_partition(TIMEOUT)
        phase("daemon up, partition added")
        # The initial sync's own writes come back as webhooks, and the first CDC sweep
        # reports the seeded books: the daemon drains that backlog by itself first.
        stack.wait_until_quiet(TIMEOUT)
        backlog = stack.runs()
        assert backlog and all(r.status == dg.DagsterRunStatus.SUCCESS for r in backlog), \
            [(r.job_name, r.status) for r in backlog] + [stack.daemon_log_tail()]
        assert {r.job_name for r in backlog} == {"cdc_sweep", "incremental_sync"}
        phase("backlog drained")

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
        phase("QBO edit in JobsiteOn")

        # The webhook's inbox event was claimed and closed by one incremental run that the
        # inbox sensor requested and the queue launched: tagged with the workspace, narrowed
        # to customers, successful.
        event = stack.wait_for(lambda: (r := _webhook_row(stack, customer_id)) and r.processed_at and r,
                               TIMEOUT, "the webhook's inbox event to be processed")
        run = stack.instance.get_run_by_id(event.claimed_by)
        stack.wait_for(lambda: stack.instance.get_run_by_id(run.run_id).is_finished, TIMEOUT, "the run to finish")
        run = stack.instance.get_run_by_id(run.run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS, stack.daemon_log_tail()
        assert (run.job_name, run.tags[WORKSPACE_TAG], run.tags[MODE_TAG]) == (
            "incremental_sync", workspace_id, INCREMENTAL)
        assert run.tags["dagster/partition"] == workspace_id
        assert run.tags["dagster/sensor_name"] == "inbox_sensor"
        assert {k.to_user_string() for k in run.asset_selection} >= {"sync/customers", "ops/inbox_processed"}
        assert "sync/invoices" not in {k.to_user_string() for k in run.asset_selection}
        # Launched as deployed: forked from the warm server of the daemon's launcher.
        worker = WorkerProcess.from_tags(run.tags)
        assert worker is not None and worker.on_this_host
        forked = [r.message for r in stack.instance.all_logs(run.run_id) if "Forked run worker" in (r.message or "")]
        assert forked and f"pid {worker.pid}" in forked[0]
        stack.wait_until_quiet(TIMEOUT)
        phase("its run checked")
        feed_after_sync = stack.jobsiteon.latest_seq(workspace_id)
        runs_after_sync = {r.run_id for r in stack.runs()}

        # Intuit re-delivers the same notification later (say our 200 was lost).
        body, headers = next(
            (b, h) for b, h in stack.recorder.deliveries[deliveries_before:] if f'"id":"{customer_id}"' in b.decode())
        inbox_rows = stack.state.inbox.count(workspace_id)
        replayed_at = time.time()
        replay = httpx.post(stack.receiver.webhook_url, content=body, headers={
            "content-type": "application/json", "intuit-signature": headers["intuit-signature"]})
        assert replay.status_code == 200
        assert stack.state.inbox.count(workspace_id) == inbox_rows, "the re-delivery was stored again"
        # Two inbox-sensor ticks later: neither requested a run; nothing was written.
        ticks = stack.wait_for(lambda: len(t := stack.sensor_ticks("inbox_sensor", replayed_at)) >= 2 and t,
                               TIMEOUT, "two inbox sensor ticks after the re-delivery", interval=0.25)
        assert all(not tick.run_ids for tick in ticks), [(t.status, t.run_ids) for t in ticks]
        stack.assert_daemon_alive()
        assert {r.run_id for r in stack.runs()} == runs_after_sync, "the re-delivery launched a run"
        assert stack.jobsiteon.latest_seq(workspace_id) == feed_after_sync, "the re-delivery wrote to JobsiteOn"
        assert stack.jobsiteon.get(workspace_id, "contacts", contact_id)["updated_at"] == contact["updated_at"]
        phase("re-delivery ignored")

    elapsed = time.monotonic() - started
    marks = [("start", started), *phases]
    split = ", ".join(f"{name} {end - begin:.0f}s" for (_, begin), (name, end) in zip(marks, marks[1:]))
    print(f"\nQBO edit -> JobsiteOn contact through the daemon: {latency:.1f}s; whole test {elapsed:.0f}s ({split})")
