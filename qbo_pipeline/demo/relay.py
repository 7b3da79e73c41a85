"""Stand-in for `qbo-pipeline webhooks serve --relay-interval`: relays JobsiteOn's change
feed into the inbox every second on a thread of the demo, for as long as the ingest service
cannot do it itself."""
from __future__ import annotations

import logging
import threading

from qbo_pipeline.ingest import relay_jobsiteon_changes
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore

log = logging.getLogger(__name__)


class RelayThread:
    def __init__(self, state: StateStore, jobsiteon: JobsiteOnStore, interval: float = 1.0) -> None:
        self._state = state
        self._jobsiteon = jobsiteon
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-jobsiteon-relay", daemon=True)
        self.relayed = 0
        self.last_error: str | None = None

    def start(self) -> RelayThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.relayed += relay_jobsiteon_changes(self._state, self._jobsiteon)
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - keep relaying; the next tick retries
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("JobsiteOn relay failed: %s", self.last_error)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
