"""The demo from start to summary (see qbo_pipeline/demo/__init__.py)."""
from __future__ import annotations

import os
import signal
import time
import traceback

from qbo_pipeline.demo import console, services, setup
from qbo_pipeline.demo.config import DemoConfig, DemoError
from qbo_pipeline.demo.processes import ProcessGroup


class Stopped(KeyboardInterrupt):
    """Ctrl-C or a termination signal: stop everything the demo started."""


def _stop_on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Stopped(signal.Signals(signum).name)


def run(config: DemoConfig) -> int:
    """Runs the demo; returns the process exit code."""
    # Ctrl-C stops everything even when started without job control (SIGINT ignored then).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on_signal)
    group: ProcessGroup | None = None
    try:
        console.step(1, "Starting the QBO emulator, the ingest service and Dagster")
        services.check_ports(config)
        removed = config.prepare()
        if removed:
            console.info(f"fresh start: removed the previous demo's state ({len(removed)} path(s) under {config.data_dir})")
        env = config.env()
        os.environ.update(env)  # the demo's own store/CLI calls use the same databases and keys
        group = ProcessGroup(config.log_dir, env, config.project_root)
        services.start_all(group, config)
        console.info(f"logs: {config.log_dir}/*.log")

        from qbo_pipeline.jobsiteon.store import JobsiteOnStore
        from qbo_pipeline.state import StateStore

        state = StateStore.from_url(config.state_url)
        jobsiteon = JobsiteOnStore.from_url(config.jobsiteon_url)

        console.step(2, f"Seeding the demo books on both sides (seed {config.seed}, scale {config.scale})")
        books = setup.seed_jobsiteon(config, jobsiteon)
        company = setup.seed_qbo(config, books)
        setup.scenario_overview(books)
        setup.wait_for_relay(state, jobsiteon)

        console.step(3, "Connecting the workspace to QuickBooks through OAuth")
        setup.connect(config, company)
        setup.point_webhooks(config)

        from qbo_pipeline.demo import flow

        return flow.run_after_connect(config, group, state, jobsiteon, books)
    except KeyboardInterrupt as exc:
        console.info(f"\ninterrupted ({exc or 'SIGINT'}): stopping everything")
        return 130
    except DemoError as exc:
        console.info(f"\nDEMO FAILED: {exc}", indent=0)
        return 1
    except Exception as exc:  # noqa: BLE001 - reported, then everything is stopped
        traceback.print_exc()
        console.info(f"\nDEMO FAILED unexpectedly: {type(exc).__name__}: {exc}", indent=0)
        return 1
    finally:
        started = time.monotonic()
        if group is not None and group.children:
            killed = group.stop_all()
            note = f"; {', '.join(killed)} killed after the grace period" if killed else ""
            console.info(f"stopped all demo processes ({time.monotonic() - started:.1f}s{note})", indent=0)
