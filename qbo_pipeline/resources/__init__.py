"""Dagster resources: they own I/O policy (connections, timeouts, retries, rate limits)
so assets stay thin."""
from qbo_pipeline.resources.jobsiteon import JobsiteOnResource
from qbo_pipeline.resources.qbo import QBOResource
from qbo_pipeline.resources.state import StateResource

__all__ = ["JobsiteOnResource", "QBOResource", "StateResource"]
