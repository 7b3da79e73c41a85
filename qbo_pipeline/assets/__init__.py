"""Asset factories driven by the entity registry: per entity a QBO mirror, a JobsiteOn
mirror, a diff (the plan) and a sync step, plus the operations assets."""
from __future__ import annotations

from qbo_pipeline.assets.diffs import build_diff
from qbo_pipeline.assets.mirrors import build_jobsiteon_mirror, build_qbo_mirror
from qbo_pipeline.assets.operations import cdc_sweep, dead_letters, inbox_processed, sync_health
from qbo_pipeline.assets.scope import inbox_batch
from qbo_pipeline.assets.sync import build_sync
from qbo_pipeline.entities import topological_order


def entity_assets() -> list:
    assets = []
    for spec in topological_order():
        assets += [build_qbo_mirror(spec), build_jobsiteon_mirror(spec), build_diff(spec), build_sync(spec)]
    return assets


SYNC_ASSETS = [inbox_batch, *entity_assets(), inbox_processed, dead_letters, sync_health]
ALL_ASSETS = [*SYNC_ASSETS, cdc_sweep]

__all__ = ["ALL_ASSETS", "SYNC_ASSETS", "cdc_sweep"]
