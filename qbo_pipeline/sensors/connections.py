"""Connections sensor: workspace partitions follow connections as they come and go."""

import dagster as dg

from qbo_pipeline.partitions import workspaces

LIVE = ("connected", "needs_reconnect")


def plan_partition_changes(connections, existing: set[str]) -> tuple[list[str], list[str]]:
    """(partitions to add, partitions to delete). A needs_reconnect workspace keeps its
    partition (its history stays visible); the inbox and CDC sensors give it no runs."""
    live = {c.workspace_id for c in connections if c.status in LIVE}
    return sorted(live - existing), sorted(existing - live)


@dg.sensor(
    name="connections_sensor",
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    required_resource_keys={"state"},
    description="Adds a workspace partition when a QBO company is connected and removes it "
    "when the workspace disconnects (its synced data and run history stay).",
)
def connections_sensor(context: dg.SensorEvaluationContext):
    connections = context.resources.state.store().connections.list()
    existing = set(context.instance.get_dynamic_partitions(workspaces.name))
    to_add, to_delete = plan_partition_changes(connections, existing)
    requests = []
    if to_add:
        requests.append(workspaces.build_add_request(to_add))
    if to_delete:
        requests.append(workspaces.build_delete_request(to_delete))
    if not requests:
        return dg.SensorResult(skip_reason=f"{len(existing)} workspace partition(s), no change")
    context.log.info(f"partitions added: {to_add or 'none'}; removed: {to_delete or 'none'}")
    return dg.SensorResult(dynamic_partitions_requests=requests)
