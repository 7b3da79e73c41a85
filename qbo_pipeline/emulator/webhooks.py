"""The emulator's webhook sender: Intuit-style signed notifications, aggregated per realm,
delivered in order per target with Intuit's retry schedule, plus fault injection for tests.

One background thread owns all timing and a single pooled httpx.Client; `notify()` only
appends to an in-memory queue under a lock, so it never blocks on the network.

Decisions where Intuit is vague:
- Aggregation: a realm's first event opens a window of `aggregate_seconds`; every event of that
  realm notified inside the window joins the same notification, which is sent
  `delay_seconds + aggregate_seconds` after the window opened. `aggregate_seconds = 0` sends
  every event on its own.
- Legacy `lastUpdated` uses the 2025 form `2025-09-08T20:52:31.657Z` (UTC, milliseconds);
  CloudEvents `time` the same instant with microseconds. A merge carries `deletedId` in the
  legacy entity (UNCONFIRMED there) and `data.deletedid` in CloudEvents.
- Success is HTTP 200 exactly; anything else, a connection error or a 3 s timeout is a failed
  attempt. After the last entry of `retry_schedule_seconds` the notification is given up and
  the target's queue moves on (Intuit keeps retrying every 6 h; a test emulator should not).
- `reorder` reverses the events inside every multi-event notification and swaps consecutive
  not-yet-attempted notifications waiting for the same target. To make the swap observable a
  lone fresh notification is held up to `reorder_hold_seconds` (real time) for a successor.
- `duplicate_rate` sends the same body (same CloudEvents ids) twice; `drop_rate` silently
  discards a notification for one target. Both draw from `random.Random(seed)`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

import httpx

log = logging.getLogger(__name__)

FORMATS = ("legacy", "cloudevents")
OPERATIONS = ("Create", "Update", "Delete", "Merge", "Void", "Emailed")
CLOUDEVENT_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Void": "voided",
    "Emailed": "emailed",
}
MAX_CLOUDEVENTS_PER_POST = 100
DELIVERY_TIMEOUT_SECONDS = 3.0  # Intuit wants a 200 within 3 s
_SOURCE = "intuit." + base64.b64encode(hashlib.sha256(b"qbo-emulator-app").digest()).decode()


def sign(body: bytes, verifier_token: str) -> str:
    """The `intuit-signature` header: base64(HMAC-SHA256(verifier token, raw body))."""
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass
class WebhookTarget:
    url: str
    format: str = "legacy"  # or "cloudevents"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(
                f"webhook target {self.url!r}: format {self.format!r} is not one of {FORMATS}; "
                "use 'legacy' (eventNotifications) or 'cloudevents' (JSON array)"
            )
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(
                f"webhook target {self.url!r} is not an http(s) URL; give the full receiver URL"
            )


@dataclass
class WebhookConfig:
    targets: list[WebhookTarget] = field(default_factory=list)
    verifier_token: str = field(default="emulator-verifier-token", repr=False)
    delay_seconds: float = 0.0
    aggregate_seconds: float = 0.0
    duplicate_rate: float = 0.0
    reorder: bool = False
    drop_rate: float = 0.0
    retry_schedule_seconds: tuple = (10, 20, 30, 300, 1200, 7200, 14400, 21600)
    time_scale: float = 1.0  # every wait (delay, aggregation, retries) is divided by this
    seed: int | None = None
    reorder_hold_seconds: float = 0.25  # real seconds, not scaled
    timeout_seconds: float = DELIVERY_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        self.targets = [
            t if isinstance(t, WebhookTarget) else WebhookTarget(**t) for t in self.targets
        ]
        self.retry_schedule_seconds = tuple(float(s) for s in self.retry_schedule_seconds)
        for name in ("duplicate_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"webhook config: {name}={value} must be between 0 and 1")
        for name in ("delay_seconds", "aggregate_seconds", "reorder_hold_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"webhook config: {name} must not be negative")
        if self.time_scale <= 0:
            raise ValueError("webhook config: time_scale must be > 0 (1 = real time)")
        if any(s < 0 for s in self.retry_schedule_seconds):
            raise ValueError("webhook config: retry_schedule_seconds must not be negative")

    @classmethod
    def from_json(cls, data: dict) -> WebhookConfig:
        """Builds a config from the control API's JSON; targets are dicts {url, format}."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"webhook config: unknown setting(s) {unknown}; allowed: {sorted(known)}"
            )
        values: dict[str, Any] = dict(data)
        targets = []
        for item in values.get("targets", []) or []:
            if isinstance(item, str):
                item = {"url": item}
            if not isinstance(item, dict) or "url" not in item:
                raise ValueError("webhook config: each target needs a 'url' (and optional 'format')")
            targets.append(WebhookTarget(url=item["url"], format=item.get("format", "legacy")))
        values["targets"] = targets
        if "retry_schedule_seconds" in values:
            values["retry_schedule_seconds"] = tuple(values["retry_schedule_seconds"])
        return cls(**values)

    def to_json(self) -> dict:
        """The config for the control API, with the verifier token redacted."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["targets"] = [{"url": t.url, "format": t.format} for t in self.targets]
        out["retry_schedule_seconds"] = list(self.retry_schedule_seconds)
        out["verifier_token"] = "***"
        return out


# ----------------------------------------------------------------------------- payloads


@dataclass
class ChangeEvent:
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    last_updated: datetime
    deleted_id: str | None = None
    seq: int = 0  # order of notify() calls
    arrived: float = 0.0  # time.monotonic() at notify()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_last_updated(moment: datetime) -> str:
    """`2025-09-08T20:52:31.657Z`, the form of Intuit's 2025 legacy sample."""
    moment = _utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _cloudevent_time(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def legacy_body(realm_id: str, events: list[ChangeEvent]) -> bytes:
    entities = []
    for event in events:
        entity = {
            "name": event.entity,
            "id": event.entity_id,
            "operation": event.operation,
            "lastUpdated": format_last_updated(event.last_updated),
        }
        if event.deleted_id is not None:
            entity["deletedId"] = event.deleted_id
        entities.append(entity)
    return _dumps(
        {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": entities}}]}
    )


def cloudevents_body(events: list[ChangeEvent], ids: list[str]) -> bytes:
    return _dumps(
        [
            {
                "specversion": "1.0",
                "id": event_id,
                "source": _SOURCE,
                "type": f"qbo.{event.entity.lower()}.{CLOUDEVENT_VERBS[event.operation]}.v1",
                "datacontenttype": "application/json",
                "time": _cloudevent_time(event.last_updated),
                "intuitentityid": event.entity_id,
                "intuitaccountid": event.realm_id,
                "data": {} if event.deleted_id is None else {"deletedid": event.deleted_id},
            }
            for event, event_id in zip(events, ids)
        ]
    )


# ----------------------------------------------------------------------------- dispatcher


def _target_key(target: WebhookTarget) -> tuple[str, str]:
    return (target.url, target.format)


@dataclass
class _Batch:
    realm_id: str
    window_end: float
    send_at: float
    events: list[ChangeEvent] = field(default_factory=list)


@dataclass
class _Delivery:
    target: WebhookTarget
    body: bytes
    n_events: int
    seqs: list[int]
    created: float
    next_at: float
    attempts: int = 0
    swapped: bool = False
    twin: _Delivery | None = None  # the duplicate copy, never swapped with its original


class WebhookDispatcher:
    """Delivers change notifications to the configured webhook targets in the background."""

    def __init__(self, config: WebhookConfig | None = None) -> None:
        self._lock = threading.Condition()
        self._config = config or WebhookConfig()
        self._rng = random.Random(self._config.seed)
        self._inbox: deque[ChangeEvent] = deque()
        self._batches: dict[str, list[_Batch]] = {}
        self._queues: dict[tuple[str, str], deque[_Delivery]] = {}  # per target, FIFO
        self._outstanding: Counter[int] = Counter()  # seq -> unfinished units holding it
        self._seq = 0
        self._closed = False
        self._stats = Counter(
            delivered_requests=0,
            delivered_events=0,
            failed_attempts=0,
            dropped=0,
            duplicated=0,
            reordered=0,
            given_up=0,
            discarded=0,
        )
        self._thread = threading.Thread(target=self._run, name="qbo-emulator-webhooks", daemon=True)
        self._thread.start()

    # -- public API ---------------------------------------------------------------------

    def configure(self, config: WebhookConfig) -> None:
        """Replaces the config. Queues of endpoints still configured (same url and format) are
        kept; deliveries queued for endpoints no longer configured are discarded."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            live = {_target_key(t): t for t in config.targets}
            for key in list(self._queues):
                queue = self._queues[key]
                if key in live:
                    for delivery in queue:
                        delivery.target = live[key]
                    continue
                del self._queues[key]
                for delivery in queue:
                    self._stats["discarded"] += 1
                    self._release(delivery.seqs)
            self._lock.notify_all()

    @property
    def config(self) -> WebhookConfig:
        return self._config

    def notify(
        self,
        realm_id: str,
        entity: str,
        entity_id: str,
        operation: str,
        last_updated: datetime,
        *,
        deleted_id: str | None = None,
    ) -> None:
        """Queues one change event; returns at once."""
        if operation not in OPERATIONS:
            raise ValueError(
                f"webhook event {entity} {entity_id}: operation {operation!r} is not one of "
                f"{OPERATIONS}"
            )
        with self._lock:
            if self._closed:
                return
            self._seq += 1
            self._inbox.append(
                ChangeEvent(
                    str(realm_id), entity, str(entity_id), operation, last_updated,
                    None if deleted_id is None else str(deleted_id),
                    seq=self._seq, arrived=time.monotonic(),
                )
            )
            self._outstanding[self._seq] += 1
            self._lock.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every event notified so far is delivered, dropped or given up."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target_seq = self._seq
            while True:
                if not any(seq <= target_seq for seq in self._outstanding):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._lock.wait(min(remaining, 0.5))

    def stats(self) -> dict:
        with self._lock:
            out = dict(self._stats)
            out["pending"] = (
                len(self._inbox)
                + sum(len(b.events) for batches in self._batches.values() for b in batches)
                + sum(len(q) for q in self._queues.values())
            )
            return out

    def close(self) -> None:
        """Stops the delivery thread; undelivered notifications are abandoned."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        self._thread.join(timeout=DELIVERY_TIMEOUT_SECONDS + 2)

    def __enter__(self) -> WebhookDispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bookkeeping (lock held) ------------------------------------------------------------

    def _release(self, seqs: list[int]) -> None:
        for seq in seqs:
            self._outstanding[seq] -= 1
            if self._outstanding[seq] <= 0:
                del self._outstanding[seq]

    def _scaled(self, seconds: float) -> float:
        return seconds / self._config.time_scale

    def _absorb_inbox(self) -> None:
        config = self._config
        while self._inbox:
            event = self._inbox.popleft()
            batches = self._batches.setdefault(event.realm_id, [])
            if batches and event.arrived <= batches[-1].window_end:
                batches[-1].events.append(event)
                continue
            window_end = event.arrived + self._scaled(config.aggregate_seconds)
            send_at = window_end + self._scaled(config.delay_seconds)
            batches.append(_Batch(event.realm_id, window_end, send_at, [event]))

    def _release_due_batches(self, now: float) -> None:
        due: list[_Batch] = []
        for realm_id in list(self._batches):
            batches = self._batches[realm_id]
            while batches and batches[0].send_at <= now:
                due.append(batches.pop(0))
            if not batches:
                del self._batches[realm_id]
        due.sort(key=lambda b: (b.send_at, b.events[0].seq))
        for batch in due:
            self._build_deliveries(batch, now)

    def _build_deliveries(self, batch: _Batch, now: float) -> None:
        config = self._config
        seqs = [e.seq for e in batch.events]
        events = list(batch.events)
        if config.reorder and len(events) > 1:
            events.reverse()
            self._stats["reordered"] += 1
        for target in config.targets:
            if target.format == "legacy":
                chunks = [events]
            else:
                chunks = [
                    events[i : i + MAX_CLOUDEVENTS_PER_POST]
                    for i in range(0, len(events), MAX_CLOUDEVENTS_PER_POST)
                ]
            for chunk in chunks:
                if target.format == "legacy":
                    body = legacy_body(batch.realm_id, chunk)
                else:
                    ids = [str(uuid.UUID(int=self._rng.getrandbits(128), version=4)) for _ in chunk]
                    body = cloudevents_body(chunk, ids)
                chunk_seqs = [e.seq for e in chunk]
                if config.drop_rate > 0 and self._rng.random() < config.drop_rate:
                    self._stats["dropped"] += 1
                    continue
                copies = 1
                if config.duplicate_rate > 0 and self._rng.random() < config.duplicate_rate:
                    copies = 2
                    self._stats["duplicated"] += 1
                first: _Delivery | None = None
                for _ in range(copies):
                    delivery = _Delivery(target, body, len(chunk), chunk_seqs, now, now)
                    for seq in chunk_seqs:
                        self._outstanding[seq] += 1
                    if first is None:
                        first = delivery
                    else:
                        delivery.twin, first.twin = first, delivery
                    self._enqueue(target, delivery)
        self._release(seqs)  # the batch itself no longer holds its events

    def _enqueue(self, target: WebhookTarget, delivery: _Delivery) -> None:
        queue = self._queues.setdefault(_target_key(target), deque())
        if self._config.reorder and queue:
            last = queue[-1]
            # never jump a notification already attempted, nor its own duplicate
            if not last.swapped and last.attempts == 0 and last is not delivery.twin:
                queue.pop()
                delivery.swapped = last.swapped = True
                queue.append(delivery)
                queue.append(last)
                self._stats["reordered"] += 1
                return
        queue.append(delivery)

    def _ready_at(self, delivery: _Delivery) -> float:
        config = self._config
        if config.reorder and delivery.attempts == 0 and not delivery.swapped:
            return max(delivery.next_at, delivery.created + config.reorder_hold_seconds)
        return delivery.next_at

    def _next_work(self, now: float) -> tuple[_Delivery | None, float | None]:
        """The head delivery that may go now, or the earliest moment something becomes due."""
        wake: float | None = None
        for batches in self._batches.values():
            for batch in batches[:1]:
                wake = batch.send_at if wake is None else min(wake, batch.send_at)
        best: _Delivery | None = None
        for queue in self._queues.values():
            if not queue:
                continue
            head = queue[0]
            ready = self._ready_at(head)
            if ready <= now:
                if best is None or head.created < best.created:
                    best = head
            else:
                wake = ready if wake is None else min(wake, ready)
        return best, wake

    def _finish(self, delivery: _Delivery) -> None:
        key = _target_key(delivery.target)
        queue = self._queues.get(key)
        if queue and queue[0] is delivery:
            queue.popleft()
            if not queue:
                del self._queues[key]
        self._release(delivery.seqs)

    # -- the delivery thread --------------------------------------------------------------

    def _run(self) -> None:
        client = httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS)
        try:
            while True:
                with self._lock:
                    if self._closed:
                        return
                    now = time.monotonic()
                    self._absorb_inbox()
                    if not self._config.targets:
                        self._discard_everything()
                    self._release_due_batches(now)
                    self._lock.notify_all()  # wake flush() callers: drops may have finished work
                    delivery, wake = self._next_work(now)
                    if delivery is None:
                        timeout = None if wake is None else max(0.0, wake - now)
                        self._lock.wait(timeout if timeout is None else min(timeout, 1.0))
                        continue
                    delivery.attempts += 1
                    config = self._config
                    headers = self._headers(delivery.body, config.verifier_token)
                    timeout_seconds = config.timeout_seconds
                ok, reason = self._post(client, delivery, headers, timeout_seconds)
                with self._lock:
                    self._record(delivery, ok, reason)
                    self._lock.notify_all()
        finally:
            client.close()

    def _discard_everything(self) -> None:
        for batches in self._batches.values():
            for batch in batches:
                self._stats["discarded"] += 1
                self._release([e.seq for e in batch.events])
        self._batches.clear()

    @staticmethod
    def _headers(body: bytes, verifier_token: str) -> dict[str, str]:
        return {
            "content-type": "application/json; charset=utf-8",
            "accept": "application/json",
            "user-agent": "intuit_notification_server/0.1",
            "intuit-signature": sign(body, verifier_token),
            "intuit-created-time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S%z"),
            "intuit-t-id": str(uuid.uuid4()),
            "intuit-notification-schema-version": "0.1",
        }

    @staticmethod
    def _post(
        client: httpx.Client, delivery: _Delivery, headers: dict[str, str], timeout: float
    ) -> tuple[bool, str]:
        try:
            response = client.post(
                delivery.target.url, content=delivery.body, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}"
        if response.status_code != 200:
            return False, f"HTTP {response.status_code}"
        return True, "HTTP 200"

    def _record(self, delivery: _Delivery, ok: bool, reason: str) -> None:
        if ok:
            self._stats["delivered_requests"] += 1
            self._stats["delivered_events"] += delivery.n_events
            self._finish(delivery)
            return
        self._stats["failed_attempts"] += 1
        schedule = self._config.retry_schedule_seconds
        if delivery.attempts > len(schedule):
            log.warning(
                "webhook to %s given up after %d attempts (last: %s); the receiver must catch "
                "up with CDC", delivery.target.url, delivery.attempts, reason,
            )
            self._stats["given_up"] += 1
            self._finish(delivery)
            return
        wait = self._scaled(schedule[delivery.attempts - 1])
        delivery.next_at = time.monotonic() + wait
        log.info(
            "webhook to %s failed (%s); attempt %d in %.3fs",
            delivery.target.url, reason, delivery.attempts + 1, wait,
        )
