"""Sync assets: apply an entity's plan to both systems (qbo_pipeline.apply), in reference
order, with checks that the result really is in sync."""

import os
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from qbo_pipeline.apply import ApplyContext, apply_plan
from qbo_pipeline.apply.verify import verify_applied
from qbo_pipeline.assets.metadata import frame_markdown
from qbo_pipeline.assets.workspace import workspace_settings
from qbo_pipeline.entities import EntitySpec
from qbo_pipeline.partitions import workspaces
from qbo_pipeline.resources import JobsiteOnResource, QBOResource, StateResource

MAX_ATTEMPTS = 5
RETRY_DELAY_ENV = "QBO_PIPELINE_SYNC_RETRY_DELAY"
DEFAULT_RETRY_DELAY_SECONDS = 2.0


def sync_retry_policy() -> dg.RetryPolicy:
    """Transient failures (throttling, 5xx, timeouts) retry the step with exponential backoff
    from QBO_PIPELINE_SYNC_RETRY_DELAY seconds (default 2: 2, 4, 8, 16 s); on the last
    attempt they go to the dead-letter queue instead. Read when the assets are defined."""
    delay = float(os.environ.get(RETRY_DELAY_ENV) or DEFAULT_RETRY_DELAY_SECONDS)
    return dg.RetryPolicy(
        max_retries=MAX_ATTEMPTS - 1, delay=delay, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    )


RESIDUAL_CHECK = "residual_diff_is_zero"
REFERENCES_CHECK = "references_mapped"
TOTALS_CHECK = "totals_match_to_the_cent"


def _check_specs(spec: EntitySpec, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    checks = [
        dg.AssetCheckSpec(RESIDUAL_CHECK, asset=key, description="Every record this step wrote reads back "
                          "in sync from both systems."),
        dg.AssetCheckSpec(REFERENCES_CHECK, asset=key, description="Every referenced record, tax code and "
                          "account is mapped (nothing waits for an unlinked reference or a missing setting)."),
    ]
    if spec.name in ("invoices", "credit_memos"):
        checks.append(dg.AssetCheckSpec(TOTALS_CHECK, asset=key, description="JobsiteOn totals and balances "
                                        "match QBO's TotalAmt and Balance to the cent."))
    return checks


def build_sync(spec: EntitySpec) -> dg.AssetsDefinition:
    key = dg.AssetKey(["sync", spec.name])

    @dg.asset(
        key=key,
        group_name="sync",
        partitions_def=workspaces,
        ins={
            "plan": dg.AssetIn(key=["reconcile", f"{spec.name}_diff"]),
            "qbo_frame": dg.AssetIn(key=["qbo", spec.name]),
        },
        check_specs=_check_specs(spec, key),
        retry_policy=sync_retry_policy(),
        pool="qbo_api",
        kinds={"quickbooks", "sql"},
        description=f"Applies the {spec.name} plan: QBO writes through the batch API with deterministic "
        "requestids, JobsiteOn writes in transactions; every outcome in the sync log, failures classified, "
        "retried, or dead-lettered with a hint.",
    )
    def _sync(context: dg.AssetExecutionContext, plan: pd.DataFrame, qbo_frame: pd.DataFrame,
              qbo: QBOResource, state: StateResource, jobsiteon: JobsiteOnResource):
        workspace_id = context.partition_key
        store = state.store()
        client = qbo.client(store, workspace_id)
        ctx = ApplyContext(
            workspace_id=workspace_id,
            spec=spec,
            client=client,
            jobsiteon=jobsiteon.store(),
            state=store,
            settings=workspace_settings(store, client, workspace_id),
            final_attempt=context.retry_number >= MAX_ATTEMPTS - 1,
            log=context.log.info,
        )
        report = apply_plan(ctx, plan, qbo_frame)
        verification = verify_applied(ctx, report)
        store.cursors.set(workspace_id, f"last_success:{spec.name}", datetime.now(timezone.utc).isoformat())
        outcomes = report.frame()
        counts = report.counts()
        context.log.info(f"{spec.name}: {len(outcomes)} outcome(s) {counts}; residual after apply {verification.residual}")
        yield dg.Output(
            outcomes,
            metadata={
                "writes_qbo": report.qbo_requests_items,
                "writes_jobsiteon": report.jobsiteon_writes,
                "links": report.links,
                "dead_lettered": int((outcomes["status"] == "dead_letter").sum()) if len(outcomes) else 0,
                "outcomes": dg.MetadataValue.json(counts),
                "residual_after_apply": verification.residual,
                "attempt": context.retry_number + 1,
            },
        )
        open_rows = verification.open_rows()
        yield dg.AssetCheckResult(
            check_name=RESIDUAL_CHECK,
            passed=verification.residual == 0,
            metadata={"records_read_back": verification.records, "residual": verification.residual,
                      "open": dg.MetadataValue.md(frame_markdown(open_rows[["jobsiteon_id", "qbo_id", "status", "action", "reason"]]))},
        )
        waiting = plan[(plan["status"].astype(object) == "blocked") & plan["reason"].fillna("").str.startswith("waits for")]
        yield dg.AssetCheckResult(
            check_name=REFERENCES_CHECK,
            passed=waiting.empty,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"records_waiting": len(waiting),
                      "preview": dg.MetadataValue.md(frame_markdown(waiting[["jobsiteon_id", "qbo_id", "reason"]]))},
        )
        if spec.name in ("invoices", "credit_memos"):
            mismatches = plan[plan["reason"].fillna("").str.startswith("total mismatch")]
            yield dg.AssetCheckResult(
                check_name=TOTALS_CHECK,
                passed=mismatches.empty,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"mismatches": len(mismatches),
                          "preview": dg.MetadataValue.md(frame_markdown(mismatches[["jobsiteon_id", "qbo_id", "total_delta", "reason"]]))},
            )

    return _sync
