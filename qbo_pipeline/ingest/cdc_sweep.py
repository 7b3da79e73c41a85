"""The CDC sweep: asks QBO what changed since the workspace's cursor and files each change
in the inbox, where the next incremental run drains it like a webhook event. Catches
dropped webhooks, deletes and voids."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.state import NewInboxEvent, StateStore

CURSOR_SOURCE = "cdc"
# Re-read a little before the cursor: a change committed at QBO just before the previous
# sweep's server time may not have been visible to it. The inbox dedupes the overlap.
OVERLAP = timedelta(minutes=2)
# First sweep of a new connection: the initial (full) sync already covered older history.
FIRST_LOOKBACK = timedelta(hours=1)

CDC_ENTITIES = tuple(spec.qbo_entity for spec in REGISTRY.values())


@dataclass(frozen=True)
class SweepResult:
    changed_since: datetime
    next_cursor: datetime
    changed: dict[str, int]
    deleted: dict[str, int]
    stored: int
    complete: bool
    notes: list[str]


def _field(record, name):
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def _updated(record) -> str:
    meta = _field(record, "MetaData")
    value = _field(meta, "LastUpdatedTime") if meta is not None else None
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def sweep_cdc(state: StateStore, client, workspace_id: str, *, now: datetime | None = None) -> SweepResult:
    cursor = state.cursors.get(workspace_id, CURSOR_SOURCE)
    now = now or datetime.now(timezone.utc)
    since = datetime.fromisoformat(cursor) - OVERLAP if cursor else now - FIRST_LOOKBACK
    result = client.cdc(CDC_ENTITIES, since)
    events = []
    for kind, groups in (("Update", result.changed), ("Delete", result.deleted)):
        for entity, records in groups.items():
            for record in records:
                record_id = str(_field(record, "Id"))
                events.append(
                    NewInboxEvent(
                        workspace_id=workspace_id,
                        realm_id=client.realm_id,
                        source="cdc",
                        entity=entity,
                        record_id=record_id,
                        operation=kind,
                        dedupe_key=f"cdc:{entity}:{record_id}:{kind}:{_updated(record)}",
                    )
                )
    stored = state.inbox.append(events)
    next_cursor = result.next_watermark or now
    state.cursors.set(workspace_id, CURSOR_SOURCE, next_cursor.isoformat())
    return SweepResult(
        changed_since=since,
        next_cursor=next_cursor,
        changed={k: len(v) for k, v in result.changed.items() if v},
        deleted={k: len(v) for k, v in result.deleted.items() if v},
        stored=stored,
        complete=result.complete,
        notes=list(result.notes),
    )
