"""QuickBooks Online as a Dagster resource: endpoints, the OAuth app, the token vault and
the client's I/O policy (timeouts, retries with backoff, per-realm rate limits)."""

import dataclasses
from typing import Optional

import dagster as dg

from qbo_pipeline.qbo.config import QBOEndpoints
from qbo_pipeline.qbo.oauth import OAuthClient
from qbo_pipeline.state import StateStore, TokenVault
from qbo_pipeline.state.token_source import DatabaseTokenSource


class QBOResource(dg.ConfigurableResource):
    """Reads from and writes corrections back to each workspace's QBO company.

    Secrets (client secret, token key) come only from environment variables (`EnvVar`)."""

    environment: str = "emulator"
    emulator_url: str = "http://127.0.0.1:8765"
    api_base_url: Optional[str] = None
    token_url: Optional[str] = None
    revoke_url: Optional[str] = None
    authorize_url: Optional[str] = None
    client_id: str
    client_secret: str
    redirect_uri: str = "http://127.0.0.1:8976/callback"
    token_key: str
    previous_token_keys: Optional[str] = None
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    # Shrinks the client's rate-limit windows and throttle back-off; matches an emulator
    # run with the same --time-scale. 1.0 against real QBO.
    time_scale: float = 1.0

    def endpoints(self) -> QBOEndpoints:
        endpoints = QBOEndpoints.for_environment(self.environment, emulator_base_url=self.emulator_url)
        overrides = {
            name: value
            for name, value in (
                ("api_base", self.api_base_url),
                ("token_url", self.token_url),
                ("revoke_url", self.revoke_url),
                ("authorize_url", self.authorize_url),
            )
            if value
        }
        return dataclasses.replace(endpoints, **overrides)

    def oauth(self) -> OAuthClient:
        return OAuthClient(self.endpoints(), self.client_id, self.client_secret, self.redirect_uri)

    def vault(self) -> TokenVault:
        environ = {"QBO_PIPELINE_TOKEN_KEY": self.token_key}
        if self.previous_token_keys:
            environ["QBO_PIPELINE_TOKEN_KEY_PREVIOUS"] = self.previous_token_keys
        return TokenVault.from_env(environ)

    def client(self, store: StateStore, workspace_id: str):
        """A client for the workspace's realm; tokens refresh through the state database."""
        from qbo_pipeline.qbo import QBOClient
        from qbo_pipeline.qbo.ratelimit import limiter_for, scaled_limits

        connection = store.connections.require(workspace_id)
        tokens = DatabaseTokenSource(store, self.vault(), workspace_id, self.oauth())
        return QBOClient(
            connection.realm_id,
            tokens,
            self.endpoints(),
            timeout=self.timeout_seconds,
            max_attempts=self.max_attempts,
            limiter=limiter_for(connection.realm_id, scaled_limits(self.time_scale)),
        )


