"""Mirror assets: each system's records for one entity and workspace, as a typed frame in
the canonical columns (docs/jobsiteon-schema.md). Full in full runs, only the in-scope
records in incremental runs."""

import dagster as dg
import pandas as pd

from qbo_pipeline.assets.metadata import frame_markdown
from qbo_pipeline.assets.scope import SyncScope
from qbo_pipeline.entities import EntitySpec, qbo_to_frame
from qbo_pipeline.partitions import workspaces
from qbo_pipeline.resources import JobsiteOnResource, QBOResource, StateResource


def _to_dict(record) -> dict:
    return record.to_dict() if hasattr(record, "to_dict") else dict(record)


def fetch_qbo_records(client, spec: EntitySpec, scope: SyncScope) -> list[dict]:
    if scope.qbo_full(spec.name):
        return [_to_dict(r) for r in client.query_all(spec.qbo_entity, include_inactive=True)]
    ids = sorted(scope.qbo_ids.get(spec.name, ()) - scope.qbo_deleted.get(spec.name, set()))
    records = [_to_dict(r) for r in client.get_by_ids(spec.qbo_entity, ids)] if ids else []
    # CDC tombstones: the record is gone from QBO; the diff sees it as deleted there.
    tombstones = [
        {"Id": qbo_id, "status": "Deleted", "domain": "QBO"} for qbo_id in sorted(scope.qbo_deleted.get(spec.name, ()))
    ]
    return records + tombstones


def build_qbo_mirror(spec: EntitySpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=["qbo", spec.name],
        group_name="qbo",
        partitions_def=workspaces,
        ins={"scope": dg.AssetIn(key=["ops", "inbox_batch"])},
        kinds={"quickbooks", "pandas"},
        pool="qbo_api",
        description=f"QBO {spec.qbo_entity} records of the workspace's company, normalized to "
        f"JobsiteOn's columns (with qbo_id, SyncToken, status and the raw JSON).",
    )
    def _mirror(context: dg.AssetExecutionContext, scope: SyncScope, qbo: QBOResource, state: StateResource) -> pd.DataFrame:
        store = state.store()
        client = qbo.client(store, context.partition_key)
        if scope.is_empty_for(spec.name):
            records = []
        else:
            records = fetch_qbo_records(client, spec, scope)
        frame = qbo_to_frame(spec, records)
        frame["qbo_raw"] = records
        # A partial frame: links whose record is absent are left alone, not seen as deleted.
        frame.attrs["complete"] = scope.qbo_full(spec.name)
        context.add_output_metadata(
            {
                "rows": len(frame),
                "mode": "full" if scope.qbo_full(spec.name) else "incremental",
                "inactive_or_voided": int((frame["qbo_status"] != "active").sum()) if len(frame) else 0,
                "preview": dg.MetadataValue.md(frame_markdown(frame)),
            }
        )
        return frame

    return _mirror


def build_jobsiteon_mirror(spec: EntitySpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=["jobsiteon", spec.jobsiteon_table],
        group_name="jobsiteon",
        partitions_def=workspaces,
        ins={"scope": dg.AssetIn(key=["ops", "inbox_batch"])},
        kinds={"sql", "pandas"},
        description=f"JobsiteOn {spec.jobsiteon_table} of the workspace (soft-deleted rows included, "
        "so deletes propagate).",
    )
    def _mirror(context: dg.AssetExecutionContext, scope: SyncScope, jobsiteon: JobsiteOnResource) -> pd.DataFrame:
        store = jobsiteon.store()
        if scope.jobsiteon_full(spec.name):
            frame = store.read_frame(context.partition_key, spec.jobsiteon_table)
        else:
            ids = sorted(scope.jobsiteon_ids.get(spec.name, ()))
            frame = store.read_frame(context.partition_key, spec.jobsiteon_table, ids=ids)
        frame.attrs["complete"] = scope.jobsiteon_full(spec.name)
        context.add_output_metadata(
            {
                "rows": len(frame),
                "mode": "full" if scope.jobsiteon_full(spec.name) else "incremental",
                "soft_deleted": int(frame["deleted_at"].notna().sum()) if len(frame) else 0,
                "preview": dg.MetadataValue.md(frame_markdown(frame)),
            }
        )
        return frame

    return _mirror
