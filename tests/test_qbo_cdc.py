"""CDC: deletes as tombstones, capped answers split until complete, the 30-day fallback."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from qbo_pipeline.qbo import parse_cdc_body
from qbo_client_fixtures import control, make_harness  # noqa: F401 - fixtures

CAP = 5


@pytest.fixture()
def cdc_harness(control):
    harness = make_harness(control, cdc_cap=CAP)
    control.company_settings(harness.realm, cdc_cap=CAP)
    previous_offset = control.http.get("/_emulator/clock").json()["offset_seconds"]
    yield harness
    control.clock(offset_seconds=previous_offset)
    harness.assert_not_throttled()


def _server_now(control) -> datetime:
    return datetime.fromisoformat(control.http.get("/_emulator/clock").json()["now"])


def _tick(control, seconds: float = 1.0) -> None:
    control.clock(advance_seconds=seconds)


def test_capped_cdc_returns_every_change_and_delete_exactly_once(control, cdc_harness):
    client = cdc_harness.client
    since = _server_now(control) - timedelta(seconds=2)
    customers = []
    for i in range(12):
        customers.append(client.create("Customer", {"DisplayName": f"CDC Customer {i:02d}"}))
        if i % 3 == 2:
            _tick(control)
    invoices = [
        client.create("Invoice", {"CustomerRef": {"value": customers[i].Id},
                                  "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 10,
                                            "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1,
                                                                    "UnitPrice": 10}}]})
        for i in range(4)
    ]
    _tick(control)
    # a customer changed twice must come back once, in its latest version
    first = client.update("Customer", {"Id": customers[0].Id, "SyncToken": customers[0].SyncToken, "Notes": "v2"})
    _tick(control)
    client.update("Customer", {"Id": first.Id, "SyncToken": first.SyncToken, "Notes": "v3"})
    client.deactivate("Customer", customers[1].Id, customers[1].SyncToken)
    _tick(control)
    for invoice in invoices[:2]:
        client.delete("Invoice", invoice.Id, invoice.SyncToken)
    _tick(control)

    before = cdc_harness.counts()["cdc"]
    result = client.cdc(["Customer", "Invoice"], since)
    cdc_calls = cdc_harness.counts()["cdc"] - before

    changed_customers = result.changed["Customer"]
    assert sorted(c.Id for c in changed_customers) == sorted(c.Id for c in customers)  # once each
    latest = {c.Id: c for c in changed_customers}
    assert latest[customers[0].Id].Notes == "v3" and latest[customers[0].Id].SyncToken == "2"
    assert latest[customers[1].Id].Active is False
    assert sorted(i.Id for i in result.changed["Invoice"]) == sorted(i.Id for i in invoices[2:])
    assert sorted(t.Id for t in result.deleted["Invoice"]) == sorted(i.Id for i in invoices[:2])
    assert all(t.is_deleted and t.last_updated for t in result.deleted["Invoice"])
    assert result.deleted["Customer"] == []
    assert "Customer" in result.capped_entities and result.complete and not result.used_query_fallback
    assert cdc_calls > 3  # the cap really forced re-reads
    assert result.server_time is not None and result.server_time >= since
    # nothing changed since the watermark: the next sweep is empty
    nothing = client.cdc(["Customer", "Invoice"], result.server_time + timedelta(seconds=1))
    assert nothing.all_changed() == [] and nothing.all_deleted() == []


def test_more_changes_in_one_instant_than_the_cap(control, cdc_harness):
    client = cdc_harness.client
    since = _server_now(control) - timedelta(seconds=1)
    seeded = control.seed(cdc_harness.realm, {"Customer": [{"DisplayName": f"Burst {i}"} for i in range(CAP + 3)]})
    result = client.cdc(["Customer"], since)
    assert sorted(c.Id for c in result.changed["Customer"]) == sorted(seeded["ids"]["Customer"])
    # such an instant can only be listed by query: deletions there are reported as unknown
    assert not result.complete and result.deletes_unknown_windows
    assert result.deletes_unknown_windows[0][0] == "Customer"


def test_older_than_30_days_falls_back_to_queries(control, cdc_harness):
    client = cdc_harness.client
    old = client.create("Customer", {"DisplayName": "Old Timer"})
    doomed = client.create("Invoice", {"CustomerRef": {"value": old.Id},
                                       "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 5,
                                                 "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1,
                                                                         "UnitPrice": 5}}]})
    client.delete("Invoice", doomed.Id, doomed.SyncToken)
    result = client.cdc(["Customer", "Invoice"], _server_now(control) - timedelta(days=40))
    assert result.used_query_fallback and not result.deletes_visible and not result.complete
    assert [c.Id for c in result.changed["Customer"]] == [old.Id]
    assert result.changed["Invoice"] == [] and result.deleted["Invoice"] == []
    assert any("cannot be seen" in note for note in result.notes)
    assert result.server_time is not None


def test_parse_cdc_samples():
    import json
    from pathlib import Path

    samples = Path("/work/shared/reference/qbo-samples")
    answer = parse_cdc_body(json.loads((samples / "cdc_response.json").read_text()), ["Customer", "Estimate"])
    assert [c.Id for c in answer.rows["Customer"]] == ["63", "99"]
    assert [e.is_deleted for e in answer.rows["Estimate"]] == [False, False, True]
    assert answer.time.isoformat() == "2015-12-23T10:00:01-07:00"
    empty = parse_cdc_body(json.loads((samples / "cdc_empty_response.json").read_text()))
    assert empty.rows == {} and empty.total == 0
