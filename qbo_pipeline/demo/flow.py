"""Steps 4-7, once the workspace is connected."""
from __future__ import annotations

import time

from qbo_pipeline.demo import console, initial_sync
from qbo_pipeline.demo.config import DemoConfig


def run_after_connect(config: DemoConfig, group, state, jobsiteon, books) -> int:
    console.step(4, "Initial sync")
    initial_sync.run_initial_sync(config)
    group.check_alive()
    initial_sync.show_dead_letters(state, config.workspace_id)
    if not config.noninteractive:
        console.info(f"\nThe Dagster UI stays at {config.dagster_url} — press Ctrl-C to stop everything.", indent=0)
        while True:
            time.sleep(1)
            group.check_alive()
    return 0
