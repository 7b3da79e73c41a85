"""`qbo-pipeline webhooks serve`: the QBO webhook receiver."""
from __future__ import annotations

import os

import click

from qbo_pipeline.state.db import database_url, make_engine, redact_url, upgrade
from qbo_pipeline.state.store import StateStore

VERIFIER_TOKEN_ENV = "QBO_WEBHOOK_VERIFIER_TOKEN"


@click.group("webhooks")
def webhooks_group() -> None:
    """Receive QuickBooks Online webhooks into the sync inbox."""


@webhooks_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--relay-interval", default=2.0, show_default=True, type=click.FloatRange(min=0),
              metavar="SECONDS",
              help="Relay JobsiteOn's change feed into the inbox this often (needs "
                   "JOBSITEON_DATABASE_URL or the embedded SQLite file); 0 turns the relay off.")
def serve(host: str, port: int, log_level: str, relay_interval: float) -> None:
    """Serve POST /webhooks/qbo (plus /healthz and /metrics) until interrupted, and relay
    JobsiteOn changes into the same inbox every --relay-interval seconds."""
    import uvicorn

    from qbo_pipeline.webhooks.app import WEBHOOK_PATH, create_app
    from qbo_pipeline.webhooks.server import uvicorn_config

    token = os.environ.get(VERIFIER_TOKEN_ENV, "").strip()
    if not token:
        raise click.ClickException(
            f"{VERIFIER_TOKEN_ENV} is not set: copy the Verifier Token from your app's Webhooks "
            f"page on developer.intuit.com (for the emulator: its webhook settings) into it"
        )
    url = database_url()
    engine = make_engine(url)
    upgrade(engine)
    store = StateStore(engine)
    app = create_app(store, token)
    relay = _start_relay(store, relay_interval)
    click.echo(f"receiving QBO webhooks on http://{host}:{port}{WEBHOOK_PATH} (state: {redact_url(url)})")
    try:
        uvicorn.Server(uvicorn_config(app, host=host, port=port, log_level=log_level)).run()
    finally:
        if relay is not None:
            relay.stop()
            relay.jobsiteon.engine.dispose()
        engine.dispose()


def _start_relay(store: StateStore, interval: float):
    """The JobsiteOn change-feed relay on a background thread (None when interval is 0)."""
    if interval <= 0:
        return None
    from qbo_pipeline.ingest import RelayThread
    from qbo_pipeline.jobsiteon.db import database_url as jobsiteon_url
    from qbo_pipeline.jobsiteon.store import JobsiteOnStore

    url = jobsiteon_url()
    relay = RelayThread(store, JobsiteOnStore.from_url(url), interval).start()
    click.echo(f"relaying JobsiteOn changes every {interval:g}s (JobsiteOn: {redact_url(url)})")
    return relay


commands = [webhooks_group]
