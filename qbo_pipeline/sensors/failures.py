"""Run-failure sensor: a failed sync run lands in the workspace's sync log, and the inbox
events it had claimed go back to the pool for the next run."""

import dagster as dg

from qbo_pipeline.partitions import WORKSPACE_TAG
from qbo_pipeline.resources.state import StateResource


@dg.run_failure_sensor(
    name="sync_failure_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records failed sync runs in the sync log and releases their inbox claims.",
)
def sync_failure_sensor(context: dg.RunFailureSensorContext, state: StateResource):
    run = context.dagster_run
    workspace = run.tags.get(WORKSPACE_TAG)
    if not workspace:
        return
    store = state.store()
    released = store.inbox.release_claimed_by(run.run_id)
    message = context.failure_event.message or "run failed"
    store.sync_log.add(
        workspace,
        "run",
        "pull",
        "error",
        f"run {run.run_id} ({run.job_name}) failed: {message[:500]}; "
        f"{released} inbox event(s) returned for the next run",
    )
