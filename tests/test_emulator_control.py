"""Throttling, fault injection, the control API (counters, seeding, reset, settings), webhook
wiring, persistence and the CLI command."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from qbo_pipeline.emulator.server import EmulatorServer
from qbo_pipeline.emulator.settings import EmulatorSettings
from tests.emulator_fixtures import QboClient, new_company, qbo, sales_line  # noqa: F401 - fixture

HTTP = httpx.Client(verify=False, timeout=30.0)  # plain-HTTP loopback
THROTTLE_XML = open("/work/shared/reference/qbo-samples/throttle_429.xml").read() \
    if __import__("os").path.exists("/work/shared/reference/qbo-samples/throttle_429.xml") else None


def _settings(base: str, realm: str, **values) -> None:
    HTTP.put(f"{base}/_emulator/companies/{realm}/settings", json=values).raise_for_status()


def test_throttle_429_xml_body_and_counters(emulator):
    company = new_company(emulator.base_url)
    realm = company["realm_id"]
    _settings(emulator.base_url, realm, throttle_per_second=1000, throttle_per_minute=3, retry_after=True)
    client = QboClient(emulator.base_url, company)
    try:
        statuses = [client.get("customer/1").status_code for _ in range(4)]
        assert statuses == [400, 400, 400, 429]  # 610 not found, then throttled
        throttled = client.get("customer/1")
        assert throttled.headers["content-type"].startswith("application/xml")
        assert throttled.headers["Retry-After"] == "60"
        text = throttled.text
        assert "<Error code=\"3001\">" in text and "statusCode=429" in text and 'Fault type="SERVICE"' in text
        if THROTTLE_XML:
            import re
            strip = lambda s: re.sub(r'time="[^"]+"', 'time=""', s).strip()  # noqa: E731
            assert strip(text) == strip(THROTTLE_XML)
        counts = HTTP.get(f"{emulator.base_url}/_emulator/requests", params={"realm_id": realm}).json()
        assert counts == {"read": 3, "query": 0, "cdc": 0, "write": 0, "batch": 0, "auth": 0, "throttled": 2,
                          "total": 5}
        HTTP.delete(f"{emulator.base_url}/_emulator/requests", params={"realm_id": realm}).raise_for_status()
        assert HTTP.get(f"{emulator.base_url}/_emulator/requests", params={"realm_id": realm}).json()["total"] == 0
    finally:
        client.close()


def test_batch_throttle_counts_one_batch(emulator):
    company = new_company(emulator.base_url)
    _settings(emulator.base_url, company["realm_id"], throttle_batch_per_minute=1)
    client = QboClient(emulator.base_url, company)
    try:
        body = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Item"}]}
        assert client.http.post(f"{client.base}/batch", json=body).status_code == 200
        assert client.http.post(f"{client.base}/batch", json=body).status_code == 429
        assert client.get("item/1").status_code == 200
        counts = HTTP.get(f"{emulator.base_url}/_emulator/requests", params={"realm_id": client.realm}).json()
        assert counts["batch"] == 1 and counts["read"] == 1 and counts["throttled"] == 1
    finally:
        client.close()


def test_fault_injection(qbo, emulator):
    url = f"{emulator.base_url}/_emulator/companies/{qbo.realm}/faults"
    HTTP.put(url, json={"error_rate": 1.0, "error_status": 503, "seed": 7}).raise_for_status()
    response = qbo.get("item/1")
    assert response.status_code == 503
    assert response.json()["Fault"]["type"] == "SystemFault" and response.json()["Fault"]["Error"][0]["code"] == "10000"
    HTTP.put(url, json={"error_rate": 0.0, "throttle_burst": 2}).raise_for_status()
    assert [qbo.get("item/1").status_code for _ in range(3)] == [429, 429, 200]
    HTTP.put(url, json={"timeout_rate": 1.0, "timeout_seconds": 0.3, "timeout_mode": "execute"}).raise_for_status()
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        qbo.http.post(f"{qbo.base}/customer", json={"DisplayName": "Slow But Saved"}, timeout=0.1)
    time.sleep(0.4)
    assert time.monotonic() - started >= 0.3
    HTTP.put(url, json={"timeout_rate": 0.0}).raise_for_status()
    assert qbo.query("select * from Customer where DisplayName = 'Slow But Saved'")["Customer"]
    expired = HTTP.put(url, json={"expire_tokens": True}).json()
    assert expired["expired_tokens"] >= 1
    denied = qbo.get("item/1")
    assert denied.status_code == 401 and denied.json()["fault"]["error"][0]["code"] == "3200"
    assert HTTP.put(url, json={"error_rate": 2}).status_code == 400


def test_seed_resolves_names_backdates_and_reports_faults(emulator):
    company = new_company(emulator.base_url, "Seeded")
    realm = company["realm_id"]
    seeded = HTTP.post(f"{emulator.base_url}/_emulator/companies/{realm}/seed", json={
        "backdate_days": 3,
        "Customer": [{"DisplayName": "Amy's Bird Sanctuary"}, {"DisplayName": "Amy's Bird Sanctuary"}],
        "Item": [{"Name": "Pest Control", "Type": "Service", "IncomeAccountRef": {"name": "Services"},
                  "UnitPrice": 35}],
        "Invoice": [{"CustomerRef": {"name": "Amy's Bird Sanctuary"}, "DocNumber": "S-1",
                     "Line": [{"Amount": 70, "DetailType": "SalesItemLineDetail",
                               "SalesItemLineDetail": {"ItemRef": {"name": "Pest Control"}, "Qty": 2,
                                                       "UnitPrice": 35}}]}],
        "Payment": [{"CustomerRef": {"name": "Amy's Bird Sanctuary"}, "TotalAmt": 70,
                     "Line": [{"Amount": 70, "LinkedTxn": [{"DocNumber": "S-1", "TxnType": "Invoice"}]}]}],
    }).json()
    assert seeded["ids"]["Customer"][1] is None and seeded["faults"][0]["entity"] == "Customer"
    assert seeded["faults"][0]["Fault"]["Error"][0]["code"] == "6240" and len(seeded["faults"]) == 1
    client = QboClient(emulator.base_url, company)
    try:
        invoice = client.read("Invoice", seeded["ids"]["Invoice"][0])
        assert invoice["Balance"] == 0 and invoice["TotalAmt"] == 70.0
        assert invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"]["name"] == "Pest Control"
        created = invoice["MetaData"]["CreateTime"]
        assert created[:10] < time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400))
        # a later seed call does not move the planted times of what it touches
        customer_before = client.read("Customer", seeded["ids"]["Customer"][0])
        later = HTTP.post(f"{emulator.base_url}/_emulator/companies/{realm}/seed", json={"Invoice": [
            {"CustomerRef": {"name": "Amy's Bird Sanctuary"}, "Line": [{"Amount": 5, "DetailType": "SalesItemLineDetail",
                                                                          "SalesItemLineDetail": {}}]}]}).json()
        assert later["faults"] == []
        customer_after = client.read("Customer", seeded["ids"]["Customer"][0])
        assert customer_after["Balance"] == 5.0
        assert customer_after["MetaData"] == customer_before["MetaData"]
        companies = HTTP.get(f"{emulator.base_url}/_emulator/companies").json()
        assert any(c["realm_id"] == realm for c in companies)
        HTTP.post(f"{emulator.base_url}/_emulator/companies/{realm}/reset").raise_for_status()
        assert client.query("select * from Invoice") == {}
        assert client.read("Item", "1")["Name"] == "Services"
    finally:
        client.close()


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_writes_notify_webhooks(qbo, emulator):
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{receiver.server_port}/hook"
    try:
        config = HTTP.put(f"{emulator.base_url}/_emulator/webhooks", json={"targets": [{"url": url}]})
        assert config.status_code == 200, config.text
        cust = qbo.customer("Hooked")
        qbo.update("Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "n"})
        assert HTTP.post(f"{emulator.base_url}/_emulator/webhooks/flush", json={"timeout": 10}).json()["flushed"]
        events = [e for _h, body in _Receiver.received
                  for n in json.loads(body)["eventNotifications"] if n["realmId"] == qbo.realm
                  for e in n["dataChangeEvent"]["entities"]]
        assert [(e["name"], e["id"], e["operation"]) for e in events] == [
            ("Customer", cust["Id"], "Create"), ("Customer", cust["Id"], "Update")]
        assert all("intuit-signature" in {k.lower() for k in h} for h, _b in _Receiver.received)
    finally:
        HTTP.put(f"{emulator.base_url}/_emulator/webhooks", json={"targets": []})
        receiver.shutdown()


def test_state_persists_across_restart(tmp_path):
    path = str(tmp_path / "emulator.json")
    server = EmulatorServer(settings=EmulatorSettings(persist_path=path, throttle=False)).start()
    try:
        company = new_company(server.base_url)
        client = QboClient(server.base_url, company)
        cust = client.customer("Persisted")
        client.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(10, 1, 10)]})
        client.close()
    finally:
        server.stop()
    again = EmulatorServer(settings=EmulatorSettings(persist_path=path, throttle=False)).start()
    try:
        client = QboClient(again.base_url, company)
        assert client.read("Customer", cust["Id"])["Balance"] == 10.8
        client.fault(client.post("Customer", {"DisplayName": "Persisted"}), "6240")
        assert client.create("Invoice", {"CustomerRef": {"value": cust["Id"]},
                                         "Line": [sales_line(1, 1, 1)]})["DocNumber"] == "1002"
        client.close()
    finally:
        again.stop()


def test_global_settings_and_cli_command():
    from click.testing import CliRunner

    from qbo_pipeline.cli import main

    result = CliRunner().invoke(main, ["emulator", "--help"])
    assert result.exit_code == 0 and "--time-scale" in result.output and "--persist" in result.output
    server = EmulatorServer().start()
    try:
        settings = HTTP.put(f"{server.base_url}/_emulator/settings", json={"time_scale": 60, "cdc_cap": 5}).json()
        assert settings["time_scale"] == 60 and "client_secret" not in settings
        assert server.backend.clock.time_scale == 60
        assert HTTP.put(f"{server.base_url}/_emulator/settings", json={"nope": 1}).status_code == 400
    finally:
        server.stop()
