"""QBO webhook receiver: verify `intuit-signature`, accept legacy and CloudEvents deliveries,
append every event to the state inbox before answering 200.

    create_app(store, verifier_token, *, max_body_bytes=1 MiB, realm_cache_seconds=30,
               db_concurrency=8) -> Starlette
        POST /webhooks/qbo, GET /healthz, GET /metrics
    ReceiverServer(store, verifier_token, host="127.0.0.1", port=0).start() / .stop()
        .base_url, .webhook_url (a background uvicorn thread, for tests and the demo)
    sign(body, verifier_token) -> str;  verify(body, signature, verifier_token) -> bool
    parse_delivery(body) -> (format, [WebhookEvent])

CLI: `qbo-pipeline webhooks serve --host 127.0.0.1 --port 8080` (QBO_WEBHOOK_VERIFIER_TOKEN).
Inbox rows written: source "webhook", entity as QBO names it ("Customer"), operation in the
legacy verbs (Create/Update/Delete/Merge/Void/Emailed), dedupe key = CloudEvents id or
legacy (realm, entity, id, operation, lastUpdated in UTC); a merge adds a Delete row for the
merged-away id. Events for unconnected realms are counted in the cursor
("_global", "webhook_unmatched") and dropped.
"""
from __future__ import annotations

from qbo_pipeline.webhooks.app import MAX_BODY_BYTES, UNMATCHED_COUNTER, WEBHOOK_PATH, create_app
from qbo_pipeline.webhooks.payloads import PayloadError, WebhookEvent, parse_delivery
from qbo_pipeline.webhooks.server import ReceiverServer
from qbo_pipeline.webhooks.signature import SIGNATURE_HEADER, sign, verify

__all__ = [
    "MAX_BODY_BYTES",
    "PayloadError",
    "ReceiverServer",
    "SIGNATURE_HEADER",
    "UNMATCHED_COUNTER",
    "WEBHOOK_PATH",
    "WebhookEvent",
    "create_app",
    "parse_delivery",
    "sign",
    "verify",
]
