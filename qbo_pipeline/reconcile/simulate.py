"""Apply a plan to in-memory copies of both sides and the id map — what the sync assets do
against the real systems, minus I/O. Used by the property test (plan -> apply -> diff must
leave no residual) and for dry runs.

The QBO side is simulated the way QBO behaves: it assigns ids and SyncTokens, stamps
LastUpdatedTime, recomputes read-only fields (document totals the QBO way from the lines and
the workspace tax rate, an invoice's balance and status from what was paid), voids by
zeroing the amounts. JobsiteOn writes stamp updated_at; soft deletes set deleted_at.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping

import pandas as pd

from qbo_pipeline.entities import EntitySpec, Kind, WorkspaceSettings, get_spec
from qbo_pipeline.reconcile import money, normalize
from qbo_pipeline.reconcile.frames import normalize_id_map

ID_MAP_FRAME_COLUMNS = ["jobsiteon_id", "qbo_id", "qbo_sync_token", "qbo_updated_at",
                        "jobsiteon_updated_at", "content_hash"]

_counter = itertools.count(1)


class _Clock:
    def __init__(self, start: pd.Timestamp) -> None:
        self.now = start

    def tick(self) -> pd.Timestamp:
        self.now = self.now + pd.Timedelta(seconds=1)
        return self.now


def _latest(*frames_and_columns) -> pd.Timestamp:
    latest = pd.Timestamp("2000-01-01", tz="UTC")
    for frame, column in frames_and_columns:
        if column in frame.columns and len(frame) and frame[column].notna().any():
            latest = max(latest, pd.to_datetime(frame[column], utc=True).max())
    return latest


def _ref_lookup(ref_id_maps: Mapping[str, pd.DataFrame] | None, spec: EntitySpec):
    """(entity, jobsiteon_id) -> qbo_id over the referenced entities' links."""
    tables: dict[str, dict[str, str]] = {}
    for entity in spec.referenced_entities:
        frame = None
        for key, value in (ref_id_maps or {}).items():
            if get_spec(key).name == entity:
                frame = value
        links = normalize_id_map(frame, get_spec(entity))
        tables[entity] = dict(zip(links["jobsiteon_id"].astype(str), links["qbo_id"].astype(str)))

    def lookup(entity: str, jobsiteon_id: object) -> str | None:
        if normalize.is_missing(jobsiteon_id):
            return None
        return tables.get(entity, {}).get(str(jobsiteon_id), f"unmapped:{jobsiteon_id}")

    return lookup


def _to_qbo_values(spec: EntitySpec, values: Mapping, lookup) -> dict:
    out = dict(values)
    for ref in spec.references:
        if ref.in_lines:
            if out.get("lines") is not None:
                out["lines"] = [{**line, ref.column: lookup(ref.entity, line.get(ref.column))}
                                for line in out["lines"]]
        elif ref.column in out:
            out[ref.column] = lookup(ref.entity, out[ref.column])
    return out


def _recompute_qbo(spec: EntitySpec, record: dict, settings: WorkspaceSettings) -> None:
    """QBO's read-only fields after a write."""
    if record.get("qbo_status") == "voided":
        return
    lines = record.get("lines") or []
    if spec.line_spec is not None and "total" in record:
        if spec.line_spec.detail_type == "SalesItemLineDetail":
            totals = money.document_totals(lines, settings.tax_rate or 0, bool(record.get("tax_inclusive")))
        elif spec.line_spec.amount_of:
            totals = money.document_totals(lines, 0, False, price_key=spec.line_spec.amount_of[1])
        else:
            amount = sum((money.money(l.get("amount")) or money.ZERO for l in lines), money.ZERO)
            totals = money.Totals(amount, money.ZERO, amount)
        if "subtotal" in record:
            record["subtotal"], record["tax"] = totals.subtotal, totals.tax
        record["total"] = totals.total
    if spec.name == "invoices":
        paid = money.money(record.get("amount_paid")) or money.ZERO
        total = record["total"]
        record["amount_paid"] = paid
        record["balance"] = total - paid
        record["status"] = ("paid" if total > 0 and paid >= total
                            else "partially_paid" if paid > 0 else "approved")
    if spec.name == "credit_memos" and record.get("remaining_credit") is None:
        record["remaining_credit"] = record["total"]


def _derive_jobsiteon(spec: EntitySpec, record: dict, given: set[str]) -> None:
    """JobsiteOn's own derived fields, as its store keeps them (docs/jobsiteon-schema.md):
    an invoice's balance and payment status follow amount_paid unless given."""
    if spec.name != "invoices" or "amount_paid" not in given:
        return
    total = money.money(record.get("total")) or money.ZERO
    paid = money.money(record.get("amount_paid")) or money.ZERO
    if "balance" not in given:
        record["balance"] = money.ZERO if record.get("status") == "void" else total - paid
    if "status" not in given and record.get("status") in ("approved", "partially_paid", "paid"):
        record["status"] = "paid" if paid > 0 and paid >= total else "partially_paid" if paid > 0 else "approved"


def apply_plan_in_memory(
    spec: EntitySpec | str,
    plan: pd.DataFrame,
    jobsiteon: pd.DataFrame,
    qbo: pd.DataFrame,
    id_map: pd.DataFrame | None,
    *,
    ref_id_maps: Mapping[str, pd.DataFrame] | None = None,
    settings: object = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Applies `plan` (from reconcile()) to copies; returns (jobsiteon, qbo, id_map) with the
    id map in the state store's column names (ID_MAP_FRAME_COLUMNS)."""
    spec = get_spec(spec)
    settings = WorkspaceSettings.coerce(settings)
    lookup = _ref_lookup(ref_id_maps, spec)
    clock = _Clock(_latest((jobsiteon, "updated_at"), (qbo, "qbo_updated_at")))
    j_records = {r["id"]: r for r in jobsiteon.to_dict("records")}
    q_records = {r["qbo_id"]: r for r in qbo.to_dict("records")}
    links_frame = normalize_id_map(id_map, spec)
    links = {
        str(r["jobsiteon_id"]): {
            "jobsiteon_id": str(r["jobsiteon_id"]), "qbo_id": str(r["qbo_id"]),
            "qbo_sync_token": r["qbo_version"], "qbo_updated_at": r["qbo_version_at"],
            "jobsiteon_updated_at": r["jobsiteon_at"], "content_hash": r["hash"],
        }
        for r in links_frame.to_dict("records")
    }
    j_columns, q_columns = list(jobsiteon.columns), list(qbo.columns)

    def write_qbo(qid: str) -> None:
        record = q_records[qid]
        record["qbo_sync_token"] = str(int(record.get("qbo_sync_token") or 0) + 1)
        record["qbo_updated_at"] = clock.tick()
        _recompute_qbo(spec, record, settings)

    def write_jobsiteon(jid: str) -> None:
        j_records[jid]["updated_at"] = clock.tick()

    def record_link(jid: str, qid: str, sync_hash) -> None:
        links[jid] = {
            "jobsiteon_id": jid, "qbo_id": qid,
            "qbo_sync_token": q_records[qid].get("qbo_sync_token"),
            "qbo_updated_at": q_records[qid].get("qbo_updated_at"),
            "jobsiteon_updated_at": j_records[jid].get("updated_at"),
            "content_hash": sync_hash,
        }

    def set_qbo_active(qid: str, active: bool) -> None:
        record = q_records[qid]
        record["qbo_active"] = active
        record["qbo_status"] = "active" if active else "inactive"
        if spec.archived_column:
            record[spec.archived_column] = not active

    for row in plan.to_dict("records"):
        action = row["action"]
        jid, qid = row["jobsiteon_id"], row["qbo_id"]
        values = dict(row["values"] or {})
        fields = tuple(row["fields"] or ())
        winner = row["winner"] if isinstance(row["winner"], str) else None
        if action in ("none", "skip"):
            continue
        if action == "create_qbo":
            qid = f"sim{next(_counter)}"
            record = {c: None for c in q_columns}
            record.update({k: v for k, v in _to_qbo_values(spec, values, lookup).items() if k in q_columns})
            record.update(qbo_id=qid, qbo_sync_token="-1", qbo_active=True, qbo_status="active")
            if spec.archived_column:
                record[spec.archived_column] = False
            if spec.name == "invoices":
                record["amount_paid"] = money.ZERO
            if spec.name == "credit_memos":
                record["remaining_credit"] = None
            q_records[qid] = record
            write_qbo(qid)
            record_link(jid, qid, row["sync_hash"])
            continue
        if action == "create_jobsiteon":
            jid = f"simj{next(_counter)}"
            record = {c: None for c in j_columns}
            record.update({k: v for k, v in values.items() if k in j_columns or k == "lines"})
            record.update(id=jid, deleted_at=pd.NaT)
            if spec.archived_column:
                record[spec.archived_column] = False
            j_records[jid] = record
            write_jobsiteon(jid)
            record_link(jid, qid, row["sync_hash"])
            continue
        if action == "link":
            record_link(jid, qid, row["sync_hash"])
            if not fields:
                continue
            action = "update_qbo" if winner == "jobsiteon" else "update_jobsiteon"
        if action == "update_qbo":
            record = q_records[qid]
            for column, value in _to_qbo_values(spec, values, lookup).items():
                record[column] = value
            write_qbo(qid)
        elif action == "update_jobsiteon":
            record = j_records[jid]
            for column, value in values.items():
                record[column] = pd.NaT if column == "deleted_at" and value is None else value
            _derive_jobsiteon(spec, record, set(values))
            write_jobsiteon(jid)
        elif action in ("deactivate_qbo", "reactivate_qbo"):
            record = q_records[qid]
            for column, value in _to_qbo_values(spec, values, lookup).items():
                if column != "active":
                    record[column] = value
            set_qbo_active(qid, action == "reactivate_qbo")
            write_qbo(qid)
        elif action == "delete_qbo":
            record = q_records[qid]
            if spec.qbo_remove == "void":
                record.update(qbo_status="voided", qbo_active=False)
                for fm in spec.fields:
                    if fm.kind is Kind.MONEY and fm.column in record:
                        record[fm.column] = money.ZERO
                if spec.name == "invoices":
                    record["status"] = "void"
                write_qbo(qid)
            else:
                record.update(qbo_status="deleted", qbo_active=False)
                write_qbo(qid)
        elif action == "void_flag_jobsiteon":
            record = j_records[jid]
            record.update(values)
            if spec.name == "invoices":
                record["balance"] = money.ZERO
            write_jobsiteon(jid)
        elif action == "delete_jobsiteon":
            record = j_records[jid]
            if normalize.is_missing(record.get("deleted_at")):
                record["deleted_at"] = clock.tick()
            write_jobsiteon(jid)
        else:
            raise ValueError(f"unknown plan action {action!r}")
        if jid in j_records and qid in q_records:
            record_link(jid, qid, row["sync_hash"])
    j_frame = pd.DataFrame(list(j_records.values()), columns=j_columns)
    q_frame = pd.DataFrame(list(q_records.values()), columns=q_columns)
    for frame, columns in ((j_frame, ("updated_at", "deleted_at")), (q_frame, ("qbo_updated_at",))):
        for column in columns:
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column], utc=True)
    if "qbo_active" in q_frame.columns:
        q_frame["qbo_active"] = q_frame["qbo_active"].astype(bool)
    m_frame = pd.DataFrame(list(links.values()), columns=ID_MAP_FRAME_COLUMNS)
    for column in ("qbo_updated_at", "jobsiteon_updated_at"):
        m_frame[column] = pd.to_datetime(m_frame[column], utc=True)
    return j_frame, q_frame, m_frame
