"""`qbo-pipeline sync`: "Sync Now" — the nightly reconciliation for one workspace, on demand."""
from __future__ import annotations

import click


@click.command()
@click.option("--workspace", "workspace_id", required=True, help="JobsiteOn workspace id.")
@click.option("--mode", type=click.Choice(["full", "incremental"]), default="full", show_default=True,
              help="full: every record (like the nightly run); incremental: only what the inbox names.")
def sync(workspace_id: str, mode: str) -> None:
    """Run a sync of one workspace now, recorded in the Dagster instance like any other run."""
    import dagster as dg

    from qbo_pipeline.definitions import defs
    from qbo_pipeline.ingest import relay_jobsiteon_changes
    from qbo_pipeline.jobsiteon.store import JobsiteOnStore
    from qbo_pipeline.partitions import run_tags, workspaces
    from qbo_pipeline.state import StateStore

    state = StateStore.from_url()
    connection = state.connections.get(workspace_id)
    if connection is None or connection.status != "connected":
        status = connection.status if connection else "not connected"
        raise click.ClickException(
            f"workspace {workspace_id} is {status}; connect it first: qbo-pipeline connect --workspace {workspace_id}"
        )
    moved = relay_jobsiteon_changes(state, JobsiteOnStore.from_url())
    instance = dg.DagsterInstance.get()
    if workspace_id not in instance.get_dynamic_partitions(workspaces.name):
        instance.add_dynamic_partitions(workspaces.name, [workspace_id])
    job = defs.get_job_def("full_sync" if mode == "full" else "incremental_sync")
    click.echo(f"Syncing {workspace_id} ({mode}); {moved} new JobsiteOn change(s) queued. Progress is in the run log.")
    result = job.execute_in_process(
        partition_key=workspace_id, instance=instance,
        tags={**run_tags(workspace_id, mode), "qbo_pipeline/trigger": "cli"}, raise_on_error=False,
    )
    summary = {}
    for event in result.get_asset_materialization_events():
        key = event.materialization.asset_key.to_user_string()
        if key.startswith("sync/"):
            meta = event.materialization.metadata
            summary[key[5:]] = (meta["writes_qbo"].value, meta["writes_jobsiteon"].value, meta["dead_lettered"].value)
    for entity, (to_qbo, to_jobsiteon, dead) in summary.items():
        click.echo(f"  {entity:16} {to_qbo:6} QBO write(s)  {to_jobsiteon:6} JobsiteOn write(s)  {dead:4} dead letter(s)")
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise click.ClickException(f"run {result.run_id} failed in {', '.join(failed)}; see the Dagster UI or "
                                   "`qbo-pipeline errors`")
    click.echo(f"Run {result.run_id} succeeded.")


commands = [sync]
