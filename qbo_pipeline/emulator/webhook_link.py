"""Connects the backend to the webhook dispatcher (qbo_pipeline.emulator.webhooks, written
separately). Falls back to a recorder that delivers nothing when that module is absent, so the
API keeps working without it."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from .settings import EmulatorSettings

log = logging.getLogger(__name__)


class NullDispatcher:
    """Same interface as webhooks.WebhookDispatcher; counts events, sends nothing."""

    available = False

    def __init__(self, config: Any = None) -> None:
        self.config = config
        self.events = 0

    def configure(self, config: Any) -> None:
        self.config = config

    def notify(self, realm_id: str, entity: str, entity_id: str, operation: str, last_updated: datetime,
               *, deleted_id: str | None = None) -> None:
        self.events += 1

    def flush(self, timeout: float = 10.0) -> bool:
        return True

    def stats(self) -> dict[str, Any]:
        return {"available": False, "notified": self.events}

    def close(self) -> None:
        pass


def webhooks_module():
    try:
        from . import webhooks
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith("emulator.webhooks"):
            return None
        raise
    return webhooks


def make_dispatcher(settings: EmulatorSettings) -> Any:
    module = webhooks_module()
    if module is None:
        log.info("qbo_pipeline.emulator.webhooks not available; webhook events are counted, not sent")
        return NullDispatcher()
    return module.WebhookDispatcher(None)


def build_config(payload: dict[str, Any], settings: EmulatorSettings) -> Any:
    """A WebhookConfig from the JSON body of PUT /_emulator/webhooks (verifier token and time
    scale default to the emulator's settings)."""
    module = webhooks_module()
    if module is None:
        raise RuntimeError("webhook delivery is not available: qbo_pipeline.emulator.webhooks is missing")
    values = dict(payload)
    values.setdefault("verifier_token", settings.verifier_token)
    values.setdefault("time_scale", settings.time_scale)
    return module.WebhookConfig.from_json(values)
