"""`qbo-pipeline connect` / `disconnect` end to end: the OAuth code flow against the emulator
(authorize with its auto-consent, the loopback callback, the token exchange), tokens
encrypted in the state database, the company's settings mapped, one company per workspace,
forged callbacks refused, disconnect revoking the grant but keeping the data, reconnecting
resuming where it left off. Secrets never reach the output or the logs."""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from qbo_pipeline.emulator.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore, TokenVault, generate_key
from qbo_pipeline.state.schema import connections as connections_table
from qbo_pipeline.state.vault import decode_key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Setup:
    def __init__(self, emulator, db_url: str) -> None:
        self.emulator_url = emulator.base_url
        self.db_url = db_url
        self.key = generate_key()
        self.vault = TokenVault(decode_key(self.key))
        self.redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
        self.env = {
            "QBO_ENVIRONMENT": "emulator",
            "QBO_EMULATOR_URL": emulator.base_url,
            "QBO_CLIENT_ID": DEFAULT_CLIENT_ID,
            "QBO_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "QBO_PIPELINE_TOKEN_KEY": self.key,
            "QBO_PIPELINE_DATABASE_URL": db_url,
            "QBO_REDIRECT_URI": self.redirect_uri,
        }
        self.store = StateStore.from_url(db_url)
        self.secrets = {DEFAULT_CLIENT_SECRET, self.key}  # grows with every token pair issued

    def company(self, name: str) -> str:
        response = httpx.post(f"{self.emulator_url}/_emulator/companies", json={"name": name})
        response.raise_for_status()
        return response.json()["realm_id"]

    def consent(self, realm_id: str | None) -> None:
        httpx.post(f"{self.emulator_url}/_emulator/consent", json={"realm_id": realm_id}).raise_for_status()

    def cli(self, *args: str, input: str | None = None):
        from qbo_pipeline.cli import main

        return CliRunner().invoke(main, list(args), env=self.env, input=input)

    def tokens(self, workspace: str):
        tokens = self.store.connections.tokens(workspace, self.vault)
        self.secrets |= {tokens.access_token, tokens.refresh_token}
        return tokens

    def raw_row(self, workspace: str) -> dict:
        with self.store.engine.connect() as conn:
            return dict(conn.execute(sa.select(connections_table).where(
                connections_table.c.workspace_id == workspace)).one()._mapping)

    def refresh_with(self, refresh_token: str) -> httpx.Response:
        return httpx.post(f"{self.emulator_url}/oauth2/v1/tokens/bearer",
                          data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                          auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET))

    def company_info(self, realm_id: str, access_token: str) -> httpx.Response:
        return httpx.get(f"{self.emulator_url}/v3/company/{realm_id}/companyinfo/{realm_id}",
                         headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})

    def assert_no_secret_in(self, *texts: str) -> None:
        for text in texts:
            leaked = [s[:6] + "…" for s in self.secrets if s and s in text]
            assert not leaked, f"secret(s) {leaked} leaked into: {text[:300]}"


@pytest.fixture()
def setup(emulator, db_url):
    setup = Setup(emulator, db_url)
    yield setup
    setup.consent(None)
    setup.store.dispose()


@pytest.fixture()
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def _connect_args(workspace: str, income_account: str | None = "1") -> list[str]:
    args = ["connect", "--workspace", workspace, "--browser", "http", "--timeout", "30",
            "--tax-code", "taxable=TAX", "--tax-code", "exempt=NON"]
    return args + (["--income-account", income_account] if income_account else [])


def test_connect_stores_encrypted_tokens_and_settings_and_refuses_a_second_company(setup, logs):
    realm = setup.company("Hill Country Builders")
    setup.consent(realm)
    workspace = f"ws-{uuid.uuid4().hex[:8]}"

    result = setup.cli(*_connect_args(workspace, income_account="1"))
    assert result.exit_code == 0, result.output
    assert f"Workspace {workspace} is connected to Hill Country Builders (realm {realm})" in result.output

    connection = setup.store.connections.require(workspace)
    assert (connection.status, connection.realm_id, connection.company_name) == ("connected", realm, "Hill Country Builders")
    assert connection.settings.default_income_account_id == "1"
    assert connection.settings.tax_code_mapping == {"taxable": "TAX", "exempt": "NON"}
    # Encrypted at rest: neither token appears in any column; the vault decrypts working ones.
    tokens = setup.tokens(workspace)
    row = setup.raw_row(workspace)
    stored = " ".join(str(value) for value in row.values())
    assert tokens.access_token not in stored and tokens.refresh_token not in stored
    assert row["access_token_encrypted"] and row["token_key_id"] == setup.vault.key_id
    info = setup.company_info(realm, tokens.access_token)
    assert info.status_code == 200 and info.json()["CompanyInfo"]["CompanyName"] == "Hill Country Builders"

    # A second company for the same workspace: refused before any authorization.
    other = setup.company("Another Company")
    setup.consent(other)
    again = setup.cli(*_connect_args(workspace))
    assert again.exit_code == 1
    assert (f"workspace {workspace} is already connected to QuickBooks company Hill Country Builders (realm {realm}); "
            "one company per workspace") in again.output
    assert f"qbo-pipeline disconnect --workspace {workspace}" in again.output
    assert setup.store.connections.require(workspace).realm_id == realm

    # A bad choice is refused with what would be valid.
    bad = setup.cli("connect", "--workspace", "ws-other", "--browser", "http", "--income-account", "5",
                    "--tax-code", "taxable=TAX", "--tax-code", "exempt=NON")
    assert bad.exit_code == 1
    assert "income account '5' is not an income account of Another Company" in bad.output
    assert "1 (Services)" in bad.output
    assert setup.store.connections.get("ws-other") is None

    setup.assert_no_secret_in(result.output, again.output, bad.output, logs.text)


def test_disconnect_revokes_keeps_data_and_reconnecting_resumes(setup, logs, tmp_path):
    realm = setup.company("Pedernales Remodeling")
    setup.consent(realm)
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    first = setup.cli(*_connect_args(workspace))
    assert first.exit_code == 0, first.output
    old = setup.tokens(workspace)

    # Some synced history: links in the id map, records in JobsiteOn.
    setup.store.id_map.upsert(workspace, "customers", [{"jobsiteon_id": "con_a", "qbo_id": "58"},
                                                       {"jobsiteon_id": "con_b", "qbo_id": "59"}])
    jobsiteon = JobsiteOnStore.from_url(f"sqlite:///{tmp_path / 'jobsiteon.db'}")
    jobsiteon.ensure_workspace(workspace, "Pedernales Remodeling")
    jobsiteon.create_contact(workspace, "Oak Hill Veterinary", "desk@oakhillvet.example", contact_id="con_a")

    gone = setup.cli("disconnect", "--workspace", workspace)
    assert gone.exit_code == 0, gone.output
    assert f"Workspace {workspace} is disconnected from realm {realm}; all synced data is kept" in gone.output
    connection = setup.store.connections.require(workspace)
    assert connection.status == "disconnected" and not connection.has_tokens
    # The grant is revoked at Intuit: the old refresh token is refused, the access token too.
    refused = setup.refresh_with(old.refresh_token)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert setup.company_info(realm, old.access_token).status_code == 401
    # Nothing synced was deleted.
    assert setup.store.id_map.count(workspace, "customers") == 2
    assert jobsiteon.get(workspace, "contacts", "con_a")["name"] == "Oak Hill Veterinary"
    assert setup.store.connections.require(workspace).settings.default_income_account_id == "1"

    # Connecting the workspace to another company is refused, and that grant revoked.
    other = setup.company("Someone Else's Books")
    setup.consent(other)
    wrong = setup.cli(*_connect_args(workspace))
    assert wrong.exit_code == 1
    assert f"workspace {workspace} was connected to realm {realm} and the company chosen now is realm {other}" in wrong.output
    assert "one company per workspace" in wrong.output
    assert setup.store.connections.require(workspace).status == "disconnected"

    # Connecting the same company again resumes: same realm, id map intact, new tokens.
    # Without --income-account the CLI lists the company's income accounts and asks.
    setup.consent(realm)
    resumed = setup.cli(*_connect_args(workspace, income_account=None), input="2\n")
    assert resumed.exit_code == 0, resumed.output
    assert "Income accounts:" in resumed.output
    assert "1: Services" in resumed.output and "2: Sales of Product Income" in resumed.output
    connection = setup.store.connections.require(workspace)
    assert (connection.status, connection.realm_id) == ("connected", realm)
    assert connection.settings.default_income_account_id == "2"
    assert setup.store.id_map.count(workspace, "customers") == 2
    fresh = setup.tokens(workspace)
    assert fresh.refresh_token != old.refresh_token
    assert setup.company_info(realm, fresh.access_token).status_code == 200

    setup.assert_no_secret_in(first.output, gone.output, wrong.output, resumed.output, logs.text)


def test_a_callback_with_a_wrong_state_is_refused_and_the_real_one_still_connects(setup, tmp_path):
    realm = setup.company("Lakeway Tile")
    setup.consent(realm)
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    # The CLI as a process, to read the authorization URL it prints while it waits.
    process = subprocess.Popen(
        [sys.executable, "-c", "from qbo_pipeline.cli import main; main()", "connect", "--workspace", workspace,
         "--browser", "none", "--timeout", "60", "--income-account", "1",
         "--tax-code", "taxable=TAX", "--tax-code", "exempt=NON"],
        env={**os.environ, **setup.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.strip().startswith(setup.emulator_url):
                break
        url = lines[-1].strip()
        assert "state=" in url, "".join(lines)

        # A forged redirect (wrong state) is refused; the CLI keeps waiting.
        forged = None
        deadline = time.monotonic() + 10
        while forged is None:
            try:
                forged = httpx.get(setup.redirect_uri, params={"code": "forged-code", "state": "not-the-state",
                                                               "realmId": realm})
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the callback server did not come up"
                time.sleep(0.05)
        assert forged.status_code == 400
        assert "State mismatch" in forged.text
        assert process.poll() is None
        assert setup.store.connections.get(workspace) is None

        # The real consent redirect completes the connection.
        assert httpx.get(url, follow_redirects=True).status_code == 200
        output = "".join(lines) + process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert setup.store.connections.require(workspace).realm_id == realm
    setup.tokens(workspace)
    setup.assert_no_secret_in(output)
