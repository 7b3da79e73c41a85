"""Reconciliation: pure functions on pandas frames, no I/O.

match (match.py) -> diff (diff.py) -> plan (plan.py); `reconcile()` runs all three for one
entity and returns the plan DataFrame documented in plan.py; report.py summarizes a plan.
frames.py brings the inputs to one shape, normalize.py says what counts as the same value,
money.py computes totals QBO's way, simulate.py applies a plan to in-memory copies (tests,
dry runs).
"""
from __future__ import annotations

from qbo_pipeline.reconcile.plan import ACTIONS, COLUMNS, STATUSES, build_plan, reconcile
from qbo_pipeline.reconcile.report import markdown_preview, residual, summarize
from qbo_pipeline.reconcile.simulate import apply_plan_in_memory

__all__ = [
    "ACTIONS", "COLUMNS", "STATUSES", "apply_plan_in_memory", "build_plan", "markdown_preview",
    "reconcile", "residual", "summarize",
]
