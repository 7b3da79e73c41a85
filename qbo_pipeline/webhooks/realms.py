"""realm id → workspace id, cached: connections change rarely and the hot path should be a
single INSERT transaction."""
from __future__ import annotations

import threading
import time
from typing import Callable


class RealmDirectory:
    """Reloads the whole (small) mapping at most every `ttl` seconds. An unknown realm forces
    a reload once `miss_reload_after` seconds have passed since the last one, so a freshly
    connected company is recognized within about a second while a flood of events for an
    unknown realm cannot turn into a flood of queries."""

    def __init__(
        self,
        load: Callable[[], dict[str, str]],
        *,
        ttl: float = 30.0,
        miss_reload_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._miss_reload_after = miss_reload_after
        self._clock = clock
        self._lock = threading.Lock()
        self._mapping: dict[str, str] = {}
        self._loaded_at: float | None = None

    def lookup(self, realm_ids: set[str]) -> dict[str, str]:
        """workspace ids for the given realms (unknown ones are absent). Call off the event
        loop: it may query the database."""
        now = self._clock()
        loaded_at = self._loaded_at
        stale = loaded_at is None or now - loaded_at >= self._ttl
        missing = not realm_ids <= self._mapping.keys()
        if stale or (missing and now - loaded_at >= self._miss_reload_after):
            self.reload()
        mapping = self._mapping
        return {realm: mapping[realm] for realm in realm_ids if realm in mapping}

    def reload(self) -> None:
        with self._lock:
            self._mapping = dict(self._load())
            self._loaded_at = self._clock()

    def invalidate(self) -> None:
        self._loaded_at = None
