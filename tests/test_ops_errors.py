"""The dead-letter queue as ops handle it: `qbo-pipeline errors / retry / errors resolve`,
on SQLite and PostgreSQL state."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from qbo_pipeline.cli import main
from qbo_pipeline.ops import list_errors, resolve_dead_letters, resolve_succeeded, retry_dead_letters

from state_fixtures import store  # noqa: F401 - fixture

WS, OTHER = "ws-errors", "ws-other"


@pytest.fixture()
def letters(store):
    push = store.dead_letters.add(
        WS, "customers", "push", "create", "con_42", category="duplicate", code="6240",
        message="Duplicate Name Exists Error: the name 'Acme Builders' is already used by customer 58",
        hint="rename or merge the duplicate (qbo-pipeline dedupe), then retry",
    )
    store.dead_letters.add(WS, "customers", "push", "create", "con_42", category="duplicate", code="6240",
                           message="Duplicate Name Exists Error: the name 'Acme Builders' is already used by customer 58")
    pull = store.dead_letters.add(WS, "payments", "pull", "update", "145", category="not_found",
                                  message="Invoice 1007 linked by payment 145 does not exist in JobsiteOn")
    other = store.dead_letters.add(OTHER, "items", "push", "update", "itm_9", category="validation",
                                   message="Name is empty")
    return {"push": push, "pull": pull, "other": other}


@pytest.fixture()
def cli(db_url, tmp_path):
    env = {"QBO_PIPELINE_DATABASE_URL": db_url, "QBO_PIPELINE_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), env=env)


def test_errors_lists_record_cause_and_fix(store, letters, cli):
    listed = list_errors(store, WS)
    assert [d["id"] for d in listed] == [letters["pull"].id, letters["push"].id]  # most recent first
    push = listed[1]
    assert push["record"] == "con_42" and push["attempts"] == 2 and push["category"] == "duplicate"
    assert listed[0]["hint"] == "re-create it, or unlink so the next sync creates a fresh copy"  # category default
    assert [d["id"] for d in list_errors(store, category="validation")] == [letters["other"].id]

    result = cli("errors", "--workspace", WS)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"#{letters['push'].id}  {WS}  customers create (push to QBO)  record con_42  [duplicate]  attempts 2" in out
    assert "cause: Duplicate Name Exists Error: the name 'Acme Builders' is already used by customer 58 (code 6240)" in out
    assert f"fix:   rename or merge the duplicate (qbo-pipeline dedupe), then retry — then: qbo-pipeline retry {letters['push'].id}" in out
    assert "payments update (pull from QBO)  record 145  [not_found]" in out
    assert "2 open error(s)" in out and OTHER not in out

    as_json = json.loads(cli("errors", "--category", "validation", "--json").output)
    assert [d["workspace_id"] for d in as_json] == [OTHER]


def test_retry_queues_inbox_events_and_logs(store, letters, cli):
    result = cli("retry", str(letters["push"].id), "999999")
    assert result.exit_code == 0, result.output
    assert "queued 1 error(s) for retry (1 inbox event(s))" in result.output
    assert "not queued (unknown, already resolved or another workspace): #999999" in result.output

    [event] = store.inbox.pending(WS)
    assert (event.source, event.entity, event.record_id, event.operation) == ("jobsiteon", "customers", "con_42", "create")
    assert json.loads(event.payload) == {"requeued_dead_letter_id": letters["push"].id}
    log = store.sync_log.recent(WS)
    assert log.iloc[0]["status"] == "info" and log.iloc[0]["record_id"] == "con_42"
    assert f"retry requested for dead letter #{letters['push'].id}" in log.iloc[0]["details"]
    # Still open until the sync succeeds; the retry stamp shows it was queued.
    assert store.dead_letters.get(letters["push"].id).requeued_at is not None
    assert len(list_errors(store, WS)) == 2

    # --all of one workspace: the pull letter becomes a CDC hint for QBO id 145.
    result = retry_dead_letters(store, all_open=True, workspace_id=WS)
    assert result.queued == 2 and result.events == 2
    assert {(e.source, e.record_id) for e in store.inbox.pending(WS)} >= {("cdc", "145")}
    assert store.inbox.count(OTHER, pending_only=True) == 0

    # Ids of another workspace are not retried under --workspace.
    assert retry_dead_letters(store, [letters["other"].id], workspace_id=WS).skipped == [letters["other"].id]

    assert cli("retry").exit_code == 2  # neither ids nor --all


def test_success_after_retry_resolves_and_manual_resolve(store, letters, cli):
    retry_dead_letters(store, [letters["pull"].id])
    # What the sync step does after the retried record synced (documented in ops/errors.py),
    # inside its own transaction.
    with store.engine.begin() as conn:
        assert resolve_succeeded(store, WS, "payments", "pull", "update", "145", conn=conn) == 1
    assert [d["id"] for d in list_errors(store, WS)] == [letters["push"].id]
    assert store.dead_letters.get(letters["pull"].id).resolution_note == "succeeded on retry"
    assert "resolved: update of 145 succeeded" in store.sync_log.recent(WS).iloc[0]["details"]
    assert resolve_succeeded(store, WS, "payments", "pull", "update", "145") == 0  # nothing open: no log line

    result = cli("errors", "resolve", str(letters["push"].id), "--note", "renamed in QBO by the bookkeeper")
    assert result.exit_code == 0, result.output
    assert f"resolved 1 error(s): #{letters['push'].id}" in result.output
    assert list_errors(store, WS) == []
    closed = store.dead_letters.get(letters["push"].id)
    assert closed.resolution_note == "manual: renamed in QBO by the bookkeeper"
    details = store.sync_log.recent(WS).iloc[0]["details"]
    assert "resolved by hand: renamed in QBO by the bookkeeper" in details

    again = cli("errors", "resolve", str(letters["push"].id), "--note", "again")
    assert "resolved 0 error(s)" in again.output and "not open" in again.output
    assert cli("errors", "resolve", str(letters["other"].id)).exit_code == 2  # --note is required
    with pytest.raises(ValueError, match="--note"):
        resolve_dead_letters(store, [letters["other"].id], "  ")
