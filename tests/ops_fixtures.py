"""Shared set-up for the ops tests: a workspace connected to an emulator company through the
real state database, the CLI's environment, and emulator helpers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from qbo_pipeline.emulator.settings import DEFAULT_CLIENT_ID as CLIENT_ID, DEFAULT_CLIENT_SECRET as CLIENT_SECRET
from qbo_pipeline.qbo import QBOClient, QBOEndpoints, RateLimits, limiter_for
from qbo_pipeline.state import StateStore, TokenVault, generate_key
from qbo_pipeline.state.token_source import DatabaseTokenSource
from qbo_pipeline.state.vault import decode_key

from state_fixtures import Tokens

# The emulator's throttle is off for these companies; the client may go faster than the
# production defaults so the tests stay quick.
FAST = RateLimits(per_second=500, per_minute=30_000, batch_per_minute=1_000, max_concurrent=8)


def company_tokens(company: dict) -> Tokens:
    now = datetime.now(timezone.utc)
    return Tokens(
        access_token=company["access_token"],
        refresh_token=company["refresh_token"],
        access_expires_at=now + timedelta(seconds=int(company.get("expires_in", 3600))),
        refresh_expires_at=now + timedelta(days=100),
    )


def unthrottle(emulator, realm_id: str) -> None:
    httpx.put(f"{emulator.base_url}/_emulator/companies/{realm_id}/settings", json={"throttle": False}).raise_for_status()
    limiter_for(realm_id, FAST)


def seed(emulator, realm_id: str, payload: dict) -> dict:
    response = httpx.post(f"{emulator.base_url}/_emulator/companies/{realm_id}/seed", json={"notify": False, **payload})
    response.raise_for_status()
    body = response.json()
    assert not body["faults"], body["faults"]
    return body["ids"]


def requests(emulator, realm_id: str) -> dict:
    return httpx.get(f"{emulator.base_url}/_emulator/requests", params={"realm_id": realm_id}).json()


def reset_requests(emulator, realm_id: str) -> None:
    httpx.delete(f"{emulator.base_url}/_emulator/requests", params={"realm_id": realm_id}).raise_for_status()


class Workspace:
    """A workspace connected to an emulator company in a real state database."""

    def __init__(self, state: StateStore, emulator, company: dict, workspace_id: str = "ws-ops") -> None:
        self.state = state
        self.emulator = emulator
        self.company = company
        self.realm_id = company["realm_id"]
        self.workspace_id = workspace_id
        self.key = generate_key()
        self.vault = TokenVault(decode_key(self.key))
        state.connections.connect(workspace_id, self.realm_id, company_tokens(company), self.vault,
                                  company_name=company.get("name"))
        unthrottle(emulator, self.realm_id)

    def client(self) -> QBOClient:
        from qbo_pipeline.qbo import OAuthClient

        endpoints = QBOEndpoints.for_environment("emulator", emulator_base_url=self.emulator.base_url)
        oauth = OAuthClient(endpoints, CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1:8976/callback")
        tokens = DatabaseTokenSource(self.state, self.vault, self.workspace_id, oauth)
        return QBOClient(self.realm_id, tokens, endpoints)

    def cli_env(self, state_url: str, jobsiteon_url: str, data_dir: Path) -> dict[str, str]:
        return {
            "QBO_PIPELINE_DATABASE_URL": state_url,
            "JOBSITEON_DATABASE_URL": jobsiteon_url,
            "QBO_PIPELINE_DATA_DIR": str(data_dir),
            "QBO_PIPELINE_TOKEN_KEY": self.key,
            "QBO_PIPELINE_TOKEN_KEY_PREVIOUS": "",
            "QBO_CLIENT_ID": CLIENT_ID,
            "QBO_CLIENT_SECRET": CLIENT_SECRET,
            "QBO_ENVIRONMENT": "emulator",
            "QBO_EMULATOR_URL": self.emulator.base_url,
        }
