"""Sensors decide what runs; they never call QBO or JobsiteOn."""
from qbo_pipeline.sensors.cdc import build_cdc_sensor
from qbo_pipeline.sensors.connections import connections_sensor
from qbo_pipeline.sensors.failures import sync_failure_sensor
from qbo_pipeline.sensors.inbox import build_inbox_sensor

__all__ = ["build_cdc_sensor", "build_inbox_sensor", "connections_sensor", "sync_failure_sensor"]
