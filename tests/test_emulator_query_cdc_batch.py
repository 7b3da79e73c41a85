"""Query (GET and POST), CDC (shape, tombstones, 30-day limit, cap), batch and requestid replay."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx

from tests.emulator_fixtures import qbo, sales_line  # noqa: F401 - fixture


def test_query_get_post_count_paging_and_empty_page(qbo):
    for name in ("Alpha", "Bravo", "Charlie's"):
        qbo.customer(name)
    page = qbo.query("select * from Customer where DisplayName = 'Charlie\\'s'")
    assert [c["DisplayName"] for c in page["Customer"]] == ["Charlie's"]
    assert page["startPosition"] == 1 and page["maxResults"] == 1
    posted = qbo.query("SELECT * FROM Customer ORDERBY DisplayName DESC STARTPOSITION 2 MAXRESULTS 1", method="POST")
    assert [c["DisplayName"] for c in posted["Customer"]] == ["Bravo"] and posted["startPosition"] == 2
    assert qbo.query("select count(*) from customer") == {"totalCount": 3}
    assert qbo.query("select * from Invoice") == {}
    items = qbo.query("select * from Item where Name = 'Services'")["Item"]
    assert items[0]["IncomeAccountRef"]["name"] == "Services"


def test_query_hides_inactive_names_and_sku(qbo):
    cust = qbo.customer("Gone Inc")
    qbo.update("Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert qbo.query("select * from Customer") == {}
    assert len(qbo.query("select * from Customer where Active in (true, false)")["Customer"]) == 1
    qbo.item("Skewed", Sku="SK-1")
    assert "Sku" not in qbo.query("select * from Item where Name = 'Skewed'")["Item"][0]
    assert qbo.query("select *, Sku from Item where Name = 'Skewed'")["Item"][0]["Sku"] == "SK-1"


def test_query_faults(qbo):
    error = qbo.fault(qbo.get("query", query="select * from"), "4000")
    assert error["Message"] == "Error parsing query" and error["Detail"].startswith("QueryParserError")
    error = qbo.fault(qbo.get("query", query="select * from Customer startposition 0"), "4001")
    assert error["Detail"].startswith("QueryValidationError")
    qbo.fault(qbo.get("query", query="select * from Widget"), "4000")


def _since(minutes: int = 5) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat(timespec="seconds")


def test_cdc_shape_tombstones_and_order(qbo):
    cust = qbo.customer()
    inv = qbo.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(5, 1, 5)]})
    qbo.ok(qbo.post("Invoice", {"Id": inv["Id"], "SyncToken": "0"}, operation="delete"))
    body = qbo.ok(qbo.get("cdc", entities="customer,Invoice,Payment", changedSince=_since()))
    responses = body["CDCResponse"][0]["QueryResponse"]
    assert [list(r)[0] for r in responses] == ["Customer", "Invoice"]
    customers, invoices = responses
    assert customers["Customer"][0]["Id"] == cust["Id"] and customers["startPosition"] == 1
    assert customers["maxResults"] == 1
    tombstone = invoices["Invoice"][0]
    assert set(tombstone) == {"domain", "status", "Id", "MetaData"} and tombstone["status"] == "Deleted"
    assert tombstone["Id"] == inv["Id"] and set(tombstone["MetaData"]) == {"LastUpdatedTime"}
    empty = qbo.ok(qbo.get("cdc", entities="Vendor", changedSince=_since()))
    assert empty["CDCResponse"] == [{"QueryResponse": [{}]}]


def test_cdc_30_day_limit_and_cap(qbo, emulator):
    error = qbo.fault(qbo.get("cdc", entities="Customer", changedSince=_since(minutes=31 * 24 * 60)), "4001")
    assert "30 days" in error["Detail"]
    qbo.fault(qbo.get("cdc", entities="Customer"), "2020")
    httpx.put(f"{emulator.base_url}/_emulator/companies/{qbo.realm}/settings", json={"cdc_cap": 3}).raise_for_status()
    first = [qbo.customer(f"CDC {n}")["Id"] for n in range(3)]
    qbo.vendor("CDC vendor")
    body = qbo.ok(qbo.get("cdc", entities="Vendor,Customer", changedSince=_since()))
    responses = body["CDCResponse"][0]["QueryResponse"]
    assert [[o["Id"] for o in r["Customer"]] for r in responses] == [first]  # oldest three, vendor cut off


def test_batch_mixed_results_horizon_and_limit(qbo):
    existing = qbo.customer("Batch Existing")
    inv = qbo.create("Invoice", {"CustomerRef": {"value": existing["Id"]}, "Line": [sales_line(5, 1, 5)]})
    body = {"BatchItemRequest": [
        {"bId": "b1", "operation": "create", "Vendor": {"DisplayName": "Batch Existing"}},
        {"bId": "b2", "operation": "create", "Customer": {"DisplayName": "Batch New"}},
        {"bId": "b3", "operation": "update", "Customer": {"Id": existing["Id"], "SyncToken": "9", "sparse": True}},
        {"bId": "b4", "operation": "delete", "Invoice": {"Id": inv["Id"], "SyncToken": "0"}},
        {"bId": "b5", "Query": "select * from Customer where DisplayName = 'Batch Existing'"},
        {"bId": "b6", "Query": "select * from Customer where DisplayName = 'Batch New'"},
        {"bId": "b7", "operation": "delete", "Invoice": {"Id": "777777", "SyncToken": "0"}},
    ]}
    response = qbo.http.post(f"{qbo.base}/batch", json=body)
    items = {item["bId"]: item for item in qbo.ok(response)["BatchItemResponse"]}
    assert items["b1"]["Fault"]["Error"][0]["code"] == "6240" and items["b1"]["Fault"]["type"] == "ValidationFault"
    assert items["b2"]["Customer"]["DisplayName"] == "Batch New"
    assert items["b3"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["b4"]["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": inv["Id"]}
    assert items["b5"]["QueryResponse"]["Customer"][0]["Id"] == existing["Id"]
    assert items["b6"]["QueryResponse"] == {}  # created inside this batch: invisible to its items
    assert items["b7"]["Fault"]["Error"][0]["code"] == "610"

    new_id = items["b2"]["Customer"]["Id"]
    horizon = qbo.ok(qbo.http.post(f"{qbo.base}/batch", json={"BatchItemRequest": [
        {"bId": "c1", "operation": "create", "Customer": {"DisplayName": "Made In Batch"}},
        {"bId": "c2", "operation": "create", "Invoice": {"CustomerRef": {"value": str(int(new_id) + 1)},
                                                         "Line": [sales_line(1, 1, 1)]}}]}))
    assert horizon["BatchItemResponse"][1]["Fault"]["Error"][0]["code"] == "2500"

    too_many = {"BatchItemRequest": [{"bId": str(n), "Query": "select * from Item"} for n in range(31)]}
    qbo.fault(qbo.http.post(f"{qbo.base}/batch", json=too_many), "1040")


def test_requestid_replays_first_response(qbo, emulator):
    first = qbo.post("Customer", {"DisplayName": "Once Only"}, requestid="req-1")
    again = qbo.post("Customer", {"DisplayName": "Once Only"}, requestid="req-1")
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert qbo.query("select count(*) from Customer where DisplayName = 'Once Only'") == {"totalCount": 1}
    failed = qbo.post("Customer", {"DisplayName": "Once Only"}, requestid="req-2")
    assert qbo.post("Customer", {"DisplayName": "Once Only"}, requestid="req-2").content == failed.content
    httpx.put(f"{emulator.base_url}/_emulator/companies/{qbo.realm}/settings",
              json={"requestid_mode": "fault600"}).raise_for_status()
    qbo.fault(qbo.post("Customer", {"DisplayName": "Once Only"}, requestid="req-1"), "600")
