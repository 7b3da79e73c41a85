"""Per-run context shared by a workspace's assets: its connection, QBO client and mapping
settings (read from QBO once per process and workspace, then reused for a few minutes)."""
from __future__ import annotations

import threading
import time

from qbo_pipeline.assets.settings import resolve_workspace_settings
from qbo_pipeline.entities import WorkspaceSettings

SETTINGS_TTL_SECONDS = 300
_cache: dict[tuple[str, str], tuple[float, WorkspaceSettings]] = {}
_lock = threading.Lock()


def workspace_settings(store, client, workspace_id: str) -> WorkspaceSettings:
    connection = store.connections.require(workspace_id)
    key = (workspace_id, repr(sorted(connection.settings.to_dict().items())))
    with _lock:
        cached = _cache.get(key)
        if cached and time.monotonic() - cached[0] < SETTINGS_TTL_SECONDS:
            return cached[1]
    settings = resolve_workspace_settings(connection, client)
    with _lock:
        _cache[key] = (time.monotonic(), settings)
    return settings
