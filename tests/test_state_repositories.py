"""Every state repository except the inbox, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from qbo_pipeline.state import (
    ConnectionNotFound,
    ConnectionSettings,
    IdMapConflict,
    RealmAlreadyConnected,
    StateError,
    SyncLogEntry,
)
from qbo_pipeline.state.cursors import GLOBAL

from state_fixtures import store, tokens, vault, vault_key  # noqa: F401 - fixtures

UTC = timezone.utc


# --- connections -------------------------------------------------------------------------

def test_connect_stores_encrypted_tokens_and_default_settings(store, vault):
    conn = store.connections.connect("ws-1", "9130001", tokens("a"), vault, company_name="Acme Builders")
    assert conn.status == "connected"
    assert conn.settings == ConnectionSettings()
    assert conn.settings.pull_interval_minutes == 15
    assert conn.token_key_id == vault.key_id and conn.has_tokens
    assert "access-token" not in repr(conn)

    with store.engine.connect() as c:
        raw = c.exec_driver_sql(
            "SELECT access_token_encrypted, refresh_token_encrypted FROM connections"
        ).one()
    assert "access-token-a" not in raw[0] and "refresh-token-a" not in raw[1]

    stored = store.connections.tokens("ws-1", vault)
    assert (stored.access_token, stored.refresh_token) == ("access-token-a", "refresh-token-a")
    assert "access-token-a" not in repr(stored)
    assert store.connections.by_realm("9130001").workspace_id == "ws-1"
    assert store.connections.live_realms() == {"9130001": "ws-1"}


def test_one_live_workspace_per_realm(store, vault):
    store.connections.connect("ws-1", "111", tokens(), vault)
    with pytest.raises(RealmAlreadyConnected, match="qbo-pipeline disconnect --workspace ws-1"):
        store.connections.connect("ws-2", "111", tokens(), vault)
    store.connections.disconnect("ws-1")
    assert store.connections.get("ws-1").status == "disconnected"
    assert not store.connections.get("ws-1").has_tokens
    assert store.connections.connect("ws-2", "111", tokens(), vault).status == "connected"
    assert store.connections.live_realms() == {"111": "ws-2"}


def test_reconnect_keeps_settings_and_resets_invalid_grants(store, vault):
    store.connections.connect("ws-1", "111", tokens("a"), vault)
    settings = store.connections.update_settings(
        "ws-1", default_income_account_id="79", tax_code_mapping={"GST": "5"}, pull_interval_minutes=30
    )
    assert settings.pull_interval_minutes == 30
    assert store.connections.record_invalid_grant("ws-1") == 1
    assert store.connections.get("ws-1").status == "connected"
    assert store.connections.record_invalid_grant("ws-1") == 2
    assert store.connections.get("ws-1").status == "needs_reconnect"
    assert store.connections.live_realms() == {"111": "ws-1"}  # still receives webhooks

    again = store.connections.connect("ws-1", "111", tokens("b"), vault)
    assert again.status == "connected" and again.invalid_grant_count == 0
    assert again.settings.tax_code_mapping == {"GST": "5"}
    assert again.settings.timezone == "UTC"
    assert store.connections.tokens("ws-1", vault).access_token == "access-token-b"


def test_connection_errors_name_the_fix(store, vault):
    with pytest.raises(ConnectionNotFound, match="qbo-pipeline connect --workspace nope"):
        store.connections.require("nope")
    store.connections.connect("ws-1", "111", tokens(), vault)
    with pytest.raises(StateError, match="unknown connection setting"):
        store.connections.update_settings("ws-1", colour="blue")
    with pytest.raises(StateError, match="pull_interval_minutes"):
        store.connections.update_settings("ws-1", pull_interval_minutes=0)
    assert [c.workspace_id for c in store.connections.list(status="connected")] == ["ws-1"]
    assert store.connections.list(status="disconnected") == []


def test_store_tokens_replaces_the_pair(store, vault):
    store.connections.connect("ws-1", "111", tokens("a"), vault)
    store.connections.record_invalid_grant("ws-1")
    store.connections.store_tokens("ws-1", tokens("b"), vault)
    assert store.connections.tokens("ws-1", vault).refresh_token == "refresh-token-b"
    assert store.connections.get("ws-1").invalid_grant_count == 0


# --- id map --------------------------------------------------------------------------------

def test_id_map_bulk_upsert_and_frame(store):
    t0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    links = pd.DataFrame(
        {
            "jobsiteon_id": [f"c{i}" for i in range(1200)],
            "qbo_id": [str(i) for i in range(1200)],
            "qbo_sync_token": ["0"] * 1200,
            "qbo_updated_at": [t0] * 1200,
            "content_hash": ["h"] * 1200,
        }
    )
    assert store.id_map.upsert("ws-1", "contacts", links) == 1200
    frame = store.id_map.frame("ws-1", "contacts")
    assert len(frame) == 1200
    assert list(frame.columns) == [
        "jobsiteon_id", "qbo_id", "qbo_sync_token", "qbo_updated_at",
        "jobsiteon_updated_at", "content_hash", "synced_at",
    ]
    assert frame.loc[0, "qbo_updated_at"] == pd.Timestamp(t0)
    assert str(frame["qbo_updated_at"].dtype) == "datetime64[ns, UTC]"
    assert store.id_map.frame("ws-1", "invoices").empty
    assert store.id_map.frame("ws-2", "contacts").empty

    # Update: new sync token; the content hash not given keeps its value.
    store.id_map.upsert("ws-1", "contacts", [{"jobsiteon_id": "c1", "qbo_id": "1", "qbo_sync_token": "3"}])
    one = store.id_map.get_by_jobsiteon("ws-1", "contacts", "c1")
    assert one["qbo_sync_token"] == "3" and one["content_hash"] == "h"
    assert store.id_map.get_by_qbo("ws-1", "contacts", "1")["jobsiteon_id"] == "c1"
    assert store.id_map.count("ws-1") == 1200


def test_id_map_refuses_to_link_one_qbo_record_twice(store):
    store.id_map.upsert("ws-1", "contacts", [{"jobsiteon_id": "c1", "qbo_id": "1"}])
    with pytest.raises(IdMapConflict, match="already linked to JobsiteOn record c1"):
        store.id_map.upsert("ws-1", "contacts", [{"jobsiteon_id": "c2", "qbo_id": "1"}, {"jobsiteon_id": "c3", "qbo_id": "3"}])
    assert store.id_map.get_by_jobsiteon("ws-1", "contacts", "c3") is None  # nothing written
    with pytest.raises(IdMapConflict):
        store.id_map.upsert("ws-1", "contacts", [{"jobsiteon_id": "c4", "qbo_id": "4"}, {"jobsiteon_id": "c5", "qbo_id": "4"}])
    # Same QBO id in another entity or workspace is fine; relinking c1 to another id is fine.
    store.id_map.upsert("ws-2", "contacts", [{"jobsiteon_id": "c2", "qbo_id": "1"}])
    store.id_map.upsert("ws-1", "vendors", [{"jobsiteon_id": "c2", "qbo_id": "1"}])
    store.id_map.upsert("ws-1", "contacts", [{"jobsiteon_id": "c1", "qbo_id": "7"}])
    assert store.id_map.get_by_qbo("ws-1", "contacts", "1") is None
    assert store.id_map.delete("ws-1", "contacts", qbo_ids=["7"]) == 1
    assert store.id_map.count("ws-1", "contacts") == 0


# --- cursors ---------------------------------------------------------------------------------

def test_cursors_and_counters(store):
    assert store.cursors.get("ws-1", "cdc") is None
    store.cursors.set("ws-1", "cdc", "2026-01-01T00:00:00Z")
    store.cursors.set("ws-1", "cdc", "2026-01-02T00:00:00Z")
    store.cursors.set("ws-1", "jobsiteon", "42")
    assert store.cursors.get("ws-1", "cdc") == "2026-01-02T00:00:00Z"
    assert store.cursors.all("ws-1") == {"cdc": "2026-01-02T00:00:00Z", "jobsiteon": "42"}
    value, when = store.cursors.get_with_time("ws-1", "jobsiteon")
    assert value == "42" and when.tzinfo is not None
    store.cursors.bump(GLOBAL, "webhook_unmatched")
    store.cursors.bump(GLOBAL, "webhook_unmatched", by=4)
    assert store.cursors.counter(GLOBAL, "webhook_unmatched") == 5
    assert store.cursors.delete("ws-1", "cdc") is True
    assert store.cursors.get("ws-1", "cdc") is None


# --- operation log -------------------------------------------------------------------------

def test_operation_log_is_idempotent(store):
    record, created = store.operations.reserve("ws-1:invoice:create:inv-9")
    assert created and record.status == "pending"
    again, created = store.operations.reserve("ws-1:invoice:create:inv-9")
    assert not created and again.status == "pending"
    store.operations.finish("ws-1:invoice:create:inv-9", "succeeded", {"qbo_id": "130", "sync_token": "0"})
    done, created = store.operations.reserve("ws-1:invoice:create:inv-9")
    assert not created and done.status == "succeeded" and done.outcome == {"qbo_id": "130", "sync_token": "0"}
    assert set(store.operations.get_many(["ws-1:invoice:create:inv-9", "other"])) == {"ws-1:invoice:create:inv-9"}
    with pytest.raises(StateError):
        store.operations.finish("k", "weird")
    assert store.operations.forget("ws-1:invoice:create:inv-9")
    assert store.operations.get("ws-1:invoice:create:inv-9") is None


# --- dead letters --------------------------------------------------------------------------

def test_requeueing_a_blocked_pair_puts_both_halves_back(store):
    """A JobsiteOn contact blocked against a same-name QBO customer: once fixed, the retry
    re-examines the QBO customer too (its run reads JobsiteOn in full and may create it)."""
    pair = store.dead_letters.add(
        "ws-1", "customers", "push", "reconcile", "con-1", category="duplicate",
        message="duplicate record: JobsiteOn customers con-1 and QBO Customer 3 match by name",
        payload={"entity": "customers", "jobsiteon_id": "con-1", "qbo_id": "3", "action": "blocked"},
    )
    write = store.dead_letters.add(
        "ws-1", "invoices", "push", "create", "inv-1", category="validation", message="bad line",
        payload={"entity": "invoices", "jobsiteon_id": "inv-1", "qbo_id": "77"},  # not a pair: own record only
    )
    store.dead_letters.requeue([pair.id, write.id])
    pending = {(e.source, e.entity, e.record_id) for e in store.inbox.pending("ws-1")}
    assert pending == {("jobsiteon", "customers", "con-1"), ("cdc", "customers", "3"),
                       ("jobsiteon", "invoices", "inv-1")}


def test_dead_letters_bump_resolve_and_requeue(store):
    first = store.dead_letters.add(
        "ws-1", "invoices", "push", "create", "inv-1",
        category="duplicate record", code="6140", message="Duplicate Document Number Error",
        hint="rename the invoice number, then retry", payload={"DocNumber": "1001"},
    )
    again = store.dead_letters.add(
        "ws-1", "invoices", "push", "create", "inv-1",
        category="duplicate record", code="6140", message="Duplicate Document Number Error (2)",
    )
    assert again.id == first.id and again.attempts == 2
    assert again.message.endswith("(2)") and again.first_seen == first.first_seen
    other = store.dead_letters.add(
        "ws-1", "payments", "pull", "update", ["p2", "p1"], category="record not found", message="gone"
    )
    assert other.record_ids == ["p1", "p2"] and other.record_key == "p1,p2"
    assert len(store.dead_letters.list_open("ws-1")) == 2
    assert [d.id for d in store.dead_letters.list_open("ws-1", category="record not found")] == [other.id]
    assert store.dead_letters.count_open("ws-1") == {"duplicate record": 1, "record not found": 1}

    requeued = store.dead_letters.requeue([other.id])
    assert [d.id for d in requeued] == [other.id]
    pending = store.inbox.pending("ws-1")
    assert {(e.source, e.entity, e.record_id) for e in pending} == {("cdc", "payments", "p1"), ("cdc", "payments", "p2")}
    assert store.dead_letters.get(other.id).requeued_at is not None

    assert store.dead_letters.resolve_matching("ws-1", "payments", "pull", "update", ["p1", "p2"]) == 1
    assert store.dead_letters.resolve([first.id], note="renamed in JobsiteOn") == 1
    assert store.dead_letters.list_open("ws-1") == []
    assert store.dead_letters.get(first.id).resolution_note == "renamed in JobsiteOn"
    # After resolution the same failure opens a fresh letter.
    fresh = store.dead_letters.add("ws-1", "invoices", "push", "create", "inv-1", category="duplicate record", message="again")
    assert fresh.id != first.id and fresh.attempts == 1
    with pytest.raises(StateError):
        store.dead_letters.add("ws-1", "invoices", "sideways", "create", "x", category="c", message="m")


# --- sync log ------------------------------------------------------------------------------

def test_sync_log_recent_newest_first(store):
    store.sync_log.add("ws-1", "contacts", "pull", "info", "Created contact from QBO customer 58", record_id="c1")
    store.sync_log.add_many(
        [SyncLogEntry("ws-1", "invoices", "push", "error", f"Duplicate number {i}", record_id=f"inv-{i}") for i in range(3)]
    )
    store.sync_log.add("ws-2", "contacts", "pull", "warning", "conflict: kept QBO version")
    log = store.sync_log.recent("ws-1")
    assert list(log["record_id"]) == ["inv-2", "inv-1", "inv-0", "c1"]
    assert list(store.sync_log.recent("ws-1", status="error", limit=2)["record_id"]) == ["inv-2", "inv-1"]
    older = store.sync_log.recent("ws-1", before_id=int(log.loc[1, "id"]))
    assert list(older["record_id"]) == ["inv-0", "c1"]
    assert log["timestamp"].dt.tz is not None
    with pytest.raises(StateError):
        store.sync_log.add("ws-1", "contacts", "pull", "fatal", "x")
