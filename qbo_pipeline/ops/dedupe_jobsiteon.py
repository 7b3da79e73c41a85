"""Dedupe, JobsiteOn side: the duplicate's linked JobsiteOn record is merged into the
survivor's the same way — its references re-pointed, the record soft-deleted — and the id map
loses the duplicate's link. All JobsiteOn writes are `origin="integration"`: they mirror what
was just done in QBO, so the sync must not push them back.

References: customer → invoices, credit_memos, refund_receipts, payments `.contact_id`;
vendor → purchase_orders.vendor_id; item → `item_id` of invoice, credit memo, refund receipt
and purchase order lines (the document's lines are rewritten with its totals kept as they
are). Soft-deleted documents are re-pointed too, so an undo restores exactly.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from qbo_pipeline.jobsiteon.specs import ENTITIES
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.ops.dedupe_plan import NameList
from qbo_pipeline.state import IdMapConflict, StateStore

ORIGIN = "integration"
HEADER_SITES = {
    "customer": (("invoices", "contact_id"), ("credit_memos", "contact_id"), ("refund_receipts", "contact_id"),
                 ("payments", "contact_id")),
    "vendor": (("purchase_orders", "vendor_id"),),
    "item": (),
}
LINE_SITES = {
    "customer": (),
    "vendor": (),
    "item": ("invoices", "credit_memos", "refund_receipts", "purchase_orders"),
}
KEPT_TOTALS = ("subtotal", "tax", "total")
_LINK_TIMES = ("qbo_updated_at", "jobsiteon_updated_at")


def repoint_jobsiteon(jobsiteon: JobsiteOnStore, workspace_id: str, kind: str, before: str, after: str) -> list[dict[str, Any]]:
    """Re-points every reference `before` -> `after`; returns the changes made, one dict per
    reference: {entity, id, column, before, after[, position]}."""
    changes: list[dict[str, Any]] = []
    for entity, column in HEADER_SITES[kind]:
        table = ENTITIES[entity].table
        with jobsiteon.engine.connect() as conn:
            ids = sorted(conn.execute(
                sa.select(table.c.id).where(table.c.workspace_id == workspace_id, table.c[column] == before)
            ).scalars())
        if ids:
            jobsiteon.apply(workspace_id, entity, [{"id": i, column: after} for i in ids], origin=ORIGIN)
            changes += [{"entity": entity, "id": i, "column": column, "before": before, "after": after} for i in ids]
    for entity in LINE_SITES[kind]:
        changes += _swap_line_items(jobsiteon, workspace_id, entity, {before: after}, None)
    return changes


def revert_jobsiteon(jobsiteon: JobsiteOnStore, workspace_id: str, changes: list[dict[str, Any]]) -> list[str]:
    """Undoes `repoint_jobsiteon` where a reference still holds the merged value; returns
    problems (references changed since)."""
    problems: list[str] = []
    headers = [c for c in changes if "position" not in c]
    lines = [c for c in changes if "position" in c]
    by_entity: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for change in headers:
        by_entity.setdefault((change["entity"], change["column"]), []).append(change)
    for (entity, column), group in by_entity.items():
        frame = jobsiteon.read_frame(workspace_id, entity, ids=[c["id"] for c in group])
        current = dict(zip(frame["id"], frame[column]))
        upserts = []
        for change in group:
            value = current.get(change["id"])
            if value == change["after"]:
                upserts.append({"id": change["id"], column: change["before"]})
            elif value != change["before"]:
                problems.append(f"JobsiteOn {entity} {change['id']}.{column} is now {value!r}; left alone")
        if upserts:
            jobsiteon.apply(workspace_id, entity, upserts, origin=ORIGIN)
    by_parent: dict[str, dict[tuple[str, int], tuple[str, str]]] = {}
    for change in lines:
        by_parent.setdefault(change["entity"], {})[(change["id"], int(change["position"]))] = (change["after"], change["before"])
    for entity, swaps in by_parent.items():
        done = _swap_line_items(jobsiteon, workspace_id, entity, None, swaps)
        missing = set(swaps) - {(c["id"], c["position"]) for c in done}
        problems += [f"JobsiteOn {entity} {i} line {p} no longer holds the merged item; left alone" for i, p in sorted(missing)]
    return problems


def _swap_line_items(
    jobsiteon: JobsiteOnStore,
    workspace_id: str,
    entity: str,
    anywhere: dict[str, str] | None,
    at: dict[tuple[str, int], tuple[str, str]] | None,
) -> list[dict[str, Any]]:
    """Rewrites line item_ids: `anywhere` {old: new} on every line, or `at` {(doc id,
    position): (old, new)} on those lines only. One transaction per entity."""
    spec = ENTITIES[entity]
    if at is not None:
        parent_ids = sorted({doc for doc, _ in at})
    else:
        lines, parents = spec.lines, spec.table
        parent_col = lines.c[spec.parent_column]
        with jobsiteon.engine.connect() as conn:
            parent_ids = sorted(conn.execute(
                sa.select(parent_col).distinct()
                .join(parents, parents.c.id == parent_col)
                .where(parents.c.workspace_id == workspace_id, lines.c.item_id.in_(list(anywhere)))
            ).scalars())
    if not parent_ids:
        return []
    frame = jobsiteon.read_frame(workspace_id, entity, ids=parent_ids)
    upserts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for row in frame.to_dict("records"):
        new_lines = []
        touched = False
        for line in row["lines"]:
            line = dict(line)
            position = int(line["position"])
            swap = at.get((row["id"], position)) if at is not None else (
                (line["item_id"], anywhere[line["item_id"]]) if line.get("item_id") in anywhere else None
            )
            if swap is not None and line.get("item_id") == swap[0]:
                changes.append({"entity": entity, "id": row["id"], "position": position, "column": "item_id",
                                "before": swap[0], "after": swap[1]})
                line["item_id"] = swap[1]
                touched = True
            new_lines.append(line)
        if touched:
            kept = {k: row[k] for k in KEPT_TOTALS if k in row}  # same lines, same money: keep totals
            upserts.append({"id": row["id"], "lines": new_lines, **kept})
    if upserts:
        jobsiteon.apply(workspace_id, entity, upserts, origin=ORIGIN)
    return changes


def soft_delete(jobsiteon: JobsiteOnStore, workspace_id: str, spec: NameList, record_id: str) -> dict[str, Any]:
    """Soft-deletes the duplicate's JobsiteOn record; returns what undo needs."""
    record = jobsiteon.get(workspace_id, spec.jobsiteon_entity, record_id)
    if record is None:
        return {"entity": spec.jobsiteon_entity, "id": record_id, "was_deleted": None}
    was_deleted = record.get("deleted_at") is not None
    if not was_deleted:
        jobsiteon.apply(workspace_id, spec.jobsiteon_entity, [], [record_id], origin=ORIGIN)
    return {"entity": spec.jobsiteon_entity, "id": record_id, "was_deleted": was_deleted}


def restore_deleted(jobsiteon: JobsiteOnStore, workspace_id: str, saved: dict[str, Any]) -> None:
    if saved.get("was_deleted") is False:
        jobsiteon.apply(workspace_id, saved["entity"], [{"id": saved["id"], "deleted_at": None}], origin=ORIGIN)


def unlink(state: StateStore, workspace_id: str, spec: NameList, qbo_id: str) -> dict[str, Any] | None:
    """Removes the duplicate's id-map link; returns the link as JSON for undo."""
    link = state.id_map.get_by_qbo(workspace_id, spec.registry, qbo_id)
    if link is None:
        return None
    state.id_map.delete(workspace_id, spec.registry, qbo_ids=[qbo_id])
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in link.items() if k != "synced_at"}


def relink(state: StateStore, workspace_id: str, spec: NameList, saved: dict[str, Any]) -> str | None:
    """Restores an id-map link removed by `unlink`; returns a problem or None."""
    link = {k: v for k, v in saved.items() if v is not None}
    holder = state.id_map.get_by_jobsiteon(workspace_id, spec.registry, link["jobsiteon_id"])
    if holder is not None and str(holder["qbo_id"]) != str(link["qbo_id"]):
        return (f"id map: JobsiteOn {spec.jobsiteon_entity} {link['jobsiteon_id']} was linked to QBO "
                f"{spec.qbo_entity} {holder['qbo_id']} after the merge; its old link to {link['qbo_id']} was not restored")
    for name in _LINK_TIMES:
        if name in link:
            link[name] = pd.Timestamp(link[name]).to_pydatetime()
    try:
        state.id_map.upsert(workspace_id, spec.registry, [link])
    except IdMapConflict as exc:
        return f"id map: {exc}"
    return None
