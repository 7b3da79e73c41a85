"""Incremental runs after the initial sync: a webhook event drains only its record, the CDC
sweep catches a dropped webhook, JobsiteOn changes reach QBO through the change-feed relay
without echoing back, and duplicate or out-of-order events are harmless.

Emulator over HTTP, state and JobsiteOn on PostgreSQL, Dagster `materialize` in process. The
tests share one workspace (initial full sync, then the first CDC sweep drained); each edits
records of its own."""
from __future__ import annotations

import time
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from pipeline_fixtures import make_workspace, materialize
from sync_fixtures import QBOUser, asset_keys, failures, metadata, sync_writes, webhook_event

from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.ingest import relay_jobsiteon_changes
from qbo_pipeline.state import NewInboxEvent
from qbo_pipeline.state.schema import inbox as inbox_table

pytestmark = pytest.mark.postgres

NO_WRITES = {name: (0, 0) for name in REGISTRY}


def _sweep(workspace, instance):
    """The CDC sweep run (the cdc_sweep job's one asset)."""
    from qbo_pipeline.assets import ALL_ASSETS

    result = dg.materialize(ALL_ASSETS, selection=asset_keys("qbo/cdc_sweep"), partition_key=workspace.workspace_id,
                            instance=instance, resources=workspace.resources(), raise_on_error=False)
    assert result.success, failures(result)
    return metadata(result, "qbo/cdc_sweep")


def _incremental(workspace, instance):
    result = materialize(workspace, instance, mode="incremental")
    assert result.success, failures(result)
    assert workspace.state.inbox.count(workspace.workspace_id, pending_only=True) == 0, "every event processed"
    return result


@pytest.fixture(scope="module")
def synced(emulator, pg_server):
    from conftest import create_scratch_database, drop_database

    state_url, jobsiteon_url = create_scratch_database(), create_scratch_database("jobsiteon_test")
    workspace = make_workspace(emulator.base_url, state_url, jobsiteon_url, scale=0.01)
    relay_jobsiteon_changes(workspace.state, workspace.jobsiteon)  # the books' load, drained by the full sync
    instance = dg.DagsterInstance.ephemeral()
    first = materialize(workspace, instance)
    assert first.success, failures(first)
    # The first CDC sweep sees the initial sync's own QBO writes; draining them changes
    # nothing (no echo), and from here on a sweep only files what is new.
    assert sum(_sweep(workspace, instance)["changed"].values()) > 0
    assert sync_writes(_incremental(workspace, instance)) == NO_WRITES
    yield workspace, instance
    workspace.state.dispose()
    workspace.jobsiteon.engine.dispose()
    drop_database(state_url)
    drop_database(jobsiteon_url)


def _linked_contacts(workspace) -> list[tuple[str, str]]:
    """(JobsiteOn contact id, QBO customer id) of linked, live contacts, in a stable order."""
    links = workspace.state.id_map.frame(workspace.workspace_id, "customers")
    contacts = workspace.jobsiteon.read_frame(workspace.workspace_id, "contacts")
    live = set(contacts.loc[contacts["deleted_at"].isna(), "id"])
    return sorted((j, q) for j, q in zip(links["jobsiteon_id"], links["qbo_id"]) if j in live)


def _phone_digits(value) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def test_a_webhook_event_drains_only_its_record(synced):
    workspace, instance = synced
    state, jobsiteon, ws = workspace.state, workspace.jobsiteon, workspace.workspace_id
    contact_id, customer_id = _linked_contacts(workspace)[0]
    user = QBOUser(workspace.emulator_url, workspace.realm_id)

    changed = user.update("Customer", customer_id, PrimaryPhone={"FreeFormNumber": "(512) 555-0101"},
                          BillAddr={**user.get("Customer", customer_id).get("BillAddr", {}), "City": "Round Rock"})
    assert state.inbox.append([webhook_event(workspace, "Customer", changed)]) == 1
    [event] = state.inbox.pending(ws)
    events_before = state.inbox.count(ws)
    feed_before = jobsiteon.latest_seq(ws)

    run = _incremental(workspace, instance)
    contact = jobsiteon.get(ws, "contacts", contact_id)
    assert _phone_digits(contact["phone"]) == "5125550101"
    assert contact["billing_city"] == "Round Rock"
    assert metadata(run, "sync/customers")["outcomes"] == {"update_jobsiteon:ok": 1}
    assert sync_writes(run) == {**NO_WRITES, "customers": (0, 1)}
    assert state.inbox.count(ws) == events_before  # processed, not re-filed
    with state.engine.connect() as conn:
        processed_at, claimed_by = conn.execute(sa.select(inbox_table.c.processed_at, inbox_table.c.claimed_by)
                                                .where(inbox_table.c.id == event.id)).one()
    assert processed_at is not None and claimed_by == run.run_id
    # Only the changed record was read, on each side; no other entity read anything.
    assert (metadata(run, "qbo/customers")["rows"], metadata(run, "qbo/customers")["mode"]) == (1, "incremental")
    assert metadata(run, "jobsiteon/contacts")["rows"] == 1
    for name, spec in REGISTRY.items():
        if name != "customers":
            assert metadata(run, f"qbo/{name}")["rows"] == 0, name
            assert metadata(run, f"jobsiteon/{spec.jobsiteon_table}")["rows"] == 0, name

    # The integration's own JobsiteOn write is in the change feed, but never relayed back.
    assert jobsiteon.latest_seq(ws) > feed_before
    assert relay_jobsiteon_changes(state, jobsiteon) == 0
    assert state.inbox.count(ws, pending_only=True) == 0


def test_a_dropped_webhook_is_caught_by_the_cdc_sweep(synced):
    workspace, instance = synced
    state, jobsiteon, ws = workspace.state, workspace.jobsiteon, workspace.workspace_id
    contact_id, customer_id = _linked_contacts(workspace)[1]
    user = QBOUser(workspace.emulator_url, workspace.realm_id)
    time.sleep(1.1)  # QBO's LastUpdatedTime has second precision: be newer than the last sweep's watermark

    # Changed in QBO; the webhook never arrives.
    changed = user.update("Customer", customer_id, PrimaryPhone={"FreeFormNumber": "(512) 555-0102"})
    assert state.inbox.count(ws, pending_only=True) == 0

    sweep = _sweep(workspace, instance)
    assert sweep["changed"].get("Customer", 0) >= 1
    pending = state.inbox.pending(ws)
    caught = [e for e in pending if (e.source, e.entity, e.record_id) == ("cdc", "Customer", customer_id)]
    assert len(caught) == 1, [(e.source, e.entity, e.record_id) for e in pending]
    assert changed["MetaData"]["LastUpdatedTime"] in caught[0].dedupe_key
    # A repeated sweep (the overlap re-reads the same window) files nothing new.
    assert _sweep(workspace, instance)["new_inbox_events"] == 0

    run = _incremental(workspace, instance)
    assert _phone_digits(jobsiteon.get(ws, "contacts", contact_id)["phone"]) == "5125550102"
    assert metadata(run, "sync/customers")["outcomes"] == {"update_jobsiteon:ok": 1}
    assert sync_writes(run) == {**NO_WRITES, "customers": (0, 1)}


def test_jobsiteon_changes_reach_qbo_through_the_relay_and_do_not_echo(synced):
    workspace, instance = synced
    state, jobsiteon, ws = workspace.state, workspace.jobsiteon, workspace.workspace_id
    user = QBOUser(workspace.emulator_url, workspace.realm_id)
    item_links = state.id_map.frame(ws, "items")
    item_id, qbo_item_id = sorted(zip(item_links["jobsiteon_id"], item_links["qbo_id"]))[0]
    item_sync_token = user.get("Item", qbo_item_id)["SyncToken"]

    contact_id = jobsiteon.create_contact(ws, "Barton Creek Dental", "frontdesk@bartoncreekdental.example",
                                          "512-555-0103", billing_city="Austin", billing_state="TX")
    assert jobsiteon.update_record(ws, "pricebook_items", item_id, default_price=Decimal("187.25"))
    assert relay_jobsiteon_changes(state, jobsiteon) == 2
    assert sorted((e.source, e.entity, e.record_id) for e in state.inbox.pending(ws)) == sorted(
        [("jobsiteon", "contacts", contact_id), ("jobsiteon", "pricebook_items", item_id)])

    run = _incremental(workspace, instance)
    assert metadata(run, "sync/customers")["outcomes"] == {"create_qbo:ok": 1}
    assert metadata(run, "sync/items")["outcomes"] == {"update_qbo:ok": 1}
    assert sync_writes(run) == {**NO_WRITES, "customers": (1, 0), "items": (1, 0)}
    link = state.id_map.get_by_jobsiteon(ws, "customers", contact_id)
    customer = user.get("Customer", link["qbo_id"])
    assert customer["DisplayName"] == "Barton Creek Dental"
    assert customer["PrimaryEmailAddr"]["Address"] == "frontdesk@bartoncreekdental.example"
    item = user.get("Item", qbo_item_id)
    assert Decimal(str(item["UnitPrice"])) == Decimal("187.25")
    assert int(item["SyncToken"]) == int(item_sync_token) + 1

    # No echo: the relay skips nothing new (the run wrote nothing to JobsiteOn), and the
    # pipeline's own QBO writes, seen by the next CDC sweep, make a run that writes nothing.
    assert relay_jobsiteon_changes(state, jobsiteon) == 0
    _sweep(workspace, instance)
    echoed = {(e.entity, e.record_id) for e in state.inbox.pending(ws)}
    assert {("Customer", link["qbo_id"]), ("Item", qbo_item_id)} <= echoed
    assert sync_writes(_incremental(workspace, instance)) == NO_WRITES
    assert user.get("Item", qbo_item_id)["SyncToken"] == item["SyncToken"]


def test_duplicate_and_out_of_order_events_are_harmless(synced):
    workspace, instance = synced
    state, jobsiteon, ws = workspace.state, workspace.jobsiteon, workspace.workspace_id
    contact_id, customer_id = _linked_contacts(workspace)[2]
    user = QBOUser(workspace.emulator_url, workspace.realm_id)

    older = user.update("Customer", customer_id, PrimaryPhone={"FreeFormNumber": "(512) 555-0104"})
    time.sleep(1.1)  # distinct LastUpdatedTime (second precision)
    newer = user.update("Customer", customer_id, PrimaryPhone={"FreeFormNumber": "(512) 555-0105"})
    older_event, newer_event = webhook_event(workspace, "Customer", older), webhook_event(workspace, "Customer", newer)

    # The newer notification arrives first, twice (Intuit redelivers): stored once.
    assert state.inbox.append([newer_event]) == 1
    assert state.inbox.append([newer_event]) == 0
    first = _incremental(workspace, instance)
    assert _phone_digits(jobsiteon.get(ws, "contacts", contact_id)["phone"]) == "5125550105"
    assert sync_writes(first) == {**NO_WRITES, "customers": (0, 1)}

    # Then the older notification, the newer one redelivered yet again, and the same change
    # reported by CDC under its own key: the run re-reads QBO's current record and writes nothing.
    cdc_duplicate = NewInboxEvent(
        workspace_id=ws, realm_id=workspace.realm_id, source="cdc", entity="Customer", record_id=customer_id,
        operation="Update", dedupe_key=f"cdc:Customer:{customer_id}:Update:{newer['MetaData']['LastUpdatedTime']}",
    )
    assert state.inbox.append([older_event, newer_event, cdc_duplicate]) == 2
    second = _incremental(workspace, instance)
    assert sync_writes(second) == NO_WRITES
    assert metadata(second, "qbo/customers")["rows"] == 1
    assert _phone_digits(jobsiteon.get(ws, "contacts", contact_id)["phone"]) == "5125550105"
    assert _phone_digits(user.get("Customer", customer_id)["PrimaryPhone"]["FreeFormNumber"]) == "5125550105"
