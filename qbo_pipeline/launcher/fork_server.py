"""The warm fork server: a process that has imported a code location once and forks a run
worker per run.

    python -m qbo_pipeline.launcher.fork_server <serialized RepositoryPythonOrigin>

A fresh run worker spends seconds importing Dagster, pandas, SQLAlchemy and the code
location before its first step (7-8 s on this 2-core machine under load, 18-35 s when
saturated). This process pays that once; `os.fork()` then hands each run a copy of the
loaded interpreter in milliseconds. It never opens a database connection or starts a
thread before forking, so children inherit no shared sockets or locks.

Protocol (JSON lines; requests on stdin, replies on the original stdout, which is moved
off fd 1 so that nothing user code prints can corrupt it):
    -> ready      {"ready": true, "pid": N, "preload_seconds": S}   or {"ready": false, "error": "..."}
    <- request    {"run_id": "...", "instance_ref": "<serialized InstanceRef>"}
    -> reply      {"pid": N}   or {"stale": "<changed file>"} (then this process exits)
End of input (the launcher went away) ends this process; running workers finish their runs.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any


def _reap_children(_signum: int, _frame: Any) -> None:
    """Workers are our children: collect their exit status so none lingers as a zombie."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class SourceWatch:
    """The code location's own source files and their modification times at preload, so a
    code change (a deploy, `dagster dev` reloading) retires this warm copy instead of
    running new runs on old code."""

    def __init__(self, roots: list[Path]) -> None:
        self._roots = [root.resolve() for root in roots]
        self._mtimes: dict[str, int] = {}
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if path and self._watched(Path(path)):
                self._mtimes[path] = self._mtime(path)

    def _watched(self, path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved.is_relative_to(root) for root in self._roots) and "site-packages" not in resolved.parts

    @staticmethod
    def _mtime(path: str) -> int:
        try:
            return os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return -1

    def __len__(self) -> int:
        return len(self._mtimes)

    def changed(self) -> str | None:
        """The first watched file that changed since preload, or None."""
        for path, mtime in self._mtimes.items():
            if self._mtime(path) != mtime:
                return path
        return None


def source_roots(origin) -> list[Path]:
    """Directories holding the code location's own code: its working directory and the
    top-level package (or file) its code pointer names."""
    pointer = origin.code_pointer
    roots: list[Path] = []
    working_directory = getattr(pointer, "working_directory", None)
    if working_directory:
        roots.append(Path(working_directory))
    python_file = getattr(pointer, "python_file", None)
    if python_file:
        roots.append(Path(python_file).parent)
    module_name = getattr(pointer, "module", None)
    if module_name:
        package = sys.modules.get(module_name.split(".")[0])
        package_file = getattr(package, "__file__", None)
        if package_file:
            roots.append(Path(package_file).parent)
    return roots


def preload(serialized_origin: str):
    """Import the code location and build its definitions: everything a run worker would
    otherwise do before its first step."""
    from dagster._core.origin import RepositoryPythonOrigin
    from dagster._serdes import deserialize_value
    from dagster._utils.hosted_user_process import recon_repository_from_origin

    origin = deserialize_value(serialized_origin, RepositoryPythonOrigin)
    repository = recon_repository_from_origin(origin).get_definition()
    for job in repository.get_all_jobs():
        job.get_job_snapshot()  # built lazily and cached: build it once here, for every fork
    # The run worker's own imports, so a fork starts with them loaded.
    import qbo_pipeline.launcher.run_worker  # noqa: F401

    return origin


def _run_child(request: dict, channels: tuple[IO, IO]) -> None:
    """In the forked child: execute the run and leave without unwinding the server's stack."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the run may wait on its own subprocesses
    exit_code = 1
    try:
        for channel in channels:
            channel.close()
        from qbo_pipeline.launcher.run_worker import execute_run

        exit_code = execute_run(request["run_id"], request["instance_ref"])
    except BaseException:  # noqa: BLE001 - the worker must always reach os._exit
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)


def serve(serialized_origin: str) -> int:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    requests = os.fdopen(os.dup(0), "r")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    def reply(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    started = time.monotonic()
    try:
        origin = preload(serialized_origin)
    except Exception:  # noqa: BLE001 - reported to the launcher, which fails the run with it
        reply({"ready": False, "error": traceback.format_exc()})
        return 1
    watch = SourceWatch(source_roots(origin))
    extra_threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if extra_threads:  # a thread would be copied half-way into every fork: say so loudly
        print(f"qbo_pipeline fork server: threads after preload: {extra_threads}", file=sys.stderr)
    signal.signal(signal.SIGCHLD, _reap_children)
    reply({"ready": True, "pid": os.getpid(), "preload_seconds": round(time.monotonic() - started, 3),
           "watched_files": len(watch)})

    for line in requests:
        if not line.strip():
            continue
        changed = watch.changed()
        if changed:
            reply({"stale": changed})
            return 0
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_child(request, (requests, replies))
        reply({"pid": pid})
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m qbo_pipeline.launcher.fork_server <serialized RepositoryPythonOrigin>",
              file=sys.stderr)
        return 2
    return serve(argv[0])


if __name__ == "__main__":
    sys.exit(main())
