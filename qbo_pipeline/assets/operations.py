"""Operations assets: closing the drained inbox batch, the CDC sweep, the dead-letter queue
and sync health — so the ops team sees them in the Dagster UI."""

import json
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from qbo_pipeline.assets.metadata import frame_markdown
from qbo_pipeline.assets.scope import SyncScope
from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.ingest import sweep_cdc
from qbo_pipeline.partitions import workspaces
from qbo_pipeline.resources import JobsiteOnResource, QBOResource, StateResource

SYNC_KEYS = [dg.AssetKey(["sync", name]) for name in REGISTRY]


def run_sync_outcomes(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """Outcome counts ("action:status" -> n) over the sync steps of one run, read from their
    materializations' metadata: the run may have synced only some entities (an incremental
    run's asset selection), so they are not inputs to load."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    totals: dict[str, int] = {}
    for record in records:
        materialization = record.asset_materialization
        if materialization is None or materialization.asset_key not in SYNC_KEYS:
            continue
        counts = materialization.metadata.get("outcomes")
        for key, n in (getattr(counts, "value", None) or {}).items():
            totals[key] = totals.get(key, 0) + int(n)
    return totals


@dg.asset(
    key=["ops", "inbox_processed"],
    group_name="ops",
    partitions_def=workspaces,
    ins={"scope": dg.AssetIn(key=["ops", "inbox_batch"])},
    # After every sync step of the run (a failed one skips this step: its events stay
    # pending); dependencies, not inputs, so an incremental run may select a few entities.
    deps=SYNC_KEYS,
    kinds={"python"},
)
def inbox_processed(context: dg.AssetExecutionContext, scope: SyncScope, state: StateResource) -> dict:
    """Marks the run's inbox events processed once every entity synced; a full run also
    records the nightly result that sync health shows."""
    store = state.store()
    done = store.inbox.mark_processed(scope.event_ids)
    counts = run_sync_outcomes(context.instance, context.run.run_id)
    dead_lettered = sum(n for key, n in counts.items() if key.endswith(":dead_letter"))
    result = {
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "status": "ok" if not dead_lettered else "completed_with_errors",
        "writes": sum(n for key, n in counts.items() if key.endswith(":ok")),
        "dead_lettered": dead_lettered,
        "mode": scope.mode,
    }
    if scope.full:
        store.cursors.set(scope.workspace_id, "last_full_run", json.dumps(result))
    context.add_output_metadata({"events_processed": done, **{k: v for k, v in result.items() if k != "finished_at"}})
    return result


@dg.asset(
    key=["qbo", "cdc_sweep"],
    group_name="qbo",
    partitions_def=workspaces,
    pool="qbo_api",
    kinds={"quickbooks"},
)
def cdc_sweep(context: dg.AssetExecutionContext, qbo: QBOResource, state: StateResource) -> dict:
    """QBO change-data-capture since the workspace's cursor (with overlap): every change and
    deletion lands in the inbox, catching what webhooks missed."""
    store = state.store()
    client = qbo.client(store, context.partition_key)
    result = sweep_cdc(store, client, context.partition_key)
    context.add_output_metadata(
        {
            "changed_since": result.changed_since.isoformat(),
            "next_cursor": result.next_cursor.isoformat(),
            "changed": dg.MetadataValue.json(result.changed),
            "deleted": dg.MetadataValue.json(result.deleted),
            "new_inbox_events": result.stored,
            "complete": result.complete,
        }
    )
    if not result.complete:
        context.log.warning("CDC could not see every deletion (window past 30 days or capped); the nightly full "
                            "reconciliation will find them: " + "; ".join(result.notes))
    return {"stored": result.stored, "next_cursor": result.next_cursor.isoformat()}


@dg.asset(
    key=["ops", "dead_letters"],
    group_name="ops",
    partitions_def=workspaces,
    deps=[dg.AssetKey(["ops", "inbox_processed"])],
    kinds={"pandas"},
)
def dead_letters(context: dg.AssetExecutionContext, state: StateResource) -> pd.DataFrame:
    """Open dead letters of the workspace, by category, with the hint that fixes each
    (retry with `qbo-pipeline retry ID` once fixed)."""
    letters = state.store().dead_letters.list_open(context.partition_key)
    frame = pd.DataFrame(
        [{"id": l.id, "entity": l.entity, "direction": l.direction, "operation": l.operation,
          "record": ",".join(map(str, l.record_ids)), "category": l.category, "attempts": l.attempts,
          "last_seen": l.last_seen, "message": l.message, "hint": l.hint} for l in letters],
        columns=["id", "entity", "direction", "operation", "record", "category", "attempts", "last_seen", "message", "hint"],
    )
    by_category = frame["category"].value_counts().to_dict() if len(frame) else {}
    context.add_output_metadata({"open": len(frame), "by_category": dg.MetadataValue.json(by_category),
                                 "table": dg.MetadataValue.md(frame_markdown(frame, limit=25))})
    return frame


@dg.asset(
    key=["ops", "sync_health"],
    group_name="ops",
    partitions_def=workspaces,
    deps=[dg.AssetKey(["ops", "inbox_processed"])],
    kinds={"python"},
)
def sync_health(context: dg.AssetExecutionContext, state: StateResource, jobsiteon: JobsiteOnResource) -> dict:
    """Connection status, last success per entity, inbox depth, open dead letters, mapping
    completeness and the last nightly result (also `qbo-pipeline status`)."""
    from qbo_pipeline.ops.health import sync_health as compute_health

    health = compute_health(state.store(), context.partition_key, jobsiteon=jobsiteon.store())
    context.add_output_metadata({"summary": dg.MetadataValue.json(json.loads(json.dumps(health, default=str)))})
    return health
