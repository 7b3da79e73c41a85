"""What a forked run worker executes: the body of `dagster api execute_run`, on pooled
storage connections.

dagster-postgres opens a new PostgreSQL connection for every storage call (NullPool, so
long-lived processes never hoard connections). A run worker makes ~400 such calls for an
8-step incremental run, ~9 ms each on this machine: more than half the run's time. A run
worker lives for one run, so holding a small pool for its lifetime is safe; it is the
setting Dagster itself uses for the webserver."""
from __future__ import annotations

# Dagster keeps the run-worker body private; the version is pinned in pyproject.toml and
# tests/test_warm_launcher.py runs real runs through it, so an upgrade that moves it fails there.
from dagster._cli.api import _execute_run_command_body
from dagster._cli.utils import get_instance_for_cli
from dagster._core.instance import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import deserialize_value
from dagster._utils.interrupts import capture_interrupts

# Storage connections a run worker keeps open: one per storage plus this many extra.
POOL_OVERFLOW = 4
POOL_RECYCLE_SECONDS = 3600
# 0 disables PostgreSQL's statement_timeout: a run worker's writes must not be cut short
# the way a webserver's slow read may be.
STATEMENT_TIMEOUT_MS = 0


def pool_storage_connections(instance: DagsterInstance) -> None:
    """Reuse storage connections for the rest of this process (no-op on SQLite storage)."""
    instance.optimize_for_webserver(
        statement_timeout=STATEMENT_TIMEOUT_MS, pool_recycle=POOL_RECYCLE_SECONDS, max_overflow=POOL_OVERFLOW
    )


def execute_run(run_id: str, serialized_instance_ref: str) -> int:
    """Execute run `run_id` to its end in this process; the exit code `dagster api
    execute_run` would return (0 unless the worker itself broke). SIGINT cancels the run
    the way Dagster's own termination does."""
    instance_ref = deserialize_value(serialized_instance_ref, InstanceRef)
    with capture_interrupts():
        with get_instance_for_cli(instance_ref=instance_ref) as instance:
            pool_storage_connections(instance)
            return _execute_run_command_body(
                run_id, instance, write_stream_fn=lambda _event: None, set_exit_code_on_failure=False
            )
