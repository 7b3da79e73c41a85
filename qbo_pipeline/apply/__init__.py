"""Applies a reconciliation plan (qbo_pipeline.reconcile) to both systems.

QBO writes go through the batch API (30 per request, deterministic requestids); JobsiteOn
writes are one transaction per chunk, marked origin "integration" so they never echo back.
After every chunk the id map records the new links and versions, so a run killed half-way
and started again finds its earlier work linked and creates nothing twice. Every outcome
goes to the sync log; permanent failures (and transient ones once the step's retries are
used up) go to the dead-letter queue with category, hint and payload."""
from qbo_pipeline.apply.outcomes import ApplyReport, Outcome
from qbo_pipeline.apply.runner import ApplyContext, TransientFailures, apply_plan

__all__ = ["ApplyContext", "ApplyReport", "Outcome", "TransientFailures", "apply_plan"]
