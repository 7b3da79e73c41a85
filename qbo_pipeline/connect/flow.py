"""Connect: OAuth 2.0 authorization-code flow → tokens stored encrypted → company recorded →
default income account and tax codes mapped. Disconnect: tokens revoked at Intuit, sync
stopped, no synced data deleted (connecting again resumes with the same id map).

Works the same against Intuit and the emulator; only the endpoints differ."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Callable

from qbo_pipeline.connect.callback import LoopbackCallback
from qbo_pipeline.qbo.config import QBOEndpoints
from qbo_pipeline.qbo.oauth import OAuthClient, StaticTokenSource
from qbo_pipeline.state import Connection, StateStore, TokenVault

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8976/callback"


class ConnectError(Exception):
    """A connect/disconnect step failed; the message says what to do."""


@dataclass(frozen=True)
class AppConfig:
    """The Intuit app this installation uses (from QBO_CLIENT_ID, QBO_CLIENT_SECRET,
    QBO_REDIRECT_URI and QBO_ENVIRONMENT / explicit base URLs)."""

    client_id: str
    client_secret: str
    redirect_uri: str
    endpoints: QBOEndpoints

    @classmethod
    def from_env(cls) -> AppConfig:
        missing = [name for name in ("QBO_CLIENT_ID", "QBO_CLIENT_SECRET") if not os.environ.get(name)]
        if missing:
            raise ConnectError(
                f"{' and '.join(missing)} not set: export your Intuit app's keys "
                "(for the local emulator: QBO_CLIENT_ID=emulator-client-id, "
                "QBO_CLIENT_SECRET=emulator-client-secret)"
            )
        return cls(
            client_id=os.environ["QBO_CLIENT_ID"],
            client_secret=os.environ["QBO_CLIENT_SECRET"],
            redirect_uri=os.environ.get("QBO_REDIRECT_URI") or DEFAULT_REDIRECT_URI,
            endpoints=QBOEndpoints.from_env(),
        )

    def oauth(self) -> OAuthClient:
        return OAuthClient(self.endpoints, self.client_id, self.client_secret, self.redirect_uri)

    def __repr__(self) -> str:
        return f"AppConfig(client_id={self.client_id!r}, redirect_uri={self.redirect_uri!r})"


@dataclass(frozen=True)
class CompanyLists:
    """What the user maps after consenting: income accounts and tax codes (id, name)."""

    company_name: str
    income_accounts: list[tuple[str, str]]
    tax_codes: list[tuple[str, str]]


Chooser = Callable[[CompanyLists], tuple[str, dict[str, str]]]


def authorize(app: AppConfig, open_url: Callable[[str], None], *, timeout: float = 300.0) -> tuple[str, object]:
    """Runs the browser part of the code flow; returns (realm id, TokenSet)."""
    state = secrets.token_urlsafe(24)
    oauth = app.oauth()
    with LoopbackCallback(app.redirect_uri, state) as callback:
        open_url(oauth.authorization_url(state))
        result = callback.wait(timeout)
    if result is None:
        raise ConnectError(f"no authorization arrived at {app.redirect_uri} within {timeout:.0f} s; run connect again")
    if result.error or not result.code or not result.realm_id:
        raise ConnectError(f"Intuit did not authorize the connection ({result.error or 'no code/realmId'}); run connect again")
    return result.realm_id, oauth.exchange_code(result.code)


def company_lists(app: AppConfig, realm_id: str, access_token: str) -> CompanyLists:
    from qbo_pipeline.qbo import QBOClient

    client = QBOClient(realm_id, StaticTokenSource(access_token), app.endpoints)
    info = client.company_info()
    accounts = client.list_accounts(account_type="Income")
    codes = client.list_tax_codes()
    return CompanyLists(
        company_name=_field(info, "CompanyName") or realm_id,
        income_accounts=[(_field(a, "Id"), _field(a, "Name")) for a in accounts],
        tax_codes=[(_field(c, "Id"), _field(c, "Name")) for c in codes],
    )


def connect_workspace(
    store: StateStore,
    vault: TokenVault,
    app: AppConfig,
    workspace_id: str,
    *,
    open_url: Callable[[str], None],
    choose: Chooser,
    timeout: float = 300.0,
) -> Connection:
    existing = store.connections.get(workspace_id)
    if existing is not None and existing.status != "disconnected":
        raise ConnectError(
            f"workspace {workspace_id} is already connected to QuickBooks company "
            f"{existing.company_name or existing.realm_id} (realm {existing.realm_id}); "
            f"one company per workspace — run `qbo-pipeline disconnect --workspace {workspace_id}` first"
        )
    realm_id, tokens = authorize(app, open_url, timeout=timeout)
    if existing is not None and existing.realm_id != realm_id:
        app.oauth().revoke(tokens.refresh_token)
        raise ConnectError(
            f"workspace {workspace_id} was connected to realm {existing.realm_id} and the company chosen now "
            f"is realm {realm_id}; one company per workspace — choose {existing.company_name or existing.realm_id} "
            "again, or use a new workspace for the other company"
        )
    lists = company_lists(app, realm_id, tokens.access_token)
    income_account, tax_mapping = choose(lists)
    _check_choice(lists, income_account, tax_mapping)
    settings = {"default_income_account_id": income_account, "tax_code_mapping": tax_mapping}
    try:
        return store.connections.connect(
            workspace_id, realm_id, tokens, vault, company_name=lists.company_name, settings=settings
        )
    except Exception:
        # Do not leave a live grant behind that nothing will ever use.
        app.oauth().revoke(tokens.refresh_token)
        raise


def disconnect_workspace(store: StateStore, vault: TokenVault, app: AppConfig, workspace_id: str) -> Connection:
    connection = store.connections.get(workspace_id)
    if connection is None:
        raise ConnectError(f"workspace {workspace_id} has never been connected")
    if connection.status == "disconnected":
        return connection
    if connection.has_tokens:
        tokens = store.connections.tokens(workspace_id, vault)
        try:
            # Revoking the refresh token revokes the whole grant, access tokens included.
            app.oauth().revoke(tokens.refresh_token)
        except Exception as exc:  # noqa: BLE001 - disconnect must still stop the sync
            store.sync_log.add(workspace_id, "connection", "push", "warning",
                               f"token revocation at Intuit failed ({type(exc).__name__}); "
                               "the grant can be removed in the Intuit app's connections page")
    store.connections.disconnect(workspace_id)
    store.sync_log.add(workspace_id, "connection", "pull", "info",
                       "disconnected from QuickBooks; synced data kept in both systems")
    return store.connections.require(workspace_id)


def _check_choice(lists: CompanyLists, income_account: str, tax_mapping: dict[str, str]) -> None:
    accounts = {account_id for account_id, _ in lists.income_accounts}
    if income_account not in accounts:
        raise ConnectError(
            f"income account {income_account!r} is not an income account of {lists.company_name}; "
            f"choose one of: {', '.join(f'{i} ({n})' for i, n in lists.income_accounts)}"
        )
    codes = {code for code, _ in lists.tax_codes}
    unknown = {k: v for k, v in tax_mapping.items() if v not in codes}
    if unknown:
        raise ConnectError(
            f"tax code(s) {unknown} do not exist in {lists.company_name}; "
            f"available: {', '.join(f'{i} ({n})' for i, n in lists.tax_codes)}"
        )


def _field(record, name: str):
    if isinstance(record, dict):
        return record.get(name)
    return getattr(record, name, None)
