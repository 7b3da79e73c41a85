"""Parses webhook deliveries — the legacy `eventNotifications` object and the CloudEvents
array — into one event shape.

Entities are reported with QBO's names (`Customer`, `CreditMemo`) and operations with the
legacy verbs (Create, Update, Delete, Merge, Void, Emailed) whatever the format. A merge
also yields a Delete event for the merged-away record (`deletedid` / `deletedId`), so the
drain notices that record is gone."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# CloudEvents carry the entity lower-cased; map back to QBO's names.
QBO_ENTITY_NAMES = {
    name.lower(): name
    for name in (
        "Account", "Bill", "BillPayment", "Budget", "Class", "CreditMemo", "Currency", "Customer",
        "Department", "Deposit", "Employee", "Estimate", "Invoice", "Item", "JournalCode",
        "JournalEntry", "Payment", "PaymentMethod", "Preferences", "Purchase", "PurchaseOrder",
        "RefundReceipt", "SalesReceipt", "TaxAgency", "Term", "TimeActivity", "Transfer", "Vendor",
        "VendorCredit",
    )
}
CLOUDEVENT_VERBS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}
_CE_TYPE = re.compile(r"^qbo\.([a-z0-9_]+)\.([a-z_]+)\.v\d+$")
_MAX_KEY = 200


class PayloadError(ValueError):
    """The body is not a webhook delivery we understand (→ HTTP 400)."""


@dataclass(frozen=True)
class WebhookEvent:
    realm_id: str
    entity: str
    record_id: str
    operation: str
    occurred_at: datetime | None
    dedupe_key: str
    raw: dict[str, Any]


def parse_delivery(body: bytes) -> tuple[str, list[WebhookEvent]]:
    """→ (format name, events). Raises PayloadError for malformed JSON or an unknown shape."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON ({exc.__class__.__name__})") from None
    if isinstance(data, dict) and "eventNotifications" in data:
        return "legacy", _legacy(data["eventNotifications"])
    if isinstance(data, list):
        return "cloudevents", _cloudevents(data)
    raise PayloadError("unknown payload shape: expected {\"eventNotifications\": [...]} or a CloudEvents array")


def _legacy(notifications: Any) -> list[WebhookEvent]:
    if not isinstance(notifications, list):
        raise PayloadError("eventNotifications must be an array")
    events: list[WebhookEvent] = []
    for n, notification in enumerate(notifications):
        if not isinstance(notification, dict):
            raise PayloadError(f"eventNotifications[{n}] is not an object")
        realm = _text(notification.get("realmId"), f"eventNotifications[{n}].realmId")
        change = notification.get("dataChangeEvent")
        entities = change.get("entities") if isinstance(change, dict) else None
        if not isinstance(entities, list):
            raise PayloadError(f"eventNotifications[{n}].dataChangeEvent.entities must be an array")
        for m, item in enumerate(entities):
            where = f"eventNotifications[{n}].dataChangeEvent.entities[{m}]"
            if not isinstance(item, dict):
                raise PayloadError(f"{where} is not an object")
            entity = _entity_name(_text(item.get("name"), f"{where}.name"))
            record_id = _text(item.get("id"), f"{where}.id")
            operation = _text(item.get("operation"), f"{where}.operation")
            raw_time = item.get("lastUpdated")
            occurred = _timestamp(raw_time)
            stamp = occurred.isoformat() if occurred else str(raw_time or "")
            key = _key("legacy", realm, entity, record_id, operation, stamp)
            raw = {"realmId": realm, **item}
            events.append(WebhookEvent(realm, entity, record_id, operation, occurred, key, raw))
            deleted = item.get("deletedId")
            if operation == "Merge" and deleted not in (None, ""):
                events.append(WebhookEvent(
                    realm, entity, str(deleted), "Delete", occurred,
                    _key("legacy", realm, entity, str(deleted), "Delete", stamp), raw,
                ))
    return events


def _cloudevents(items: list[Any]) -> list[WebhookEvent]:
    events: list[WebhookEvent] = []
    for n, item in enumerate(items):
        where = f"event[{n}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{where} is not an object")
        event_id = _text(item.get("id"), f"{where}.id")
        event_type = _text(item.get("type"), f"{where}.type")
        match = _CE_TYPE.match(event_type)
        if match is None:
            raise PayloadError(f"{where}.type {event_type[:80]!r} is not qbo.<entity>.<verb>.v<n>")
        entity = _entity_name(match.group(1))
        verb = match.group(2)
        operation = CLOUDEVENT_VERBS.get(verb, verb.capitalize())
        realm = _text(item.get("intuitaccountid"), f"{where}.intuitaccountid")
        record_id = _text(item.get("intuitentityid"), f"{where}.intuitentityid")
        occurred = _timestamp(item.get("time"))
        key = _key("ce", event_id)
        events.append(WebhookEvent(realm, entity, record_id, operation, occurred, key, item))
        data = item.get("data")
        deleted = data.get("deletedid") if isinstance(data, dict) else None
        if deleted not in (None, ""):
            events.append(WebhookEvent(
                realm, entity, str(deleted), "Delete", occurred, _key("ce", event_id, "deleted"), item
            ))
    return events


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int)):
        raise PayloadError(f"{where} is missing or not a string")
    text = str(value).strip()
    if not text:
        raise PayloadError(f"{where} is empty")
    return text


def _entity_name(name: str) -> str:
    return QBO_ENTITY_NAMES.get(name.lower(), name)


def _timestamp(value: Any) -> datetime | None:
    """Lenient: '2015-10-05T14:42:19-0700', '...31.657Z', nanosecond fractions; UTC out."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # nanoseconds → microseconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _key(*parts: str) -> str:
    key = ":".join(parts)
    if len(key) <= _MAX_KEY:
        return key
    return f"{parts[0]}:sha256:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"
