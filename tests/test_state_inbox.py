"""The inbox: dedupe, the sensor's pending summary, and claims that never overlap."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from qbo_pipeline.state import NewInboxEvent, StateStore, make_engine
from qbo_pipeline.state.types import utcnow

import state_children
from state_fixtures import pg_store, store  # noqa: F401 - fixtures


def event(workspace: str, n: int, *, source: str = "webhook", key: str | None = None) -> NewInboxEvent:
    return NewInboxEvent(
        workspace_id=workspace,
        source=source,
        entity="Customer",
        record_id=str(n),
        operation="Update",
        dedupe_key=key or f"evt-{n}",
        occurred_at=datetime(2026, 3, 1, 12, 0, n % 60, tzinfo=timezone.utc),
        realm_id="9130001",
        payload={"id": str(n)},
    )


def test_append_dedupes_per_workspace(store):
    assert store.inbox.append([event("ws-1", i) for i in range(10)]) == 10
    # The same deliveries again, plus one repeat inside the batch, plus one new event.
    again = [event("ws-1", i) for i in range(10)] + [event("ws-1", 10), event("ws-1", 10)]
    assert store.inbox.append(again) == 1
    # The same dedupe key in another workspace is a different event.
    assert store.inbox.append([event("ws-2", 1)]) == 1
    assert store.inbox.count("ws-1") == 11
    assert store.inbox.append([]) == 0
    stored = store.inbox.pending("ws-1")[0]
    assert stored.payload == '{"id":"0"}' and stored.occurred_at.tzinfo is not None
    assert stored.realm_id == "9130001" and stored.source == "webhook"


def test_pending_summary_claim_and_mark_processed(store):
    store.inbox.append([event("ws-1", i) for i in range(5)] + [event("ws-2", i) for i in range(3)])
    summary = {s.workspace_id: s for s in store.inbox.pending_summary()}
    assert {ws: s.pending for ws, s in summary.items()} == {"ws-1": 5, "ws-2": 3}
    high = max(s.max_id for s in summary.values())
    assert store.inbox.pending_summary(after_id=high) == []

    claimed = store.inbox.claim("ws-1", 3, "worker-a")
    assert [e.record_id for e in claimed] == ["0", "1", "2"]
    assert all(e.claimed_by == "worker-a" for e in claimed)
    assert [e.record_id for e in store.inbox.claim("ws-1", 10, "worker-b")] == ["3", "4"]
    assert store.inbox.claim("ws-1", 10, "worker-c") == []

    assert store.inbox.mark_processed([e.id for e in claimed]) == 3
    assert store.inbox.mark_processed([e.id for e in claimed]) == 0
    assert {s.workspace_id: s.pending for s in store.inbox.pending_summary()} == {"ws-1": 2, "ws-2": 3}

    store.inbox.append([event("ws-2", 99)])
    newer = store.inbox.pending_summary(after_id=high)
    assert [(s.workspace_id, s.pending) for s in newer] == [("ws-2", 4)]


def test_release_and_release_stale(store):
    store.inbox.append([event("ws-1", i) for i in range(4)])
    first = store.inbox.claim("ws-1", 2, "dead-worker")
    assert store.inbox.release_stale(timedelta(minutes=5)) == 0  # claims are fresh
    with store.engine.begin() as c:
        c.execute(sa.text("UPDATE inbox SET claimed_at = :t WHERE claimed_by = 'dead-worker'"),
                  {"t": (utcnow() - timedelta(hours=1)).replace(tzinfo=None) if store.dialect == "sqlite" else utcnow() - timedelta(hours=1)})
    assert store.inbox.release_stale(timedelta(minutes=5)) == 2
    second = store.inbox.claim("ws-1", 10, "w2")
    assert {e.id for e in second} >= {e.id for e in first}
    assert store.inbox.release([e.id for e in second]) == 4
    assert len(store.inbox.claim("ws-1", 10, "w3")) == 4


def test_purge_processed_keeps_pending(store):
    store.inbox.append([event("ws-1", i) for i in range(3)])
    store.inbox.mark_processed([store.inbox.pending("ws-1")[0].id])
    assert store.inbox.purge_processed(timedelta(seconds=-1)) == 1
    assert store.inbox.count("ws-1") == 2


def test_two_processes_draining_one_workspace_never_share_an_event(db_url):
    state = StateStore.from_url(db_url)
    state.inbox.append([event("ws-1", i, key=f"k{i}") for i in range(600)])
    state.inbox.append([event("ws-2", i, key=f"k{i}") for i in range(50)])  # not drained
    ctx = state_children.context()
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=state_children.drain_inbox, args=(db_url, "ws-1", f"proc-{n}", 7, ready, go, out))
        for n in range(3)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    go.set()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    all_ids = [i for ids in results.values() for i in ids]
    assert len(all_ids) == 600 == len(set(all_ids)), "an event was claimed twice or lost"
    assert state.inbox.count("ws-1", pending_only=True) == 0
    assert state.inbox.count("ws-2", pending_only=True) == 50
    state.dispose()


def test_threads_with_separate_engines_never_share_an_event_on_postgres(pg_store, pg_url):
    pg_store.inbox.append([event("ws-1", i, key=f"k{i}") for i in range(1000)])
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def drain(worker: str) -> None:
        state = StateStore(make_engine(pg_url))
        barrier.wait()
        ids = claimed.setdefault(worker, [])
        while batch := state.inbox.claim("ws-1", 5, worker):
            ids.extend(e.id for e in batch)
        state.dispose()

    threads = [threading.Thread(target=drain, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    all_ids = [i for ids in claimed.values() for i in ids]
    assert len(all_ids) == 1000 == len(set(all_ids))
    assert sum(1 for ids in claimed.values() if ids) >= 2, "claims did not actually run concurrently"
    with pg_store.engine.connect() as c:
        rows = c.execute(sa.text("SELECT claimed_by, count(*) FROM inbox GROUP BY claimed_by")).all()
    assert {w: n for w, n in rows} == {w: len(ids) for w, ids in claimed.items() if ids}


def test_pending_summary_uses_the_pending_index_on_postgres(pg_store):
    """With a large processed history, the sensor query must read only pending rows."""
    with pg_store.engine.begin() as c:
        c.execute(sa.text(
            """
            INSERT INTO inbox (workspace_id, source, entity, record_id, operation, dedupe_key,
                               received_at, processed_at)
            SELECT 'ws-' || (g % 1000), 'webhook', 'Customer', g::text, 'Update', 'h' || g, now(), now()
            FROM generate_series(1, 200000) g
            """
        ))
    pg_store.inbox.append([event(f"ws-{n}", n) for n in range(20)])
    with pg_store.engine.begin() as c:
        c.execute(sa.text("ANALYZE inbox"))
    summary = pg_store.inbox.pending_summary()
    assert len(summary) == 20 and all(s.pending == 1 for s in summary)
    from qbo_pipeline.state.schema import inbox as t

    query = (
        sa.select(t.c.workspace_id, sa.func.count(), sa.func.max(t.c.id))
        .where(t.c.processed_at.is_(None))
        .group_by(t.c.workspace_id)
    )
    compiled = query.compile(pg_store.engine, compile_kwargs={"literal_binds": True})
    with pg_store.engine.connect() as c:
        plan = "\n".join(r[0] for r in c.execute(sa.text(f"EXPLAIN {compiled}")))
    assert "ix_inbox_pending" in plan and "Seq Scan" not in plan, plan
