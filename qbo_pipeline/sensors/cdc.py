"""CDC sweep sensor: every workspace gets a change-data-capture sweep on its own interval
(15 minutes unless its settings say otherwise), catching what webhooks missed — dropped
deliveries, deletes, voids. The tick only decides; the CDC call runs inside the run."""

import json
import time

import dagster as dg

from qbo_pipeline.partitions import run_tags
from qbo_pipeline.sensors.partitions import missing_partitions_requests

CDC_MODE = "cdc"
TICK_SECONDS = 30


def plan_cdc_runs(connections, cursor: dict[str, int], now: float) -> tuple[list[dg.RunRequest], dict[str, int]]:
    """Pure decision. Time is cut into slots of each workspace's pull interval; a workspace
    gets one run per slot, and the slot number is in the run key (so a restarted daemon
    cannot sweep twice in one slot)."""
    runs: list[dg.RunRequest] = []
    next_cursor: dict[str, int] = {}
    for connection in connections:
        interval = max(1, int(connection.settings.pull_interval_minutes)) * 60
        slot = int(now // interval)
        workspace = connection.workspace_id
        next_cursor[workspace] = cursor.get(workspace, -1)
        if slot <= cursor.get(workspace, -1):
            continue
        runs.append(
            dg.RunRequest(
                run_key=f"cdc:{workspace}:{interval}:{slot}",
                partition_key=workspace,
                tags=run_tags(workspace, CDC_MODE),
            )
        )
        next_cursor[workspace] = slot
    return runs, next_cursor


def build_cdc_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="cdc_sweep_sensor",
        job=job,
        minimum_interval_seconds=TICK_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"state"},
        description="Requests a QBO change-data-capture sweep per connected workspace every "
        "pull interval (default 15 min). The sweep's findings land in the inbox.",
    )
    def cdc_sweep_sensor(context: dg.SensorEvaluationContext):
        connections = context.resources.state.store().connections.list(status="connected")
        runs, cursor = plan_cdc_runs(connections, json.loads(context.cursor or "{}"), time.time())
        serialized = json.dumps(cursor, sort_keys=True)
        if not runs:
            return dg.SensorResult(skip_reason="no workspace is due for a CDC sweep", cursor=serialized)
        return dg.SensorResult(run_requests=runs, cursor=serialized,
                               dynamic_partitions_requests=missing_partitions_requests(context.instance, runs))

    return cdc_sweep_sensor
