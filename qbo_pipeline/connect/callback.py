"""The OAuth redirect target: a one-shot HTTP server on a loopback port."""
from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class CallbackResult:
    code: str | None
    realm_id: str | None
    error: str | None = None


class LoopbackCallback:
    """Listens on the redirect URI's host and port for Intuit's redirect, checks `state`,
    and hands back the authorization code and realm id."""

    def __init__(self, redirect_uri: str, expected_state: str) -> None:
        parts = urlsplit(redirect_uri)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(
                f"redirect URI {redirect_uri} is not a loopback address; the CLI can only "
                "receive the callback on this machine (use http://127.0.0.1:<port>/callback)"
            )
        self._path = parts.path or "/"
        self._state = expected_state
        self._result: CallbackResult | None = None
        self._done = threading.Event()
        callback = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                callback._handle(self)

            def log_message(self, *args) -> None:  # the query string holds the code: keep it out of logs
                pass

        self._server = ThreadingHTTPServer((parts.hostname, parts.port or 80), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackCallback:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> CallbackResult | None:
        self._done.wait(timeout)
        return self._result

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        if parts.path != self._path:
            request.send_error(404)
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if not hmac.compare_digest(query.get("state", ""), self._state):
            # A forged or stale redirect: refuse it and keep waiting for the real one.
            self._reply(request, 400, "State mismatch: this authorization was not started here.")
            return
        if "error" in query:
            self._result = CallbackResult(None, None, query["error"])
            self._reply(request, 400, f"Authorization failed: {query['error']}. You can close this tab.")
        else:
            self._result = CallbackResult(query.get("code"), query.get("realmId"))
            self._reply(request, 200, "QuickBooks is connected. You can close this tab.")
        self._done.set()

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, text: str) -> None:
        body = text.encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/plain; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
