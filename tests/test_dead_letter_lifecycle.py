"""A dead letter's life through the real pipeline: a write QBO refuses for good is
dead-lettered with its category and hint, held back on later syncs, and resolved once the
record is fixed (in JobsiteOn, or in QBO followed by `qbo-pipeline retry`). Transient
failures are retried by the step's RetryPolicy and dead-lettered only on the last attempt.

Emulator over HTTP, state and JobsiteOn on PostgreSQL, Dagster `materialize` in process. The
tests share one initially synced workspace; each works on records of its own."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
import httpx
import pytest
from click.testing import CliRunner

from pipeline_fixtures import make_workspace, materialize
from sync_fixtures import QBOUser, asset_keys, failures, metadata

from qbo_pipeline.ingest import relay_jobsiteon_changes
from qbo_pipeline.partitions import MODE_TAG

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def synced(emulator, pg_server):
    """A workspace (small demo books) after its initial full sync, and the Dagster instance."""
    from conftest import create_scratch_database, drop_database

    state_url, jobsiteon_url = create_scratch_database(), create_scratch_database("jobsiteon_test")
    workspace = make_workspace(emulator.base_url, state_url, jobsiteon_url, scale=0.01)
    # The relay runs next to the receiver all along: the books' initial load is in the inbox
    # (the full sync drains it), and later relays only carry new changes.
    relay_jobsiteon_changes(workspace.state, workspace.jobsiteon)
    instance = dg.DagsterInstance.ephemeral()
    first = materialize(workspace, instance)
    assert first.success, failures(first)
    yield workspace, instance
    workspace.state.dispose()
    workspace.jobsiteon.engine.dispose()
    drop_database(state_url)
    drop_database(jobsiteon_url)


def _open_letter(state, workspace_id: str, record_id: str):
    letters = [l for l in state.dead_letters.list_open(workspace_id) if record_id in l.record_ids]
    assert len(letters) == 1, letters
    return letters[0]


def _log_details(state, workspace_id: str) -> list[str]:
    return list(state.sync_log.recent(workspace_id, limit=500)["details"])


def test_a_name_taken_by_a_vendor_is_dead_lettered_held_and_resolved_by_a_rename_in_jobsiteon(synced):
    workspace, instance = synced
    state, jobsiteon, ws = workspace.state, workspace.jobsiteon, workspace.workspace_id
    clash = workspace.books.scenarios["customer_also_vendor"]
    contact_id = clash["contact_id"]

    letter = _open_letter(state, ws, contact_id)
    assert (letter.entity, letter.direction, letter.operation) == ("customers", "push", "create_qbo")
    assert (letter.category, letter.code, letter.attempts) == ("duplicate", "6240", 1)
    assert "rename or merge" in letter.hint
    assert letter.payload["values"]["name"] == clash["name"]
    assert state.id_map.get_by_jobsiteon(ws, "customers", contact_id) is None

    # The next sync does not send the same failing create again: it is held by the letter.
    before = workspace.requests()
    second = materialize(workspace, instance)
    assert second.success, failures(second)
    customers = metadata(second, "sync/customers")
    assert customers["outcomes"].get("create_qbo:held") == 1
    assert customers["writes_qbo"] == 0
    after = workspace.requests()
    assert (after["write"], after["batch"]) == (before["write"], before["batch"])
    assert state.dead_letters.get(letter.id).attempts == 1
    assert state.dead_letters.get(letter.id).resolved_at is None

    # The user renames the contact in JobsiteOn; the change feed brings it to the inbox.
    renamed = f"{clash['name']} (customer)"
    assert jobsiteon.update_record(ws, "contacts", contact_id, name=renamed)
    assert relay_jobsiteon_changes(state, jobsiteon) == 1
    fixed = materialize(workspace, instance, mode="incremental")
    assert fixed.success, failures(fixed)
    customers = metadata(fixed, "sync/customers")
    assert customers["outcomes"] == {"create_qbo:ok": 1}
    # Only the renamed contact was written: no other customer was created on either side.
    assert (customers["writes_qbo"], customers["writes_jobsiteon"]) == (1, 0)

    closed = state.dead_letters.get(letter.id)
    assert closed.resolved_at is not None and closed.resolution_note == "succeeded on a later sync"
    assert f"dead letter(s) [{letter.id}] resolved: the record synced" in _log_details(state, ws)
    link = state.id_map.get_by_jobsiteon(ws, "customers", contact_id)
    assert link is not None
    assert QBOUser(workspace.emulator_url, workspace.realm_id).get("Customer", link["qbo_id"])["DisplayName"] == renamed

    # Records parked because they waited for this contact went back into the inbox with it,
    # so the next incremental run (not only the nightly) syncs them too.
    waiting = [l for l in state.dead_letters.list_open(ws, category="dependency") if contact_id in l.message]
    assert waiting and all(l.requeued_at is not None for l in waiting)
    assert state.inbox.count(ws, pending_only=True) == sum(len(l.record_ids) for l in waiting)
    # Each recovered level re-queues the next (customer -> invoices -> payments -> deposits),
    # as the inbox sensor would: one incremental run per level.
    for _ in range(4):
        drained = materialize(workspace, instance, mode="incremental")
        assert drained.success, failures(drained)
        if state.inbox.count(ws, pending_only=True) == 0:
            break
    assert state.inbox.count(ws, pending_only=True) == 0
    assert all(state.dead_letters.get(l.id).resolved_at is not None for l in waiting)


def test_retry_cli_requeues_a_letter_fixed_in_qbo_and_the_next_run_resolves_it(synced, monkeypatch):
    from qbo_pipeline.cli import main

    workspace, instance = synced
    state, ws = workspace.state, workspace.workspace_id
    taken = workspace.books.scenarios["name_taken_different_email"]
    letter = _open_letter(state, ws, taken["contact_id"])
    assert (letter.category, letter.operation) == ("duplicate", "reconcile")
    assert "rename or merge" in letter.hint

    # The bookkeeper fixes it in QuickBooks: the customer there gets the contact's email.
    user = QBOUser(workspace.emulator_url, workspace.realm_id)
    [customer] = user.query(f"select * from Customer where DisplayName = '{taken['name']}'")
    user.update("Customer", customer["Id"], PrimaryEmailAddr={"Address": taken["jobsiteon_email"]})
    customers_before = len(user.query("select * from Customer where Active in (true, false) maxresults 1000"))

    monkeypatch.setenv("QBO_PIPELINE_DATABASE_URL", workspace.state_url)
    result = CliRunner().invoke(main, ["retry", str(letter.id)])
    assert result.exit_code == 0, result.output
    # Both halves of the blocked pair go back: the contact and the QBO customer it met.
    assert "queued 1 error(s) for retry (2 inbox event(s))" in result.output
    events = state.inbox.pending(ws)
    assert {(e.source, e.entity, e.record_id) for e in events} == {
        ("jobsiteon", "customers", taken["contact_id"]), ("cdc", "customers", str(customer["Id"]))}
    assert all(f'"requeued_dead_letter_id":{letter.id}' in e.payload.replace(" ", "") for e in events)
    assert state.dead_letters.get(letter.id).requeued_at is not None

    run = materialize(workspace, instance, mode="incremental")
    assert run.success, failures(run)
    customers = metadata(run, "sync/customers")
    # Linked by email (the newer QBO side fills in what differs), nothing created anywhere.
    assert customers["outcomes"] == {"link:ok": 1}, customers["outcomes"]
    assert state.dead_letters.get(letter.id).resolved_at is not None
    link = state.id_map.get_by_jobsiteon(ws, "customers", taken["contact_id"])
    assert link is not None and link["qbo_id"] == str(customer["Id"])
    details = _log_details(state, ws)
    assert any(d.startswith(f"retry requested for dead letter #{letter.id} ") for d in details)
    assert f"dead letter(s) [{letter.id}] resolved: the record synced" in details
    assert len(user.query("select * from Customer where Active in (true, false) maxresults 1000")) == customers_before
    assert state.inbox.count(ws, pending_only=True) == 0


def test_fixing_one_half_of_a_blocked_pair_lets_the_other_half_sync(synced):
    """A JobsiteOn contact and a QBO customer share a name but not an email: neither is
    created (it could be a duplicate). The user renames the contact; that run creates it in
    QBO and puts the QBO customer back in the inbox, so the next incremental run — not only
    the nightly — brings the customer into JobsiteOn."""
    workspace, instance = synced
    state, jobsiteon, ws = workspace.state, workspace.jobsiteon, workspace.workspace_id
    user = QBOUser(workspace.emulator_url, workspace.realm_id)
    customer = user.create("Customer", DisplayName="Brazos Valley Paving",
                           PrimaryEmailAddr={"Address": "dispatch@brazosvalleypaving.example"})
    contact_id = jobsiteon.create_contact(ws, "Brazos Valley Paving", "office@bvpaving.example", "979-555-0110")
    assert relay_jobsiteon_changes(state, jobsiteon) == 1
    blocked = materialize(workspace, instance, mode="incremental")
    assert blocked.success, failures(blocked)
    letter = _open_letter(state, ws, contact_id)
    assert (letter.operation, letter.payload["qbo_id"]) == ("reconcile", str(customer["Id"]))

    jobsiteon.update_record(ws, "contacts", contact_id, name="Brazos Valley Paving (Bryan)")
    assert relay_jobsiteon_changes(state, jobsiteon) == 1
    fixed = materialize(workspace, instance, mode="incremental")
    assert fixed.success, failures(fixed)
    assert state.dead_letters.get(letter.id).resolved_at is not None
    assert state.id_map.get_by_jobsiteon(ws, "customers", contact_id) is not None
    assert {(e.source, e.record_id) for e in state.inbox.pending(ws)} == {("cdc", str(customer["Id"]))}

    follow_up = materialize(workspace, instance, mode="incremental")
    assert follow_up.success, failures(follow_up)
    assert metadata(follow_up, "sync/customers")["outcomes"] == {"create_jobsiteon:ok": 1}
    link = state.id_map.get_by_qbo(ws, "customers", str(customer["Id"]))
    assert link is not None and jobsiteon.get(ws, "contacts", link["jobsiteon_id"])["name"] == "Brazos Valley Paving"
    assert [(e.source, e.entity, e.record_id) for e in state.inbox.pending(ws)] == []


def test_a_tax_inclusive_invoice_is_a_total_mismatch_until_made_tax_exclusive(synced):
    """The emulator's company is a US one: QBO adds tax on top of a tax-inclusive invoice's
    prices. The pipeline dead-letters the total (nothing is written either way) and resolves
    the letter once the user makes the invoice tax-exclusive in JobsiteOn."""
    workspace, instance = synced
    state, jobsiteon, ws = workspace.state, workspace.jobsiteon, workspace.workspace_id
    contact = next(c for c in jobsiteon.read_frame(ws, "contacts").to_dict("records")
                   if state.id_map.get_by_jobsiteon(ws, "customers", c["id"]))
    item_id = str(state.id_map.frame(ws, "items")["jobsiteon_id"].iloc[0])
    invoice_id = jobsiteon.create_record(
        ws, "invoices", number="TI-1", contact_id=contact["id"], status="approved", issue_date=date(2025, 6, 1),
        due_date=date(2025, 6, 30),
        tax_inclusive=False, lines=[{"position": 1, "item_id": item_id, "description": "Repair",
                                     "qty": Decimal("1"), "unit_price": Decimal("108.00"), "taxable": True}])
    assert relay_jobsiteon_changes(state, jobsiteon) == 1
    created = materialize(workspace, instance, mode="incremental")
    assert created.success, failures(created)
    invoice = jobsiteon.get(ws, "invoices", invoice_id)
    assert state.id_map.get_by_jobsiteon(ws, "invoices", invoice_id) is not None
    jobsiteon.update_record(ws, "invoices", invoice["id"], tax_inclusive=True)
    assert relay_jobsiteon_changes(state, jobsiteon) == 1
    mismatch = materialize(workspace, instance, mode="incremental")
    assert mismatch.success, failures(mismatch)
    letter = _open_letter(state, ws, invoice["id"])
    assert letter.category == "total_mismatch"
    assert "a US QBO company has no tax-inclusive pricing" in letter.message
    assert metadata(mismatch, "sync/invoices")["outcomes"] == {"blocked:dead_letter": 1}

    jobsiteon.update_record(ws, "invoices", invoice["id"], tax_inclusive=False)
    assert relay_jobsiteon_changes(state, jobsiteon) == 1
    fixed = materialize(workspace, instance, mode="incremental")
    assert fixed.success, failures(fixed)
    assert state.dead_letters.get(letter.id).resolved_at is not None
    assert "in sync now" in state.dead_letters.get(letter.id).resolution_note


def test_server_errors_are_retried_by_the_step_then_dead_lettered_and_resolved_by_a_retry(synced, monkeypatch):
    from qbo_pipeline.assets import SYNC_ASSETS
    from qbo_pipeline.assets.sync import MAX_ATTEMPTS, RETRY_DELAY_ENV, build_sync
    from qbo_pipeline.entities import get_spec
    from qbo_pipeline.ops.errors import retry_dead_letters
    from qbo_pipeline.resources import QBOResource

    workspace, instance = synced
    state, jobsiteon, ws = workspace.state, workspace.jobsiteon, workspace.workspace_id
    faults = f"{workspace.emulator_url}/_emulator/companies/{workspace.realm_id}/faults"

    contact_id = jobsiteon.create_contact(ws, "Rio Grande Roofing", "office@riogranderoofing.example", "512-555-0142")
    assert relay_jobsiteon_changes(state, jobsiteon) == 1
    # Mirrors and diff read QBO while it is healthy (a full-mode job of just those steps; the
    # relayed event stays pending for a run that syncs customers): the plan holds the create.
    upstream = [a for a in SYNC_ASSETS if a.key in asset_keys(
        "ops/inbox_batch", "qbo/customers", "jobsiteon/contacts", "reconcile/customers_diff")]
    planned = dg.materialize(upstream, partition_key=ws, instance=instance, resources=workspace.resources(),
                             tags={MODE_TAG: "full"}, raise_on_error=False)
    assert planned.success, failures(planned)
    plan = planned.asset_value(["reconcile", "customers_diff"])
    creates = plan[plan["action"].astype(object) == "create_qbo"]
    assert contact_id in set(creates["jobsiteon_id"])  # (others, if any, are held by their open letters)
    assert not plan["action"].astype(object).isin(["update_qbo", "create_jobsiteon"]).any()

    # Then every QBO request of the realm answers 503. The step is built the way a
    # deployment with a short retry delay builds it, and the client does not retry itself.
    monkeypatch.setenv(RETRY_DELAY_ENV, "0.05")
    sync_customers = build_sync(get_spec("customers"))
    assets = [a for a in SYNC_ASSETS if dg.AssetKey(["sync", "customers"]) not in a.keys] + [sync_customers]
    resources = workspace.resources()
    resources["qbo"] = QBOResource(**{**resources["qbo"].model_dump(), "max_attempts": 1})
    httpx.put(faults, json={"error_rate": 1.0, "error_status": 503}).raise_for_status()
    before = workspace.requests()
    try:
        failing = dg.materialize(assets, selection=asset_keys("sync/customers"), partition_key=ws, instance=instance,
                                 resources=resources, tags={MODE_TAG: "full"}, raise_on_error=False)
    finally:
        httpx.put(faults, json={"error_rate": 0.0}).raise_for_status()
    after = workspace.requests()

    retries = [e for e in failing.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == MAX_ATTEMPTS - 1
    assert failing.success, failures(failing)  # the last attempt dead-letters instead of failing
    meta = metadata(failing, "sync/customers")
    assert meta["attempt"] == MAX_ATTEMPTS
    assert meta["outcomes"].get("create_qbo:dead_letter") == 1 and meta["writes_qbo"] == 0, meta["outcomes"]
    outcomes = failing.asset_value(["sync", "customers"])
    failed_creates = outcomes[(outcomes["status"] == "dead_letter") & (outcomes["action"] == "create_qbo")]
    assert list(failed_creates["jobsiteon_id"]) == [contact_id]
    assert after["batch"] - before["batch"] == MAX_ATTEMPTS  # one batch request per attempt
    letter = _open_letter(state, ws, contact_id)
    assert (letter.category, letter.operation, letter.direction) == ("server", "create_qbo", "push")
    assert "still failing after every retry" in letter.message
    assert letter.payload["action"] == "create_qbo"
    assert letter.payload["values"]["name"] == "Rio Grande Roofing"
    assert letter.payload["values"]["email"] == "office@riogranderoofing.example"
    assert state.id_map.get_by_jobsiteon(ws, "customers", contact_id) is None

    # QBO is healthy again; the ops team retries the letter and the next run resolves it.
    assert retry_dead_letters(state, [letter.id]).queued == 1
    retried = materialize(workspace, instance, mode="incremental")
    assert retried.success, failures(retried)
    assert metadata(retried, "sync/customers")["outcomes"] == {"create_qbo:ok": 1}
    assert state.dead_letters.get(letter.id).resolved_at is not None
    link = state.id_map.get_by_jobsiteon(ws, "customers", contact_id)
    created = QBOUser(workspace.emulator_url, workspace.realm_id).get("Customer", link["qbo_id"])
    assert created["DisplayName"] == "Rio Grande Roofing"
    assert state.inbox.count(ws, pending_only=True) == 0
