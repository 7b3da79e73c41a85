"""After a sync step: read back what it wrote from both systems and diff again. Anything
still open among those records means the write did not do what the plan said."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qbo_pipeline.apply.outcomes import ApplyReport
from qbo_pipeline.entities import qbo_to_frame
from qbo_pipeline.reconcile import reconcile, residual


@dataclass
class Verification:
    records: int
    residual: int
    plan: pd.DataFrame

    def open_rows(self) -> pd.DataFrame:
        plan = self.plan
        return plan[(plan["status"].astype(object) != "in_sync") & (plan["action"].astype(object) != "skip")]


def verify_applied(ctx, report: ApplyReport) -> Verification:
    done = [o for o in report.outcomes if o.status == "ok"]
    id_map = ctx.state.id_map.frame(ctx.workspace_id, ctx.spec.name)
    jobsiteon_ids = {str(o.jobsiteon_id) for o in done if o.jobsiteon_id}
    qbo_ids = {str(o.qbo_id) for o in done if o.qbo_id}
    # Both halves of every pair, whichever side the write went to.
    jobsiteon_ids |= set(id_map.loc[id_map["qbo_id"].astype(str).isin(qbo_ids), "jobsiteon_id"].astype(str))
    qbo_ids |= set(id_map.loc[id_map["jobsiteon_id"].astype(str).isin(jobsiteon_ids), "qbo_id"].astype(str))
    if not jobsiteon_ids and not qbo_ids:
        empty = reconcile(ctx.spec, ctx.jobsiteon.read_frame(ctx.workspace_id, ctx.spec.jobsiteon_table, ids=[]),
                          qbo_to_frame(ctx.spec, []), id_map, qbo_complete=False, jobsiteon_complete=False)
        return Verification(0, 0, empty)
    records = [r.to_dict() if hasattr(r, "to_dict") else r for r in ctx.client.get_by_ids(ctx.spec.qbo_entity, sorted(qbo_ids))]
    qbo_frame = qbo_to_frame(ctx.spec, records)
    jobsiteon_frame = ctx.jobsiteon.read_frame(ctx.workspace_id, ctx.spec.jobsiteon_table, ids=sorted(jobsiteon_ids))
    ref_maps = {name: ctx.state.id_map.frame(ctx.workspace_id, name)
                for name in ctx.spec.referenced_entities if name != ctx.spec.name}
    plan = reconcile(ctx.spec, jobsiteon_frame, qbo_frame, id_map, ref_id_maps=ref_maps, settings=ctx.settings,
                     qbo_complete=False, jobsiteon_complete=False)
    return Verification(len(jobsiteon_ids | qbo_ids), residual(plan), plan)
