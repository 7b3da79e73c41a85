"""Where QuickBooks Online lives: production, the Intuit sandbox or the local emulator.

The client code is identical for all three; only these URLs change.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Literal, Mapping

Environment = Literal["production", "sandbox", "emulator"]

PRODUCTION_API = "https://quickbooks.api.intuit.com"
SANDBOX_API = "https://sandbox-quickbooks.api.intuit.com"
AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REVOKE_URL = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
USERINFO_PRODUCTION = "https://accounts.platform.intuit.com/v1/openid_connect/userinfo"
USERINFO_SANDBOX = "https://sandbox-accounts.platform.intuit.com/v1/openid_connect/userinfo"
DEFAULT_EMULATOR_URL = "http://127.0.0.1:8765"


@dataclass(frozen=True)
class QBOEndpoints:
    """Base URLs. `api_base` is the host without `/v3` (the client appends `/v3/company/...`)."""

    api_base: str
    authorize_url: str
    token_url: str
    revoke_url: str
    userinfo_url: str | None = None
    environment: str = "custom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_base", _strip_v3(self.api_base))

    def company_url(self, realm_id: str) -> str:
        return f"{self.api_base}/v3/company/{realm_id}"

    @classmethod
    def for_environment(
        cls, environment: str, *, emulator_base_url: str = DEFAULT_EMULATOR_URL
    ) -> "QBOEndpoints":
        env = environment.strip().lower()
        if env == "production":
            return cls(PRODUCTION_API, AUTHORIZE_URL, TOKEN_URL, REVOKE_URL, USERINFO_PRODUCTION, "production")
        if env == "sandbox":
            # Intuit uses the same OAuth hosts for sandbox and production apps.
            return cls(SANDBOX_API, AUTHORIZE_URL, TOKEN_URL, REVOKE_URL, USERINFO_SANDBOX, "sandbox")
        if env == "emulator":
            base = emulator_base_url.rstrip("/")
            return cls(
                api_base=base,
                authorize_url=f"{base}/connect/oauth2",
                token_url=f"{base}/oauth2/v1/tokens/bearer",
                revoke_url=f"{base}/v2/oauth2/tokens/revoke",
                userinfo_url=f"{base}/v1/openid_connect/userinfo",
                environment="emulator",
            )
        raise ValueError(
            f"unknown QBO environment {environment!r}: use 'production', 'sandbox' or 'emulator'"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "QBOEndpoints":
        """Reads QBO_ENVIRONMENT (default emulator), QBO_EMULATOR_URL and the explicit
        overrides QBO_API_BASE_URL, QBO_AUTHORIZE_URL, QBO_TOKEN_URL, QBO_REVOKE_URL."""
        env = os.environ if environ is None else environ
        endpoints = cls.for_environment(
            env.get("QBO_ENVIRONMENT") or "emulator",
            emulator_base_url=env.get("QBO_EMULATOR_URL") or DEFAULT_EMULATOR_URL,
        )
        overrides = {
            field: env[var]
            for field, var in (
                ("api_base", "QBO_API_BASE_URL"),
                ("authorize_url", "QBO_AUTHORIZE_URL"),
                ("token_url", "QBO_TOKEN_URL"),
                ("revoke_url", "QBO_REVOKE_URL"),
                ("userinfo_url", "QBO_USERINFO_URL"),
            )
            if env.get(var)
        }
        return replace(endpoints, **overrides) if overrides else endpoints


def _strip_v3(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len("/v3")] if url.endswith("/v3") else url
