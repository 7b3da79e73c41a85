"""Run requests name a workspace partition; a workspace connected since the connections
sensor's last tick has none yet. Dagster rejects a run request for an unknown partition and
fails the whole tick — every other workspace's runs with it — so a sensor adds the missing
partitions in the same result (Dagster resolves the requests after adding them)."""

import dagster as dg

from qbo_pipeline.partitions import workspaces


def missing_partitions_requests(instance: dg.DagsterInstance, runs: list[dg.RunRequest]) -> list:
    wanted = {run.partition_key for run in runs if run.partition_key}
    if not wanted:
        return []
    missing = sorted(wanted - set(instance.get_dynamic_partitions(workspaces.name)))
    return [workspaces.build_add_request(missing)] if missing else []
