"""Everything that puts change hints into the inbox: the JobsiteOn change-feed relay and the
QBO CDC sweep (the webhook receiver lives in qbo_pipeline.webhooks)."""
from qbo_pipeline.ingest.cdc_sweep import CDC_ENTITIES, sweep_cdc
from qbo_pipeline.ingest.relay import relay_jobsiteon_changes
from qbo_pipeline.ingest.relay_thread import RelayThread

__all__ = ["CDC_ENTITIES", "RelayThread", "relay_jobsiteon_changes", "sweep_cdc"]
