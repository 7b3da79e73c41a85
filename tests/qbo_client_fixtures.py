"""Fixtures for the QBO client tests: the emulator's control API and ready-made clients.

The emulator runs time-scaled (TIME_SCALE) while these tests run, with its throttle ON; the
clients use a limiter with the same time_scale, so every test doubles as a check that the
client stays under QBO's limits (`assert_not_throttled`). The previous time scale is restored
afterwards so other test modules see the emulator as they expect.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from qbo_pipeline.qbo import (
    InMemoryTokenSource,
    OAuthClient,
    QBOClient,
    QBOEndpoints,
    RateLimiter,
    RateLimits,
    TokenSet,
)

TIME_SCALE = 20.0
CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"
REDIRECT_URI = "http://127.0.0.1/callback"


class Control:
    """The emulator's /_emulator/ API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=60.0)

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code < 300, f"{response.request.method} {response.request.url.path}: {response.text}"
        return response.json()

    def new_company(self, name: str | None = None) -> dict:
        return self._ok(self.http.post("/_emulator/companies", json={"name": name or f"Co {uuid.uuid4().hex[:6]}"}))

    def faults(self, realm: str, **fields: Any) -> dict:
        return self._ok(self.http.put(f"/_emulator/companies/{realm}/faults", json=fields))

    def company_settings(self, realm: str, **fields: Any) -> dict:
        return self._ok(self.http.put(f"/_emulator/companies/{realm}/settings", json=fields))

    def settings(self, **fields: Any) -> dict:
        if fields:
            return self._ok(self.http.put("/_emulator/settings", json=fields))
        return self._ok(self.http.get("/_emulator/settings"))

    def clock(self, **fields: Any) -> dict:
        return self._ok(self.http.put("/_emulator/clock", json=fields))

    def requests(self, realm: str) -> dict[str, int]:
        return self._ok(self.http.get("/_emulator/requests", params={"realm_id": realm}))

    def seed(self, realm: str, payload: dict) -> dict:
        result = self._ok(self.http.post(f"/_emulator/companies/{realm}/seed", json=payload))
        assert not result["faults"], result["faults"][:3]
        return result


@dataclass
class Harness:
    control: Control
    endpoints: QBOEndpoints
    company: dict
    client: QBOClient
    tokens: InMemoryTokenSource
    oauth: OAuthClient
    rotations: list

    @property
    def realm(self) -> str:
        return self.company["realm_id"]

    def counts(self) -> dict[str, int]:
        return self.control.requests(self.realm)

    def assert_not_throttled(self) -> None:
        assert self.counts()["throttled"] == 0


def client_limits(**overrides: Any) -> RateLimits:
    values = {"time_scale": TIME_SCALE, **overrides}
    return RateLimits(**values)


def token_set(company: dict) -> TokenSet:
    now = datetime.now(timezone.utc)
    return TokenSet(
        access_token=company["access_token"],
        refresh_token=company["refresh_token"],
        access_expires_at=now + timedelta(seconds=int(company["expires_in"])),
        refresh_expires_at=now + timedelta(seconds=int(company["x_refresh_token_expires_in"])),
    )


def make_harness(control: Control, *, limits: RateLimits | None = None, company: dict | None = None,
                 **client_kwargs: Any) -> Harness:
    company = company or control.new_company()
    endpoints = QBOEndpoints.for_environment("emulator", emulator_base_url=control.base_url)
    oauth = OAuthClient(endpoints, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, backoff_base=0.01)
    rotations: list[TokenSet] = []
    tokens = InMemoryTokenSource(token_set(company), oauth, rotations.append, realm_id=company["realm_id"])
    client_kwargs.setdefault("backoff_base", 0.01)
    client_kwargs.setdefault("backoff_max", 0.2)
    client = QBOClient(
        company["realm_id"], tokens, endpoints,
        limiter=RateLimiter(limits or client_limits()),
        **client_kwargs,
    )
    return Harness(control, endpoints, company, client, tokens, oauth, rotations)


def switch_off_after_first(control: Control, realm: str, kind: str, **off: Any) -> threading.Thread:
    """Turns the realm's injected faults off once the emulator has counted one `kind` request,
    so that exactly the first attempt meets the fault."""
    def run() -> None:
        deadline = time.monotonic() + 10
        while control.requests(realm)[kind] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        control.faults(realm, **off)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def control(emulator):
    ctl = Control(emulator.base_url)
    previous = ctl.settings()["time_scale"]
    ctl.settings(time_scale=TIME_SCALE)
    yield ctl
    ctl.settings(time_scale=previous)
    ctl.http.close()


@pytest.fixture()
def qbo(control) -> Harness:
    """A fresh company and a client for it; fails the test if QBO throttled the client."""
    harness = make_harness(control)
    yield harness
    harness.assert_not_throttled()
