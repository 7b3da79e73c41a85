"""Runs `qbo-pipeline ...` commands as a user would, in a subprocess with the demo's
environment: their output is shown indented, Dagster's own log goes to a log file, and
while a long command runs the step it is on is reported every few seconds."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from qbo_pipeline.demo import console
from qbo_pipeline.demo.config import DemoConfig, DemoError

_STEP = re.compile(r'Started execution of step "([^"]+)"')
PROGRESS_EVERY = 15.0


def qbo_pipeline_argv(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("qbo-pipeline")), *args]


def run_cli(config: DemoConfig, args: list[str], *, log_name: str, check: bool = True,
            echo: bool = True) -> tuple[int, list[str]]:
    """Runs `qbo-pipeline <args>`; returns (exit code, stdout lines)."""
    console.info("$ qbo-pipeline " + " ".join(args))
    log_path = config.log_dir / f"{log_name}.log"
    lines: list[str] = []
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            qbo_pipeline_argv(*args), cwd=config.project_root, env=config.env(), stdout=subprocess.PIPE,
            stderr=log, stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        watcher = _ProgressWatcher(log_path, process)
        watcher.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip("\n")
                lines.append(line)
                if echo:
                    console.info(line, indent=2)
            code = process.wait()
        except BaseException:
            process.terminate()
            process.wait(10)
            raise
        finally:
            watcher.stop()
    if check and code != 0:
        raise DemoError(f"`qbo-pipeline {' '.join(args)}` failed with exit code {code}; its log: {log_path}")
    return code, lines


class _ProgressWatcher:
    """Prints the Dagster step a long-running command is on (from its log)."""

    def __init__(self, log_path: Path, process: subprocess.Popen) -> None:
        self._log_path = log_path
        self._process = process
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        started = time.monotonic()
        last = None
        while not self._done.wait(PROGRESS_EVERY):
            try:
                steps = _STEP.findall(self._log_path.read_text(errors="replace"))
            except OSError:
                continue
            if steps and steps[-1] != last and self._process.poll() is None:
                last = steps[-1]
                console.info(f"... {time.monotonic() - started:4.0f}s, running step {last}", indent=2)
