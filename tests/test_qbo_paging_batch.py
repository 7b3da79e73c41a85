"""Paging and batch request counts, and requestid replay of batches."""
from __future__ import annotations

from qbo_pipeline.qbo import BatchOperation, request_id_for
from qbo_pipeline.qbo.batch import plan_chunks
import time

from qbo_client_fixtures import control, make_harness, qbo, switch_off_after_first  # noqa: F401


def test_query_all_pages_2500_records_in_three_queries(qbo):
    qbo.control.seed(qbo.realm, {"Customer": [{"DisplayName": f"Seeded {i:05d}"} for i in range(2500)]})
    before = qbo.counts()["query"]
    rows = qbo.client.query_all("Customer")
    assert qbo.counts()["query"] - before == 3  # 1000 + 1000 + 500, the short page ends it
    assert len(rows) == 2500 and len({r.Id for r in rows}) == 2500
    assert {r.DisplayName for r in rows} == {f"Seeded {i:05d}" for i in range(2500)}
    before = qbo.counts()["query"]
    assert qbo.client.count("Customer") == 2500
    assert qbo.counts()["query"] - before == 1


def test_exact_multiple_of_page_size_needs_one_empty_page(qbo):
    qbo.control.seed(qbo.realm, {"Customer": [{"DisplayName": f"C{i}"} for i in range(20)]})
    before = qbo.counts()["query"]
    assert len(qbo.client.query_all("Customer", page_size=10)) == 20
    assert qbo.counts()["query"] - before == 3  # 10, 10, then an empty page (no entity key)


def test_get_by_ids_uses_in_lists_of_1000(qbo):
    seeded = qbo.control.seed(qbo.realm, {"Customer": [{"DisplayName": f"Id {i}"} for i in range(1500)]})
    ids = seeded["ids"]["Customer"]
    first = qbo.client.read("Customer", ids[0])
    qbo.client.deactivate("Customer", first.Id, first.SyncToken)
    before = qbo.counts()["query"]
    found = qbo.client.get_by_ids("Customer", ids)
    assert qbo.counts()["query"] - before == 2
    assert sorted(r.Id for r in found) == sorted(ids)  # inactive one included


def test_batch_chunks_of_30_and_replay_creates_nothing_twice(qbo):
    operations = [BatchOperation.create("Customer", {"DisplayName": f"Batch {i:03d}"}) for i in range(65)]
    before = qbo.counts()
    outcomes = qbo.client.batch(operations, request_id=request_id_for("ws", "test-batch"))
    after = qbo.counts()
    assert after["batch"] - before["batch"] == 3  # 30 + 30 + 5
    assert all(o.ok for o in outcomes) and len(outcomes) == 65
    assert [o.entity.DisplayName for o in outcomes] == [f"Batch {i:03d}" for i in range(65)]
    # the same operations again (e.g. a re-run after a crash): QBO replays, nothing new is created
    again = qbo.client.batch(operations, request_id=request_id_for("ws", "test-batch"))
    assert [o.entity.Id for o in again] == [o.entity.Id for o in outcomes]
    assert qbo.client.count("Customer") == 65


def test_batch_chunk_that_times_out_is_resent_and_replayed(control):
    harness = make_harness(control, timeout=0.4)
    control.faults(harness.realm, timeout_rate=1.0, timeout_seconds=1.0, timeout_mode="execute")
    switch = switch_off_after_first(control, harness.realm, "batch", timeout_rate=0.0)
    operations = [BatchOperation.create("Customer", {"DisplayName": f"Slow Batch {i}"}) for i in range(30)]
    outcomes = harness.client.batch(operations)
    switch.join()
    time.sleep(1.0)  # the first, slow execution finishes on the server meanwhile
    assert all(o.ok for o in outcomes)
    assert harness.counts()["batch"] >= 2  # the chunk was sent again ...
    assert harness.client.count("Customer") == 30  # ... and created nothing twice
    harness.assert_not_throttled()


def test_chunk_request_ids_are_deterministic_and_bids_short():
    operations = [BatchOperation.create("Vendor", {"DisplayName": f"V{i}"}) for i in range(31)]
    first = plan_chunks(operations)
    second = plan_chunks(list(operations))
    assert [c.request_id for c in first] == [c.request_id for c in second]
    assert len({c.request_id for c in first}) == 2
    assert all(len(bid) <= 10 for chunk in first for bid in chunk.bids)
    assert len(first[0].request_id) <= 36
    changed = plan_chunks([BatchOperation.create("Vendor", {"DisplayName": "other"})] + operations[1:])
    assert changed[0].request_id != first[0].request_id and changed[1].request_id == first[1].request_id
