"""Intuit's rate limits (qbo-api.md §5): 10 requests/s per realm+app, 500/min per realm,
40 batch requests/min per realm+app. Sliding windows, each divided by the time scale."""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Company, EmulatorBackend


class Throttle:
    def __init__(self, backend: "EmulatorBackend") -> None:
        self.backend = backend
        self.lock = threading.Lock()
        self.windows: dict[tuple[str, ...], deque[float]] = {}

    def clear(self, realm_id: str | None = None) -> None:
        with self.lock:
            if realm_id is None:
                self.windows.clear()
            else:
                for key in [k for k in self.windows if k[1] == realm_id]:
                    del self.windows[key]

    def allow(self, company: "Company", client_id: str, is_batch: bool) -> bool:
        """Records the request and answers True, or answers False (429) without recording it."""
        backend = self.backend
        if not backend.setting(company, "throttle"):
            return True
        scale = backend.clock.time_scale or 1.0
        realm = company.realm_id
        checks = [(("s", realm, client_id), 1.0 / scale, int(backend.setting(company, "throttle_per_second"))),
                  (("m", realm), 60.0 / scale, int(backend.setting(company, "throttle_per_minute")))]
        if is_batch:
            checks.append((("b", realm, client_id), 60.0 / scale,
                           int(backend.setting(company, "throttle_batch_per_minute"))))
        now = time.monotonic()
        with self.lock:
            queues = []
            for key, window, limit in checks:
                queue = self.windows.setdefault(key, deque())
                horizon = now - window
                while queue and queue[0] <= horizon:
                    queue.popleft()
                if len(queue) >= limit:
                    return False
                queues.append(queue)
            for queue in queues:
                queue.append(now)
        return True
