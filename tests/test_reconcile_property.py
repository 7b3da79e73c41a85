"""Property: for random pairs of books — synced once, then edited on either or both sides,
deleted, archived, voided, paid, extended with records on one side or both (spelled
differently) — planning every entity in topological order, applying each plan in memory and
diffing again leaves nothing to do."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.reconcile import money, reconcile, residual
from qbo_pipeline.reconcile.simulate import apply_plan_in_memory
from tests.reconcile_fixtures import T0, id_map, jobsiteon_frame, qbo_frame

RATE = Decimal("0.08")
SETTINGS = {"tax_rate": RATE}
ENTITIES = ("customers", "items", "invoices")

CUSTOMER_EDITS = ("none", "none", "j", "q", "both", "j_delete", "q_deactivate", "j_delete_q_edit",
                  "q_deactivate_j_edit")
ITEM_EDITS = ("none", "j", "q", "both", "j_archive", "q_deactivate", "j_archive_q_edit")
INVOICE_EDITS = ("none", "j_lines", "q_lines", "both_lines", "q_payment", "q_payment_j_lines",
                 "q_payment_q_lines", "j_void", "q_void", "j_due_date")

minutes = st.integers(min_value=1, max_value=120)
spelling = st.sampled_from([str.lower, str.upper, lambda s: f"  {s} ", lambda s: s])


def _totals(lines):
    return money.document_totals(lines, RATE, False)


class Books:
    def __init__(self) -> None:
        self.j = {name: [] for name in ENTITIES}
        self.q = {name: [] for name in ENTITIES}
        self.links = {name: [] for name in ENTITIES}
        self.serial = 0

    def unique(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def frames(self):
        return ({n: jobsiteon_frame(n, self.j[n]) for n in ENTITIES},
                {n: qbo_frame(n, self.q[n]) for n in ENTITIES},
                {n: id_map(self.links[n]) for n in ENTITIES})


def _invoice_pair(books: Books, draw, number: int, contact: tuple[str, str], item_ids: list[tuple[str, str]]):
    lines = []
    for position in range(1, draw(st.integers(1, 3)) + 1):
        jid, qid = draw(st.sampled_from(item_ids))
        qty = Decimal(draw(st.integers(1, 40))).scaleb(-1)
        price = Decimal(draw(st.integers(1, 9999))).scaleb(-2)
        lines.append((jid, qid, qty, price, draw(st.booleans()), position))
    j_lines = [{"position": p, "item_id": j, "description": None, "qty": q, "unit_price": pr, "taxable": t}
               for j, _, q, pr, t, p in lines]
    q_lines = [{**l, "item_id": qid} for l, (_, qid, *_rest) in zip(j_lines, lines)]
    totals = _totals(j_lines)
    common = {"number": f"N-{number}", "status": "approved", "issue_date": dt.date(2025, 2, 1),
              "due_date": dt.date(2025, 3, 1), "tax_inclusive": False, "subtotal": totals.subtotal,
              "tax": totals.tax, "total": totals.total, "amount_paid": money.ZERO, "balance": totals.total}
    j = {"id": f"inv{number}", "contact_id": contact[0], "lines": j_lines, **common}
    q = {"qbo_id": f"{300 + number}", "contact_id": contact[1], "lines": q_lines, **common}
    return j, q


def _relines(record: dict, lines: list[dict], paid=None) -> None:
    totals = _totals(lines)
    record.update(lines=lines, subtotal=totals.subtotal, tax=totals.tax, total=totals.total)
    paid = record["amount_paid"] if paid is None else paid
    record.update(amount_paid=paid, balance=totals.total - paid,
                  status="paid" if paid >= totals.total else "partially_paid" if paid > 0 else "approved")


@st.composite
def books(draw) -> Books:
    b = Books()
    # -- customers
    contacts = []
    for i in range(draw(st.integers(1, 5))):
        name, email = f"Client {i}", f"client{i}@example.com"
        j = {"id": f"c{i}", "name": name, "email": email, "phone": "555-0100"}
        q = {"qbo_id": f"{100 + i}", "name": name, "email": draw(spelling)(email), "phone": "(555) 0100"}
        edit = draw(st.sampled_from(CUSTOMER_EDITS))
        jt, qt = T0 + pd.Timedelta(minutes=draw(minutes)), T0 + pd.Timedelta(minutes=draw(minutes))
        if edit in ("j", "both", "q_deactivate_j_edit"):
            j.update(phone=b.unique("j-phone-"), updated_at=jt)
        if edit in ("q", "both", "j_delete_q_edit"):
            q.update(name=b.unique("Q name "), qbo_sync_token="1", qbo_updated_at=qt)
        if edit in ("j_delete", "j_delete_q_edit"):
            j.update(deleted_at=jt, updated_at=jt)
        if edit in ("q_deactivate", "q_deactivate_j_edit"):
            q.update(qbo_active=False, qbo_status="inactive", qbo_sync_token="1", qbo_updated_at=qt)
        b.j["customers"].append(j)
        b.q["customers"].append(q)
        b.links["customers"].append((j["id"], q["qbo_id"]))
        contacts.append((j["id"], q["qbo_id"]))
    for _ in range(draw(st.integers(0, 2))):  # JobsiteOn-only and QBO-only contacts
        n = b.unique("")
        b.j["customers"].append({"id": f"cj{n}", "name": f"Only J {n}", "email": f"j{n}@example.com"})
    for _ in range(draw(st.integers(0, 2))):
        n = b.unique("")
        b.q["customers"].append({"qbo_id": f"9{n}", "name": f"Only Q {n}", "email": f"q{n}@example.com"})
    for _ in range(draw(st.integers(0, 2))):  # the same client entered on both sides: links by email
        n = b.unique("")
        email = f"both{n}@example.com"
        b.j["customers"].append({"id": f"cb{n}", "name": f"Both {n}", "email": email, "phone": "1",
                                 "updated_at": T0 + pd.Timedelta(minutes=draw(minutes))})
        b.q["customers"].append({"qbo_id": f"8{n}", "name": f"Both {n}", "email": draw(spelling)(email),
                                 "phone": "2", "qbo_updated_at": T0 + pd.Timedelta(minutes=draw(minutes))})
    # -- items
    items = []
    for i in range(draw(st.integers(1, 3))):
        base = {"name": f"Item {i}", "description": "d", "default_price": Decimal("10.00"), "type": "service"}
        j = {"id": f"itm{i}", **base}
        q = {"qbo_id": f"{200 + i}", **base}
        edit = draw(st.sampled_from(ITEM_EDITS))
        jt, qt = T0 + pd.Timedelta(minutes=draw(minutes)), T0 + pd.Timedelta(minutes=draw(minutes))
        if edit in ("j", "both"):
            j.update(default_price=Decimal(draw(st.integers(1, 9999))).scaleb(-2), updated_at=jt)
        if edit in ("q", "both", "j_archive_q_edit"):
            q.update(description=b.unique("q-desc-"), qbo_sync_token="1", qbo_updated_at=qt)
        if edit in ("j_archive", "j_archive_q_edit"):
            j.update(archived=True, updated_at=jt)
        if edit == "q_deactivate":
            q.update(qbo_active=False, qbo_sync_token="1", qbo_updated_at=qt)
        b.j["items"].append(j)
        b.q["items"].append(q)
        b.links["items"].append((j["id"], q["qbo_id"]))
        items.append((j["id"], q["qbo_id"]))
    if draw(st.booleans()):  # a QBO-only item (never pulled) and a new JobsiteOn item
        b.q["items"].append({"qbo_id": "299", "name": "QBO Only Item", "type": "part"})
        b.j["items"].append({"id": "itm_new", "name": "New Item", "type": "part", "default_price": Decimal("1.50")})
    # -- invoices
    for number in range(draw(st.integers(0, 4))):
        j, q = _invoice_pair(b, draw, number, draw(st.sampled_from(contacts)), items)
        edit = draw(st.sampled_from(INVOICE_EDITS))
        jt, qt = T0 + pd.Timedelta(minutes=draw(minutes)), T0 + pd.Timedelta(minutes=draw(minutes))
        if edit in ("j_lines", "both_lines", "q_payment_j_lines"):
            lines = [dict(l, qty=l["qty"] + 1) for l in j["lines"]]
            _relines(j, lines)
            j["updated_at"] = jt
        if edit in ("q_lines", "both_lines", "q_payment_q_lines"):
            _relines(q, [dict(l, unit_price=l["unit_price"] + Decimal("0.05")) for l in q["lines"]])
            q.update(qbo_sync_token="1", qbo_updated_at=qt)
        if edit.startswith("q_payment"):
            _relines(q, q["lines"], paid=min(q["total"], Decimal("5.00")))
            q.update(qbo_sync_token="2", qbo_updated_at=qt)
        if edit == "j_void":
            j.update(status="void", balance=money.ZERO, updated_at=jt)
        if edit == "q_void":
            q.update(qbo_status="voided", qbo_active=False, status="void", total=money.ZERO, balance=money.ZERO,
                     lines=[], qbo_sync_token="1", qbo_updated_at=qt)
        if edit == "j_due_date":
            j.update(due_date=dt.date(2025, 4, 1), updated_at=jt)
        b.j["invoices"].append(j)
        b.q["invoices"].append(q)
        b.links["invoices"].append((j["id"], q["qbo_id"]))
    if draw(st.booleans()):  # a new JobsiteOn invoice, a draft, and a QBO-only invoice
        j, _ = _invoice_pair(b, draw, 50, draw(st.sampled_from(contacts)), items)
        b.j["invoices"].append(j)
        draft, _ = _invoice_pair(b, draw, 51, draw(st.sampled_from(contacts)), items)
        b.j["invoices"].append({**draft, "status": "draft"})
        _, qbo_only = _invoice_pair(b, draw, 52, draw(st.sampled_from(contacts)), items)
        b.q["invoices"].append(qbo_only)
    return b


def _sync(j_frames, q_frames, links):
    for name in ENTITIES:
        plan = reconcile(name, j_frames[name], q_frames[name], links[name], ref_id_maps=links, settings=SETTINGS)
        j_frames[name], q_frames[name], links[name] = apply_plan_in_memory(
            name, plan, j_frames[name], q_frames[name], links[name], ref_id_maps=links, settings=SETTINGS)
    return j_frames, q_frames, links


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_plan_apply_diff_leaves_no_residual(b: Books):
    j_frames, q_frames, links = _sync(*b.frames())
    for name in ENTITIES:
        again = reconcile(name, j_frames[name], q_frames[name], links[name], ref_id_maps=links, settings=SETTINGS)
        assert residual(again) == 0, again[again["status"].astype(str) != "in_sync"][
            ["jobsiteon_id", "qbo_id", "status", "action", "fields", "reason"]].to_string()
        # one link per record on each side: nothing was duplicated
        assert links[name]["qbo_id"].is_unique and links[name]["jobsiteon_id"].is_unique
        live_q = q_frames[name][q_frames[name]["qbo_active"]]
        if REGISTRY[name].pull_creates:
            assert set(live_q["qbo_id"]) <= set(links[name]["qbo_id"])


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_a_second_sync_writes_nothing(b: Books):
    """Idempotence: after one sync, a second one changes no record on either side."""
    j_frames, q_frames, links = _sync(*b.frames())
    before = {n: (j_frames[n].copy(), q_frames[n].copy()) for n in ENTITIES}
    j_frames, q_frames, links = _sync(j_frames, q_frames, links)
    for n in ENTITIES:
        assert len(j_frames[n]) == len(before[n][0]) and len(q_frames[n]) == len(before[n][1])
        pd.testing.assert_series_equal(j_frames[n]["updated_at"], before[n][0]["updated_at"])
        pd.testing.assert_series_equal(q_frames[n]["qbo_sync_token"], before[n][1]["qbo_sync_token"])
