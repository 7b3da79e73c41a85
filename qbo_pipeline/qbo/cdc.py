"""Change Data Capture that stays complete past QBO's per-response cap and 30-day limit.

QBO answers `GET /cdc?entities=A,B&changedSince=T` with every object changed since T —
full objects, and tombstones (`status: "Deleted"`, Id + MetaData) for deletions — but at
most `cap` (1,000) objects per response, and only for T within the last 30 days.

Capped answers. A multi-entity answer that reaches the cap is re-issued per entity. A
per-entity answer that still reaches the cap is split on LastUpdatedTime: with `hi` the
newest LastUpdatedTime in the capped answer, the objects older than `hi` form a finished
window [T, hi) and CDC is asked again from `hi` — until an answer is below the cap. CDC has
no upper bound, so this relies on QBO filling a capped answer oldest-first; each finished
window is therefore checked with `SELECT COUNT(*) ... LastUpdatedTime in [T, hi)`: if QBO
holds more live objects in it than CDC returned, the window is re-read by query (changes
complete, deletions in it flagged as possibly missing). More than `cap` objects sharing one
timestamp cannot be split by CDC either; that instant is read by query the same way.

Older than 30 days: the result comes from `MetaData.LastUpdatedTime >= T` queries per
entity, `used_query_fallback` is set and `deletes_visible` is False (queries never return
deleted records; a full reconciliation must find them).

`server_time` (the `time` of the first answer) is the next watermark: never the local clock.
Every object appears once: per entity and Id the newest version wins (a tombstone wins a tie).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Sequence

from .errors import QBOError, QBOValidationError
from .models import NAME_LIST_ENTITIES, Entity, parse_entity
from .query import format_datetime, select, select_count

if TYPE_CHECKING:
    from .client import QBOClient

log = logging.getLogger(__name__)

LOOKBACK_MARGIN = timedelta(hours=1)
TIMESTAMP_RESOLUTION = timedelta(seconds=1)  # MetaData times have second precision


@dataclass
class CDCResult:
    changed_since: datetime
    server_time: datetime | None = None
    changed: dict[str, list[Entity]] = field(default_factory=dict)
    deleted: dict[str, list[Entity]] = field(default_factory=dict)
    used_query_fallback: bool = False
    deletes_visible: bool = True
    # (entity, start, end) windows whose deletions could not be seen (read by query)
    deletes_unknown_windows: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    capped_entities: list[str] = field(default_factory=list)
    requests: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def next_watermark(self) -> datetime | None:
        return self.server_time

    @property
    def complete(self) -> bool:
        """True when changes *and* deletions are all known."""
        return self.deletes_visible and not self.deletes_unknown_windows

    def all_changed(self) -> list[Entity]:
        return [entity for rows in self.changed.values() for entity in rows]

    def all_deleted(self) -> list[Entity]:
        return [entity for rows in self.deleted.values() for entity in rows]


class _Collector:
    """Per entity and Id, the newest version seen."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Entity]] = {}

    def add(self, entity_name: str, row: Entity) -> None:
        rows = self.rows.setdefault(entity_name, {})
        key = str(row.Id)
        current = rows.get(key)
        if current is None or _newer(row, current):
            rows[key] = row

    def into(self, result: CDCResult, entities: Sequence[str]) -> None:
        for name in entities:
            rows = sorted(self.rows.get(name, {}).values(), key=_sort_key)
            result.changed[name] = [row for row in rows if not row.is_deleted]
            result.deleted[name] = [row for row in rows if row.is_deleted]


def run_cdc(client: "QBOClient", entities: Sequence[str], changed_since: datetime) -> CDCResult:
    if not entities:
        raise ValueError("cdc needs at least one entity")
    since = _aware(changed_since)
    result = CDCResult(changed_since=since)
    lookback = timedelta(days=client.cdc_lookback_days)
    if since < datetime.now(timezone.utc) - lookback + LOOKBACK_MARGIN:
        return _query_fallback(client, entities, since, result, reason="changed_since is older than 30 days")
    try:
        first = _fetch(client, entities, since, result)
    except QBOValidationError as error:
        text = f"{error.message} {error.detail or ''}".lower()
        if "30" in text or "days" in text or "changedsince" in text:
            return _query_fallback(client, entities, since, result, reason=f"QuickBooks refused CDC: {error.message}")
        raise
    result.server_time = first.time
    collector = _Collector()
    cap = client.cdc_cap
    if first.total < cap:
        first.add_to(collector)
    else:
        result.notes.append(f"CDC answer held {first.total} objects (cap {cap}): re-reading per entity")
        for name in entities:
            answer = first if len(entities) == 1 else _fetch(client, [name], since, result)
            _drain(client, name, since, answer, collector, result)
    collector.into(result, entities)
    return result


def _drain(client: "QBOClient", name: str, since: datetime, answer: "_Answer", collector: _Collector,
           result: CDCResult) -> None:
    """Collects every change of one entity since `since`, splitting capped windows."""
    cap = client.cdc_cap
    start = since
    while True:
        rows = answer.rows.get(name, [])
        if len(rows) < cap:
            for row in rows:
                collector.add(name, row)
            return
        if name not in result.capped_entities:
            result.capped_entities.append(name)
        hi = max((row.last_updated for row in rows if row.last_updated), default=None)
        if hi is None:
            raise QBOError.create(
                "capped CDC answer without LastUpdatedTime", category="server", entity=name, operation="cdc"
            )
        hi = _aware(hi)
        if hi <= start:
            # More than `cap` objects share one timestamp: only a query can list them.
            end = start + TIMESTAMP_RESOLUTION
            _query_window(client, name, start, end, collector, result, why=f"more than {cap} changes at {start.isoformat()}")
            start = end
        else:
            finished = [row for row in rows if row.last_updated and _aware(row.last_updated) < hi]
            for row in finished:
                collector.add(name, row)
            _verify_window(client, name, start, hi, finished, collector, result)
            start = hi
        answer = _fetch(client, [name], start, result)


def _verify_window(client: "QBOClient", name: str, start: datetime, end: datetime, rows: list[Entity],
                   collector: _Collector, result: CDCResult) -> None:
    """Guards the oldest-first assumption: QBO must not hold more live objects in
    [start, end) than the capped CDC answer returned for it."""
    live = sum(1 for row in rows if not row.is_deleted)
    query = select_count(name).where("MetaData.LastUpdatedTime", ">=", start).where("MetaData.LastUpdatedTime", "<", end)
    if name in NAME_LIST_ENTITIES:
        query = query.where_in("Active", [True, False])
    result.requests += 1
    held = int(client.query_response(query.build()).get("totalCount") or 0)
    if held > live:
        _query_window(client, name, start, end, collector, result,
                      why=f"capped CDC returned {live} of {held} live objects (answer not oldest-first)")


def _query_window(client: "QBOClient", name: str, start: datetime, end: datetime, collector: _Collector,
                  result: CDCResult, *, why: str) -> None:
    # MetaData times have whole seconds: a window starting mid-second must include that second.
    where = [("MetaData.LastUpdatedTime", ">=", _floor_second(start)), ("MetaData.LastUpdatedTime", "<", end)]
    for page in client.iter_query_pages(name, where, include_inactive=True):
        result.requests += 1
        for row in page.rows:
            collector.add(name, row)
    result.deletes_unknown_windows.append((name, start, end))
    result.notes.append(f"{name} [{start.isoformat()}, {end.isoformat()}) read by query: {why}; deletions there unknown")
    log.warning("CDC %s [%s, %s) read by query (%s); deletions in that window are not visible", name,
                start.isoformat(), end.isoformat(), why)


def _query_fallback(client: "QBOClient", entities: Sequence[str], since: datetime, result: CDCResult,
                    *, reason: str) -> CDCResult:
    result.used_query_fallback = True
    result.deletes_visible = False
    result.notes.append(f"{reason}: changes read by MetaData.LastUpdatedTime queries; deleted records cannot be seen")
    log.warning("CDC since %s: %s; falling back to queries (deletions not visible)", since.isoformat(), reason)
    collector = _Collector()
    for name in entities:
        where = [("MetaData.LastUpdatedTime", ">=", _floor_second(since))]
        pages = client.iter_query_pages(name, where, include_inactive=True)
        for page in pages:
            result.requests += 1
            if result.server_time is None:
                result.server_time = page.time  # the first answer's clock is the watermark
            for row in page.rows:
                collector.add(name, row)
    collector.into(result, entities)
    return result


@dataclass
class _Answer:
    rows: dict[str, list[Entity]]
    time: datetime | None

    @property
    def total(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def add_to(self, collector: _Collector) -> None:
        for name, rows in self.rows.items():
            for row in rows:
                collector.add(name, row)


def _fetch(client: "QBOClient", entities: Sequence[str], since: datetime, result: CDCResult) -> _Answer:
    result.requests += 1
    body = client._get_cdc(entities, format_datetime(since))
    return parse_cdc_body(body, entities)


def parse_cdc_body(body: Any, entities: Sequence[str] = ()) -> _Answer:
    """`{"CDCResponse":[{"QueryResponse":[{"Customer":[...]}, ...]}], "time": ...}`."""
    wanted = {name.lower(): name for name in entities}
    rows: dict[str, list[Entity]] = {}
    if not isinstance(body, dict):
        return _Answer(rows, None)
    for cdc_response in _as_list(body.get("CDCResponse")):
        for query_response in _as_list(cdc_response.get("QueryResponse") if isinstance(cdc_response, dict) else None):
            if not isinstance(query_response, dict):
                continue
            for key, value in query_response.items():
                if isinstance(value, list):
                    name = wanted.get(key.lower(), key)
                    rows.setdefault(name, []).extend(parse_entity(name, item) for item in value)
    return _Answer(rows, _parse_time(body.get("time")))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _newer(candidate: Entity, current: Entity) -> bool:
    a, b = candidate.last_updated, current.last_updated
    if a is not None and b is not None and _aware(a) != _aware(b):
        return _aware(a) > _aware(b)
    if a is not None and b is None:
        return True
    if a is None and b is not None:
        return False
    return candidate.is_deleted and not current.is_deleted


def _sort_key(row: Entity) -> tuple:
    moment = row.last_updated
    return (_aware(moment) if moment else datetime.min.replace(tzinfo=timezone.utc), _id_key(row.Id))


def _id_key(value: Any) -> tuple:
    text = str(value or "")
    return (0, int(text), "") if text.isdigit() else (1, 0, text)
