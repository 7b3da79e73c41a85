"""Nightly deep reconciliation: full mirrors, diffs, corrections and checks for every
connected workspace, at 02:00 in a configurable timezone."""

import os

import dagster as dg

from qbo_pipeline.partitions import FULL, run_tags

NIGHTLY_CRON = "0 2 * * *"


def nightly_timezone() -> str:
    return os.environ.get("QBO_PIPELINE_NIGHTLY_TIMEZONE", "UTC")


def plan_nightly_runs(connections, date_key: str) -> list[dg.RunRequest]:
    """One full run per connected workspace; the date in the run key makes a re-evaluated
    tick harmless."""
    return [
        dg.RunRequest(
            run_key=f"nightly:{date_key}:{c.workspace_id}",
            partition_key=c.workspace_id,
            tags={**run_tags(c.workspace_id, FULL), "qbo_pipeline/trigger": "nightly"},
        )
        for c in connections
    ]


def build_nightly_schedule(job) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="nightly_reconciliation",
        job=job,
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=nightly_timezone(),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        required_resource_keys={"state"},
        description="02:00 deep reconciliation of every connected workspace (set the timezone "
        "with QBO_PIPELINE_NIGHTLY_TIMEZONE).",
    )
    def nightly_reconciliation(context: dg.ScheduleEvaluationContext):
        connections = context.resources.state.store().connections.list(status="connected")
        date_key = context.scheduled_execution_time.strftime("%Y-%m-%d")
        runs = plan_nightly_runs(connections, date_key)
        if not runs:
            return dg.SkipReason("no connected workspace")
        return runs

    return nightly_reconciliation
