"""Runs the receiver with uvicorn on a background thread (tests, demo) or in the foreground
(`qbo-pipeline webhooks serve`)."""
from __future__ import annotations

from qbo_pipeline.serving import BackgroundServer, uvicorn_config  # noqa: F401 - uvicorn_config re-exported
from qbo_pipeline.state.store import StateStore
from qbo_pipeline.webhooks.app import WEBHOOK_PATH, create_app


class ReceiverServer:
    """The webhook receiver on a daemon thread; port=0 picks a free port."""

    def __init__(self, store: StateStore, verifier_token: str, host: str = "127.0.0.1", port: int = 0, **app_options) -> None:
        self.host = host
        self.port = port
        self.app = create_app(store, verifier_token, **app_options)
        self._background: BackgroundServer | None = None

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
        self._background = BackgroundServer(self.app, self.host, self.port, name="qbo-webhook-receiver")
        self._background.start()
        self.port = self._background.port
        return self

    def stop(self) -> None:
        if self._background is not None:
            self._background.stop()
            self._background = None

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
