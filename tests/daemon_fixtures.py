"""The pipeline as production runs it, for the daemon end-to-end test and the webhook latency
benchmark: `dagster-daemon` in a subprocess on dagster-postgres storage (deploy/dagster.postgres.yaml),
state and JobsiteOn on Postgres, the QBO emulator and the webhook receiver in this process.

    with DaemonStack(tmp_dir) as stack:       # scratch databases, emulator, receiver
        stack.initial_sync()                  # full sync in process (ephemeral instance)
        stack.start_daemon()                  # the connections sensor adds the partition
        stack.wait_for_partition()
        ...                                   # edit QBO: stack.qbo_sparse_update("Customer", ...)
    # daemon stopped (process group), databases dropped

Everything here goes through real parts: HTTP on loopback, real Postgres, the real daemon."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import sqlalchemy as sa

from conftest import create_scratch_database, drop_database
from pipeline_fixtures import Workspace, make_workspace, materialize
from qbo_pipeline.emulator.server import EmulatorServer
from qbo_pipeline.emulator.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from qbo_pipeline.partitions import workspaces
from qbo_pipeline.state import StateStore
from qbo_pipeline.webhooks import ReceiverServer

ROOT = Path(__file__).resolve().parents[1]
VERIFIER_TOKEN = "daemon-e2e-verifier-token"
DAEMON_BIN = Path(sys.executable).with_name("dagster-daemon")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, *, interval: float = 0.05,
             on_timeout: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


class WebhookRecorder:
    """A second webhook target that keeps every delivery (body and headers) so a test can
    replay one later, the way Intuit re-delivers a notification it thinks failed."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                recorder.deliveries.append((body, dict(self.headers.items())))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-recorder", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/qbo"

    def start(self) -> WebhookRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _pg_env(url: str) -> dict[str, str]:
    parsed = sa.engine.make_url(url)
    return {
        "DAGSTER_PG_USERNAME": parsed.username or "postgres",
        "DAGSTER_PG_PASSWORD": parsed.password or "",
        "DAGSTER_PG_HOST": parsed.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parsed.port or 5432),
        "DAGSTER_PG_DB": parsed.database,
    }


@contextlib.contextmanager
def patched_environ(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class DaemonStack:
    def __init__(self, tmp_dir: Path | str, *, scale: float = 0.01, record_webhooks: bool = False,
                 extra_env: dict[str, str] | None = None) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.scale = scale
        self.record_webhooks = record_webhooks
        self.extra_env = extra_env or {}
        self.dagster_home = self.tmp_dir / "dagster_home"
        self.daemon_log_path = self.tmp_dir / "daemon.log"
        self._databases: list[str] = []
        self._stack = contextlib.ExitStack()
        self.daemon: subprocess.Popen | None = None
        self.instance: dg.DagsterInstance | None = None
        self.recorder: WebhookRecorder | None = None

    # -- set-up ------------------------------------------------------------------------

    def __enter__(self) -> DaemonStack:
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _database(self, prefix: str) -> str:
        url = create_scratch_database(prefix)
        self._databases.append(url)
        return url

    def _setup(self) -> None:
        self.dagster_url = self._database("dagster_e2e")
        self.state_url = self._database("state_e2e")
        self.jobsiteon_url = self._database("jobsiteon_e2e")
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        # The production instance config, verbatim: the test must run what we deploy.
        shutil.copy(ROOT / "deploy" / "dagster.postgres.yaml", self.dagster_home / "dagster.yaml")
        self.pg_env = _pg_env(self.dagster_url)

        self.emulator = EmulatorServer(host="127.0.0.1", port=0).start()
        self._stack.callback(self.emulator.stop)
        self.state = StateStore.from_url(self.state_url)
        self._stack.callback(self.state.dispose)
        self.receiver = ReceiverServer(self.state, VERIFIER_TOKEN).start()
        self._stack.callback(self.receiver.stop)
        targets = [{"url": self.receiver.webhook_url, "format": "legacy"}]
        if self.record_webhooks:
            self.recorder = WebhookRecorder().start()
            self._stack.callback(self.recorder.stop)
            targets.append({"url": self.recorder.url, "format": "legacy"})
        httpx.put(f"{self.emulator.base_url}/_emulator/webhooks",
                  json={"targets": targets, "verifier_token": VERIFIER_TOKEN}).raise_for_status()
        self.workspace: Workspace = make_workspace(
            self.emulator.base_url, self.state_url, self.jobsiteon_url, scale=self.scale)
        self.jobsiteon = self.workspace.jobsiteon
        self._stack.callback(self.jobsiteon.engine.dispose)
        with patched_environ(self.pg_env):
            self.instance = dg.DagsterInstance.from_config(str(self.dagster_home))
        self._stack.callback(self.instance.dispose)

    def initial_sync(self) -> dg.ExecuteInProcessResult:
        """The connect-time full sync, in process on a throwaway instance: the daemon's
        instance starts without the workspace partition, as after a real connect."""
        with dg.DagsterInstance.ephemeral() as instance:
            result = materialize(self.workspace, instance)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        self.emulator.backend.webhooks.flush(10)
        return result

    def daemon_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "QBO_", "JOBSITEON_"))}
        env.update(self.pg_env)
        env.update({
            "DAGSTER_HOME": str(self.dagster_home),
            "PYTHONUNBUFFERED": "1",
            "QBO_PIPELINE_DATABASE_URL": self.state_url,
            "JOBSITEON_DATABASE_URL": self.jobsiteon_url,
            "QBO_ENVIRONMENT": "emulator",
            "QBO_EMULATOR_URL": self.emulator.base_url,
            "QBO_CLIENT_ID": DEFAULT_CLIENT_ID,
            "QBO_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "QBO_PIPELINE_TOKEN_KEY": self.workspace.token_key,
        })
        env.update(self.extra_env)
        return env

    def start_daemon(self) -> subprocess.Popen:
        log = open(self.daemon_log_path, "ab")
        self._stack.callback(log.close)
        self.daemon = subprocess.Popen(
            [str(DAEMON_BIN), "run", "-w", str(ROOT / "workspace.yaml")],
            cwd=ROOT, env=self.daemon_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: code server and run workers die with it
        )
        self._stack.callback(self.stop_daemon)
        return self.daemon

    def stop_daemon(self) -> None:
        if self.daemon is None or self.daemon.poll() is not None:
            return
        group = os.getpgid(self.daemon.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.daemon.wait(timeout=10)
        # Run workers and the code server share the group; make sure none is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)

    def close(self) -> None:
        try:
            self._stack.close()
            keep = os.environ.get("QBO_E2E_KEEP_LOG")  # debugging: where to copy the daemon's log
            if keep and self.daemon_log_path.exists():
                shutil.copy(self.daemon_log_path, keep)
        finally:
            for url in reversed(self._databases):
                with contextlib.suppress(Exception):
                    drop_database(url)
            self._databases.clear()

    # -- observation -------------------------------------------------------------------

    def daemon_log_tail(self, lines: int = 80) -> str:
        try:
            text = self.daemon_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "\n(no daemon log)"
        return "\n--- dagster-daemon log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    def assert_daemon_alive(self) -> None:
        if self.daemon is not None and self.daemon.poll() is not None:
            raise AssertionError(f"dagster-daemon exited with {self.daemon.returncode}" + self.daemon_log_tail())

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
        def check():
            self.assert_daemon_alive()
            return predicate()

        return wait_for(check, timeout, what, interval=interval, on_timeout=self.daemon_log_tail)

    def wait_for_partition(self, timeout: float = 180) -> None:
        workspace_id = self.workspace.workspace_id
        self.wait_for(lambda: workspace_id in self.instance.get_dynamic_partitions(workspaces.name), timeout,
                      f"the connections sensor to add partition {workspace_id}", interval=0.25)

    def sensor_ticks(self, name: str, after: float) -> list:
        """Ticks of sensor `name` evaluated after `after` (epoch seconds), oldest first."""
        from dagster._core.definitions.run_request import InstigatorType

        for state in self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.instigator_name == name:
                ticks = self.instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
                return sorted(ticks, key=lambda tick: tick.timestamp)
        return []

    def runs(self, **tags: str) -> list:
        from qbo_pipeline.partitions import WORKSPACE_TAG

        filters = dg.RunsFilter(tags={WORKSPACE_TAG: self.workspace.workspace_id, **tags})
        return list(self.instance.get_runs(filters=filters))

    def active_runs(self) -> list:
        done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
        return [r for r in self.runs() if r.status not in done]

    def wait_until_quiet(self, timeout: float = 90) -> None:
        """No pending inbox event and no queued or running run for the workspace."""
        workspace_id = self.workspace.workspace_id

        def quiet():
            return self.state.inbox.count(workspace_id, pending_only=True) == 0 and not self.active_runs()

        self.wait_for(quiet, timeout, "the workspace's inbox to drain and its runs to finish", interval=0.25)

    # -- acting on QBO as a user would ---------------------------------------------------

    def user_token(self) -> str:
        """An access token of another app session on the company: edits made with it are a
        QBO user's, not the pipeline's."""
        if not hasattr(self, "_user_token"):
            response = httpx.post(f"{self.emulator.base_url}/_emulator/companies/{self.workspace.realm_id}/tokens")
            response.raise_for_status()
            self._user_token = response.json()["access_token"]
            self._http = httpx.Client(timeout=10)
            self._stack.callback(self._http.close)
        return self._user_token

    def qbo(self, method: str, path: str, **kwargs) -> dict:
        token = self.user_token()
        response = self._http.request(
            method, f"{self.emulator.base_url}/v3/company/{self.workspace.realm_id}/{path}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}, **kwargs)
        response.raise_for_status()
        return response.json()

    def qbo_sparse_update(self, entity: str, record_id: str, fields: dict) -> dict:
        current = self.qbo("GET", f"{entity.lower()}/{record_id}")[entity]
        body = {"Id": record_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
        return self.qbo("POST", entity.lower(), json=body)[entity]
