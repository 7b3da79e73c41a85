"""WarmProcessRunLauncher: Dagster runs forked from a warm copy of the code location.

Dagster's DefaultRunLauncher asks the code server to spawn a fresh interpreter per run,
which then imports everything before its first step: on this 2-core machine that was
7.8 s (p50) of an incremental run's 15.7 s webhook latency, and 18-35 s under load. This
launcher keeps one fork server per code location (qbo_pipeline.launcher.fork_server),
started on the first launch, and forks each run from it. Run workers also keep pooled
storage connections (qbo_pipeline.launcher.run_worker).

Everything else is Dagster's: the run worker executes the same body as
`dagster api execute_run`, the queued run coordinator's limits apply as before, SIGINT
cancels a run the way Dagster's own termination does, and run monitoring can ask
whether a worker is still alive (its pid, host and kernel start time are a run tag).

    run_launcher:
      module: qbo_pipeline.launcher
      class: WarmProcessRunLauncher
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from dagster import Field
from dagster import _check as check
from dagster._core.errors import DagsterLaunchFailedError
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value

from qbo_pipeline.launcher.worker_process import WORKER_TAG, WorkerProcess

DEFAULT_PRELOAD_TIMEOUT_SECONDS = 300
REPLY_TIMEOUT_SECONDS = 30


class ForkServerError(Exception):
    """The fork server failed to start, died, or answered nonsense."""


class StaleForkServer(Exception):
    """The code location's source changed since the server loaded it."""


class ForkServer:
    """The launcher's handle on one running fork server process."""

    def __init__(self, serialized_origin: str, executable: str, cwd: str | None, preload_timeout: float) -> None:
        self.process = subprocess.Popen(
            [executable, "-m", "qbo_pipeline.launcher.fork_server", serialized_origin],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,  # stderr: the daemon's log
            cwd=cwd, text=True, bufsize=1,
        )
        ready = self._read_reply(preload_timeout, "load the code location")
        if not ready.get("ready"):
            self.close()
            raise ForkServerError("the warm run-worker server could not load the code location:\n"
                                  + ready.get("error", "(no error text)"))
        self.preload_seconds = ready.get("preload_seconds")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def _read_reply(self, timeout: float, doing: str) -> dict[str, Any]:
        stdout = self.process.stdout
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise ForkServerError(f"the warm run-worker server (pid {self.pid}) did not {doing} within "
                                      f"{timeout:.0f} s")
            readable, _, _ = select.select([stdout], [], [], min(remaining, 1.0))
            if readable:
                line = stdout.readline()
                if not line:
                    code = self.process.wait(timeout=5)
                    raise ForkServerError(f"the warm run-worker server (pid {self.pid}) exited with {code} "
                                          f"instead of answering; its output is in the daemon's log")
                return json.loads(line)
            if not self.alive():
                raise ForkServerError(f"the warm run-worker server (pid {self.pid}) exited with "
                                      f"{self.process.returncode}; its output is in the daemon's log")

    def fork(self, run_id: str, serialized_instance_ref: str) -> int:
        try:
            self.process.stdin.write(json.dumps({"run_id": run_id, "instance_ref": serialized_instance_ref}) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise ForkServerError(f"the warm run-worker server (pid {self.pid}) is gone: {error}") from error
        reply = self._read_reply(REPLY_TIMEOUT_SECONDS, f"fork a worker for run {run_id}")
        if "stale" in reply:
            raise StaleForkServer(reply["stale"])
        return int(reply["pid"])

    def close(self) -> None:
        """End the server; workers it forked keep running to the end of their runs."""
        if self.process.stdin and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()


class WarmProcessRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a process forked from a warm, preloaded copy of its code location."""

    def __init__(self, inst_data: ConfigurableClassData | None = None,
                 preload_timeout_seconds: int = DEFAULT_PRELOAD_TIMEOUT_SECONDS) -> None:
        self._inst_data = inst_data
        self._preload_timeout = preload_timeout_seconds
        self._servers: dict[str, ForkServer] = {}
        self._lock = threading.Lock()
        self._run_ids: set[str] = set()
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {
            "preload_timeout_seconds": Field(
                int, is_required=False, default_value=DEFAULT_PRELOAD_TIMEOUT_SECONDS,
                description="How long a fork server may take to import the code location.",
            )
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, **config_value)

    # -- launching -----------------------------------------------------------------------

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = check.not_none(run.job_code_origin, f"run {run.run_id} has no code origin to load")
        repository_origin = origin.repository_origin
        started = time.monotonic()
        pid, server, fresh = self._fork(repository_origin, run.run_id)
        worker = WorkerProcess.of(pid)
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: worker.to_tag()})
        how = (f"a new warm server (pid {server.pid}, code loaded in {server.preload_seconds} s)" if fresh
               else f"the warm server (pid {server.pid})")
        self._instance.report_engine_event(
            f"Forked run worker pid {pid} from {how} in {time.monotonic() - started:.3f} s.",
            run, cls=self.__class__,
        )
        self._run_ids.add(run.run_id)

    def _fork(self, repository_origin, run_id: str) -> tuple[int, ForkServer, bool]:
        key = serialize_value(repository_origin)
        instance_ref = serialize_value(self._instance.get_ref())
        with self._lock:
            for _attempt in range(2):  # a stale or dead server is replaced once
                server = self._servers.get(key)
                fresh = server is None or not server.alive()
                if fresh:
                    server = self._servers[key] = self._start_server(key, repository_origin)
                try:
                    return server.fork(run_id, instance_ref), server, fresh
                except (StaleForkServer, ForkServerError) as error:
                    server.close()
                    del self._servers[key]
                    if fresh:
                        raise DagsterLaunchFailedError(f"could not fork a worker for run {run_id}: {error}") from error
        raise DagsterLaunchFailedError(f"could not fork a worker for run {run_id}")  # pragma: no cover

    def _start_server(self, key: str, repository_origin) -> ForkServer:
        working_directory = getattr(repository_origin.code_pointer, "working_directory", None)
        try:
            return ForkServer(key, repository_origin.executable_path or sys.executable, working_directory,
                              self._preload_timeout)
        except ForkServerError as error:
            raise DagsterLaunchFailedError(str(error)) from error

    # -- termination and health ---------------------------------------------------------------

    def terminate(self, run_id: str) -> bool:
        check.str_param(run_id, "run_id")
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        worker = WorkerProcess.from_tags(run.tags)
        if worker is None or not worker.on_this_host:
            where = "no worker recorded" if worker is None else f"its worker runs on {worker.host}"
            self._instance.report_engine_event(f"Cannot interrupt run {run_id}: {where}.", run, cls=self.__class__)
            return False
        return worker.interrupt()

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = WorkerProcess.from_tags(run.tags)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, "no run worker recorded for this run")
        if not worker.on_this_host:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"the run worker runs on {worker.host}")
        if worker.alive():
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(worker.pid))
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {worker.pid} exited without ending the run",
                                    run_worker_id=str(worker.pid))

    # -- lifecycle ------------------------------------------------------------------------

    def join(self, timeout: int = 30) -> None:
        """Wait for the runs this launcher started to finish (tests, orderly shutdown)."""
        if not self.has_instance:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = [run_id for run_id in self._run_ids
                      if (run := self._instance.get_run_by_id(run_id)) is not None and not run.is_finished]
            if not active:
                return
            time.sleep(0.1)
        raise TimeoutError(f"runs still active after {timeout} s: {active}")

    def dispose(self) -> None:
        with self._lock:
            for server in self._servers.values():
                server.close()
            self._servers.clear()
