"""`qbo-pipeline connect` / `disconnect`."""
from __future__ import annotations

import logging
import webbrowser

import click
import httpx

from qbo_pipeline.connect.flow import AppConfig, CompanyLists, ConnectError, connect_workspace, disconnect_workspace
from qbo_pipeline.state import StateStore, TokenVault, VaultError

TAX_KEYS = ("taxable", "exempt")


def _open_url(mode: str):
    def open_url(url: str) -> None:
        click.echo(f"Authorize the connection in your browser:\n  {url}")
        if mode == "http":
            # Follows the consent redirect ourselves: for the emulator's auto-consent page.
            # httpx logs request URLs at INFO, and the redirect carries the authorization code.
            httpx_log = logging.getLogger("httpx")
            level = httpx_log.level
            httpx_log.setLevel(logging.WARNING)
            try:
                httpx.get(url, follow_redirects=True, timeout=30.0)
            finally:
                httpx_log.setLevel(level)
        elif mode == "auto":
            webbrowser.open(url)

    return open_url


def _chooser(income_account: str | None, tax_codes: tuple[str, ...]):
    given = dict(item.split("=", 1) for item in tax_codes)

    def choose(lists: CompanyLists) -> tuple[str, dict[str, str]]:
        click.echo(f"Connected to {lists.company_name}.")
        account = income_account
        if account is None:
            click.echo("Income accounts:")
            for account_id, name in lists.income_accounts:
                click.echo(f"  {account_id}: {name}")
            account = click.prompt("Default income account id", type=click.Choice([i for i, _ in lists.income_accounts]))
        mapping = {}
        for key in TAX_KEYS:
            if key in given:
                mapping[key] = given[key]
                continue
            click.echo("Tax codes: " + ", ".join(f"{i} ({n})" for i, n in lists.tax_codes))
            mapping[key] = click.prompt(f"QBO tax code for {key} JobsiteOn lines", type=click.Choice([i for i, _ in lists.tax_codes]))
        return account, mapping

    return choose


@click.command()
@click.option("--workspace", "workspace_id", required=True, help="JobsiteOn workspace id.")
@click.option("--income-account", help="Default income account id (asked for when omitted).")
@click.option("--tax-code", "tax_codes", multiple=True, metavar="KIND=CODE",
              help="Tax-code mapping, e.g. --tax-code taxable=TAX --tax-code exempt=NON.")
@click.option("--browser", type=click.Choice(["auto", "none", "http"]), default="auto", show_default=True,
              help="auto: open the system browser; none: only print the URL; http: fetch it directly "
              "(the emulator's auto-consent).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the redirect.")
def connect(workspace_id, income_account, tax_codes, browser, timeout):
    """Connect a workspace to a QuickBooks Online company (OAuth 2.0)."""
    bad = [t for t in tax_codes if "=" not in t or t.split("=", 1)[0] not in TAX_KEYS]
    if bad:
        raise click.BadParameter(f"{bad}: use taxable=CODE and exempt=CODE", param_hint="--tax-code")
    try:
        app = AppConfig.from_env()
        store = StateStore.from_url()
        connection = connect_workspace(
            store, TokenVault.from_env(), app, workspace_id,
            open_url=_open_url(browser), choose=_chooser(income_account, tax_codes), timeout=timeout,
        )
    except (ConnectError, VaultError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Workspace {workspace_id} is connected to {connection.company_name} (realm {connection.realm_id}). "
        f"Start the initial sync with: qbo-pipeline sync --workspace {workspace_id}"
    )


@click.command()
@click.option("--workspace", "workspace_id", required=True, help="JobsiteOn workspace id.")
def disconnect(workspace_id):
    """Revoke the QuickBooks connection and stop syncing; no synced data is deleted."""
    try:
        connection = disconnect_workspace(StateStore.from_url(), TokenVault.from_env(), AppConfig.from_env(), workspace_id)
    except (ConnectError, VaultError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Workspace {workspace_id} is disconnected from realm {connection.realm_id}; all synced data is kept. "
        f"Reconnect any time with: qbo-pipeline connect --workspace {workspace_id}"
    )


commands = [connect, disconnect]
