"""Builders for reconciliation tests: canonical JobsiteOn / QBO frames and id maps shaped
exactly like JobsiteOnStore.read_frame(), entities.qbo_to_frame() and the state store's
IdMapRepository.frame()."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from qbo_pipeline.entities import get_spec
from qbo_pipeline.reconcile import money

T0 = pd.Timestamp("2025-03-01T12:00:00Z")  # last sync
BEFORE = T0 - pd.Timedelta(hours=1)


def at(minutes: float) -> pd.Timestamp:
    """A time `minutes` after the last sync."""
    return T0 + pd.Timedelta(minutes=minutes)


JOBSITEON_COLUMNS = {
    "customers": ["id", "name", "email", "phone", "billing_line1", "billing_city", "billing_state",
                  "billing_postal_code", "billing_country", "updated_at", "deleted_at"],
    "items": ["id", "name", "description", "default_price", "type", "archived", "updated_at", "deleted_at"],
    "invoices": ["id", "number", "contact_id", "status", "issue_date", "due_date", "tax_inclusive",
                 "subtotal", "tax", "total", "amount_paid", "balance", "updated_at", "deleted_at", "lines"],
    "payments": ["id", "contact_id", "invoice_id", "amount", "paid_on", "method", "reference", "origin",
                 "updated_at", "deleted_at"],
}


def jobsiteon_frame(entity: str, rows: list[dict]) -> pd.DataFrame:
    columns = JOBSITEON_COLUMNS[get_spec(entity).name]
    records = []
    for row in rows:
        record = {c: None for c in columns}
        record.update({"updated_at": BEFORE, "deleted_at": None})
        if "archived" in columns:
            record["archived"] = False
        record.update(row)
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(
        {c: pd.Series(dtype=object) for c in columns})
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    frame["deleted_at"] = pd.to_datetime(frame["deleted_at"], utc=True)
    for column in ("archived", "tax_inclusive"):
        if column in frame.columns:
            frame[column] = frame[column].fillna(False).astype(bool)
    return frame


def qbo_frame(entity: str, rows: list[dict]) -> pd.DataFrame:
    spec = get_spec(entity)
    columns = spec.qbo_columns
    records = []
    for row in rows:
        record = {c: None for c in columns}
        record.update({"qbo_sync_token": "0", "qbo_updated_at": BEFORE, "qbo_active": True,
                       "qbo_status": "active"})
        if spec.archived_column:
            record[spec.archived_column] = False
        record.update(row)
        if spec.archived_column:
            record["qbo_active"] = not record[spec.archived_column] if "qbo_active" not in row else record["qbo_active"]
            record[spec.archived_column] = not record["qbo_active"]
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(
        {c: pd.Series(dtype=object) for c in columns})
    frame["qbo_updated_at"] = pd.to_datetime(frame["qbo_updated_at"], utc=True)
    frame["qbo_active"] = frame["qbo_active"].astype(bool)
    return frame


def id_map(links: list[tuple], *, token: str = "0", synced: pd.Timestamp = BEFORE) -> pd.DataFrame:
    """Links as the state store returns them: (jobsiteon_id, qbo_id[, sync_token])."""
    rows = []
    for link in links:
        jid, qid = link[0], link[1]
        rows.append({
            "jobsiteon_id": jid, "qbo_id": qid,
            "qbo_sync_token": link[2] if len(link) > 2 else token,
            "qbo_updated_at": synced, "jobsiteon_updated_at": synced,
            "content_hash": None, "synced_at": synced,
        })
    frame = pd.DataFrame(rows, columns=["jobsiteon_id", "qbo_id", "qbo_sync_token", "qbo_updated_at",
                                        "jobsiteon_updated_at", "content_hash", "synced_at"])
    for column in ("qbo_updated_at", "jobsiteon_updated_at", "synced_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.astype({"jobsiteon_id": object, "qbo_id": object, "content_hash": object})


def contact(cid: str, name: str, email: str | None = None, **extra) -> dict:
    return {"id": cid, "name": name, "email": email, **extra}


def customer(qid: str, name: str, email: str | None = None, **extra) -> dict:
    return {"qbo_id": qid, "name": name, "email": email, **extra}


def line(item: str, qty, price, taxable: bool = True, position: int = 1, description: str | None = None) -> dict:
    return {"position": position, "item_id": item, "description": description,
            "qty": Decimal(str(qty)), "unit_price": Decimal(str(price)), "taxable": taxable}


def invoice_totals(lines: list[dict], rate, inclusive: bool = False) -> dict:
    totals = money.document_totals(lines, rate, inclusive)
    return {"subtotal": totals.subtotal, "tax": totals.tax, "total": totals.total}


def jobsiteon_invoice(iid: str, number: str, contact_id: str, lines: list[dict], rate=Decimal("0.08"),
                      inclusive: bool = False, paid: Decimal = Decimal("0.00"), **extra) -> dict:
    totals = invoice_totals(lines, rate, inclusive)
    status = "paid" if paid and paid >= totals["total"] else "partially_paid" if paid > 0 else "approved"
    return {"id": iid, "number": number, "contact_id": contact_id, "status": status,
            "issue_date": dt.date(2025, 2, 1), "due_date": dt.date(2025, 3, 3), "tax_inclusive": inclusive,
            **totals, "amount_paid": paid, "balance": totals["total"] - paid, "lines": lines, **extra}


def qbo_invoice(qid: str, number: str, customer_id: str, lines: list[dict], rate=Decimal("0.08"),
                inclusive: bool = False, paid: Decimal = Decimal("0.00"), **extra) -> dict:
    totals = invoice_totals(lines, rate, inclusive)
    balance = totals["total"] - paid
    status = "paid" if totals["total"] > 0 and balance <= 0 else "partially_paid" if paid > 0 else "approved"
    return {"qbo_id": qid, "number": number, "contact_id": customer_id, "status": status,
            "issue_date": dt.date(2025, 2, 1), "due_date": dt.date(2025, 3, 3), "tax_inclusive": inclusive,
            **totals, "amount_paid": paid, "balance": balance, "lines": lines, **extra}


def rows_for(plan: pd.DataFrame, *, jobsiteon_id=None, qbo_id=None) -> pd.DataFrame:
    mask = np.ones(len(plan), dtype=bool)
    if jobsiteon_id is not None:
        mask &= (plan["jobsiteon_id"] == jobsiteon_id).to_numpy()
    if qbo_id is not None:
        mask &= (plan["qbo_id"] == qbo_id).to_numpy()
    return plan[mask]


def one(plan: pd.DataFrame, **ids) -> dict:
    found = rows_for(plan, **ids)
    assert len(found) == 1, f"expected one plan row for {ids}, got:\n{found[['jobsiteon_id', 'qbo_id', 'status', 'action', 'reason']]}"
    row = found.iloc[0].to_dict()
    row["status"], row["action"] = str(row["status"]), str(row["action"])
    return row
