"""Full mirrors of both sides, read the way the pipeline's mirror assets read them, and the
reconciliation plan over them: the honest "is everything in sync" measure (read-only)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qbo_pipeline.entities import REGISTRY, qbo_to_frame, topological_order
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore


@dataclass
class Mirrors:
    jobsiteon: dict[str, pd.DataFrame]  # registry name -> JobsiteOn frame
    qbo: dict[str, pd.DataFrame]        # registry name -> QBO frame (qbo_raw kept)
    settings: object


def read_mirrors(state: StateStore, jobsiteon: JobsiteOnStore, workspace_id: str) -> Mirrors:
    from qbo_pipeline.assets.settings import resolve_workspace_settings
    from qbo_pipeline.ops.clients import qbo_client_for

    client = qbo_client_for(state, workspace_id)
    settings = resolve_workspace_settings(state.connections.require(workspace_id), client)
    j_frames, q_frames = {}, {}
    for spec in topological_order():
        j_frames[spec.name] = jobsiteon.read_frame(workspace_id, spec.jobsiteon_table)
        records = [r.to_dict() if hasattr(r, "to_dict") else dict(r)
                   for r in client.query_all(spec.qbo_entity, include_inactive=True)]
        frame = qbo_to_frame(spec, records)
        frame["qbo_raw"] = records
        q_frames[spec.name] = frame
    return Mirrors(j_frames, q_frames, settings)


def plans(state: StateStore, mirrors: Mirrors, workspace_id: str) -> dict[str, pd.DataFrame]:
    """reconcile() per entity over the full mirrors and the current id map."""
    from qbo_pipeline.reconcile import reconcile

    result = {}
    for name, spec in REGISTRY.items():
        id_map = state.id_map.frame(workspace_id, name)
        refs = {ref: state.id_map.frame(workspace_id, ref) for ref in spec.referenced_entities if ref != name}
        result[name] = reconcile(spec, mirrors.jobsiteon[name], mirrors.qbo[name].drop(columns=["qbo_raw"]), id_map,
                                 ref_id_maps=refs, settings=mirrors.settings)
    return result


def open_rows(plan: pd.DataFrame) -> pd.DataFrame:
    """Rows that count towards the residual: not in sync and not deliberately skipped."""
    status = plan["status"].astype(object)
    action = plan["action"].astype(object)
    return plan[(status != "in_sync") & (action != "skip")]
