"""The JobsiteOn relay running by itself: on a `RelayThread`, and inside `qbo-pipeline
webhooks serve --relay-interval`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from qbo_pipeline.ingest import RelayThread
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore

from state_fixtures import tokens, vault, vault_key  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _stores(tmp_path, vault, workspace: str = "ws-1"):
    state = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    state.connections.connect(workspace, "9130001", tokens(), vault)
    jobsiteon = JobsiteOnStore.from_url(f"sqlite:///{tmp_path / 'jobsiteon.db'}")
    jobsiteon.ensure_workspace(workspace, "Demo Builders")
    return state, jobsiteon


def test_relay_thread_moves_user_changes_and_skips_the_integrations_own(tmp_path, vault):
    state, jobsiteon = _stores(tmp_path, vault)
    with RelayThread(state, jobsiteon, interval=0.1) as relay:
        user_contact = jobsiteon.create_contact("ws-1", "Ann Builder", "ann@example.com")
        jobsiteon.create_contact("ws-1", "Synced Back", "synced@example.com", origin="integration")
        events = _wait_for(lambda: state.inbox.pending("ws-1"), 5, "the user's change in the inbox")
        assert relay.running
    assert not relay.running
    assert [(e.source, e.entity, e.record_id) for e in events] == [("jobsiteon", "contacts", user_contact)]
    passes = relay.passes
    assert relay.moved == 1 and relay.errors == 0 and passes >= 1
    # Stopped means stopped: later changes wait for the next relay.
    jobsiteon.update_record("ws-1", "contacts", user_contact, phone="555-0100")
    time.sleep(0.3)
    assert relay.passes == passes and state.inbox.count("ws-1") == 1
    assert relay.run_once() == 1
    state.dispose()


def test_relay_thread_survives_a_failing_pass(tmp_path, vault):
    state, jobsiteon = _stores(tmp_path, vault)
    broken = JobsiteOnStore.from_url(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}", create=False)
    relay = RelayThread(state, broken, interval=0.05).start()
    try:
        _wait_for(lambda: relay.errors >= 2, 5, "two failed passes")
        assert relay.running and relay.last_error
        relay.jobsiteon = jobsiteon  # the database is back
        jobsiteon.create_contact("ws-1", "Back Online")
        _wait_for(lambda: state.inbox.count("ws-1") == 1, 5, "the change after recovery")
    finally:
        relay.stop()
    state.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhooks_serve_relays_jobsiteon_changes(tmp_path, vault, vault_key):
    state, jobsiteon = _stores(tmp_path, vault)
    port = _free_port()
    env = {
        **os.environ,
        "QBO_PIPELINE_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "JOBSITEON_DATABASE_URL": f"sqlite:///{tmp_path / 'jobsiteon.db'}",
        "QBO_WEBHOOK_VERIFIER_TOKEN": "test-verifier-token",
    }
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("qbo-pipeline")), "webhooks", "serve", "--port", str(port),
         "--relay-interval", "0.2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        def healthy():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None
        _wait_for(healthy, 30, "the receiver to start")
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        contact = jobsiteon.create_contact("ws-1", "Relayed Contact")
        events = _wait_for(lambda: state.inbox.pending("ws-1"), 10, "the relayed change")
        assert [(e.source, e.record_id) for e in events] == [("jobsiteon", contact)]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert "relaying JobsiteOn changes every 0.2s" in output, output
    state.dispose()
