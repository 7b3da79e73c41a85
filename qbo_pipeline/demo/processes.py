"""Child processes of the demo: each in its own process group with its output in
data/demo/logs/<name>.log, waited for until healthy, and stopped group by group."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx

from qbo_pipeline.demo.config import DemoError


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


def ensure_port_free(port: int, what: str, env_var: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(
                f"port {port} for the {what} is already in use on 127.0.0.1 (another demo or "
                f"service?); stop it, or pick another port: {env_var}=<port>"
            ) from None


class ProcessGroup:
    """Starts children and stops them all (SIGTERM to each process group, SIGKILL after
    a grace period), newest first."""

    def __init__(self, log_dir: Path, env: dict[str, str], cwd: Path) -> None:
        self.log_dir = log_dir
        self.env = env
        self.cwd = cwd
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str]) -> Child:
        log_path = self.log_dir / f"{name}.log"
        handle = open(log_path, "ab")
        try:
            process = subprocess.Popen(
                argv, cwd=self.cwd, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            handle.close()
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def wait_healthy(self, child: Child, check: Callable[[], bool], timeout: float, what: str) -> float:
        """Polls `check` until it is true; fails early with the log tail if the child exits."""
        started = time.monotonic()
        while True:
            if child.process.poll() is not None:
                raise DemoError(
                    f"{child.name} exited with code {child.process.returncode} before it was healthy "
                    f"({what}); its log {child.log_path} ends with:\n{child.tail()}"
                )
            try:
                if check():
                    return time.monotonic() - started
            except (httpx.HTTPError, OSError):
                pass
            if time.monotonic() - started > timeout:
                raise DemoError(
                    f"{child.name} was not healthy ({what}) within {timeout:.0f} s; see {child.log_path}:\n"
                    f"{child.tail()}"
                )
            time.sleep(0.25)

    def check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise DemoError(
                    f"{child.name} stopped unexpectedly (exit code {child.process.returncode}); "
                    f"see {child.log_path}:\n{child.tail()}"
                )

    def stop_all(self, grace: float = 10.0) -> list[str]:
        """Stops every child; returns the names of those that needed SIGKILL."""
        killed = []
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(child.name)
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait(5)
            # Grandchildren (the webserver's code server, run workers) share the group.
            _signal_group(child.process, signal.SIGKILL)
        self.children.clear()
        return killed


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def http_ok(url: str, timeout: float = 2.0) -> bool:
    return httpx.get(url, timeout=timeout).status_code == 200
