"""The QBO webhook receiver (Starlette).

POST /webhooks/qbo: verify `intuit-signature` over the raw body, parse the legacy or
CloudEvents delivery, and append every event to the inbox in ONE transaction before
answering 200. Duplicates (Intuit retries) are ignored by the inbox's dedupe key. Events for
a realm no workspace is connected to are answered 200 (so Intuit stops retrying), logged and
counted, never stored.
GET /healthz: database reachable. GET /metrics: this process's counters as JSON.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from qbo_pipeline.state.cursors import GLOBAL
from qbo_pipeline.state.db import write_transaction
from qbo_pipeline.state.inbox import NewInboxEvent
from qbo_pipeline.state.store import StateStore
from qbo_pipeline.webhooks.payloads import PayloadError, WebhookEvent, parse_delivery
from qbo_pipeline.webhooks.realms import RealmDirectory
from qbo_pipeline.webhooks.signature import SIGNATURE_HEADER, verify

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/qbo"
MAX_BODY_BYTES = 1024 * 1024
UNMATCHED_COUNTER = "webhook_unmatched"  # cursors row (workspace "_global") counting dropped events


class BodyTooLarge(Exception):
    pass


class Metrics:
    """Per-process counters, served at /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, **amounts: int) -> None:
        with self._lock:
            self._counts.update(amounts)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def create_app(
    store: StateStore,
    verifier_token: str,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    realm_cache_seconds: float = 30.0,
    db_concurrency: int = 8,
) -> Starlette:
    if not verifier_token:
        raise ValueError("a webhook verifier token is required (QBO_WEBHOOK_VERIFIER_TOKEN)")
    realms = RealmDirectory(store.connections.live_realms, ttl=realm_cache_seconds)
    metrics = Metrics()
    # Bounds concurrent DB work to what the connection pool can serve without queueing.
    db_slots = anyio.CapacityLimiter(db_concurrency)

    async def receive(request: Request) -> JSONResponse:
        metrics.add(deliveries=1)
        try:
            body = await _read_body(request, max_body_bytes)
        except BodyTooLarge:
            metrics.add(rejected_too_large=1)
            log.warning("webhook rejected: body larger than %d bytes", max_body_bytes)
            return JSONResponse({"error": f"body larger than {max_body_bytes} bytes"}, status_code=413)
        if not verify(body, request.headers.get(SIGNATURE_HEADER), verifier_token):
            metrics.add(rejected_signature=1)
            log.warning(
                "webhook rejected: %s intuit-signature (from %s)",
                "missing" if SIGNATURE_HEADER not in request.headers else "invalid",
                request.client.host if request.client else "?",
            )
            return JSONResponse({"error": "invalid or missing intuit-signature"}, status_code=401)
        try:
            fmt, events = parse_delivery(body)
        except PayloadError as exc:
            metrics.add(rejected_malformed=1)
            log.warning("webhook rejected: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        if not events:
            return JSONResponse({"format": fmt, "received": 0, "stored": 0, "duplicates": 0, "unmatched": 0})
        outcome = await anyio.to_thread.run_sync(_store, store, realms, events, limiter=db_slots)
        metrics.add(
            events_received=len(events),
            events_stored=outcome["stored"],
            events_duplicate=outcome["duplicates"],
            events_unmatched=outcome["unmatched"],
        )
        if outcome["unmatched"]:
            log.warning(
                "webhook: %d event(s) for realm(s) %s with no connected workspace were acknowledged "
                "and dropped", outcome["unmatched"], ", ".join(sorted(outcome.pop("unmatched_realms"))),
            )
        else:
            outcome.pop("unmatched_realms")
        log.debug("webhook %s delivery: %s", fmt, outcome)
        return JSONResponse({"format": fmt, "received": len(events), **outcome})

    async def healthz(request: Request) -> JSONResponse:
        try:
            await anyio.to_thread.run_sync(store.ping, limiter=db_slots)
        except Exception as exc:  # noqa: BLE001 - health reports any failure
            log.warning("health check: database unreachable: %s", type(exc).__name__)
            return JSONResponse({"status": "error", "db": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "db": "ok"})

    async def metrics_endpoint(request: Request) -> JSONResponse:
        return JSONResponse(metrics.snapshot())

    app = Starlette(
        routes=[
            Route(WEBHOOK_PATH, receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )
    app.state.metrics = metrics
    app.state.realms = realms
    return app


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge()
        except ValueError:
            pass  # the server rejects a malformed Content-Length itself
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _store(store: StateStore, realms: RealmDirectory, events: list[WebhookEvent]) -> dict[str, Any]:
    """One transaction: every matched event into the inbox, the unmatched count bumped."""
    workspaces = realms.lookup({event.realm_id for event in events})
    rows = [
        NewInboxEvent(
            workspace_id=workspaces[event.realm_id],
            source="webhook",
            entity=event.entity,
            record_id=event.record_id,
            operation=event.operation,
            dedupe_key=event.dedupe_key,
            occurred_at=event.occurred_at,
            realm_id=event.realm_id,
            payload=event.raw,
        )
        for event in events
        if event.realm_id in workspaces
    ]
    unmatched = len(events) - len(rows)
    with write_transaction(store.engine) as conn:
        stored = store.inbox.append(rows, conn=conn) if rows else 0
        if unmatched:
            store.cursors.bump(GLOBAL, UNMATCHED_COUNTER, unmatched, conn=conn)
    return {
        "stored": stored,
        "duplicates": len(rows) - stored,
        "unmatched": unmatched,
        "unmatched_realms": {e.realm_id for e in events if e.realm_id not in workspaces},
    }
