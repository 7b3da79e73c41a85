"""The inbox as the Dagster sensors use it: only connected workspaces are runnable, and a
failed run's claims go back to the pool."""
from __future__ import annotations

import sqlalchemy as sa

from qbo_pipeline.state.schema import connections as connections_table, inbox as t

from state_fixtures import pg_store, store, tokens, vault, vault_key  # noqa: F401 - fixtures
from test_state_inbox import event


def _connect(store, vault, workspace: str, realm: str) -> None:
    store.connections.connect(workspace, realm, tokens(workspace), vault)


def test_pending_summary_runnable_only_skips_workspaces_that_are_not_connected(store, vault):
    _connect(store, vault, "ws-live", "9001")
    _connect(store, vault, "ws-reconnect", "9002")
    _connect(store, vault, "ws-gone", "9003")
    store.connections.set_status("ws-reconnect", "needs_reconnect")
    store.connections.set_status("ws-gone", "disconnected")
    for workspace in ("ws-live", "ws-reconnect", "ws-gone", "ws-never-connected"):
        store.inbox.append([event(workspace, i) for i in range(3)])

    everything = {s.workspace_id: s.pending for s in store.inbox.pending_summary()}
    assert everything == {"ws-live": 3, "ws-reconnect": 3, "ws-gone": 3, "ws-never-connected": 3}
    runnable = store.inbox.pending_summary(runnable_only=True)
    assert [(s.workspace_id, s.pending) for s in runnable] == [("ws-live", 3)]

    # Reconnecting makes the waiting events runnable again; after_id still applies.
    _connect(store, vault, "ws-reconnect", "9002")
    high = max(s.max_id for s in store.inbox.pending_summary())
    assert {s.workspace_id for s in store.inbox.pending_summary(runnable_only=True)} == {"ws-live", "ws-reconnect"}
    assert store.inbox.pending_summary(after_id=high, runnable_only=True) == []
    store.inbox.append([event("ws-reconnect", 50)])
    assert [s.workspace_id for s in store.inbox.pending_summary(after_id=high, runnable_only=True)] == ["ws-reconnect"]


def test_release_claimed_by_returns_only_that_runs_unprocessed_events(store):
    store.inbox.append([event("ws-1", i) for i in range(6)])
    failed = store.inbox.claim("ws-1", 3, "run-failed")
    other = store.inbox.claim("ws-1", 2, "run-other")
    store.inbox.mark_processed([failed[0].id])

    assert store.inbox.release_claimed_by("run-failed") == 2
    assert store.inbox.release_claimed_by("run-failed") == 0
    assert store.inbox.release_claimed_by("no-such-run") == 0
    never_claimed = {e.id for e in store.inbox.pending("ws-1")} - {e.id for e in failed + other}
    retaken = store.inbox.claim("ws-1", 10, "run-retry")
    # The failed run's two unprocessed events plus the never-claimed one; the other run's
    # claims and the processed event stay where they were.
    assert {e.id for e in retaken} == {failed[1].id, failed[2].id} | never_claimed
    assert len(never_claimed) == 1
    assert store.inbox.count("ws-1", pending_only=True) == 5


def test_runnable_summary_is_one_indexed_query_on_postgres(pg_store, vault):
    """The connection filter must not turn the sensor's query into a scan of the history."""
    with pg_store.engine.begin() as c:
        c.execute(sa.text(
            """
            INSERT INTO inbox (workspace_id, source, entity, record_id, operation, dedupe_key,
                               received_at, processed_at)
            SELECT 'ws-' || (g % 1000), 'webhook', 'Customer', g::text, 'Update', 'h' || g, now(), now()
            FROM generate_series(1, 200000) g
            """
        ))
    for n in range(20):
        _connect(pg_store, vault, f"ws-{n}", f"realm-{n}")
    pg_store.inbox.append([event(f"ws-{n}", n) for n in range(30)])
    with pg_store.engine.begin() as c:
        c.execute(sa.text("ANALYZE inbox"))
        c.execute(sa.text("ANALYZE connections"))
    summary = pg_store.inbox.pending_summary(runnable_only=True)
    assert [s.workspace_id for s in summary] == sorted(f"ws-{n}" for n in range(20))

    connected = sa.select(connections_table.c.workspace_id).where(
        connections_table.c.workspace_id == t.c.workspace_id, connections_table.c.status == "connected"
    )
    query = (
        sa.select(t.c.workspace_id, sa.func.count(), sa.func.max(t.c.id))
        .where(t.c.processed_at.is_(None), connected.exists())
        .group_by(t.c.workspace_id)
    )
    compiled = query.compile(pg_store.engine, compile_kwargs={"literal_binds": True})
    with pg_store.engine.connect() as c:
        plan = "\n".join(r[0] for r in c.execute(sa.text(f"EXPLAIN {compiled}")))
    assert "ix_inbox_pending" in plan and "Seq Scan on inbox" not in plan, plan
