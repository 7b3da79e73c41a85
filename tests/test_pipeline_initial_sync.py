"""The asset graph end to end: `materialize` against the emulator over HTTP, with the state
and JobsiteOn databases on real PostgreSQL."""
from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import time

import dagster as dg
import pytest

from pipeline_fixtures import make_workspace, materialize

pytestmark = pytest.mark.postgres


@pytest.fixture()
def jobsiteon_pg_url(pg_server):
    from conftest import create_scratch_database, drop_database

    url = create_scratch_database("jobsiteon_test")
    yield url
    drop_database(url)


@pytest.fixture()
def workspace(emulator, pg_url, jobsiteon_pg_url):
    return make_workspace(emulator.base_url, pg_url, jobsiteon_pg_url, scale=0.05)


def _metadata(result, key: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization.asset_key.to_user_string() == key:
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"{key} was not materialized")


def _qbo_all(workspace, entity: str) -> list[dict]:
    rows, start = [], 1
    while True:
        page = workspace.qbo_query(
            f"select * from {entity} where Active in (true, false) startposition {start} maxresults 1000"
            if entity in ("Customer", "Vendor", "Item") else f"select * from {entity} startposition {start} maxresults 1000"
        )
        rows += page
        if len(page) < 1000:
            return rows
        start += 1000


def test_initial_sync_moves_every_entity_links_by_email_and_a_second_run_writes_nothing(workspace):
    instance = dg.DagsterInstance.ephemeral()
    scenarios = workspace.books.scenarios
    qbo_customers_before = _qbo_all(workspace, "Customer")

    first = materialize(workspace, instance)
    assert first.success, [e.message for e in first.all_events if e.is_failure]

    state, jobsiteon = workspace.state, workspace.jobsiteon
    contacts = jobsiteon.read_frame(workspace.workspace_id, "contacts")
    customers = _qbo_all(workspace, "Customer")

    # Contacts that already existed in QBO under the same email were linked, not duplicated.
    emails = collections.Counter((c.get("PrimaryEmailAddr") or {}).get("Address", "").strip().lower() for c in customers)
    duplicated = {email: n for email, n in emails.items() if email and n > 1}
    assert not duplicated, f"customers duplicated by email: {duplicated}"
    id_map = state.id_map.frame(workspace.workspace_id, "customers")
    log = state.sync_log.recent(workspace.workspace_id, limit=5000, entity="customers")
    linked_by_key = [d for d in log["details"] if d.startswith("linked by ")]
    email_links = [d for d in linked_by_key if d.startswith("linked by email")]
    assert len(email_links) == len(scenarios["email_matches"])

    # Push entities: every syncable JobsiteOn record now has a QBO twin.
    for entity in ("customers", "items", "invoices", "vendors", "purchase_orders"):
        links = state.id_map.count(workspace.workspace_id, entity)
        assert links > 0, entity
    live_contacts = contacts[contacts["deleted_at"].isna()]
    open_contact_letters = {
        str(r) for l in state.dead_letters.list_open(workspace.workspace_id, entity="customers") for r in l.record_ids
    }
    unlinked = set(live_contacts["id"]) - set(id_map["jobsiteon_id"]) - open_contact_letters
    assert not unlinked, f"contacts neither linked nor dead-lettered: {sorted(unlinked)[:5]}"
    outcomes = _metadata(first, "sync/customers")["outcomes"]
    created, pulled = outcomes.get("create_qbo:ok", 0), outcomes.get("create_jobsiteon:ok", 0)
    # Two-way: QBO-only customers became contacts; every other contact was created or linked once.
    assert pulled == len(scenarios["qbo_only_customers"]) - 1, "all QBO-only customers but the name clash pulled"
    assert created + len(linked_by_key) + pulled == len(live_contacts) - len(open_contact_letters)
    assert len(customers) == len(qbo_customers_before) + created, "each new contact created once in QBO"

    # Invoices created in QBO are not pulled into JobsiteOn.
    invoices = jobsiteon.read_frame(workspace.workspace_id, "invoices")
    qbo_only_numbers = {i["doc_number"] for i in scenarios["qbo_only_invoices"]} - {
        scenarios["duplicate_invoice_number"]["number"]}
    assert not qbo_only_numbers & set(invoices["number"]), "QBO-only invoices must not be pulled"

    # The planted conflicts end as dead letters with the right hints.
    letters = state.dead_letters.list_open(workspace.workspace_id)
    by_category = collections.defaultdict(list)
    for letter in letters:
        by_category[letter.category].append(letter)
    assert any("rename or merge" in (l.hint or "") for l in by_category["duplicate"]), by_category.keys()

    requests_after_first = workspace.requests()
    second = materialize(workspace, instance)
    assert second.success
    for entity in ("customers", "items", "vendors", "invoices", "payments", "credit_memos", "refund_receipts",
                   "purchase_orders", "deposits"):
        meta = _metadata(second, f"sync/{entity}")
        assert meta["writes_qbo"] == 0 and meta["writes_jobsiteon"] == 0, (entity, meta)
    requests_after_second = workspace.requests()
    assert requests_after_second["write"] == requests_after_first["write"]
    assert requests_after_second["batch"] == requests_after_first["batch"]


def _run_and_get_killed(workspace, instance_dir):
    os.makedirs(instance_dir, exist_ok=True)
    instance = dg.DagsterInstance.local_temp(instance_dir)
    materialize(workspace, instance)


def test_a_run_killed_mid_batch_and_rerun_leaves_no_duplicate_in_qbo(workspace, tmp_path):
    before = workspace.requests()["batch"]
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_run_and_get_killed, args=(workspace, str(tmp_path / "dagster")))
    child.start()
    deadline = time.monotonic() + 120
    # Kill it once a few QBO batches have gone out, i.e. in the middle of the writes.
    while workspace.requests()["batch"] < before + 3 and time.monotonic() < deadline and child.is_alive():
        time.sleep(0.02)
    assert child.is_alive(), "the run finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.join()

    rerun = materialize(workspace, dg.DagsterInstance.ephemeral())
    assert rerun.success

    customers = _qbo_all(workspace, "Customer")
    names = collections.Counter(c["DisplayName"].lower() for c in customers)
    assert not [n for n, k in names.items() if k > 1]
    invoices = _qbo_all(workspace, "Invoice")
    numbers = collections.Counter(i.get("DocNumber") for i in invoices)
    assert not [n for n, k in numbers.items() if k > 1]
    items = collections.Counter(i["Name"].lower() for i in _qbo_all(workspace, "Item"))
    assert not [n for n, k in items.items() if k > 1]
