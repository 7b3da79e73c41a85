"""The per-realm limiter keeps every sliding window and the concurrency cap, across threads."""
from __future__ import annotations

import threading
import time

from qbo_pipeline.qbo.ratelimit import RateLimiter, RateLimits, limiter_for, reset_limiters


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, stamp in enumerate(stamps):
        while stamps[lo] <= stamp - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_windows_and_concurrency_hold_under_threads():
    # time_scale 60: the "minute" lasts 1 s, the "second" 1/60 s.
    limits = RateLimits(per_second=4, per_minute=12, batch_per_minute=3, max_concurrent=2, time_scale=60)
    limiter = RateLimiter(limits)
    admitted: list[float] = []
    batches: list[float] = []
    in_flight, peak = 0, 0
    lock = threading.Lock()

    def worker(kind: str) -> None:
        nonlocal in_flight, peak
        for _ in range(4):
            with limiter.slot(kind):
                now = time.monotonic()
                with lock:
                    admitted.append(now)
                    if kind == "batch":
                        batches.append(now)
                    in_flight += 1
                    peak = max(peak, in_flight)
                time.sleep(0.002)
                with lock:
                    in_flight -= 1

    threads = [threading.Thread(target=worker, args=("batch" if i == 0 else "request",)) for i in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len(admitted) == 24
    assert peak <= 2
    assert _max_in_window(admitted, 1.0) <= 12
    # per second: even spacing, one admission every (1/60)/4 s
    gaps = [b - a for a, b in zip(sorted(admitted), sorted(admitted)[1:])]
    assert min(gaps) >= (1 / 60) / 4 * 0.99
    assert _max_in_window(batches, 1.0) <= 3
    assert elapsed >= 1.0  # 24 requests at 12 per (scaled) minute need a second window


def test_pause_holds_every_caller():
    limiter = RateLimiter(RateLimits(time_scale=1000))
    limiter.pause(0.2)
    started = time.monotonic()
    with limiter.slot():
        pass
    assert time.monotonic() - started >= 0.19
    assert limiter.throttle_backoff_seconds == 60 / 1000


def test_registry_is_process_wide_per_realm():
    reset_limiters()
    a = limiter_for("realm-a")
    assert limiter_for("realm-a") is a
    assert limiter_for("realm-b") is not a
    tight = RateLimits(per_second=2)
    assert limiter_for("realm-a", tight) is a and a.limits == tight
