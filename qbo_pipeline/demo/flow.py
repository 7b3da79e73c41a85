"""Steps 4-7, once the workspace is connected."""
from __future__ import annotations

import time

from qbo_pipeline.demo import console, initial_sync, live, operator, summary
from qbo_pipeline.demo.config import DemoConfig
from qbo_pipeline.demo.converge import RunWatcher, wait_idle
from qbo_pipeline.demo.processes import ProcessGroup

FIX_ROUNDS = 3


def _settle_timeout(config: DemoConfig) -> float:
    return 600 + 1800 * config.scale


def run_after_connect(config: DemoConfig, group: ProcessGroup, state, jobsiteon, books) -> int:
    started = time.monotonic()
    timings: dict[str, float] = {}
    runs = RunWatcher(config.workspace_id)

    console.step(4, "Initial sync")
    timings["initial_sync_seconds"] = initial_sync.run_initial_sync(config)
    group.check_alive()
    initial_sync.show_dead_letters(state, config.workspace_id)
    console.info("the daemon drains the inbox: QBO's webhooks for the sync's own writes (echoes, no writes "
                 "expected) and the first CDC sweep")
    took = wait_idle(config, state, jobsiteon, runs, timeout=_settle_timeout(config), what="after the initial sync")
    console.info(f"settled after {took:.1f}s")

    console.step(5, "Playing the operator: fixing what the dead letters say, then retrying")
    fixes: list[str] = []
    for round_ in range(1, FIX_ROUNDS + 1):
        report = operator.play_operator(config, state, jobsiteon, first_round=round_ == 1)
        fixes += report.fixes
        took = wait_idle(config, state, jobsiteon, runs, timeout=_settle_timeout(config), what="after the retry")
        console.info(f"the pipeline converged after {took:.1f}s")
        remaining = initial_sync.show_dead_letters(state, config.workspace_id)
        if not remaining or not report.fixes:
            break
    group.check_alive()

    console.step(6, "Live sync through the daemon (webhooks, change feed, sensors, incremental runs)")
    changes = live.play_live(config, state, jobsiteon, books)
    took = wait_idle(config, state, jobsiteon, runs, timeout=_settle_timeout(config), what="after the live changes")
    console.info(f"settled after {took:.1f}s")
    group.check_alive()

    console.step(7, "Summary")
    timings["after_connect_seconds"] = time.monotonic() - started
    timings["total_seconds"] = console.elapsed()
    result = summary.build_summary(state, jobsiteon, config.workspace_id, changes, {
        "scale": config.scale, "seed": config.seed, "fixes": fixes,
        "timings": {k: round(v, 1) for k, v in timings.items()},
    })
    summary.print_summary(result)
    summary.write_summary(result, config.summary_path)
    console.info(f"summary written to {config.summary_path}")
    problems = summary.verdict(result)
    for problem in problems:
        console.info(f"NOT OK: {problem}", indent=0)
    if not problems:
        console.info("OK: everything is in sync, no duplicates in QBO, every live change arrived.", indent=0)
    code = 1 if problems else 0
    if config.noninteractive:
        return code
    console.info(f"\nThe Dagster UI stays at {config.dagster_url} (runs, assets, checks, sensors) — "
                 "press Ctrl-C to stop everything.", indent=0)
    try:
        while True:
            time.sleep(1)
            group.check_alive()
    except KeyboardInterrupt:
        return code
