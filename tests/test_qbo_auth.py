"""OAuth: code flow, refresh on 401, rotation, single-flight refresh, and no token ever logged."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbo_pipeline.qbo import (
    InMemoryTokenSource,
    QBOAuthError,
    QBOClient,
    QBOError,
    RateLimiter,
    TokenSet,
)
from qbo_client_fixtures import (  # noqa: F401 - fixtures
    CLIENT_ID,
    REDIRECT_URI,
    client_limits,
    control,
    make_harness,
    qbo,
)


def test_early_expiry_refreshes_once_and_rotates(qbo):
    old = qbo.tokens.tokens
    reads_when_persisted: list[int] = []

    def persist(tokens: TokenSet) -> None:
        reads_when_persisted.append(qbo.counts()["read"])
        qbo.rotations.append(tokens)

    qbo.tokens._on_rotate = persist
    qbo.control.faults(qbo.realm, expire_tokens=True)
    info = qbo.client.read("CompanyInfo", qbo.realm)
    assert info.Id == "1"
    counts = qbo.counts()
    assert counts["auth"] == 1 and counts["read"] == 1
    assert len(qbo.rotations) == 1 and qbo.tokens.refresh_count == 1
    rotated = qbo.rotations[0]
    assert rotated.refresh_token != old.refresh_token and rotated.access_token != old.access_token
    assert reads_when_persisted == [0]  # persisted before the new token was used
    # the superseded refresh token is dead: invalid_grant, and the hint says reconnect
    with pytest.raises(QBOAuthError) as info_error:
        qbo.oauth.refresh(old.refresh_token)
    error = info_error.value
    assert error.code == "invalid_grant" and "reconnect" in error.hint and not error.retryable
    assert old.refresh_token not in str(error)


def _count_401s(caplog) -> int:
    return sum(1 for r in caplog.records if r.name == "qbo_pipeline.qbo.http" and "-> 401" in r.getMessage())


def test_twenty_concurrent_401s_refresh_exactly_once(control, caplog):
    caplog.set_level(logging.INFO, logger="qbo_pipeline.qbo.http")
    # no client-side pacing here, so that all twenty calls really hit the 401 together
    harness = make_harness(control, limits=client_limits(per_second=100_000, per_minute=1_000_000,
                                                         max_concurrent=20))
    control.company_settings(harness.realm, throttle=False)
    control.faults(harness.realm, expire_tokens=True)
    barrier = threading.Barrier(20)
    results: list[object] = []

    def call() -> None:
        barrier.wait()
        try:
            results.append(harness.client.read("CompanyInfo", harness.realm).Id)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["1"] * 20
    assert _count_401s(caplog) >= 10  # most of them were rejected at the same time ...
    assert harness.counts()["auth"] == 1  # ... and yet one refresh served them all
    assert harness.tokens.refresh_count == 1 and len(harness.rotations) == 1


def test_token_about_to_expire_is_refreshed_before_the_call(control, caplog):
    caplog.set_level(logging.INFO, logger="qbo_pipeline.qbo.http")
    harness = make_harness(control)
    soon = TokenSet(harness.tokens.tokens.access_token, harness.tokens.tokens.refresh_token,
                    datetime.now(timezone.utc) + timedelta(seconds=30))
    tokens = InMemoryTokenSource(soon, harness.oauth, harness.rotations.append)
    client = QBOClient(harness.realm, tokens, harness.endpoints, limiter=RateLimiter(client_limits()))
    client.read("CompanyInfo", harness.realm)
    counts = harness.counts()
    assert counts["auth"] == 1 and counts["read"] == 1 and len(harness.rotations) == 1
    assert _count_401s(caplog) == 0  # refreshed ahead of expiry, never rejected


def test_authorization_code_flow_and_revoke(control):
    company = control.new_company()
    control.http.post("/_emulator/consent", json={"realm_id": company["realm_id"]}).raise_for_status()
    harness = make_harness(control, company=company)
    url = harness.oauth.authorization_url(state="st-123")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(harness.endpoints.authorize_url + "?")
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["scope"] == ["com.intuit.quickbooks.accounting"] and query["redirect_uri"] == [REDIRECT_URI]
    redirect = httpx.get(url, follow_redirects=False)
    assert redirect.status_code in (302, 303, 307)
    callback = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert callback["state"] == ["st-123"] and callback["realmId"] == [company["realm_id"]]
    tokens = harness.oauth.exchange_code(callback["code"][0])
    assert tokens.access_expires_at > datetime.now(timezone.utc)
    with pytest.raises(QBOAuthError):  # a code works once
        harness.oauth.exchange_code(callback["code"][0])
    source = InMemoryTokenSource(tokens, harness.oauth, harness.rotations.append)
    client = QBOClient(company["realm_id"], source, harness.endpoints, limiter=RateLimiter(client_limits()))
    assert client.company_info().Id == "1"
    harness.oauth.revoke(tokens.refresh_token)
    with pytest.raises(QBOAuthError) as info:
        client.company_info()
    assert info.value.code == "invalid_grant" and "reconnect" in info.value.hint


def test_wrong_client_secret_is_an_auth_error(control):
    harness = make_harness(control)
    from qbo_pipeline.qbo import OAuthClient

    bad = OAuthClient(harness.endpoints, CLIENT_ID, "not-the-secret", REDIRECT_URI)
    with pytest.raises(QBOAuthError) as info:
        bad.refresh(harness.tokens.tokens.refresh_token)
    assert info.value.code == "invalid_client" and "not-the-secret" not in str(info.value)
    assert "not-the-secret" not in repr(bad)


def test_no_token_in_logs_reprs_or_errors(control, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx/httpcore included
    harness = make_harness(control)
    secrets = {harness.company["access_token"], harness.company["refresh_token"], "emulator-client-secret"}
    seen_errors: list[BaseException] = []

    control.faults(harness.realm, expire_tokens=True)
    harness.client.read("CompanyInfo", harness.realm)  # 401 -> refresh -> retry
    try:
        harness.client.create("Item", {"Type": "Service"})  # validation fault
    except QBOError as exc:
        seen_errors.append(exc)
    old_refresh = harness.company["refresh_token"]
    try:
        harness.oauth.refresh(old_refresh)  # invalid_grant
    except QBOError as exc:
        seen_errors.append(exc)
    harness.oauth.revoke(harness.tokens.tokens.refresh_token)
    try:
        harness.client.read("CompanyInfo", harness.realm)
    except QBOError as exc:
        seen_errors.append(exc)
    for tokens in harness.rotations:
        secrets |= {tokens.access_token, tokens.refresh_token}
    assert len(secrets) >= 5 and len(seen_errors) == 3

    texts = [caplog.text, repr(harness.tokens), repr(harness.tokens.tokens), str(harness.tokens.tokens),
             repr(harness.oauth), repr(harness.client)]
    for error in seen_errors:
        texts += [str(error), repr(error), repr(error.__dict__)]
    for text in texts:
        for secret in secrets:
            assert secret not in text
        assert "Bearer " + "e" not in text and "Basic " not in text
    assert "POST /v3/company/" in caplog.text and "intuit_tid=" in caplog.text  # the logs do say something
