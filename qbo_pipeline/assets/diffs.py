"""Diff assets: match -> diff -> plan for one entity (qbo_pipeline.reconcile), with a
blocking check that refuses a plan changing too much of either side at once."""

import os

import dagster as dg
import pandas as pd

from qbo_pipeline.assets.workspace import workspace_settings
from qbo_pipeline.entities import EntitySpec, get_spec
from qbo_pipeline.partitions import workspaces
from qbo_pipeline.reconcile import markdown_preview, reconcile, summarize
from qbo_pipeline.resources import QBOResource, StateResource

MASS_CHANGE_CHECK = "mass_change_guard"
# Below this many existing records a "share" says nothing; the guard lets such plans pass.
MASS_CHANGE_MIN_RECORDS = 20
_QBO_CHANGES = ("update_qbo", "deactivate_qbo", "delete_qbo")
_JOBSITEON_CHANGES = ("update_jobsiteon", "delete_jobsiteon", "void_flag_jobsiteon")


def max_change_share() -> float:
    return float(os.environ.get("QBO_PIPELINE_MAX_CHANGE_SHARE", "0.5"))


def mass_change_verdict(plan: pd.DataFrame, qbo_records: int, jobsiteon_records: int, limit: float) -> tuple[bool, dict]:
    """Pure: (passed, figures). Creates and links do not count: filling an empty side at the
    initial sync is expected. Updates, deletes and deactivations of existing records do."""
    actions = plan["action"].astype(object)
    figures = {}
    passed = True
    for side, changes, existing in (
        ("qbo", _QBO_CHANGES, qbo_records),
        ("jobsiteon", _JOBSITEON_CHANGES, jobsiteon_records),
    ):
        changed = int(actions.isin(changes).sum())
        share = changed / existing if existing else 0.0
        figures[f"{side}_changes"] = changed
        figures[f"{side}_existing"] = existing
        figures[f"{side}_share"] = round(share, 4)
        if existing >= MASS_CHANGE_MIN_RECORDS and share > limit:
            passed = False
    figures["limit"] = limit
    return passed, figures


def hold_unverified_creates(plan: pd.DataFrame, *, qbo_complete: bool, jobsiteon_complete: bool) -> pd.DataFrame:
    """Pure: an incremental run reads one side in full only to match its in-scope records
    against everything. That side's other records then meet a partial frame of the other
    side, where their twin may just not have been read: "missing there, create it" would
    duplicate them. A create is only planned into a side that was read in full (every
    in-scope record without a link makes its other side read in full, so no wanted create
    is lost); the rest wait for a full run."""
    unverified = [action for action, complete in (("create_jobsiteon", jobsiteon_complete),
                                                  ("create_qbo", qbo_complete)) if not complete]
    rows = plan["action"].astype(object).isin(unverified) if unverified else None
    if rows is None or not rows.any():
        return plan
    plan = plan.copy()
    plan.loc[rows, "action"] = "skip"
    plan.loc[rows, "reason"] = ("outside this incremental run's scope and the other side was only read in part: "
                                "matched and created by the next full sync")
    return plan


def build_diff(spec: EntitySpec) -> dg.AssetsDefinition:
    ref_sync_keys = [dg.AssetKey(["sync", get_spec(name).name]) for name in spec.referenced_entities if get_spec(name).name != spec.name]
    check_key = dg.AssetCheckSpec(
        MASS_CHANGE_CHECK,
        asset=dg.AssetKey(["reconcile", f"{spec.name}_diff"]),
        blocking=True,
        description="Refuses a plan that would update or remove more than QBO_PIPELINE_MAX_CHANGE_SHARE "
        "(default 50 %) of either side's existing records; the sync step then does not run.",
    )

    @dg.asset(
        key=["reconcile", f"{spec.name}_diff"],
        group_name="reconcile",
        partitions_def=workspaces,
        ins={
            "qbo_frame": dg.AssetIn(key=["qbo", spec.name]),
            "jobsiteon_frame": dg.AssetIn(key=["jobsiteon", spec.jobsiteon_table]),
        },
        deps=ref_sync_keys,
        check_specs=[check_key],
        kinds={"pandas", "duckdb"},
        description=f"The reconciliation plan for {spec.name}: matched pairs, records missing on either "
        "side, field conflicts (most recent change wins) and the actions the sync step will take.",
    )
    def _diff(context: dg.AssetExecutionContext, qbo_frame: pd.DataFrame, jobsiteon_frame: pd.DataFrame,
              qbo: QBOResource, state: StateResource):
        workspace_id = context.partition_key
        store = state.store()
        settings = workspace_settings(store, qbo.client(store, workspace_id), workspace_id)
        id_map = store.id_map.frame(workspace_id, spec.name)
        ref_maps = {
            name: store.id_map.frame(workspace_id, name) for name in spec.referenced_entities if name != spec.name
        }
        plan = reconcile(
            spec,
            jobsiteon_frame,
            qbo_frame.drop(columns=["qbo_raw"]),
            id_map,
            ref_id_maps=ref_maps,
            settings=settings,
            qbo_complete=qbo_frame.attrs.get("complete", True),
            jobsiteon_complete=jobsiteon_frame.attrs.get("complete", True),
        )
        plan = hold_unverified_creates(plan, qbo_complete=qbo_frame.attrs.get("complete", True),
                                       jobsiteon_complete=jobsiteon_frame.attrs.get("complete", True))
        summary = summarize(plan)
        existing_qbo = max(len(qbo_frame), len(id_map)) if not qbo_frame.attrs.get("complete", True) else len(qbo_frame)
        existing_jobsiteon = (
            max(len(jobsiteon_frame), len(id_map)) if not jobsiteon_frame.attrs.get("complete", True) else len(jobsiteon_frame)
        )
        passed, figures = mass_change_verdict(plan, existing_qbo, existing_jobsiteon, max_change_share())
        yield dg.Output(
            plan,
            metadata={
                "records": summary["records"],
                "residual": summary["residual"],
                "mapping_completeness": dg.MetadataValue.float(float(summary["mapping_completeness"])),
                "actions": dg.MetadataValue.json(summary["actions"]),
                "statuses": dg.MetadataValue.json(summary["statuses"]),
                "preview": dg.MetadataValue.md(markdown_preview(plan)),
            },
        )
        yield dg.AssetCheckResult(
            check_name=MASS_CHANGE_CHECK,
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=figures,
            description=None if passed else (
                f"the plan would change {figures['qbo_share']:.0%} of QBO and {figures['jobsiteon_share']:.0%} of "
                f"JobsiteOn {spec.name} records (limit {figures['limit']:.0%}); review the diff, then raise "
                "QBO_PIPELINE_MAX_CHANGE_SHARE for one run if it is intended"
            ),
        )

    return _diff
