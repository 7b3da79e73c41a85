"""The ASGI app and a threaded server for tests, benchmarks and the CLI."""
from __future__ import annotations

import logging
import traceback

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from . import control, errors, oauth, persistence, responses, routes
from qbo_pipeline.serving import BackgroundServer

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
        self._background: BackgroundServer | None = None
        self._persister: persistence.Persister | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "EmulatorServer":
        self._background = BackgroundServer(self.app, self.host, self.port, name="qbo-emulator", backlog=256)
        self._background.start()
        self.port = self._background.port
        if self.settings.persist_path:
            self._persister = persistence.Persister(self.backend, self.settings.persist_path)
            self._persister.start()
        return self

    def stop(self) -> None:
        if self._background is not None:
            self._background.stop()
            self._background = None
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
