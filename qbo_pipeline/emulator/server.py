"""The ASGI app and a threaded server for tests, benchmarks and the CLI."""
from __future__ import annotations

import logging
import socket
import threading
import time
import traceback

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from . import control, errors, oauth, persistence, responses, routes
from .models import EmulatorBackend
from .settings import EmulatorSettings

log = logging.getLogger(__name__)


def create_app(backend: EmulatorBackend) -> Starlette:
    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("emulator error on %s %s: %s", request.method, request.url.path,
                  "".join(traceback.format_exception_only(type(exc), exc)).strip())
        status, body = responses.fault_response(backend, errors.system_fault(500))
        return responses.json_response(body, status)

    app = Starlette(routes=[*oauth.routes(backend), *control.routes(backend), *routes.routes(backend)],
                    exception_handlers={Exception: server_error}, middleware=[Middleware(_TrailingSlash)])
    app.state.backend = backend
    return app


class _TrailingSlash:
    """python-quickbooks reads Preferences at `/preferences/`: treat `/x/` as `/x` (no redirect)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                if "raw_path" in scope:
                    scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


class EmulatorServer:
    """Runs the emulator with uvicorn on a daemon thread. port=0 picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, settings: EmulatorSettings | None = None) -> None:
        self.host = host
        self.port = port
        self.settings = settings or EmulatorSettings()
        self.backend = EmulatorBackend(self.settings)
        if self.settings.persist_path:
            persistence.load(self.backend, self.settings.persist_path)
        self.app = create_app(self.backend)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._persister: persistence.Persister | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "EmulatorServer":
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(256)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="qbo-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the QBO emulator did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        if self.settings.persist_path:
            self._persister = persistence.Persister(self.backend, self.settings.persist_path)
            self._persister.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._persister is not None:
            self._persister.stop()
            self._persister = None
        try:
            self.backend.webhooks.close()
        except Exception:  # noqa: BLE001 - shutting down anyway
            log.exception("closing the webhook dispatcher failed")

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
