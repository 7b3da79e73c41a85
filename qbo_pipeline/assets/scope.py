"""What one run works on. A full run (nightly, Sync Now, backfill) covers every record; an
incremental run covers the records named by the inbox events it claimed — plus, through the
id map, their counterparts on the other side, so each diff sees both halves of a pair."""

from collections import defaultdict
from datetime import datetime, timezone
from dataclasses import dataclass, field

import dagster as dg

from qbo_pipeline.assets.selection import covered_by, spec_for_event_entity
from qbo_pipeline.ingest.cdc_sweep import CURSOR_SOURCE as CDC_CURSOR
from qbo_pipeline.partitions import FULL, INCREMENTAL, MODE_TAG, workspaces
from qbo_pipeline.resources import StateResource

# One run drains at most this many events; the rest wait for the next run (the sensor
# sees them still pending). Keeps a run's memory and QBO calls bounded.
MAX_EVENTS_PER_RUN = 5000
QBO_SOURCES = ("webhook", "cdc")


@dataclass
class SyncScope:
    workspace_id: str
    mode: str
    event_ids: list[int] = field(default_factory=list)
    # registry entity name -> ids on each side; only meaningful when mode is incremental
    qbo_ids: dict[str, set[str]] = field(default_factory=dict)
    jobsiteon_ids: dict[str, set[str]] = field(default_factory=dict)
    # QBO ids CDC reported as deleted (tombstones): they cannot be read any more
    qbo_deleted: dict[str, set[str]] = field(default_factory=dict)
    # Entities with an in-scope record that is not linked yet. Its twin may be any record
    # of the other side (matched by email, name or number), so that side is read in full —
    # a new record is never created before it was matched against everything.
    match_all_qbo: set[str] = field(default_factory=set)
    match_all_jobsiteon: set[str] = field(default_factory=set)

    @property
    def full(self) -> bool:
        return self.mode == FULL

    def is_empty_for(self, entity: str) -> bool:
        return not self.full and not self.qbo_ids.get(entity) and not self.jobsiteon_ids.get(entity)

    def qbo_full(self, entity: str) -> bool:
        return self.full or entity in self.match_all_qbo

    def jobsiteon_full(self, entity: str) -> bool:
        return self.full or entity in self.match_all_jobsiteon


# Events name entities as QBO, JobsiteOn or the registry does (see selection.py).
_spec_for = spec_for_event_entity


def scope_from_events(workspace_id: str, mode: str, events, id_map_lookup) -> SyncScope:
    """Pure: groups claimed events by entity and side, then widens each side with the
    other side's linked ids. `id_map_lookup(entity, side, ids) -> ids on the other side`
    (one per linked id given)."""
    scope = SyncScope(workspace_id, mode, [e.id for e in events])
    qbo, jobsiteon, deleted = defaultdict(set), defaultdict(set), defaultdict(set)
    for event in events:
        spec = _spec_for(event.entity)
        if event.source in QBO_SOURCES:
            if spec is None:
                continue  # an entity we do not sync (e.g. Account): nothing to do
            qbo[spec.name].add(str(event.record_id))
            if event.operation.lower() in ("delete", "deleted"):
                deleted[spec.name].add(str(event.record_id))
        elif spec is not None:
            jobsiteon[spec.name].add(str(event.record_id))
    for name in set(qbo) | set(jobsiteon):
        linked_jobsiteon = id_map_lookup(name, "qbo", sorted(qbo[name]))
        linked_qbo = id_map_lookup(name, "jobsiteon", sorted(jobsiteon[name]))
        if len(linked_jobsiteon) < len(qbo[name] - deleted[name]):
            scope.match_all_jobsiteon.add(name)
        if len(linked_qbo) < len(jobsiteon[name]):
            scope.match_all_qbo.add(name)
        jobsiteon[name] |= set(linked_jobsiteon)
        qbo[name] |= set(linked_qbo)
    scope.qbo_ids, scope.jobsiteon_ids, scope.qbo_deleted = dict(qbo), dict(jobsiteon), dict(deleted)
    return scope


@dg.asset(
    key=["ops", "inbox_batch"],
    group_name="ops",
    partitions_def=workspaces,
    kinds={"python"},
)
def inbox_batch(context: dg.AssetExecutionContext, state: StateResource) -> SyncScope:
    """The inbox events this run drains (claimed so no other run takes them) and the records
    they name on each side. Full runs claim every pending event and cover all records."""
    workspace_id = context.partition_key
    mode = context.run.tags.get(MODE_TAG, FULL)
    store = state.store()
    if mode == FULL and store.cursors.get(workspace_id, CDC_CURSOR) is None:
        # The first CDC sweep starts where this full read starts (less its overlap), not an
        # hour back: everything older is in the mirrors this run reads.
        store.cursors.set(workspace_id, CDC_CURSOR, datetime.now(timezone.utc).isoformat())
    events = store.inbox.claim(workspace_id, MAX_EVENTS_PER_RUN, worker=context.run.run_id)
    # A run requested for some entities (selection.py) leaves the other entities' events,
    # which arrived after the sensor's tick, to the run their newer inbox id triggers.
    selection = context.job_def.asset_layer.selected_asset_keys  # what this run executes
    uncovered = [e.id for e in events if not covered_by(selection, e.entity)]
    if uncovered:
        store.inbox.release(uncovered)
        events = [e for e in events if covered_by(selection, e.entity)]

    def lookup(entity: str, side: str, ids: list[str]) -> list[str]:
        if not ids:
            return []
        frame = store.id_map.frame(workspace_id, entity)
        source, target = ("qbo_id", "jobsiteon_id") if side == "qbo" else ("jobsiteon_id", "qbo_id")
        return frame.loc[frame[source].isin(ids), target].dropna().astype(str).tolist()

    scope = scope_from_events(workspace_id, mode, events, lookup)
    per_entity = {
        name: f"{len(scope.qbo_ids.get(name, ()))} QBO / {len(scope.jobsiteon_ids.get(name, ()))} JobsiteOn"
        for name in sorted(set(scope.qbo_ids) | set(scope.jobsiteon_ids))
    }
    context.add_output_metadata(
        {
            "mode": mode,
            "events_claimed": len(events),
            "events_left_for_another_run": len(uncovered),
            "records_in_scope": dg.MetadataValue.json(per_entity) if mode == INCREMENTAL else "all",
        }
    )
    context.log.info(f"{mode} run for {workspace_id}: {len(events)} inbox event(s) claimed")
    return scope
