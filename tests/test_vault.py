"""Token vault (AES-256-GCM, key rotation) and the cross-process token refresh against the
emulator's OAuth endpoint."""
from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from click.testing import CliRunner

from qbo_pipeline.cli import main
from qbo_pipeline.qbo import QBOError, TokenSet
from qbo_pipeline.state import ConnectionNeedsReconnect, StateStore, TokenVault, VaultError, generate_key
from qbo_pipeline.state.token_source import DatabaseTokenSource
from qbo_pipeline.state.vault import GENERATE_KEY_COMMAND, KEY_ENV, PREVIOUS_KEYS_ENV, decode_key

import state_children
from state_fixtures import store, tokens, vault, vault_key  # noqa: F401 - fixtures

# --- vault -----------------------------------------------------------------------------

def test_round_trip_fresh_nonce_and_realm_binding(vault):
    first = vault.encrypt("secret-access-token", "111")
    second = vault.encrypt("secret-access-token", "111")
    assert first != second  # a fresh nonce per encryption
    assert "secret-access-token" not in first
    assert first.startswith(f"v1:{vault.key_id}:")
    assert vault.decrypt(first, "111") == "secret-access-token"
    assert len(base64.b64decode(first.split(":")[2])) == 12 + len("secret-access-token") + 16
    with pytest.raises(VaultError, match="realm 222"):
        vault.decrypt(first, "222")  # realm id is the associated data


def test_tampered_ciphertext_is_rejected_without_leaking(vault, vault_key):
    sealed = vault.encrypt("secret-refresh-token", "111")
    prefix, kid, body = sealed.split(":")
    raw = bytearray(base64.b64decode(body))
    raw[15] ^= 0x01
    tampered = f"{prefix}:{kid}:{base64.b64encode(bytes(raw)).decode()}"
    with pytest.raises(VaultError) as caught:
        vault.decrypt(tampered, "111")
    for secret in ("secret-refresh-token", vault_key, body):
        assert secret not in str(caught.value) and secret not in repr(caught.value)
    with pytest.raises(VaultError, match="not base64"):
        vault.decrypt(f"v1:{kid}:@@@", "111")
    with pytest.raises(VaultError, match="unknown format"):
        vault.decrypt("plain-text-token", "111")
    with pytest.raises(VaultError, match="too short"):
        vault.decrypt(f"v1:{kid}:AAAA", "111")


def test_wrong_key_is_a_clear_error(vault):
    sealed = vault.encrypt("tok", "111")
    other = TokenVault(decode_key(generate_key()))
    with pytest.raises(VaultError, match=f"key {vault.key_id}.*{PREVIOUS_KEYS_ENV}"):
        other.decrypt(sealed, "111")
    # Same key id forged onto another key's ciphertext: authentication fails, not garbage.
    forged = sealed.replace(vault.key_id, other.key_id)
    with pytest.raises(VaultError, match="failed authentication"):
        other.decrypt(forged, "111")


def test_missing_and_malformed_keys_explain_the_fix():
    with pytest.raises(VaultError) as missing:
        TokenVault.from_env({})
    assert KEY_ENV in str(missing.value) and GENERATE_KEY_COMMAND in str(missing.value)
    with pytest.raises(VaultError, match=f"{KEY_ENV} is not valid base64") as bad:
        TokenVault.from_env({KEY_ENV: "not base64 !!"})
    assert "not base64 !!" not in str(bad.value)
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(VaultError, match="16 bytes; AES-256 needs exactly 32") as wrong:
        TokenVault.from_env({KEY_ENV: short})
    assert short not in str(wrong.value) and GENERATE_KEY_COMMAND in str(wrong.value)
    with pytest.raises(VaultError, match=PREVIOUS_KEYS_ENV):
        TokenVault.from_env({KEY_ENV: generate_key(), PREVIOUS_KEYS_ENV: "nope"})


def test_previous_keys_decrypt_and_reencrypt_moves_to_current():
    old_key, new_key = generate_key(), generate_key()
    old = TokenVault.from_env({KEY_ENV: old_key})
    both = TokenVault.from_env({KEY_ENV: new_key, PREVIOUS_KEYS_ENV: f" {generate_key()}, {old_key}"})
    sealed = old.encrypt("tok", "111")
    assert both.decrypt(sealed, "111") == "tok"
    assert both.needs_rotation(sealed)
    moved = both.reencrypt(sealed, "111")
    assert not both.needs_rotation(moved) and both.key_id_of(moved) == both.key_id
    assert TokenVault.from_env({KEY_ENV: new_key}).decrypt(moved, "111") == "tok"
    assert new_key not in repr(both) and old_key not in repr(both)


def test_rotate_key_command_reencrypts_every_stored_token(db_url, monkeypatch):
    old_key, new_key = generate_key(), generate_key()
    monkeypatch.setenv("QBO_PIPELINE_DATABASE_URL", db_url)
    state = StateStore.from_url(db_url)
    old = TokenVault.from_env({KEY_ENV: old_key})
    for n in range(3):
        state.connections.connect(f"ws-{n}", f"realm-{n}", tokens(str(n)), old)
    state.connections.disconnect("ws-2")  # no tokens left to rotate

    monkeypatch.setenv(KEY_ENV, new_key)
    monkeypatch.delenv(PREVIOUS_KEYS_ENV, raising=False)
    failed = CliRunner().invoke(main, ["rotate-key"])
    assert failed.exit_code != 0 and PREVIOUS_KEYS_ENV in failed.output
    assert old_key not in failed.output and new_key not in failed.output

    monkeypatch.setenv(PREVIOUS_KEYS_ENV, old_key)
    result = CliRunner().invoke(main, ["rotate-key"])
    assert result.exit_code == 0, result.output
    new_only = TokenVault.from_env({KEY_ENV: new_key})
    assert f"2 connection(s) under key {new_only.key_id}" in result.output
    for n in range(2):
        assert state.connections.get(f"ws-{n}").token_key_id == new_only.key_id
        assert state.connections.tokens(f"ws-{n}", new_only).refresh_token == f"refresh-token-{n}"
    for secret in (old_key, new_key, "access-token", "refresh-token"):
        assert secret not in result.output
    again = CliRunner().invoke(main, ["rotate-key"])
    assert "0 connection(s)" in again.output
    state.dispose()


def test_rotate_key_without_key_explains(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("QBO_PIPELINE_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    result = CliRunner().invoke(main, ["rotate-key"])
    assert result.exit_code != 0
    assert KEY_ENV in result.output and "os.urandom(32)" in result.output


# --- token refresh through the database ------------------------------------------------

_oauth = state_children.oauth_client


def _company_tokens(company: dict, *, access_in: timedelta = timedelta(hours=1)) -> TokenSet:
    now = datetime.now(timezone.utc)
    return TokenSet(company["access_token"], company["refresh_token"], now + access_in, now + timedelta(days=100))


def _auth_requests(emulator, realm: str) -> int:
    return httpx.get(f"{emulator.base_url}/_emulator/requests", params={"realm_id": realm}).json()["auth"]


def _api_ok(emulator, realm: str, access_token: str) -> bool:
    response = httpx.get(
        f"{emulator.base_url}/v3/company/{realm}/companyinfo/{realm}",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    return response.status_code == 200


def test_processes_refreshing_one_realm_at_once_refresh_exactly_once(db_url, emulator, qbo_company, vault_key):
    realm, workspace = qbo_company["realm_id"], "ws-race"
    state = StateStore.from_url(db_url)
    vault = TokenVault(decode_key(vault_key))
    state.connections.connect(workspace, realm, _company_tokens(qbo_company), vault)
    httpx.delete(f"{emulator.base_url}/_emulator/requests", params={"realm_id": realm})

    ctx = state_children.context()
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    workers = 4
    procs = [
        ctx.Process(
            target=state_children.refresh_once,
            args=(db_url, vault_key, emulator.base_url, workspace, qbo_company["access_token"], ready, go, out),
        )
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    go.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)

    assert all(status == "ok" for status, _ in results), results
    new_tokens = {token for _, token in results}
    assert len(new_tokens) == 1 and qbo_company["access_token"] not in new_tokens
    assert _auth_requests(emulator, realm) == 1, "more than one process called the token endpoint"
    stored = state.connections.tokens(workspace, vault)
    assert stored.access_token in new_tokens
    assert _api_ok(emulator, realm, stored.access_token)
    # The rotated refresh token was stored: it refreshes; the original is superseded.
    assert _oauth(emulator.base_url).refresh(stored.refresh_token).access_token
    state.dispose()


def test_expired_access_token_is_refreshed_proactively(store, emulator, qbo_company, vault, caplog):
    caplog.set_level(logging.DEBUG)
    realm = qbo_company["realm_id"]
    store.connections.connect("ws-1", realm, _company_tokens(qbo_company, access_in=timedelta(seconds=-5)), vault)
    source = DatabaseTokenSource(store, vault, "ws-1", _oauth(emulator.base_url))
    token = source.access_token()
    assert token != qbo_company["access_token"]
    assert source.access_token() == token  # cached; no second refresh
    assert _auth_requests(emulator, realm) == 1
    assert _api_ok(emulator, realm, token)
    assert store.connections.get("ws-1").access_expires_at > datetime.now(timezone.utc)
    stored = store.connections.tokens("ws-1", vault)
    secrets = {qbo_company["access_token"], qbo_company["refresh_token"], stored.access_token, stored.refresh_token}
    assert "refreshed QuickBooks tokens for workspace ws-1" in caplog.text
    assert not any(secret in caplog.text for secret in secrets)


def test_refresh_after_another_source_refreshed_reuses_the_stored_token(store, emulator, qbo_company, vault):
    realm = qbo_company["realm_id"]
    store.connections.connect("ws-1", realm, _company_tokens(qbo_company), vault)
    first = DatabaseTokenSource(store, vault, "ws-1", _oauth(emulator.base_url))
    second = DatabaseTokenSource(store, vault, "ws-1", _oauth(emulator.base_url))
    assert second.access_token() == qbo_company["access_token"]
    fresh = first.refresh(qbo_company["access_token"])
    assert second.refresh(qbo_company["access_token"]) == fresh
    assert _auth_requests(emulator, realm) == 1


def test_repeated_invalid_grant_marks_needs_reconnect(store, emulator, qbo_company, vault, caplog):
    caplog.set_level(logging.DEBUG)
    realm = qbo_company["realm_id"]
    # Rotate the grant behind the store's back: the stored refresh token is now superseded.
    _oauth(emulator.base_url).refresh(qbo_company["refresh_token"])
    store.connections.connect("ws-1", realm, _company_tokens(qbo_company), vault)
    source = DatabaseTokenSource(store, vault, "ws-1", _oauth(emulator.base_url))

    with pytest.raises(QBOError) as first:
        source.refresh(qbo_company["access_token"])
    assert first.value.code == "invalid_grant"
    assert store.connections.get("ws-1").status == "connected"
    assert store.connections.get("ws-1").invalid_grant_count == 1

    with pytest.raises(ConnectionNeedsReconnect, match="qbo-pipeline connect --workspace ws-1") as second:
        source.refresh(qbo_company["access_token"])
    assert second.value.category == "auth"
    assert store.connections.get("ws-1").status == "needs_reconnect"

    calls = _auth_requests(emulator, realm)
    with pytest.raises(ConnectionNeedsReconnect):
        source.access_token()
    with pytest.raises(ConnectionNeedsReconnect):
        source.refresh("anything")
    assert _auth_requests(emulator, realm) == calls  # no more doomed refresh attempts

    # Reconnecting (new authorization) makes the source work again.
    grant = httpx.post(f"{emulator.base_url}/_emulator/companies/{realm}/tokens").json()
    store.connections.connect("ws-1", realm, _company_tokens(grant), vault)
    assert _api_ok(emulator, realm, source.access_token())

    secrets = {qbo_company["access_token"], qbo_company["refresh_token"], grant["access_token"], grant["refresh_token"]}
    text = caplog.text + str(first.value) + repr(first.value) + str(second.value) + repr(source)
    assert not any(secret in text for secret in secrets)
