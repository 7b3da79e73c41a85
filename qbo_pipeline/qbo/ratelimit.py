"""Per-realm client-side rate limiter that keeps us under QBO's throttles.

QBO allows 500 requests/min and 10/s per realm, 40 batch requests/min per realm+app, and
~10 concurrent requests; beyond that it answers 429 and asks for a 60 s pause. The defaults
here stay below those figures (8/s, 450/min, 36 batch/min, 8 in flight).

The server counts *arrivals* in sliding windows, and latency jitter shifts arrivals against
departures. A client that sends its whole per-second allowance as one burst can therefore
have two bursts land inside one server second. So the per-second limit is enforced as even
spacing (one admission every 1/per_second s): any server window then sees at most
per_second + jitter/spacing requests. The minute limits are sliding windows (jitter is small
against a minute).

One limiter per realm per process (`limiter_for`), shared by every client and thread, so
that parallel workers of one process add up correctly. Windows are sliding (timestamps of
admitted requests), not fixed buckets. `time_scale` shrinks every window and pause by that
factor, matching an emulator whose clock runs `time_scale` times faster.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Literal

RequestKind = Literal["request", "batch"]


@dataclass(frozen=True)
class RateLimits:
    per_second: int = 8
    per_minute: int = 450
    batch_per_minute: int = 36
    max_concurrent: int = 8
    time_scale: float = 1.0
    # Intuit: "wait 60 s before retrying" after a 429 without Retry-After.
    throttle_backoff: float = 60.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        for name in ("per_second", "per_minute", "batch_per_minute", "max_concurrent"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def scaled(self, seconds: float) -> float:
        return seconds / self.time_scale


class RateLimiter:
    """Thread-safe sliding-window limiter for one realm."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits or RateLimits()
        self._clock = clock
        self._cond = threading.Condition()
        self._recent: deque[float] = deque()  # every admitted request, last minute
        self._recent_batches: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._last_admission = float("-inf")
        self.waited_seconds = 0.0  # total time callers spent waiting here (observability)

    @property
    def limits(self) -> RateLimits:
        return self._limits

    @property
    def time_scale(self) -> float:
        return self._limits.time_scale

    @property
    def throttle_backoff_seconds(self) -> float:
        return self._limits.scaled(self._limits.throttle_backoff)

    def reconfigure(self, limits: RateLimits) -> None:
        with self._cond:
            self._limits = limits
            self._cond.notify_all()

    @contextmanager
    def slot(self, kind: RequestKind = "request") -> Iterator[None]:
        """Waits for room in every window and a free concurrency slot; holds the slot."""
        self.acquire(kind)
        try:
            yield
        finally:
            self.release()

    def acquire(self, kind: RequestKind = "request") -> None:
        started = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                wait = self._wait_needed(now, kind)
                if wait is not None and wait <= 0:
                    self._last_admission = now
                    self._recent.append(now)
                    if kind == "batch":
                        self._recent_batches.append(now)
                    self._in_flight += 1
                    self.waited_seconds += now - started
                    return
                self._cond.wait(timeout=wait)

    def release(self) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """Holds every request of this realm for `seconds` (after QBO said 429): retrying
        threads must not keep hammering a throttled realm one after another."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
            self._cond.notify_all()

    def _wait_needed(self, now: float, kind: RequestKind) -> float | None:
        """Seconds until admission is possible; None = wait for a release."""
        limits = self._limits
        second = limits.scaled(1.0)
        minute = limits.scaled(60.0)
        _expire(self._recent, now - minute)
        _expire(self._recent_batches, now - minute)
        if self._in_flight >= limits.max_concurrent:
            return None
        waits = [self._paused_until - now]
        waits.append(_window_wait(self._recent, limits.per_minute, minute, now))
        waits.append(self._last_admission + second / limits.per_second - now)
        if kind == "batch":
            waits.append(_window_wait(self._recent_batches, limits.batch_per_minute, minute, now))
        return max(waits)


def _expire(stamps: deque[float], cutoff: float) -> None:
    while stamps and stamps[0] <= cutoff:
        stamps.popleft()


def _window_wait(stamps: deque[float], limit: int, window: float, now: float) -> float:
    if len(stamps) < limit:
        return 0.0
    return stamps[-limit] + window - now


# ----------------------------------------------------------------------------- registry

_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(realm_id: str, limits: RateLimits | None = None) -> RateLimiter:
    """The process-wide limiter of `realm_id`; `limits`, when given, (re)configures it."""
    with _registry_lock:
        limiter = _registry.get(realm_id)
        if limiter is None:
            limiter = _registry[realm_id] = RateLimiter(limits)
            return limiter
    if limits is not None and limits != limiter.limits:
        limiter.reconfigure(limits)
    return limiter


def reset_limiters() -> None:
    """Forgets every realm's limiter (tests)."""
    with _registry_lock:
        _registry.clear()


def scaled_limits(time_scale: float, **overrides: float) -> RateLimits:
    return replace(RateLimits(), time_scale=time_scale, **overrides)
