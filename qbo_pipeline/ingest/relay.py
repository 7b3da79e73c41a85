"""Relays JobsiteOn's change feed (its outbox) into the inbox.

It runs in the always-on ingest service next to the webhook receiver (and once before a
`qbo-pipeline sync`), so Dagster sensors only ever read the inbox. Changes the integration
itself wrote (source 'integration') are skipped: the pipeline never echoes its own writes."""
from __future__ import annotations

from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import NewInboxEvent, StateStore

CURSOR_WORKSPACE = "*"  # the feed is global; its position is one cursor for all workspaces
CURSOR_SOURCE = "jobsiteon_feed"
LIVE = ("connected", "needs_reconnect")


def relay_jobsiteon_changes(state: StateStore, jobsiteon: JobsiteOnStore, *, batch: int = 5000) -> int:
    """Moves feed entries past the cursor into the inbox; returns how many events were
    stored. The inbox insert dedupes by feed seq, so a crash between the insert and the
    cursor update only repeats harmless work."""
    moved = 0
    live = {c.workspace_id for c in state.connections.list() if c.status in LIVE}
    while True:
        position = int(state.cursors.get(CURSOR_WORKSPACE, CURSOR_SOURCE) or 0)
        entries = jobsiteon.changes_since(position, batch)
        if not entries:
            return moved
        events = [
            NewInboxEvent(
                workspace_id=entry["workspace_id"],
                source="jobsiteon",
                entity=entry["entity"],
                record_id=str(entry["record_id"]),
                operation=entry["operation"],
                dedupe_key=f"jobsiteon:{entry['seq']}",
                occurred_at=entry["changed_at"],
            )
            for entry in entries
            if entry["source"] != "integration" and entry["workspace_id"] in live
        ]
        moved += state.inbox.append(events)
        state.cursors.set(CURSOR_WORKSPACE, CURSOR_SOURCE, str(entries[-1]["seq"]))
        if len(entries) < batch:
            return moved
