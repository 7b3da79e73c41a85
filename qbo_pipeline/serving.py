"""An ASGI app served by uvicorn on a background thread: the emulator and the webhook
receiver both run this way in tests and the demo."""
from __future__ import annotations

import socket
import threading
import time

import uvicorn

STARTUP_TIMEOUT_SECONDS = 15


def uvicorn_config(app, **overrides) -> uvicorn.Config:
    options = dict(
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        loop="auto",  # uvloop + httptools when installed
        http="auto",
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


class BackgroundServer:
    """Binds first (port 0 = a free port), then serves on a daemon thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, name: str, backlog: int = 1024) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._backlog = backlog
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(self._backlog)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(self.app))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start on {self.host}:{self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
