"""Assembles the Dagster definitions; no logic lives here."""
import dagster as dg

from qbo_pipeline.assets import ALL_ASSETS
from qbo_pipeline.jobs import cdc_sweep_job, full_sync_job, incremental_sync_job
from qbo_pipeline.resources import JobsiteOnResource, QBOResource, StateResource
from qbo_pipeline.schedules import build_nightly_schedule
from qbo_pipeline.sensors import build_cdc_sensor, build_inbox_sensor, connections_sensor, sync_failure_sensor
from qbo_pipeline.settings import qbo_resource_config

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[full_sync_job, incremental_sync_job, cdc_sweep_job],
    schedules=[build_nightly_schedule(full_sync_job)],
    sensors=[
        build_inbox_sensor(incremental_sync_job),
        build_cdc_sensor(cdc_sweep_job),
        connections_sensor,
        sync_failure_sensor,
    ],
    resources={
        "state": StateResource(),
        "jobsiteon": JobsiteOnResource(),
        "qbo": QBOResource(**qbo_resource_config()),
    },
)
