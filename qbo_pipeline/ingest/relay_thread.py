"""Runs the JobsiteOn change-feed relay every few seconds on a background thread, next to the
webhook receiver (`qbo-pipeline webhooks serve --relay-interval`), in tests and in the demo.

A failing pass (database restart, network blip) is logged and retried at the next interval:
the relay's cursor only moves after the inbox insert, so nothing is lost in between."""
from __future__ import annotations

import logging
import threading
import time

from qbo_pipeline.ingest.relay import relay_jobsiteon_changes
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 2.0


class RelayThread:
    """`RelayThread(state, jobsiteon, interval=2.0).start()` ... `.stop()` (or a `with` block).

    `.passes`, `.moved` and `.errors` count what it did; `.last_error` is the latest
    failure's text (no secrets: database errors carry no credentials here)."""

    def __init__(self, state: StateStore, jobsiteon: JobsiteOnStore, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        if interval <= 0:
            raise ValueError(f"relay interval must be positive seconds, got {interval}")
        self.state = state
        self.jobsiteon = jobsiteon
        self.interval = float(interval)
        self.passes = 0
        self.moved = 0
        self.errors = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"RelayThread(interval={self.interval}s, passes={self.passes}, moved={self.moved}, errors={self.errors})"

    def run_once(self) -> int:
        """One relay pass; returns how many events it stored (0 on failure, logged)."""
        try:
            moved = relay_jobsiteon_changes(self.state, self.jobsiteon)
        except Exception as exc:  # noqa: BLE001 - keep relaying; the next pass retries
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning("JobsiteOn relay pass failed (%s); retrying in %.1fs", self.last_error, self.interval)
            return 0
        finally:
            self.passes += 1
        self.moved += moved
        if moved:
            log.info("relayed %d JobsiteOn change(s) into the inbox", moved)
        return moved

    def poke(self) -> None:
        """Runs the next pass now instead of at the end of the interval."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.run_once()
            self._wake.wait(max(0.0, self.interval - (time.monotonic() - started)))
            self._wake.clear()

    def start(self) -> RelayThread:
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="jobsiteon-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> RelayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
