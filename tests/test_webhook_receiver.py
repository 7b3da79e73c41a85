"""The webhook receiver over real HTTP on loopback, storing into SQLite and PostgreSQL."""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from qbo_pipeline.state.cursors import GLOBAL
from qbo_pipeline.webhooks import UNMATCHED_COUNTER, ReceiverServer, parse_delivery, sign, verify

from state_fixtures import store, tokens, vault, vault_key  # noqa: F401 - fixtures

SAMPLES = Path("/work/shared/reference/qbo-samples")
TOKEN = "verify_me"
LEGACY_REALM, CE_REALM, MERGE_REALM = "1185883450", "310687", "93414556*********"


@pytest.fixture()
def receiver(store, vault):
    store.connections.connect("ws-legacy", LEGACY_REALM, tokens("l"), vault)
    store.connections.connect("ws-ce", CE_REALM, tokens("c"), vault)
    store.connections.connect("ws-merge", MERGE_REALM, tokens("m"), vault)
    server = ReceiverServer(store, TOKEN).start()
    yield server
    server.stop()


def post(server, body: bytes, signature: str | bytes | None = "sign", **kwargs) -> httpx.Response:
    headers = {"content-type": "application/json; charset=utf-8", **kwargs.pop("headers", {})}
    if signature == "sign":
        signature = sign(body, TOKEN)
    if signature is not None:
        headers["intuit-signature"] = signature
    return httpx.post(server.webhook_url, content=body, headers=headers, timeout=10, **kwargs)


def rows(store, workspace: str):
    return store.inbox.pending(workspace)


def test_signature_matches_published_and_computed_vectors():
    vectors = json.loads((SAMPLES / "webhook_signature_examples.json").read_text())
    cases = [vectors["published_vector"], *vectors["computed_vectors_NOT_from_intuit"]]
    for case in cases:
        body = case["raw_body"].encode()
        assert sign(body, case["verifier_token"]) == case["intuit_signature"]
        assert verify(body, case["intuit_signature"], case["verifier_token"])
        assert not verify(body + b" ", case["intuit_signature"], case["verifier_token"])
        assert not verify(body, case["intuit_signature"], "other-token")
        assert not verify(body, None, case["verifier_token"])


def test_legacy_delivery_stored_once_when_delivered_three_times(store, receiver):
    body = (SAMPLES / "webhook_legacy.json").read_bytes()
    answers = [post(receiver, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [(a.json()["stored"], a.json()["duplicates"]) for a in answers] == [(2, 0), (0, 2), (0, 2)]
    stored = rows(store, "ws-legacy")
    assert [(e.entity, e.record_id, e.operation, e.source) for e in stored] == [
        ("Customer", "1", "Create", "webhook"),
        ("Vendor", "1", "Create", "webhook"),
    ]
    assert stored[0].occurred_at == datetime(2015, 10, 5, 21, 42, 19, tzinfo=timezone.utc)
    assert stored[0].realm_id == LEGACY_REALM
    assert json.loads(stored[0].payload)["name"] == "Customer"
    assert store.inbox.count() == 2


def test_cloudevents_delivery_stored_once_when_delivered_three_times(store, receiver):
    body = (SAMPLES / "webhook_cloudevents.json").read_bytes()
    for _ in range(3):
        assert post(receiver, body).status_code == 200
    stored = rows(store, "ws-ce")
    assert len(stored) == 1
    event = stored[0]
    assert (event.entity, event.record_id, event.operation) == ("Account", "1234", "Create")
    assert event.dedupe_key == "ce:88cd52aa-33b6-4351-9aa4-47572edbd068"
    assert event.occurred_at == datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=timezone.utc)


def test_cloudevents_merge_also_reports_the_merged_away_record(store, receiver):
    body = (SAMPLES / "webhook_cloudevents_customer_merged.json").read_bytes()
    assert post(receiver, body).json()["stored"] == 2
    assert post(receiver, body).json()["stored"] == 0
    assert {(e.entity, e.record_id, e.operation) for e in rows(store, "ws-merge")} == {
        ("Customer", "123", "Merge"),
        ("Customer", "27", "Delete"),
    }


def test_researcher_signed_bodies_are_accepted_byte_for_byte(store, receiver):
    vectors = json.loads((SAMPLES / "webhook_signature_examples.json").read_text())
    for case in vectors["computed_vectors_NOT_from_intuit"]:
        answer = post(receiver, case["raw_body"].encode(), signature=case["intuit_signature"])
        assert answer.status_code == 200, answer.text
    assert len(rows(store, "ws-legacy")) == 1 and len(rows(store, "ws-ce")) == 1


def test_bad_or_missing_signature_is_rejected_and_nothing_stored(store, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    body = (SAMPLES / "webhook_legacy.json").read_bytes()
    assert post(receiver, body, signature=None).status_code == 401
    assert post(receiver, body, signature=sign(body, "wrong-token")).status_code == 401
    assert post(receiver, body, signature=sign(body + b"\n", TOKEN)).status_code == 401
    assert post(receiver, body, signature="not base64 at all \u2713".encode()).status_code == 401
    assert store.inbox.count() == 0
    metrics = httpx.get(receiver.base_url + "/metrics").json()
    assert metrics["rejected_signature"] == 4
    assert TOKEN not in caplog.text and sign(body, TOKEN) not in caplog.text


MALFORMED = [
    b"{not json",
    b"\xff\xfe",
    b'{"foo": 1}',
    b'"just a string"',
    b'{"eventNotifications": {"realmId": "1"}}',
    b'{"eventNotifications": [{"realmId": "1185883450", "dataChangeEvent": {"entities": [{"name": "Customer"}]}}]}',
    b'[{"specversion": "1.0", "id": "x", "type": "qbo.customer.created.v1", "intuitentityid": "1"}]',
    b'[{"specversion": "1.0", "id": "x", "type": "com.example.other", "intuitaccountid": "310687", "intuitentityid": "1"}]',
    b"[42]",
]


def test_malformed_or_unknown_payload_is_400_and_nothing_stored(store, receiver):
    for body in MALFORMED:
        answer = post(receiver, body)
        assert answer.status_code == 400, (body, answer.text)
    assert store.inbox.count() == 0
    assert httpx.get(receiver.base_url + "/metrics").json()["rejected_malformed"] == len(MALFORMED)


def test_oversized_body_is_413_without_reading_it_all(store, receiver):
    big = b'{"eventNotifications": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert post(receiver, big).status_code == 413

    def chunks():  # no Content-Length: chunked transfer, cut off while streaming
        yield big[: 512 * 1024]
        yield big[512 * 1024 :]

    answer = httpx.post(receiver.webhook_url, content=chunks(), headers={"intuit-signature": sign(big, TOKEN)})
    assert answer.status_code == 413
    assert store.inbox.count() == 0
    assert httpx.get(receiver.base_url + "/metrics").json()["rejected_too_large"] == 2


def test_unknown_realm_is_acknowledged_counted_and_not_stored(store, receiver, caplog):
    caplog.set_level(logging.WARNING)
    body = json.dumps({"eventNotifications": [
        {"realmId": "999", "dataChangeEvent": {"entities": [
            {"name": "Invoice", "id": "5", "operation": "Update", "lastUpdated": "2026-01-01T00:00:00Z"}]}},
        {"realmId": LEGACY_REALM, "dataChangeEvent": {"entities": [
            {"name": "Invoice", "id": "6", "operation": "Void", "lastUpdated": "2026-01-01T00:00:00Z"}]}},
    ]}).encode()
    answer = post(receiver, body)
    assert answer.status_code == 200
    assert (answer.json()["stored"], answer.json()["unmatched"]) == (1, 1)
    assert [e.record_id for e in rows(store, "ws-legacy")] == ["6"]
    assert store.inbox.count() == 1
    assert store.cursors.counter(GLOBAL, UNMATCHED_COUNTER) == 1
    assert httpx.get(receiver.base_url + "/metrics").json()["events_unmatched"] == 1
    assert "realm(s) 999" in caplog.text


def test_newly_connected_realm_is_recognized_within_seconds(store, receiver, vault):
    body = json.dumps([{"specversion": "1.0", "id": "evt-new", "type": "qbo.invoice.updated.v1",
                        "intuitaccountid": "777", "intuitentityid": "9", "time": "2026-02-01T10:00:00Z"}]).encode()
    assert post(receiver, body).json()["unmatched"] == 1
    store.connections.connect("ws-new", "777", tokens("n"), vault)
    deadline = time.monotonic() + 5
    while post(receiver, body).json()["stored"] == 0:
        assert time.monotonic() < deadline, "new connection never picked up"
        time.sleep(0.2)
    assert [(e.entity, e.operation) for e in rows(store, "ws-new")] == [("Invoice", "Update")]


def test_concurrent_duplicate_deliveries_store_each_event_once(store, receiver):
    events = [
        {"specversion": "1.0", "id": f"evt-{n}", "type": "qbo.customer.updated.v1",
         "intuitaccountid": CE_REALM, "intuitentityid": str(n), "time": "2026-02-01T10:00:00Z", "data": {}}
        for n in range(10)
    ]
    body = json.dumps(events).encode()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(receiver, body), range(16)))
    assert all(a.status_code == 200 for a in answers)
    assert sum(a.json()["stored"] for a in answers) == 10
    assert len(rows(store, "ws-ce")) == 10


def test_healthz_reports_the_database(receiver):
    answer = httpx.get(receiver.base_url + "/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok", "db": "ok"}
    assert post(receiver, b"[]").json()["received"] == 0  # an empty delivery is acknowledged


def test_parser_normalizes_both_formats():
    fmt, legacy = parse_delivery((SAMPLES / "webhook_legacy_blog_2025.json").read_bytes())
    assert fmt == "legacy" and legacy[0].occurred_at == datetime(2025, 9, 8, 20, 52, 31, 657000, tzinfo=timezone.utc)
    assert legacy[0].dedupe_key == "legacy:310687:Account:1234:Create:2025-09-08T20:52:31.657000+00:00"
    # The same instant written with another offset dedupes to the same key.
    same = json.dumps({"eventNotifications": [{"realmId": "310687", "dataChangeEvent": {"entities": [
        {"name": "Account", "id": "1234", "operation": "Create", "lastUpdated": "2025-09-08T13:52:31.657-0700"}]}}]})
    assert parse_delivery(same.encode())[1][0].dedupe_key == legacy[0].dedupe_key
    fmt, ce = parse_delivery(json.dumps([{"id": "a", "type": "qbo.creditmemo.voided.v1", "intuitaccountid": 5,
                                          "intuitentityid": 7}]).encode())
    assert fmt == "cloudevents" and (ce[0].entity, ce[0].operation, ce[0].realm_id) == ("CreditMemo", "Void", "5")
    assert parse_delivery(b"[]") == ("cloudevents", [])


def test_emulator_webhook_sender_deliveries_land_once_each(store, receiver):
    """The emulator's Intuit-style sender (both formats, every notification sent twice)
    against the real receiver: each change lands once per format."""
    from qbo_pipeline.emulator.webhooks import WebhookConfig, WebhookDispatcher, WebhookTarget

    dispatcher = WebhookDispatcher(WebhookConfig(
        targets=[WebhookTarget(receiver.webhook_url), WebhookTarget(receiver.webhook_url, "cloudevents")],
        verifier_token=TOKEN, duplicate_rate=1.0, aggregate_seconds=0.0, seed=1,
    ))
    try:
        t0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
        dispatcher.notify(CE_REALM, "Invoice", "130", "Update", t0)
        dispatcher.notify(CE_REALM, "Payment", "44", "Void", t0)
        dispatcher.notify(CE_REALM, "Customer", "58", "Merge", t0, deleted_id="27")
        assert dispatcher.flush(10)
        assert dispatcher.stats().get("given_up", 0) == 0
    finally:
        dispatcher.close()
    stored = rows(store, "ws-ce")
    for prefix in ("legacy:", "ce:"):
        assert sorted((e.entity, e.record_id, e.operation) for e in stored if e.dedupe_key.startswith(prefix)) == [
            ("Customer", "27", "Delete"), ("Customer", "58", "Merge"),
            ("Invoice", "130", "Update"), ("Payment", "44", "Void"),
        ]
    assert len(stored) == 8
    metrics = httpx.get(receiver.base_url + "/metrics").json()
    assert metrics["events_duplicate"] >= 4  # the duplicated sends were absorbed


def test_webhooks_serve_command(tmp_path, vault):
    """`qbo-pipeline webhooks serve` end to end: migrates, serves, stores."""
    import os
    import socket
    import subprocess
    import sys

    from qbo_pipeline.state import StateStore

    url = f"sqlite:///{tmp_path / 'state.db'}"
    state = StateStore.from_url(url)
    state.connections.connect("ws-ce", CE_REALM, tokens("c"), vault)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "QBO_PIPELINE_DATABASE_URL": url, "QBO_WEBHOOK_VERIFIER_TOKEN": TOKEN,
           "QBO_PIPELINE_DATA_DIR": str(tmp_path)}  # anything else the command opens stays in tmp
    env.pop("JOBSITEON_DATABASE_URL", None)
    cli = str(Path(sys.executable).parent / "qbo-pipeline")
    proc = subprocess.Popen([cli, "webhooks", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # generous: the CLI imports a lot on a busy machine
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.1)
        body = (SAMPLES / "webhook_cloudevents.json").read_bytes()
        answer = httpx.post(base + "/webhooks/qbo", content=body, headers={"intuit-signature": sign(body, TOKEN)})
        assert answer.status_code == 200 and answer.json()["stored"] == 1
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}/webhooks/qbo" in output and TOKEN not in output
    assert [e.record_id for e in state.inbox.pending("ws-ce")] == ["1234"]
    state.dispose()



def test_webhooks_serve_requires_the_verifier_token(monkeypatch):
    from click.testing import CliRunner

    from qbo_pipeline.cli import main

    monkeypatch.delenv("QBO_WEBHOOK_VERIFIER_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["webhooks", "serve"])
    assert result.exit_code != 0 and "QBO_WEBHOOK_VERIFIER_TOKEN" in result.output
