"""Identify a run worker process so it can be signalled or checked later without hitting
an unrelated process that reused its pid."""
from __future__ import annotations

import json
import os
import signal
import socket
from dataclasses import dataclass

WORKER_TAG = "qbo_pipeline/run_worker"


def process_start_ticks(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot, /proc/<pid>/stat field 22):
    with the pid it names one process for the life of the machine. None: no such process,
    or not Linux."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after it don't.
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):  # a zombie has finished its work
        return None
    return int(fields[19])


@dataclass(frozen=True)
class WorkerProcess:
    pid: int
    host: str
    start_ticks: int | None

    @classmethod
    def of(cls, pid: int) -> WorkerProcess:
        return cls(pid=pid, host=socket.gethostname(), start_ticks=process_start_ticks(pid))

    def to_tag(self) -> str:
        return json.dumps({"pid": self.pid, "host": self.host, "start_ticks": self.start_ticks})

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> WorkerProcess | None:
        raw = tags.get(WORKER_TAG)
        if not raw:
            return None
        data = json.loads(raw)
        return cls(pid=int(data["pid"]), host=data["host"], start_ticks=data.get("start_ticks"))

    @property
    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """Whether this very process still runs (on this host)."""
        if self.start_ticks is not None:
            return process_start_ticks(self.pid) == self.start_ticks
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def interrupt(self) -> bool:
        """SIGINT, which a Dagster run worker turns into a clean cancellation. False if the
        process is gone."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        return True
