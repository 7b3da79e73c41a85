"""`qbo-pipeline db upgrade` and `qbo-pipeline rotate-key`."""
from __future__ import annotations

import click

from qbo_pipeline.state.db import DATABASE_URL_ENV, database_url, make_engine, redact_url, upgrade
from qbo_pipeline.state.store import StateStore
from qbo_pipeline.state.vault import KEY_ENV, PREVIOUS_KEYS_ENV, TokenVault, VaultError


@click.group("db")
def db_group() -> None:
    """The sync-state database."""


@db_group.command("upgrade")
@click.option("--url", envvar=DATABASE_URL_ENV, default=None, show_envvar=True,
              help="State database URL (default: SQLite in the data directory).")
def upgrade_command(url: str | None) -> None:
    """Migrate the state database to the latest revision."""
    url = url or database_url()
    try:
        revision = upgrade(url)
    except Exception as exc:  # noqa: BLE001 - reported without the URL's password
        raise click.ClickException(
            f"migrating {redact_url(url)} failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    click.echo(f"state database {redact_url(url)} is at revision {revision}")


@click.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored token under QBO_PIPELINE_TOKEN_KEY.

    Put the old key(s) in QBO_PIPELINE_TOKEN_KEY_PREVIOUS (comma-separated) and the new key in
    QBO_PIPELINE_TOKEN_KEY, run this, then remove the old keys."""
    try:
        vault = TokenVault.from_env()
    except VaultError as exc:
        raise click.ClickException(str(exc)) from None
    engine = make_engine(database_url())
    try:
        upgrade(engine)
        store = StateStore(engine)
        try:
            changed = store.connections.reencrypt_all(vault)
        except VaultError as exc:
            raise click.ClickException(
                f"{exc}. Nothing after that connection was re-encrypted; fix the keys in "
                f"{KEY_ENV} / {PREVIOUS_KEYS_ENV} and run rotate-key again."
            ) from None
    finally:
        engine.dispose()
    click.echo(f"re-encrypted the tokens of {changed} connection(s) under key {vault.key_id}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


commands = [db_group, rotate_key]
