"""The emulator's webhook sender, delivering over real HTTP to a receiver on loopback."""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qbo_pipeline.emulator.webhooks import (
    ChangeEvent,
    WebhookConfig,
    WebhookDispatcher,
    WebhookTarget,
    legacy_body,
    sign,
)

SAMPLES = Path("/work/shared/reference/qbo-samples")
TOKEN = "verify_me"
T0 = datetime(2025, 9, 8, 13, 52, 31, 657000, tzinfo=timezone(timedelta(hours=-7)))


class Receiver:
    """A webhook endpoint that records every request; `statuses` answers the first requests."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.hold: threading.Event | None = None  # when set, requests wait for it
        self.got_request = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": body})
                receiver.got_request.set()
                if receiver.hold is not None:
                    receiver.hold.wait(5)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def bodies(self) -> list:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def make_dispatcher():
    made: list[WebhookDispatcher] = []

    def make(**settings) -> WebhookDispatcher:
        settings.setdefault("verifier_token", TOKEN)
        dispatcher = WebhookDispatcher(WebhookConfig(**settings))
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close()


def legacy_entities(body: dict) -> list[tuple[str, str, str]]:
    [notification] = body["eventNotifications"]
    return [(e["name"], e["id"], e["operation"]) for e in notification["dataChangeEvent"]["entities"]]


# ----------------------------------------------------------------------------- signatures


def test_signature_matches_the_published_and_sample_vectors() -> None:
    vectors = json.loads((SAMPLES / "webhook_signature_examples.json").read_text())
    published = vectors["published_vector"]
    assert sign(b'{"stuff":"5"}', "verify_me") == "nfPLN16u3vMvv08ghDs+dOkLuirEVDy5wAeG/lmM2OA="
    assert sign(published["raw_body"].encode(), published["verifier_token"]) == published["intuit_signature"]
    for vector in vectors["computed_vectors_NOT_from_intuit"]:
        assert sign(vector["raw_body"].encode(), vector["verifier_token"]) == vector["intuit_signature"]


def test_legacy_body_reproduces_the_sample_byte_for_byte() -> None:
    vectors = json.loads((SAMPLES / "webhook_signature_examples.json").read_text())
    sample = vectors["computed_vectors_NOT_from_intuit"][0]["raw_body"]
    event = ChangeEvent("1185883450", "Customer", "1", "Create", T0)
    ours = json.loads(legacy_body("1185883450", [event]))
    theirs = json.loads(sample)
    ours["eventNotifications"][0]["dataChangeEvent"]["entities"][0].pop("lastUpdated")
    theirs["eventNotifications"][0]["dataChangeEvent"]["entities"][0].pop("lastUpdated")
    assert ours == theirs
    assert b" " not in legacy_body("1", [event])  # compact JSON


# ----------------------------------------------------------------------------- formats


def test_legacy_delivery_aggregates_one_realm_and_signs_the_raw_body(receiver, make_dispatcher) -> None:
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)], aggregate_seconds=0.3)
    dispatcher.notify("310687", "Customer", "1", "Create", T0)
    dispatcher.notify("310687", "Invoice", "130", "Update", T0 + timedelta(seconds=1))
    dispatcher.notify("999", "Vendor", "7", "Delete", T0)
    assert dispatcher.flush(5)

    assert len(receiver.requests) == 2
    by_realm = {json.loads(r["body"])["eventNotifications"][0]["realmId"]: r for r in receiver.requests}
    first = by_realm["310687"]
    body = json.loads(first["body"])
    assert legacy_entities(body) == [("Customer", "1", "Create"), ("Invoice", "130", "Update")]
    entities = body["eventNotifications"][0]["dataChangeEvent"]["entities"]
    assert [e["lastUpdated"] for e in entities] == ["2025-09-08T20:52:31.657Z", "2025-09-08T20:52:32.657Z"]
    assert legacy_entities(json.loads(by_realm["999"]["body"])) == [("Vendor", "7", "Delete")]

    for request in receiver.requests:
        headers = request["headers"]
        assert headers["intuit-signature"] == sign(request["body"], TOKEN)
        assert headers["content-type"] == "application/json; charset=utf-8"
        assert headers["user-agent"] == "intuit_notification_server/0.1"
        assert headers["intuit-notification-schema-version"] == "0.1"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", headers["intuit-created-time"])
        assert re.fullmatch(r"[0-9a-f-]{36}", headers["intuit-t-id"])
        assert request["body"] == json.dumps(json.loads(request["body"]), separators=(",", ":")).encode()
    assert sign(first["body"], "some-other-token") != first["headers"]["intuit-signature"]

    stats = dispatcher.stats()
    assert stats["delivered_requests"] == 2 and stats["delivered_events"] == 3 and stats["pending"] == 0


def test_without_aggregation_every_event_goes_alone(receiver, make_dispatcher) -> None:
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)])
    for i in range(3):
        dispatcher.notify("1", "Customer", str(i), "Update", T0)
    assert dispatcher.flush(5)
    assert [legacy_entities(b) for b in receiver.bodies()] == [
        [("Customer", "0", "Update")], [("Customer", "1", "Update")], [("Customer", "2", "Update")]]


def test_events_after_the_window_start_a_new_notification(receiver, make_dispatcher) -> None:
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)], aggregate_seconds=0.2,
                                 delay_seconds=0.1)
    dispatcher.notify("1", "Customer", "1", "Create", T0)
    dispatcher.notify("1", "Customer", "2", "Create", T0)
    time.sleep(0.35)
    dispatcher.notify("1", "Customer", "3", "Create", T0)
    assert dispatcher.flush(5)
    assert [legacy_entities(b) for b in receiver.bodies()] == [
        [("Customer", "1", "Create"), ("Customer", "2", "Create")], [("Customer", "3", "Create")]]


def test_cloudevents_format_batches_at_most_100_events(receiver, make_dispatcher) -> None:
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url, "cloudevents")], aggregate_seconds=0.3)
    dispatcher.notify("310687", "Customer", "123", "Merge", T0, deleted_id="27")
    for i in range(149):
        dispatcher.notify("310687", "Invoice", str(i), "Void" if i % 2 else "Emailed", T0)
    assert dispatcher.flush(5)

    bodies = receiver.bodies()
    assert [len(b) for b in bodies] == [100, 50]
    merge = bodies[0][0]
    assert set(merge) == {"specversion", "id", "source", "type", "datacontenttype", "time",
                          "intuitentityid", "intuitaccountid", "data"}
    assert merge["specversion"] == "1.0" and merge["datacontenttype"] == "application/json"
    assert merge["type"] == "qbo.customer.merged.v1"
    assert merge["data"] == {"deletedid": "27"}
    assert merge["intuitentityid"] == "123" and merge["intuitaccountid"] == "310687"
    assert merge["time"] == "2025-09-08T20:52:31.657000Z"
    assert re.fullmatch(r"intuit\.[A-Za-z0-9+/]{43}=", merge["source"])
    assert {e["type"] for e in bodies[0][1:] + bodies[1]} == {"qbo.invoice.voided.v1", "qbo.invoice.emailed.v1"}
    assert all(e["data"] == {} for e in bodies[1])
    all_ids = [e["id"] for b in bodies for e in b]
    assert len(set(all_ids)) == 150
    for request in receiver.requests:
        assert request["headers"]["intuit-signature"] == sign(request["body"], TOKEN)
    assert dispatcher.stats()["delivered_events"] == 150


def test_both_formats_to_two_targets(make_dispatcher) -> None:
    legacy, cloud = Receiver(), Receiver()
    try:
        dispatcher = make_dispatcher(targets=[WebhookTarget(legacy.url), WebhookTarget(cloud.url, "cloudevents")])
        dispatcher.notify("5", "Payment", "44", "Update", T0)
        assert dispatcher.flush(5)
        assert legacy_entities(legacy.bodies()[0]) == [("Payment", "44", "Update")]
        assert cloud.bodies()[0][0]["type"] == "qbo.payment.updated.v1"
    finally:
        legacy.close()
        cloud.close()


# ----------------------------------------------------------------------------- delivery semantics


def test_non_200_is_retried_on_the_schedule_and_later_events_wait(receiver, make_dispatcher) -> None:
    receiver.statuses = [500, 503, 202]  # 202 is not 200: Intuit wants exactly 200
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)], time_scale=200)  # 10 s -> 50 ms
    dispatcher.notify("1", "Customer", "1", "Create", T0)
    assert receiver.got_request.wait(5)
    dispatcher.notify("1", "Customer", "2", "Update", T0)
    assert dispatcher.flush(5)

    sequence = [legacy_entities(b)[0][1] for b in receiver.bodies()]
    assert sequence == ["1", "1", "1", "1", "2"]
    assert len({r["headers"]["intuit-t-id"] for r in receiver.requests}) == 5
    stats = dispatcher.stats()
    assert stats["failed_attempts"] == 3 and stats["delivered_requests"] == 2 and stats["pending"] == 0


def test_unreachable_target_is_given_up_after_the_schedule(make_dispatcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    dispatcher = make_dispatcher(targets=[WebhookTarget(dead_url)], retry_schedule_seconds=(1, 2),
                                 time_scale=100)
    dispatcher.notify("1", "Item", "9", "Update", T0)
    assert dispatcher.flush(5)
    stats = dispatcher.stats()
    assert stats["failed_attempts"] == 3 and stats["given_up"] == 1 and stats["delivered_requests"] == 0


def test_slow_receiver_times_out_and_is_retried(receiver, make_dispatcher) -> None:
    receiver.hold = threading.Event()
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)], timeout_seconds=0.2,
                                 retry_schedule_seconds=(0.05,))
    dispatcher.notify("1", "Customer", "1", "Create", T0)
    assert receiver.got_request.wait(5)
    time.sleep(0.3)
    receiver.hold.set()
    assert dispatcher.flush(5)
    assert dispatcher.stats()["failed_attempts"] == 1
    assert dispatcher.stats()["delivered_requests"] == 1


def test_notify_never_waits_for_the_network(receiver, make_dispatcher) -> None:
    receiver.hold = threading.Event()
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)])
    dispatcher.notify("1", "Customer", "1", "Create", T0)
    assert receiver.got_request.wait(5)  # the sender is now stuck inside a POST
    for i in range(2, 200):
        dispatcher.notify("1", "Customer", str(i), "Create", T0)  # would hang if notify blocked
    assert dispatcher.stats()["pending"] >= 199
    receiver.hold.set()
    assert dispatcher.flush(5)
    assert dispatcher.stats()["delivered_events"] == 199


# ----------------------------------------------------------------------------- fault injection


def test_duplicates_are_sent_twice_with_the_same_body(receiver, make_dispatcher) -> None:
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url, "cloudevents")], duplicate_rate=1.0)
    dispatcher.notify("1", "Invoice", "1", "Create", T0)
    dispatcher.notify("1", "Invoice", "2", "Create", T0)
    assert dispatcher.flush(5)
    bodies = [r["body"] for r in receiver.requests]
    assert len(bodies) == 4 and bodies[0] == bodies[1] and bodies[2] == bodies[3] and bodies[0] != bodies[2]
    stats = dispatcher.stats()
    assert stats["duplicated"] == 2 and stats["delivered_requests"] == 4


def test_drops_are_never_sent_but_counted(receiver, make_dispatcher) -> None:
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)], drop_rate=1.0)
    for i in range(5):
        dispatcher.notify("1", "Customer", str(i), "Update", T0)
    assert dispatcher.flush(5)
    assert receiver.requests == []
    assert dispatcher.stats()["dropped"] == 5 and dispatcher.stats()["pending"] == 0


def test_reorder_reverses_events_and_swaps_consecutive_notifications(receiver, make_dispatcher) -> None:
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)], reorder=True, aggregate_seconds=0.1)
    dispatcher.notify("1", "Customer", "1", "Create", T0)
    dispatcher.notify("1", "Customer", "1", "Update", T0 + timedelta(seconds=1))
    dispatcher.notify("2", "Vendor", "8", "Create", T0)
    assert dispatcher.flush(5)
    bodies = receiver.bodies()
    assert [b["eventNotifications"][0]["realmId"] for b in bodies] == ["2", "1"]
    assert legacy_entities(bodies[1]) == [("Customer", "1", "Update"), ("Customer", "1", "Create")]
    assert dispatcher.stats()["reordered"] == 2


def test_fractional_rates_are_deterministic_with_a_seed(make_dispatcher) -> None:
    outcomes = []
    for _ in range(2):
        receiver = Receiver()
        try:
            dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url, "cloudevents")], seed=7,
                                         duplicate_rate=0.3, drop_rate=0.3)
            for i in range(30):
                dispatcher.notify("1", "Customer", str(i), "Update", T0)
            assert dispatcher.flush(5)
            stats = dispatcher.stats()
            outcomes.append(([r["body"] for r in receiver.requests], stats))
            assert stats["delivered_requests"] == 30 - stats["dropped"] + stats["duplicated"]
            assert 0 < stats["dropped"] < 30 and 0 < stats["duplicated"] < 30
        finally:
            receiver.close()
    assert outcomes[0] == outcomes[1]


# ----------------------------------------------------------------------------- lifecycle and config


def test_configure_close_and_flush(receiver) -> None:
    dispatcher = WebhookDispatcher()
    dispatcher.notify("1", "Customer", "1", "Create", T0)  # no target yet: nothing to deliver
    assert dispatcher.flush(2)
    dispatcher.configure(WebhookConfig.from_json({"targets": [{"url": receiver.url}], "verifier_token": TOKEN}))
    dispatcher.notify("1", "Customer", "2", "Create", T0)
    assert dispatcher.flush(5)
    assert [legacy_entities(b) for b in receiver.bodies()] == [[("Customer", "2", "Create")]]
    dispatcher.close()
    dispatcher.close()  # idempotent
    assert not dispatcher._thread.is_alive()
    dispatcher.notify("1", "Customer", "3", "Create", T0)  # ignored after close
    assert len(receiver.requests) == 1


def test_flush_times_out_while_a_delivery_is_pending(receiver, make_dispatcher) -> None:
    dispatcher = make_dispatcher(targets=[WebhookTarget(receiver.url)], delay_seconds=60)
    dispatcher.notify("1", "Customer", "1", "Create", T0)
    assert dispatcher.flush(0.2) is False
    assert dispatcher.stats()["pending"] == 1


def test_config_from_json_and_redacted_views() -> None:
    config = WebhookConfig.from_json({
        "targets": [{"url": "http://127.0.0.1:9/a", "format": "cloudevents"}, "http://127.0.0.1:9/b"],
        "verifier_token": "s3cret", "aggregate_seconds": 1, "retry_schedule_seconds": [1, 2], "seed": 3,
    })
    assert config.targets == [WebhookTarget("http://127.0.0.1:9/a", "cloudevents"),
                              WebhookTarget("http://127.0.0.1:9/b", "legacy")]
    assert config.retry_schedule_seconds == (1.0, 2.0)
    assert "s3cret" not in repr(config) and "s3cret" not in json.dumps(config.to_json())
    with pytest.raises(ValueError, match="unknown setting"):
        WebhookConfig.from_json({"target": []})
    with pytest.raises(ValueError, match="format"):
        WebhookConfig.from_json({"targets": [{"url": "http://x/", "format": "xml"}]})
    with pytest.raises(ValueError, match="drop_rate"):
        WebhookConfig(drop_rate=2)
    with WebhookDispatcher(config) as dispatcher, pytest.raises(ValueError, match="operation"):
        dispatcher.notify("1", "Customer", "1", "Created", T0)
