"""WarmProcessRunLauncher: real runs forked from a real fork server, on a real instance.

Each test writes a tiny code location into tmp_path (so it can be edited or broken), makes
runs of it on a SQLite-storage instance configured with the launcher, and launches them
as the daemon would (`instance.launch_run`)."""
from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.errors import DagsterLaunchFailedError
from dagster._core.launcher.base import WorkerStatus
from dagster._core.test_utils import instance_for_test

from qbo_pipeline.launcher import WarmProcessRunLauncher
from qbo_pipeline.launcher.worker_process import WORKER_TAG, WorkerProcess, process_start_ticks

CODE = '''
import os, json, time
import dagster as dg

@dg.op(config_schema={"out": str, "sleep": float})
def report(context):
    time.sleep(context.op_config["sleep"])
    with open(context.op_config["out"], "w") as handle:
        json.dump({"pid": os.getpid(), "ppid": os.getppid()}, handle)

@dg.job(executor_def=dg.in_process_executor)
def probe():
    report()

defs = dg.Definitions(jobs=[probe])
'''

DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture
def code_location(tmp_path: Path):
    module_path = tmp_path / "probe_location.py"
    module_path.write_text(textwrap.dedent(CODE))
    sys.path.insert(0, str(tmp_path))
    yield module_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("probe_location", None)


@pytest.fixture
def instance(tmp_path: Path):
    overrides = {"run_launcher": {"module": "qbo_pipeline.launcher", "class": "WarmProcessRunLauncher"}}
    home = tmp_path / "home"
    home.mkdir()
    with instance_for_test(overrides=overrides, temp_dir=str(home)) as instance:
        yield instance


def make_run(instance: dg.DagsterInstance, module_path: Path, out: Path, sleep: float = 0.0) -> dg.DagsterRun:
    repository = ReconstructableRepository.for_file(str(module_path), "defs", working_directory=str(module_path.parent))
    recon_job = ReconstructableJob(repository, "probe")
    return instance.create_run_for_job(
        job_def=recon_job.get_definition(),
        run_config={"ops": {"report": {"config": {"out": str(out), "sleep": sleep}}}},
        job_code_origin=recon_job.get_python_origin(),
    )


def wait_for_status(instance, run_id: str, statuses, timeout: float = 60) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run.status in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} is {instance.get_run_by_id(run_id).status}, not {statuses}")


def engine_messages(instance, run_id: str) -> list[str]:
    return [record.message for record in instance.all_logs(run_id)
            if record.dagster_event and record.dagster_event.event_type_value == "ENGINE_EVENT"]


def test_runs_fork_from_one_warm_server(instance, code_location, tmp_path):
    launcher = instance.run_launcher
    assert isinstance(launcher, WarmProcessRunLauncher)
    reports = []
    for n in range(2):
        out = tmp_path / f"report{n}.json"
        run = make_run(instance, code_location, out)
        instance.launch_run(run.run_id, workspace=None)
        finished = wait_for_status(instance, run.run_id, DONE)
        assert finished.status == dg.DagsterRunStatus.SUCCESS, engine_messages(instance, run.run_id)
        reports.append((json.loads(out.read_text()), finished))

    (first, first_run), (second, second_run) = reports
    server_pid = first["ppid"]
    # Both workers are children of the same long-lived server, not of this process.
    assert second["ppid"] == server_pid != os.getpid()
    assert first["pid"] != second["pid"]
    assert WorkerProcess.from_tags(second_run.tags).pid == second["pid"]
    assert any("a new warm server" in m for m in engine_messages(instance, first_run.run_id))
    assert any(f"the warm server (pid {server_pid})" in m for m in engine_messages(instance, second_run.run_id))
    # The worker executed the run itself: Dagster's own start event names its pid.
    assert any(f"pid: {second['pid']}" in m for m in engine_messages(instance, second_run.run_id))


def test_a_code_change_retires_the_warm_server(instance, code_location, tmp_path):
    run = make_run(instance, code_location, tmp_path / "a.json")
    instance.launch_run(run.run_id, workspace=None)
    assert wait_for_status(instance, run.run_id, DONE).status == dg.DagsterRunStatus.SUCCESS
    old_server = json.loads((tmp_path / "a.json").read_text())["ppid"]

    later = time.time() + 5
    os.utime(code_location, (later, later))  # what an edit or a deploy does to the file
    run = make_run(instance, code_location, tmp_path / "b.json")
    instance.launch_run(run.run_id, workspace=None)
    assert wait_for_status(instance, run.run_id, DONE).status == dg.DagsterRunStatus.SUCCESS
    new_server = json.loads((tmp_path / "b.json").read_text())["ppid"]
    assert new_server != old_server
    assert process_start_ticks(old_server) is None  # the stale server exited


def test_code_that_does_not_load_fails_the_launch_with_its_error(instance, code_location, tmp_path):
    run = make_run(instance, code_location, tmp_path / "x.json")
    code_location.write_text("import dagster as dg\nraise RuntimeError('broken deploy: settings missing')\n")
    with pytest.raises(DagsterLaunchFailedError, match="broken deploy: settings missing"):
        instance.launch_run(run.run_id, workspace=None)


def test_terminate_cancels_a_running_run(instance, code_location, tmp_path):
    run = make_run(instance, code_location, tmp_path / "slow.json", sleep=60)
    instance.launch_run(run.run_id, workspace=None)
    wait_for_status(instance, run.run_id, {dg.DagsterRunStatus.STARTED})
    assert instance.run_launcher.terminate(run.run_id)
    finished = wait_for_status(instance, run.run_id, DONE, timeout=30)
    assert finished.status == dg.DagsterRunStatus.CANCELED
    assert not (tmp_path / "slow.json").exists()
    assert instance.run_launcher.terminate(run.run_id) is False  # already finished


def test_health_check_sees_a_killed_worker(instance, code_location, tmp_path):
    run = make_run(instance, code_location, tmp_path / "slow.json", sleep=60)
    instance.launch_run(run.run_id, workspace=None)
    started = wait_for_status(instance, run.run_id, {dg.DagsterRunStatus.STARTED})
    launcher = instance.run_launcher
    assert launcher.check_run_worker_health(started).status == WorkerStatus.RUNNING

    worker = WorkerProcess.from_tags(started.tags)
    os.kill(worker.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.alive() and time.monotonic() < deadline:  # the server reaps it
        time.sleep(0.05)
    health = launcher.check_run_worker_health(instance.get_run_by_id(run.run_id))
    assert health.status == WorkerStatus.FAILED
    assert str(worker.pid) in health.msg
    instance.report_run_failed(instance.get_run_by_id(run.run_id))  # what run monitoring does with FAILED


def test_worker_identity_survives_the_tag_and_rejects_pid_reuse():
    me = WorkerProcess.of(os.getpid())
    assert me.start_ticks is not None and me.alive()
    assert WorkerProcess.from_tags({WORKER_TAG: me.to_tag()}) == me
    impostor = WorkerProcess(pid=me.pid, host=me.host, start_ticks=me.start_ticks - 1)
    assert not impostor.alive()  # same pid, another process: never signalled
    assert not impostor.interrupt()
    assert WorkerProcess.from_tags({}) is None
