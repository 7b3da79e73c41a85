"""Waiting for the pipeline to settle: JobsiteOn's feed relayed, QBO's webhooks delivered,
the inbox drained and no run of the workspace queued or in progress. Failed runs are
reported as they happen (they are the pipeline's problems, not to be hidden)."""
from __future__ import annotations

import time
from collections import Counter

import httpx

from qbo_pipeline.demo import console
from qbo_pipeline.demo.config import DemoConfig, DemoError
from qbo_pipeline.demo.setup import RELAY_CURSOR
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.partitions import WORKSPACE_TAG
from qbo_pipeline.state import StateStore

PROGRESS_EVERY = 30.0


class RunWatcher:
    """The workspace's runs in the Dagster instance (DAGSTER_HOME)."""

    def __init__(self, workspace_id: str) -> None:
        import dagster as dg

        self.workspace_id = workspace_id
        self.instance = dg.DagsterInstance.get()
        self._reported: set[str] = set()

    def _runs(self, statuses):
        import dagster as dg

        return self.instance.get_runs(filters=dg.RunsFilter(statuses=statuses, tags={WORKSPACE_TAG: self.workspace_id}))

    def active(self) -> list:
        import dagster as dg

        s = dg.DagsterRunStatus
        return self._runs([s.QUEUED, s.NOT_STARTED, s.STARTING, s.STARTED, s.CANCELING])

    def new_failures(self) -> list[str]:
        import dagster as dg

        out = []
        for run in self._runs([dg.DagsterRunStatus.FAILURE]):
            if run.run_id in self._reported:
                continue
            self._reported.add(run.run_id)
            out.append(f"run {run.run_id[:8]} ({run.job_name}) failed: {self._failure(run.run_id)}")
        return out

    def mark_seen(self) -> None:
        self.new_failures()

    def _failure(self, run_id: str) -> str:
        from dagster._core.events import DagsterEventType

        for record in reversed(self.instance.all_logs(run_id)):
            event = record.dagster_event
            if event is not None and event.event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
                error = getattr(event.event_specific_data, "error", None)
                text = (error.message if error else record.message) or ""
                return " ".join(text.split())[:300]
        return "see the Dagster UI"


def wait_idle(config: DemoConfig, state: StateStore, jobsiteon: JobsiteOnStore, runs: RunWatcher, *,
              timeout: float, what: str, settle: float = 6.0) -> float:
    """Returns the seconds it took; raises DemoError naming what is still busy on timeout."""
    started = time.monotonic()
    last_print = started
    idle_since: float | None = None
    while True:
        for failure in runs.new_failures():
            console.warn(failure)
        flushed = _flush_webhooks(config)
        relayed = int(state.cursors.get(*RELAY_CURSOR) or 0) >= jobsiteon.latest_seq()
        pending = state.inbox.count(config.workspace_id, pending_only=True)
        active = runs.active()
        busy = not (flushed and relayed and pending == 0 and not active)
        now = time.monotonic()
        if busy:
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since >= settle:
            return now - started
        if now - started > timeout:
            raise DemoError(
                f"the pipeline did not settle ({what}) within {timeout:.0f}s: {pending} inbox event(s) pending, "
                f"{len(active)} run(s) queued or running, JobsiteOn feed {'relayed' if relayed else 'NOT relayed'}; "
                f"see {config.dagster_url}/runs and {config.log_dir}"
            )
        if now - last_print >= PROGRESS_EVERY:
            last_print = now
            by_status = Counter(r.status.value.lower() for r in active)
            states = ", ".join(f"{n} run(s) {s}" for s, n in sorted(by_status.items())) or "no run"
            console.info(f"... {now - started:4.0f}s: {pending} inbox event(s) pending; {states}; "
                         f"{sum(state.dead_letters.count_open(config.workspace_id).values())} open dead letter(s)",
                         indent=2)
        time.sleep(1.0)


def _flush_webhooks(config: DemoConfig) -> bool:
    try:
        response = httpx.post(f"{config.emulator_url}/_emulator/webhooks/flush", json={"timeout": 0.5}, timeout=10)
        return bool(response.json().get("flushed"))
    except httpx.HTTPError:
        return False
