"""QBO edit -> JobsiteOn, through the real daemon: webhook latency of the deployed pipeline.

    .venv/bin/python -m benchmarks.webhook_latency [--events 20] [--selection both|entities|all]
        [--scale 0.01] [--gap 4] [--keep-log PATH]

Same stack as tests/test_daemon_end_to_end.py (tests/daemon_fixtures.py): `dagster-daemon`
in a subprocess on dagster-postgres storage (deploy/dagster.postgres.yaml, copied verbatim),
state and JobsiteOn on scratch Postgres databases, the QBO emulator and the webhook receiver
in this process. After the initial sync and the backlog it leaves (echo webhooks of the
sync's own writes, the first CDC sweep) have drained, it edits one QBO customer's phone at a
time, `--events` times, and waits for the JobsiteOn contact to change and the run to end.

Per event it measures, on one clock (this machine's wall clock):
    emitted      the QBO write returned (the emulator queues the webhook inside that write;
                 delay_seconds is 0, so this is when the webhook is emitted)
    inbox        the receiver stored the event (inbox.received_at)
    run created  the inbox sensor's tick created the run (run record)
    launched     the queued run coordinator launched it; started: the run worker began
    first step   the run's first STEP_START
    JobsiteOn    the contact row was written (contacts.updated_at)
and prints p50/p95/max of emitted -> JobsiteOn with the split, and the settings used.

`--modes` measures several configurations of the same stack in one run (a daemon restart
between them, so they share the machine's load), by default the pipeline before and after
the warm run launcher:
    whole-graph  every incremental run executes the whole sync graph, DefaultRunLauncher,
                 ticks that do not wait (the first version)
    per-entity   runs narrowed to the changed entity; DefaultRunLauncher (a fresh
                 interpreter per run, a new storage connection per call); ticks that do not wait
    warm         the shipped defaults: per-entity runs forked from the warm server with
                 pooled storage connections (qbo_pipeline/launcher), waiting inbox ticks
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import dagster as dg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import yaml  # noqa: E402

from daemon_fixtures import ROOT, DaemonStack  # noqa: E402
from qbo_pipeline.partitions import INCREMENTAL, MODE_TAG  # noqa: E402
from qbo_pipeline.sensors.inbox import DEFAULT_WAIT_SECONDS, SELECTION_ENV, WAIT_ENV  # noqa: E402

P95_GOAL_SECONDS = 8.0
# name: (environment for the daemon, whether dagster.yaml keeps the warm run launcher)
MODES = {
    "whole-graph": ({SELECTION_ENV: "all", WAIT_ENV: "0"}, False),
    "per-entity": ({SELECTION_ENV: "entities", WAIT_ENV: "0"}, False),
    "warm": ({SELECTION_ENV: "entities", WAIT_ENV: str(DEFAULT_WAIT_SECONDS)}, True),
}


@dataclass
class Sample:
    customer_id: str
    emitted: float
    inbox: float
    run_created: float
    launched: float
    started: float
    first_step: float
    jobsiteon: float
    run_end: float
    steps: int
    events_in_run: int

    @property
    def total(self) -> float:
        return self.jobsiteon - self.emitted


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def linked_contacts(stack: DaemonStack) -> list[tuple[str, str]]:
    workspace_id = stack.workspace.workspace_id
    id_map = stack.state.id_map.frame(workspace_id, "customers")
    contacts = stack.jobsiteon.read_frame(workspace_id, "contacts").set_index("id")
    live = set(contacts.index[contacts["deleted_at"].isna()])
    pairs = []
    for row in id_map.itertuples():
        if row.jobsiteon_id in live:
            customer = stack.qbo("GET", f"customer/{row.qbo_id}")["Customer"]
            if customer.get("Active", True):
                pairs.append((str(row.jobsiteon_id), str(row.qbo_id)))
    if not pairs:
        raise SystemExit("the initial sync linked no live customer")
    return pairs


def _inbox_row(stack: DaemonStack, customer_id: str, after: float):
    with stack.state.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id, received_at, claimed_by FROM inbox WHERE workspace_id = :ws AND source = 'webhook' "
            "AND record_id = :rid AND received_at >= to_timestamp(:after) ORDER BY id DESC LIMIT 1"),
            {"ws": stack.workspace.workspace_id, "rid": customer_id, "after": after - 1}).first()


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _step_times(instance: dg.DagsterInstance, run_id: str) -> tuple[float, int]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START, limit=1000).records
    starts = [r.event_log_entry.timestamp for r in records]
    return (min(starts) if starts else float("nan")), len(starts)


def measure_one(stack: DaemonStack, contact_id: str, customer_id: str, n: int) -> Sample:
    workspace_id = stack.workspace.workspace_id
    phone = f"(510) 555-{(int(time.time()) + n) % 10000:04d}"
    stack.qbo_sparse_update("Customer", customer_id, {"PrimaryPhone": {"FreeFormNumber": phone}})
    emitted = time.time()
    contact = stack.wait_for(
        lambda: (c := stack.jobsiteon.get(workspace_id, "contacts", contact_id)) and c["phone"] == phone and c,
        120, f"contact {contact_id} to get phone {phone}", interval=0.05)
    row = stack.wait_for(lambda: (r := _inbox_row(stack, customer_id, emitted)) and r.claimed_by and r,
                         30, "the webhook's inbox row")
    run_id = row.claimed_by
    stack.wait_for(lambda: stack.instance.get_run_by_id(run_id).is_finished, 120, f"run {run_id} to finish",
                   interval=0.1)
    record = stack.instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))[0]
    stats = stack.instance.get_run_stats(run_id)
    first_step, steps = _step_times(stack.instance, run_id)
    with stack.state.engine.connect() as conn:
        claimed = conn.execute(sa.text("SELECT count(*) FROM inbox WHERE claimed_by = :r"), {"r": run_id}).scalar()
    stack.wait_until_quiet(300)
    return Sample(
        customer_id=customer_id,
        emitted=emitted,
        inbox=_epoch(row.received_at),
        run_created=record.create_timestamp.timestamp(),
        launched=stats.launch_time or float("nan"),
        started=stats.start_time or float("nan"),
        first_step=first_step,
        jobsiteon=_epoch(contact["updated_at"]),
        run_end=stats.end_time or float("nan"),
        steps=steps,
        events_in_run=int(claimed),
    )


def settings_used(stack: DaemonStack) -> dict[str, str]:
    from qbo_pipeline.definitions import defs

    config = yaml.safe_load((stack.dagster_home / "dagster.yaml").read_text())
    coordinator = config["run_coordinator"]
    sensor = defs.get_sensor_def("inbox_sensor")
    job = defs.get_job_def("incremental_sync")
    runs = config.get("concurrency", {}).get("runs", {})
    return {
        "instance": "deploy/dagster.postgres.yaml (dagster-postgres storage, scratch database)",
        "run coordinator": f"{coordinator['class']}, dequeue_interval_seconds={coordinator['config'].get('dequeue_interval_seconds', 5)}",
        "run limits": f"max_concurrent_runs={runs.get('max_concurrent_runs')}, "
                      f"tag limits={[(t['key'], t['limit']) for t in runs.get('tag_concurrency_limits', [])]}",
        "inbox sensor": f"minimum_interval_seconds={sensor.minimum_interval_seconds}, "
                        f"{WAIT_ENV}={stack.extra_env.get(WAIT_ENV, DEFAULT_WAIT_SECONDS)}",
        "sensor daemon": f"use_threads={config['sensors']['use_threads']}, num_workers={config['sensors']['num_workers']}",
        "executor": f"{job.executor_def.name} (incremental_sync)",
        "run launcher": (config["run_launcher"]["class"] + " (runs forked from a preloaded server)"
                         if "run_launcher" in config else "DefaultRunLauncher (a new run-worker process per run)"),
        "webhooks": "emulator -> receiver, legacy format, delay 0 s, aggregation 0 s",
    }


def report(samples: list[Sample], settings: dict[str, str], load: tuple[float, float]) -> None:
    totals = [s.total for s in samples]
    print(f"\nQBO customer edit -> JobsiteOn contact updated, {len(samples)} events, one at a time")
    print(f"{'':>24} {'p50':>7} {'p95':>7} {'max':>7}")

    def line(name: str, values: list[float]) -> None:
        print(f"{name:>24} {statistics.median(values):7.2f} {percentile(values, 0.95):7.2f} {max(values):7.2f}")

    line("emitted -> JobsiteOn", totals)
    line("  emitted -> inbox", [s.inbox - s.emitted for s in samples])
    line("  inbox -> run created", [s.run_created - s.inbox for s in samples])
    line("  created -> launched", [s.launched - s.run_created for s in samples])
    line("  launched -> started", [s.started - s.launched for s in samples])
    line("  started -> first step", [s.first_step - s.started for s in samples])
    line("  first step -> JobsiteOn", [s.jobsiteon - s.first_step for s in samples])
    line("  (run: start -> end)", [s.run_end - s.started for s in samples])
    print(f"steps per run: {sorted({s.steps for s in samples})}; inbox events per run: "
          f"{sorted({s.events_in_run for s in samples})}")
    verdict = "meets" if percentile(totals, 0.95) <= P95_GOAL_SECONDS else "MISSES"
    print(f"p95 {percentile(totals, 0.95):.2f}s {verdict} the {P95_GOAL_SECONDS:.0f}s goal")
    print(f"load average during the run: {load[0]:.2f} -> {load[1]:.2f} (2 cores; other work on the machine counts)")
    if settings:
        print("\nsettings:")
    for key, value in settings.items():
        print(f"  {key:>16}: {value}")


def configure(stack: DaemonStack, mode: str) -> None:
    """The daemon's environment and dagster.yaml for `mode` (applied at its next start)."""
    env, warm_launcher = MODES[mode]
    stack.extra_env.update(env)
    shipped = yaml.safe_load((ROOT / "deploy" / "dagster.postgres.yaml").read_text())
    if not warm_launcher:  # Dagster's default launcher; its run monitoring cannot check workers
        shipped.pop("run_launcher", None)
        shipped.pop("run_monitoring", None)
    (stack.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(shipped, sort_keys=False))


def run_phase(stack: DaemonStack, mode: str, events: int, pairs, rng: random.Random, offset: int, gap: float):
    """Restarts the daemon in this mode and measures `events` edits."""
    stack.stop_daemon()
    configure(stack, mode)
    stack.start_daemon()
    stack.wait_until_quiet(600)
    print(f"\n[{mode}] daemon up: {MODES[mode][0]}", flush=True)
    # The first run after a daemon start also starts the warm launcher's fork server
    # (importing the code location once): measured and shown, not counted.
    contact_id, customer_id = pairs[offset % len(pairs)]
    warmup = measure_one(stack, contact_id, customer_id, offset)
    print(f"  warm-up event (first run after the daemon start, not counted): {warmup.total:5.2f}s", flush=True)
    offset += 1
    load_before = os.getloadavg()[0]
    samples = []
    for n in range(events):
        time.sleep(rng.uniform(0, gap))
        contact_id, customer_id = pairs[(offset + n) % len(pairs)]
        sample = measure_one(stack, contact_id, customer_id, offset + n)
        samples.append(sample)
        print(f"  event {n + 1:2d}: {sample.total:5.2f}s (run of {sample.steps} steps, "
              f"{sample.events_in_run} inbox event(s))", flush=True)
    return samples, (load_before, os.getloadavg()[0])



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20, help="QBO edits per mode")
    parser.add_argument("--modes", default="per-entity,warm",
                        help=f"comma-separated, measured in this order: {', '.join(MODES)}")
    parser.add_argument("--scale", type=float, default=0.01, help="demo books size (make_workspace scale)")
    parser.add_argument("--gap", type=float, default=4.0,
                        help="random 0..GAP s pause before each edit, so edits land at any phase of the sensor tick")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep-log", type=Path, help="copy the daemon's log here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}: choose from {', '.join(MODES)}")

    with tempfile.TemporaryDirectory(prefix="webhook_latency_") as tmp, DaemonStack(tmp, scale=args.scale) as stack:
        try:
            t0 = time.monotonic()
            stack.initial_sync()
            print(f"initial sync in process: {time.monotonic() - t0:.1f}s", flush=True)
            t0 = time.monotonic()
            configure(stack, modes[0])
            stack.start_daemon()
            stack.wait_for_partition(120)
            print(f"daemon up, partition added by the connections sensor: {time.monotonic() - t0:.1f}s", flush=True)
            stack.wait_until_quiet(900)
            print(f"backlog drained (echo webhooks, first CDC sweep): {time.monotonic() - t0:.1f}s", flush=True)
            pairs = linked_contacts(stack)
            results = {}
            for i, mode in enumerate(modes):
                results[mode] = run_phase(stack, mode, args.events, pairs, rng, i * (args.events + 1), args.gap)
            settings = settings_used(stack)
            for mode, (samples, load) in results.items():
                print(f"\n=== {mode} ===")
                report(samples, settings if mode == modes[-1] else {}, load)
            if len(results) >= 2:
                first, last = modes[0], modes[-1]
                totals = {m: [s.total for s in results[m][0]] for m in (first, last)}
                print(f"\n{last} vs {first}, same run: "
                      f"p50 {statistics.median(totals[last]) / statistics.median(totals[first]):.2f}x, "
                      f"p95 {percentile(totals[last], 0.95) / percentile(totals[first], 0.95):.2f}x")
            failed = [r.run_id for r in stack.runs(**{MODE_TAG: INCREMENTAL})
                      if r.status != dg.DagsterRunStatus.SUCCESS]
            if failed:
                print(f"WARNING: {len(failed)} incremental run(s) did not succeed: {failed}")
        finally:
            if args.keep_log:
                stack.stop_daemon()
                args.keep_log.write_bytes(stack.daemon_log_path.read_bytes())


if __name__ == "__main__":
    main()
