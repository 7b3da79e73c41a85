"""`qbo-pipeline demo`: the whole product on the embedded default, end to end."""
from __future__ import annotations

import sys

import click


@click.command()
def demo() -> None:
    """Start the emulator, ingest service and Dagster; seed demo books on both sides; connect
    through OAuth; sync; fix what the dead letters say; show live sync both ways; summarize.

    Environment: DEMO_SCALE (default 1.0), DEMO_SEED, DEMO_NONINTERACTIVE=1 (write
    .demo/summary.json and exit instead of keeping the UI up), DEMO_DATA_DIR (default data/),
    DEMO_EMULATOR_PORT / DEMO_RECEIVER_PORT / DEMO_DAGSTER_PORT / DEMO_REDIRECT_PORT,
    DEMO_SUMMARY_PATH, DEMO_LIVE_TIMEOUT (seconds per live change), DEMO_NO_THROTTLE=1."""
    from qbo_pipeline.demo.config import DemoConfig, DemoError
    from qbo_pipeline.demo.runner import run

    try:
        config = DemoConfig.from_env()
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(run(config))


commands = [demo]
