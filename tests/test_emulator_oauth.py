"""OAuth 2.0 against the emulator: code flow, refresh rotation, invalid_grant, revoke, 401/403."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbo_pipeline.emulator.server import EmulatorServer
from qbo_pipeline.emulator.settings import (ACCOUNTING_SCOPE, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
                                            EmulatorSettings)
from tests.emulator_fixtures import new_company

AUTH = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
REDIRECT = "http://localhost:9999/callback"
HTTP = httpx.Client(verify=False, timeout=30.0)  # plain-HTTP loopback


@pytest.fixture(scope="module")
def private():
    """Its own emulator: these tests move the clock."""
    server = EmulatorServer(settings=EmulatorSettings(throttle=False)).start()
    yield server
    server.stop()


def _authorize(base: str, **overrides: str) -> httpx.Response:
    params = {"client_id": DEFAULT_CLIENT_ID, "response_type": "code", "scope": f"{ACCOUNTING_SCOPE} openid",
              "redirect_uri": REDIRECT, "state": "xyz"}
    params.update(overrides)
    return HTTP.get(f"{base}/connect/oauth2", params=params, follow_redirects=False)


def _token(base: str, auth=AUTH, **form: str) -> httpx.Response:
    return HTTP.post(f"{base}/oauth2/v1/tokens/bearer", data=form, auth=auth, headers={"Accept": "application/json"})


def _api(base: str, realm: str, access: str) -> httpx.Response:
    return HTTP.get(f"{base}/v3/company/{realm}/companyinfo/{realm}", headers={"Authorization": f"Bearer {access}",
                                                                                 "Accept": "application/json"})


def test_code_flow_refresh_rotation_and_invalid_grant(emulator):
    base = emulator.base_url
    company = new_company(base, "Consenting Co")
    HTTP.post(f"{base}/_emulator/consent", json={"realm_id": company["realm_id"]}).raise_for_status()
    try:
        redirect = _authorize(base)
    finally:
        HTTP.post(f"{base}/_emulator/consent", json={}).raise_for_status()
    assert redirect.status_code == 302
    callback = urlsplit(redirect.headers["location"])
    params = {k: v[0] for k, v in parse_qs(callback.query).items()}
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT
    assert params["state"] == "xyz" and params["realmId"] == company["realm_id"]

    wrong_uri = _token(base, grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT + "x")
    assert wrong_uri.status_code == 400
    tokens = _token(base, grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "x_refresh_token_expires_in",
                         "id_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["x_refresh_token_expires_in"] == 8726400
    reused = _token(base, grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT)
    assert reused.status_code == 400 and reused.json() == {"error_description": "Token invalid", "error": "invalid_grant"}
    assert _api(base, company["realm_id"], body["access_token"]).status_code == 200

    rotated = _token(base, grant_type="refresh_token", refresh_token=body["refresh_token"]).json()
    assert rotated["refresh_token"] != body["refresh_token"]
    superseded = _token(base, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert superseded.status_code == 400 and superseded.json()["error"] == "invalid_grant"
    assert _token(base, auth=(DEFAULT_CLIENT_ID, "wrong"), grant_type="refresh_token",
                  refresh_token=rotated["refresh_token"]).status_code == 401
    assert _token(base, grant_type="refresh_token", refresh_token=rotated["refresh_token"]).status_code == 200


def test_authorize_errors(emulator):
    base = emulator.base_url
    assert _authorize(base, client_id="nope").status_code == 400
    bad_scope = _authorize(base, scope="openid")
    assert bad_scope.status_code == 302 and "error=invalid_scope" in bad_scope.headers["location"]


def test_revoke_refresh_token_kills_access_tokens(emulator):
    base = emulator.base_url
    company = new_company(base)
    realm = company["realm_id"]
    assert _api(base, realm, company["access_token"]).status_code == 200
    assert HTTP.post(f"{base}/v2/oauth2/tokens/revoke", json={"token": company["refresh_token"]},
                      auth=("x", "y")).status_code == 401
    revoked = HTTP.post(f"{base}/v2/oauth2/tokens/revoke", json={"token": company["refresh_token"]}, auth=AUTH)
    assert revoked.status_code == 200
    denied = _api(base, realm, company["access_token"])
    assert denied.status_code == 401
    fault = denied.json()["fault"]
    assert fault["type"] == "AUTHENTICATION" and fault["error"][0]["code"] == "3200"
    assert fault["error"][0]["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert _token(base, grant_type="refresh_token", refresh_token=company["refresh_token"]).status_code == 400


def test_401_for_unknown_token_403_for_other_realm(emulator):
    base = emulator.base_url
    one, two = new_company(base), new_company(base)
    assert _api(base, one["realm_id"], "x" * 40).status_code == 401
    other = _api(base, two["realm_id"], one["access_token"])
    assert other.status_code == 403 and other.json()["fault"]["error"][0]["code"] == "3100"
    missing = HTTP.get(f"{base}/v3/company/{one['realm_id']}/customer/1")
    assert missing.status_code == 401 and "time" in missing.json()


def test_access_token_expires_after_an_hour_and_refresh_token_after_100_days(private):
    base = private.base_url
    company = new_company(base)
    realm = company["realm_id"]
    HTTP.put(f"{base}/_emulator/clock", json={"offset_seconds": 3601}).raise_for_status()
    try:
        expired = _api(base, realm, company["access_token"])
        assert expired.status_code == 401 and expired.json()["fault"]["error"][0]["detail"].startswith("Token expired")
        fresh = _token(base, grant_type="refresh_token", refresh_token=company["refresh_token"]).json()
        assert _api(base, realm, fresh["access_token"]).status_code == 200
        HTTP.put(f"{base}/_emulator/clock", json={"advance_seconds": 8726400 + 5}).raise_for_status()
        assert _token(base, grant_type="refresh_token", refresh_token=fresh["refresh_token"]).status_code == 400
    finally:
        HTTP.put(f"{base}/_emulator/clock", json={"offset_seconds": 0}).raise_for_status()


def test_auth_calls_are_counted(emulator):
    base = emulator.base_url
    company = new_company(base)
    _token(base, grant_type="refresh_token", refresh_token=company["refresh_token"])
    counts = HTTP.get(f"{base}/_emulator/requests", params={"realm_id": company["realm_id"]}).json()
    assert counts["auth"] == 1 and counts["total"] == 1
