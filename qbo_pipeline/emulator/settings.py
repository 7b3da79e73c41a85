"""Knobs of the emulator. Defaults mirror the Intuit sandbox (see qbo-api.md §1, §3, §4, §5, §7)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

DEFAULT_CLIENT_ID = "emulator-client-id"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"
DEFAULT_VERIFIER_TOKEN = "emulator-verifier-token"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
COMPANY_TIMEZONE = "America/Los_Angeles"

REQUESTID_MODES = ("replay", "fault600")


@dataclass
class EmulatorSettings:
    # Divides every wait/window the emulator simulates (throttle windows, webhook delays).
    time_scale: float = 1.0
    cdc_cap: int = 1000                 # objects per CDC response, across all entities
    cdc_lookback_days: int = 30
    batch_max_items: int = 30
    requestid_mode: str = "replay"      # "replay" the first response, or answer Fault 600
    throttle: bool = True
    throttle_per_second: int = 10
    throttle_per_minute: int = 500
    throttle_batch_per_minute: int = 40
    retry_after: bool = False           # send a Retry-After header on 429 (Intuit does not document one)
    retry_after_seconds: int = 60
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 8726400
    auth_code_ttl: int = 300
    persist_path: str | None = None
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    verifier_token: str = DEFAULT_VERIFIER_TOKEN
    # Unknown top-level properties in a write body answer Fault 2010, as QBO's deserializer does.
    strict_properties: bool = True
    timezone: str = COMPANY_TIMEZONE

    def __repr__(self) -> str:  # never print the client secret or verifier token
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name not in ("client_secret", "verifier_token")}
        return f"EmulatorSettings({shown})"

    def update(self, values: dict[str, Any]) -> list[str]:
        """Applies known fields from a JSON object; returns the names it did not know."""
        known = {f.name: f for f in dataclasses.fields(self)}
        unknown = []
        for key, value in values.items():
            field = known.get(key)
            if field is None:
                unknown.append(key)
                continue
            setattr(self, key, _coerce(getattr(self, key), value))
        if self.requestid_mode not in REQUESTID_MODES:
            raise ValueError(f"requestid_mode must be one of {REQUESTID_MODES}, got {self.requestid_mode!r}")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        return unknown

    def public(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("client_secret", "verifier_token")}


# Settings a single company may override (PUT /_emulator/companies/{realm}/settings).
COMPANY_OVERRIDABLE = (
    "cdc_cap", "batch_max_items", "requestid_mode", "throttle", "throttle_per_second",
    "throttle_per_minute", "throttle_batch_per_minute", "retry_after", "retry_after_seconds",
    "strict_properties",
)


def _coerce(current: Any, value: Any) -> Any:
    if value is None or current is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    return value
