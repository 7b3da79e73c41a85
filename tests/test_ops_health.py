"""Sync health (ops.health) and `qbo-pipeline status`, on SQLite and PostgreSQL state."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from qbo_pipeline.cli import main
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.ops import all_health, sync_health
from qbo_pipeline.state import NewInboxEvent

from state_fixtures import store, tokens, vault, vault_key  # noqa: F401 - fixtures

WS = "ws-health"


@pytest.fixture()
def jobsiteon(tmp_path):
    js = JobsiteOnStore.from_url(f"sqlite:///{tmp_path / 'jobsiteon.db'}")
    js.ensure_workspace(WS, "Health Co")
    yield js
    js.engine.dispose()


def _books(store, vault, jobsiteon):
    """A connected workspace with pending inbox events, dead letters, links and cursors."""
    store.connections.connect(WS, "4620816365", tokens(), vault, company_name="Health Co")
    contacts = [jobsiteon.create_contact(WS, f"Contact {i}", f"c{i}@example.com") for i in range(4)]
    jobsiteon.soft_delete(WS, "contacts", contacts[3])  # deleted: not counted
    item = jobsiteon.create_record(WS, "pricebook_items", name="Labor", default_price="80", type="service")
    line = {"item_id": item, "qty": "1", "unit_price": "80", "taxable": False}
    approved = jobsiteon.create_record(WS, "invoices", number="1", contact_id=contacts[0], status="approved",
                                       lines=[line])
    jobsiteon.create_record(WS, "invoices", number="2", contact_id=contacts[0], status="draft", lines=[line])
    store.id_map.upsert(WS, "customers", [{"jobsiteon_id": contacts[0], "qbo_id": "1"},
                                          {"jobsiteon_id": contacts[1], "qbo_id": "2"}])
    store.id_map.upsert(WS, "invoices", [{"jobsiteon_id": approved, "qbo_id": "10"}])
    store.inbox.append([
        NewInboxEvent(WS, "webhook", "Customer", str(n), "Update", dedupe_key=f"wh-{n}") for n in range(3)
    ])
    store.inbox.mark_processed([store.inbox.pending(WS)[0].id])
    store.dead_letters.add(WS, "customers", "push", "create", contacts[2], category="duplicate",
                           message="Duplicate Name Exists Error", hint="rename or merge the duplicate, then retry")
    store.dead_letters.add(WS, "invoices", "push", "create", approved, category="validation",
                           message="Required param missing: CustomerRef")
    closed = store.dead_letters.add(WS, "items", "pull", "update", "7", category="not_found", message="gone")
    store.dead_letters.resolve([closed.id], "fixed")
    store.cursors.set(WS, "last_success:customers", "2025-06-01T10:00:00+00:00")
    store.cursors.set(WS, "last_full_run", json.dumps(
        {"finished_at": "2025-06-01T03:00:00+00:00", "status": "ok", "residual_diff": 0, "writes": 12}))
    return contacts


def test_health_reports_backlog_errors_mapping_and_nightly(store, vault, jobsiteon):
    _books(store, vault, jobsiteon)
    health = sync_health(store, WS, jobsiteon)

    assert health["status"] == "degraded"
    assert health["connection"] == "connected" and health["company"] == "Health Co"
    assert health["inbox"]["pending"] == 2 and health["inbox"]["oldest_received_at"]
    assert health["dead_letters"] == {"open": 2, "by_category": {"duplicate": 1, "validation": 1}}
    assert any("2 open dead letter(s)" in reason and "qbo-pipeline errors" in reason for reason in health["reasons"])
    assert health["last_success"]["customers"] == "2025-06-01T10:00:00+00:00"
    assert health["last_success"]["invoices"] is None
    # 2 links over 3 live contacts; drafts are not syncable, so 1 link over 1 approved invoice.
    assert health["mapping"]["customers"] == {"links": 2, "records": 3, "percent": 66.7}
    assert health["mapping"]["invoices"] == {"links": 1, "records": 1, "percent": 100.0}
    assert health["last_nightly"]["status"] == "ok" and health["last_nightly"]["writes"] == 12
    json.dumps(health)  # JSON-ready

    # Without JobsiteOn only the links are known.
    assert sync_health(store, WS)["mapping"]["customers"] == {"links": 2, "records": None, "percent": None}


def test_overall_status_follows_the_worst_problem(store, vault, jobsiteon):
    _books(store, vault, jobsiteon)
    for letter in store.dead_letters.list_open(WS):
        store.dead_letters.resolve([letter.id], "fixed")
    assert sync_health(store, WS, jobsiteon)["status"] == "ok"

    store.cursors.set(WS, "last_full_run", json.dumps({"finished_at": "x", "status": "ok", "residual_diff": {"invoices": 2}}))
    health = sync_health(store, WS)
    assert health["status"] == "degraded" and "2 residual difference(s)" in " ".join(health["reasons"])
    store.cursors.set(WS, "last_full_run", json.dumps({"status": "failed", "residual_diff": 0}))
    assert sync_health(store, WS)["status"] == "degraded"
    store.cursors.delete(WS, "last_full_run")

    later = datetime.now(timezone.utc) + timedelta(hours=2)
    stale = sync_health(store, WS, now=later)
    assert stale["status"] == "degraded" and "inbox sensor" in " ".join(stale["reasons"])

    store.connections.mark_needs_reconnect(WS)
    assert sync_health(store, WS)["status"] == "needs_reconnect"
    store.connections.disconnect(WS)
    assert sync_health(store, WS)["status"] == "disconnected"
    assert sync_health(store, "ws-unknown")["status"] == "disconnected"
    assert [h["workspace_id"] for h in all_health(store)] == [WS]


def test_status_command_prints_table_and_json(store, vault, jobsiteon, db_url, tmp_path):
    _books(store, vault, jobsiteon)
    env = {
        "QBO_PIPELINE_DATABASE_URL": db_url,
        "JOBSITEON_DATABASE_URL": str(jobsiteon.engine.url),
        "QBO_PIPELINE_DATA_DIR": str(tmp_path),
    }
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--workspace", WS], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{WS}  DEGRADED  Health Co" in out
    assert "2 pending" in out and "2 open: duplicate 1, validation 1" in out
    assert "status ok, residual diff 0, 12 writes" in out
    assert "customers" in out and "2 of 3 (66.7%)" in out and "never" in out

    as_json = runner.invoke(main, ["status", "--workspace", WS, "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["status"] == "degraded" and data["mapping"]["customers"]["percent"] == 66.7

    summary = runner.invoke(main, ["status"], env=env)
    assert summary.exit_code == 0 and "WORKSPACE" in summary.output and "DEGRADED" in summary.output
