"""Retries that must not duplicate, stale SyncTokens, throttling and server errors."""
from __future__ import annotations

import threading
import time

import pytest

from qbo_pipeline.qbo import (
    BatchOperation,
    QBODuplicateError,
    QBONetworkError,
    QBOServerError,
    QBOThrottleError,
    request_id_for,
    select,
)
from qbo_client_fixtures import (  # noqa: F401 - fixtures
    TIME_SCALE,
    client_limits,
    control,
    make_harness,
    qbo,
    switch_off_after_first,
)


def test_timed_out_create_is_retried_and_exists_once(control):
    harness = make_harness(control, timeout=0.4)
    realm = harness.realm
    control.faults(realm, timeout_rate=1.0, timeout_seconds=1.0, timeout_mode="execute")
    switch = switch_off_after_first(control, realm, "write", timeout_rate=0.0)
    request_id = request_id_for("ws-1", "Customer", "contact-17", "create", 1)
    created = harness.client.create("Customer", {"DisplayName": "Slow Lane Inc"}, request_id=request_id)
    switch.join()
    time.sleep(1.0)  # let the first, slow execution finish on the server
    rows = harness.client.query(select("Customer").where("DisplayName", "=", "Slow Lane Inc").build())
    assert [r.Id for r in rows] == [created.Id]
    assert harness.counts()["write"] >= 2  # the client did retry
    # the same logical create after a restart: same requestid, QBO replays, still one record
    again = harness.client.create("Customer", {"DisplayName": "Slow Lane Inc"}, request_id=request_id)
    assert again.Id == created.Id
    assert harness.client.count("Customer") == 1
    harness.assert_not_throttled()


def test_timeouts_that_never_end_raise_a_network_error(control):
    harness = make_harness(control, timeout=0.2, max_attempts=2)
    control.faults(harness.realm, timeout_rate=1.0, timeout_seconds=0.5, timeout_mode="drop")
    with pytest.raises(QBONetworkError) as info:
        harness.client.read("CompanyInfo", harness.realm)
    assert info.value.retryable and "read CompanyInfo" in str(info.value)
    assert harness.counts()["read"] == 2


def test_stale_sync_token_is_recovered_by_reread(qbo):
    client = qbo.client
    customer = client.create("Customer", {"DisplayName": "Stale Co"})
    elsewhere = client.update("Customer", {"Id": customer.Id, "SyncToken": customer.SyncToken, "Notes": "from QBO UI"})
    assert elsewhere.SyncToken == "1"
    before = qbo.counts()
    result = client.update("Customer", {"Id": customer.Id, "SyncToken": customer.SyncToken,
                                        "CompanyName": "Stale Company LLC"})
    after = qbo.counts()
    assert result.SyncToken == "2"
    assert result.CompanyName == "Stale Company LLC" and result.Notes == "from QBO UI"
    assert after["write"] - before["write"] == 2 and after["read"] - before["read"] == 1


def test_client_limiter_keeps_a_tight_emulator_limit(control):
    harness = make_harness(
        control,
        limits=client_limits(per_second=4, per_minute=16, batch_per_minute=5, max_concurrent=4),
    )
    realm = harness.realm
    control.company_settings(realm, throttle=True, throttle_per_second=5, throttle_per_minute=20,
                             throttle_batch_per_minute=6)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(4):
                if i % 2:
                    harness.client.count("Customer")
                else:
                    harness.client.read("CompanyInfo", realm)
            harness.client.batch([BatchOperation.create("Customer", {"DisplayName": f"T{n}"})])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    counts = harness.counts()
    assert counts["throttled"] == 0
    assert counts["read"] + counts["query"] == 20 and counts["batch"] == 5
    assert harness.client.limiter.waited_seconds > 0  # the limiter really was the binding constraint

    # Control: the same emulator limits do throttle a client without a matching limiter.
    loose = make_harness(control, company=harness.company, max_attempts=1,
                         limits=client_limits(per_second=500, per_minute=10_000, max_concurrent=8, time_scale=TIME_SCALE))
    with pytest.raises(QBOThrottleError):
        for _ in range(40):
            loose.client.read("CompanyInfo", realm)
    assert loose.counts()["throttled"] >= 1


def test_recovers_from_a_throttle_burst(control):
    # time_scale 600 on the client: the 60 s throttle pause becomes 0.1 s
    harness = make_harness(control, limits=client_limits(time_scale=600))
    control.faults(harness.realm, throttle_burst=3)
    started = time.monotonic()
    info = harness.client.read("CompanyInfo", harness.realm)
    assert info.Id == "1"
    assert harness.counts()["throttled"] == 3 and harness.counts()["read"] == 1
    assert time.monotonic() - started >= 3 * 0.1  # paused as asked, three times


def test_honours_retry_after(control):
    harness = make_harness(control, limits=client_limits(time_scale=10_000))
    # 4 emulated seconds = 0.2 s real; HTTP sends whole seconds, so the header says 1
    control.company_settings(harness.realm, retry_after=True, retry_after_seconds=4)
    control.faults(harness.realm, throttle_burst=1)
    started = time.monotonic()
    harness.client.read("CompanyInfo", harness.realm)
    assert time.monotonic() - started >= 1.0  # the limiter alone would have waited 0.006 s
    assert harness.counts()["throttled"] == 1


def test_throttle_longer_than_the_retries_raises_a_throttle_error(control):
    harness = make_harness(control, limits=client_limits(time_scale=6000), max_attempts=3)
    control.faults(harness.realm, throttle_burst=10)
    with pytest.raises(QBOThrottleError) as info:
        harness.client.read("Customer", "1")
    error = info.value
    assert error.retryable and error.hint == "resolves by itself; no action" and error.code == "3001"
    assert harness.counts()["throttled"] == 3


def test_server_errors_are_retried_five_times_then_raised(control):
    harness = make_harness(control)
    control.faults(harness.realm, error_rate=1.0, error_status=503)
    with pytest.raises(QBOServerError) as info:
        harness.client.read("CompanyInfo", harness.realm)
    assert info.value.status_code == 503 and info.value.retryable
    assert harness.counts()["read"] == 5
    control.faults(harness.realm, error_rate=0.0)
    assert harness.client.read("CompanyInfo", harness.realm).Id == "1"


def test_a_server_error_then_success(control):
    harness = make_harness(control)
    control.faults(harness.realm, error_rate=1.0, error_status=500)
    switch = switch_off_after_first(control, harness.realm, "write", error_rate=0.0)
    created = harness.client.create("Vendor", {"DisplayName": "Flaky Supply"})
    switch.join()
    assert created.DisplayName == "Flaky Supply"
    assert harness.counts()["write"] >= 2
    assert harness.client.count("Vendor") == 1


def test_requestid_fault600_mode_reports_the_duplicate_request(control):
    harness = make_harness(control)
    control.company_settings(harness.realm, requestid_mode="fault600")
    request_id = request_id_for("ws-1", "Vendor", "sub-9", "create", 1)
    first = harness.client.create("Vendor", {"DisplayName": "Proactive Framing"}, request_id=request_id)
    with pytest.raises(QBODuplicateError) as info:
        harness.client.create("Vendor", {"DisplayName": "Proactive Framing"}, request_id=request_id)
    assert info.value.code == "600" and "already ran" in info.value.hint
    assert [v.Id for v in harness.client.query_all("Vendor", [("DisplayName", "LIKE", "Proactive%")],
                                                   include_inactive=True)] == [first.Id]
