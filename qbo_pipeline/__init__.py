"""qbo_pipeline: two-way QuickBooks Online <-> JobsiteOn sync and reconciliation on Dagster."""

__version__ = "0.1.0"
