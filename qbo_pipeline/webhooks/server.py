"""Runs the receiver with uvicorn on a background thread (tests, demo) or in the foreground
(`qbo-pipeline webhooks serve`)."""
from __future__ import annotations

import socket
import threading
import time

import uvicorn

from qbo_pipeline.state.store import StateStore
from qbo_pipeline.webhooks.app import WEBHOOK_PATH, create_app


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


class ReceiverServer:
    """The webhook receiver on a daemon thread; port=0 picks a free port."""

    def __init__(self, store: StateStore, verifier_token: str, host: str = "127.0.0.1", port: int = 0, **app_options) -> None:
        self.host = host
        self.port = port
        self.app = create_app(store, verifier_token, **app_options)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"ReceiverServer({self.base_url})"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    def start(self) -> ReceiverServer:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="qbo-webhook-receiver", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the webhook receiver did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
