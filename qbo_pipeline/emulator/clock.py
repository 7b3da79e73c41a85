"""The emulator's time source: UTC now() plus an adjustable offset, and a time scale for waits."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


class Clock:
    def __init__(self, offset_seconds: float = 0.0, time_scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(seconds=offset_seconds)
        self.time_scale = time_scale

    def now(self) -> datetime:
        """Current (possibly shifted) time, timezone-aware UTC."""
        return datetime.now(timezone.utc) + self._offset

    @property
    def offset_seconds(self) -> float:
        return self._offset.total_seconds()

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def scaled(self, seconds: float) -> float:
        """A simulated duration in real seconds (time_scale 60 turns a minute into a second)."""
        return seconds / self.time_scale if self.time_scale > 0 else seconds


def zone(name: str):
    """The company's time zone; a fixed -08:00 offset if the tz database is missing."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - any lookup failure falls back to Pacific standard time
        return timezone(timedelta(hours=-8))


def meta_time(moment: datetime, tz) -> str:
    """MetaData times as QBO writes them: seconds precision with the company's UTC offset."""
    return moment.astimezone(tz).isoformat(timespec="seconds")


def response_time(moment: datetime, tz) -> str:
    """The top-level `time` of a response: milliseconds with the company's UTC offset."""
    return moment.astimezone(tz).isoformat(timespec="milliseconds")


def parse_moment(text: str, tz) -> datetime:
    """ISO date or date-time as clients send them (changedSince, lastUpdated filters).

    A bare date means midnight in the company's zone; a date-time without offset is read in
    the company's zone too. Accepts a trailing Z and the -0700 offset form.
    """
    value = text.strip()
    if not value:
        raise ValueError("empty date-time")
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if len(value) >= 5 and value[-5] in "+-" and value[-4:].isdigit() and "T" in value:
        value = value[:-2] + ":" + value[-2:]
    if len(value) == 10:
        moment = datetime.fromisoformat(value + "T00:00:00")
    else:
        moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)
