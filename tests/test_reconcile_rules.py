"""Direction rules and deletes/voids/archives, per entity."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pandas as pd

from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.reconcile import reconcile, residual
from tests.reconcile_fixtures import (
    BEFORE, at, contact, customer, id_map, jobsiteon_frame, jobsiteon_invoice, line, one, qbo_frame,
    qbo_invoice, rows_for,
)

REFS = {"customers": id_map([("c1", "17")]), "items": id_map([("itm_1", "5"), ("itm_2", "6")])}
J_LINES = [line("itm_1", 2, "50.00"), line("itm_2", 1, "9.99", taxable=False, position=2)]
Q_LINES = [line("5", 2, "50.00"), line("6", 1, "9.99", taxable=False, position=2)]


def plan_invoices(j_rows, q_rows, links, spec="invoices", **kwargs):
    return reconcile(spec, jobsiteon_frame("invoices", j_rows), qbo_frame("invoices", q_rows), id_map(links),
                     ref_id_maps=REFS, settings={"tax_rate": "0.08"}, **kwargs)


# -- invoices: push only ---------------------------------------------------------------------------

def test_synced_invoice_is_in_sync():
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)],
                         [qbo_invoice("500", "1001", "17", Q_LINES)], [("inv_1", "500")])
    assert one(plan, jobsiteon_id="inv_1")["status"] == "in_sync"


def test_invoice_edited_in_qbo_is_overwritten_with_jobsiteons_version():
    edited = [line("5", 3, "50.00"), line("6", 1, "9.99", taxable=False, position=2)]
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)],
                         [qbo_invoice("500", "1001", "17", edited, qbo_sync_token="1", qbo_updated_at=at(5))],
                         [("inv_1", "500")])
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["action"], row["winner"], row["fields"]) == ("update_qbo", "jobsiteon", ("lines",))
    assert "edited in QBO" in row["reason"] and "push-only" in row["reason"]
    assert row["values"]["lines"][0]["item_id"] == "itm_1"  # JobsiteOn ids; row_to_qbo translates
    assert row["loser_values"]["lines"][0]["qty"] == Decimal("3")  # QBO's edit, for the sync log
    assert row["loser_values"]["lines"][0]["item_id"] == "itm_1"


def test_invoice_edited_in_qbo_with_flag_policy_is_blocked():
    spec = replace(REGISTRY["invoices"], qbo_edit_policy="flag")
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)],
                         [qbo_invoice("500", "1001", "17", Q_LINES, due_date=dt.date(2025, 9, 9),
                                      qbo_sync_token="1", qbo_updated_at=at(5))],
                         [("inv_1", "500")], spec=spec)
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["status"], row["action"], row["fields"]) == ("blocked", "none", ("due_date",))


def test_qbo_only_invoice_is_not_pulled():
    plan = plan_invoices([], [qbo_invoice("777", "Q-1", "17", Q_LINES)], [])
    row = one(plan, qbo_id="777")
    assert (row["status"], row["action"]) == ("missing", "skip") and "not pulled" in row["reason"]
    assert residual(plan) == 0


def test_qbo_payment_updates_amount_paid_balance_and_status():
    paid = Decimal("50.00")
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)],
                         [qbo_invoice("500", "1001", "17", Q_LINES, paid=paid, qbo_sync_token="1", qbo_updated_at=at(2))],
                         [("inv_1", "500")])
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["action"], row["winner"]) == ("update_jobsiteon", "qbo")
    assert set(row["fields"]) == {"amount_paid", "balance", "status"}
    total = jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)["total"]
    assert row["values"] == {"amount_paid": paid, "balance": total - paid, "status": "partially_paid"}


def test_payment_recorded_in_jobsiteon_waits_for_qbo():
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES, paid=Decimal("20.00"), updated_at=at(3))],
                         [qbo_invoice("500", "1001", "17", Q_LINES)], [("inv_1", "500")])
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["action"], row["status"]) == ("skip", "update") and row["reason"].startswith("pending")
    assert residual(plan) == 0


def test_draft_invoices_do_not_sync():
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES, status="draft")], [], [])
    row = one(plan, jobsiteon_id="inv_1")
    assert row["action"] == "skip" and "draft" in row["reason"]


def test_new_invoice_waits_for_its_customer_to_be_linked():
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c_new", J_LINES)], [], [])
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["status"], row["action"]) == ("blocked", "none") and "waits for customers c_new" in row["reason"]
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)], [], [])
    created = one(plan, jobsiteon_id="inv_1")
    assert created["action"] == "create_qbo" and created["values"]["lines"] == J_LINES


# -- payments ----------------------------------------------------------------------------------------

def _payments(j_rows, q_rows, links):
    refs = {"customers": id_map([("c1", "17")]), "invoices": id_map([("inv_1", "500")])}
    j = jobsiteon_frame("payments", j_rows)
    q = qbo_frame("payments", q_rows)
    return reconcile("payments", j, q, id_map(links), ref_id_maps=refs)


def test_qbo_payment_is_created_in_jobsiteon_with_translated_refs():
    plan = _payments([], [{"qbo_id": "900", "contact_id": "17", "invoice_id": "500", "amount": Decimal("50.00"),
                           "paid_on": dt.date(2025, 3, 2)}], [])
    row = one(plan, qbo_id="900")
    assert row["action"] == "create_jobsiteon"
    assert row["values"]["contact_id"] == "c1" and row["values"]["invoice_id"] == "inv_1"
    assert row["values"]["origin"] == "qbo"


def test_payment_of_a_qbo_only_invoice_is_skipped():
    plan = _payments([], [{"qbo_id": "901", "contact_id": "17", "invoice_id": "777", "amount": Decimal("5"),
                           "paid_on": dt.date(2025, 3, 2)}], [])
    row = one(plan, qbo_id="901")
    assert row["action"] == "skip" and "not synced to JobsiteOn" in row["reason"]


def test_jobsiteon_payment_is_pushed_once_and_never_echoed():
    pay = {"id": "pay_1", "contact_id": "c1", "invoice_id": "inv_1", "amount": Decimal("50.00"),
           "paid_on": dt.date(2025, 3, 2), "origin": "jobsiteon"}
    assert one(_payments([pay], [], []), jobsiteon_id="pay_1")["action"] == "create_qbo"
    # The push landed but the link was not recorded: the QBO copy is matched, not imported.
    echo = {"qbo_id": "902", "contact_id": "17", "invoice_id": "500", "amount": Decimal("50.00"),
            "paid_on": dt.date(2025, 3, 2)}
    plan = _payments([pay], [echo], [])
    assert one(plan, jobsiteon_id="pay_1")["action"] == "link"
    assert not plan["action"].isin(["create_jobsiteon", "create_qbo"]).any()
    assert one(_payments([pay], [echo], [("pay_1", "902")]), jobsiteon_id="pay_1")["status"] == "in_sync"


# -- items: push mostly, conflicts by recency ----------------------------------------------------------

def _items(j_rows, q_rows, links):
    return reconcile("items", jobsiteon_frame("items", j_rows), qbo_frame("items", q_rows), id_map(links))


ITEM = {"name": "Drywall", "type": "part", "default_price": Decimal("12.00")}


def test_item_edited_in_qbo_comes_back_when_most_recent():
    plan = _items([{"id": "itm_1", **ITEM, "updated_at": at(1)}],
                  [{"qbo_id": "5", **ITEM, "default_price": Decimal("13.00"), "qbo_sync_token": "1",
                    "qbo_updated_at": at(2)}], [("itm_1", "5")])
    row = one(plan, jobsiteon_id="itm_1")
    assert (row["action"], row["values"]) == ("update_jobsiteon", {"default_price": Decimal("13.00")})


def test_qbo_only_items_are_not_pulled():
    row = one(_items([], [{"qbo_id": "99", "name": "Rock Fountain", "type": "part"}], []), qbo_id="99")
    assert row["action"] == "skip"


def test_archived_item_is_deactivated_and_a_restore_reactivates():
    plan = _items([{"id": "itm_1", **ITEM, "archived": True, "updated_at": at(1)}], [{"qbo_id": "5", **ITEM}],
                  [("itm_1", "5")])
    row = one(plan, jobsiteon_id="itm_1")
    assert (row["status"], row["action"], row["winner"]) == ("deleted", "deactivate_qbo", "jobsiteon")
    plan = _items([{"id": "itm_1", **ITEM, "archived": False, "updated_at": at(2)}],
                  [{"qbo_id": "5", **ITEM, "qbo_active": False}], [("itm_1", "5")])
    assert one(plan, jobsiteon_id="itm_1")["action"] == "reactivate_qbo"


def test_item_made_inactive_in_qbo_is_archived_in_jobsiteon():
    plan = _items([{"id": "itm_1", **ITEM}],
                  [{"qbo_id": "5", **ITEM, "qbo_active": False, "qbo_sync_token": "1", "qbo_updated_at": at(1)}],
                  [("itm_1", "5")])
    row = one(plan, jobsiteon_id="itm_1")
    assert (row["action"], row["values"]) == ("update_jobsiteon", {"archived": True})


# -- deletes and voids ------------------------------------------------------------------------------------

def test_voided_qbo_invoice_is_flagged_not_deleted():
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)],
                         [qbo_invoice("500", "1001", "17", [], qbo_status="voided", qbo_active=False, total=Decimal(0),
                                      balance=Decimal(0), status="void", qbo_sync_token="1", qbo_updated_at=at(1))],
                         [("inv_1", "500")])
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["status"], row["action"], row["values"]) == ("deleted", "void_flag_jobsiteon", {"status": "void"})
    assert "voided in QBO" in row["reason"]


def test_invoice_deleted_in_qbo_is_flagged_too():
    tombstone = {"qbo_id": "500", "qbo_status": "deleted", "qbo_active": False}
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)], [tombstone], [("inv_1", "500")])
    assert one(plan, jobsiteon_id="inv_1")["action"] == "void_flag_jobsiteon"
    gone = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)], [], [("inv_1", "500")])
    assert one(gone, jobsiteon_id="inv_1")["action"] == "void_flag_jobsiteon"
    partial = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES)], [], [("inv_1", "500")],
                            qbo_complete=False)
    assert partial.empty  # an incremental mirror says nothing about records it did not fetch


def test_voided_jobsiteon_invoice_is_voided_in_qbo_and_then_in_sync():
    plan = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES, status="void", updated_at=at(1))],
                         [qbo_invoice("500", "1001", "17", Q_LINES)], [("inv_1", "500")])
    assert one(plan, jobsiteon_id="inv_1")["action"] == "delete_qbo"
    assert REGISTRY["invoices"].qbo_remove == "void"
    both = plan_invoices([jobsiteon_invoice("inv_1", "1001", "c1", J_LINES, status="void")],
                         [qbo_invoice("500", "1001", "17", [], qbo_status="voided", qbo_active=False)], [("inv_1", "500")])
    assert one(both, jobsiteon_id="inv_1")["status"] == "in_sync"


def _customers(j_rows, q_rows, links, spec="customers"):
    return reconcile(spec, jobsiteon_frame("customers", j_rows), qbo_frame("customers", q_rows), id_map(links))


def test_soft_deleted_or_vanished_contact_deactivates_the_customer():
    plan = _customers([contact("c1", "A", "a@x.com", deleted_at=at(1), updated_at=at(1))],
                      [customer("17", "A", "a@x.com")], [("c1", "17")])
    assert one(plan, jobsiteon_id="c1")["action"] == "deactivate_qbo"
    plan = _customers([], [customer("17", "A", "a@x.com")], [("c1", "17")])
    assert one(plan, jobsiteon_id="c1")["action"] == "deactivate_qbo"


def test_customer_made_inactive_in_qbo_archives_the_contact_or_flags_it():
    inactive = customer("17", "A", "a@x.com", qbo_active=False, qbo_status="inactive", qbo_sync_token="1",
                        qbo_updated_at=at(1))
    row = one(_customers([contact("c1", "A", "a@x.com")], [inactive], [("c1", "17")]), jobsiteon_id="c1")
    assert (row["status"], row["action"], row["winner"]) == ("deleted", "delete_jobsiteon", "qbo")
    flag = replace(REGISTRY["customers"], qbo_inactive_policy="flag")
    row = one(_customers([contact("c1", "A", "a@x.com")], [inactive], [("c1", "17")], spec=flag), jobsiteon_id="c1")
    assert row["action"] == "skip" and "policy 'flag'" in row["reason"]


def test_customer_reactivated_in_qbo_restores_the_contact():
    plan = _customers([contact("c1", "A", "a@x.com", deleted_at=BEFORE)],
                      [customer("17", "A", "a@x.com", qbo_sync_token="2", qbo_updated_at=at(1))], [("c1", "17")])
    row = one(plan, jobsiteon_id="c1")
    assert (row["action"], row["values"]) == ("update_jobsiteon", {"deleted_at": None})


def test_gone_on_both_sides_is_in_sync_and_a_stale_link_is_reported():
    plan = _customers([contact("c1", "A", "a@x.com", deleted_at=BEFORE)],
                      [customer("17", "A", "a@x.com", qbo_active=False, qbo_status="inactive")], [("c1", "17")])
    assert one(plan, jobsiteon_id="c1")["status"] == "in_sync"
    stale = one(_customers([], [], [("c9", "99")]), jobsiteon_id="c9")
    assert stale["action"] == "skip" and "stale id map entry" in stale["reason"]


def test_jobsiteon_only_deleted_records_are_not_created():
    plan = _customers([contact("c1", "A", "a@x.com", deleted_at=BEFORE)],
                      [customer("17", "B", "b@x.com", qbo_active=False, qbo_status="inactive")], [])
    assert one(plan, jobsiteon_id="c1")["action"] == "skip"
    assert one(plan, qbo_id="17")["action"] == "skip"
    assert residual(plan) == 0


def test_duplicate_links_in_the_id_map_are_blocked():
    links = id_map([("c1", "17"), ("c1", "18")])
    plan = reconcile("customers", jobsiteon_frame("customers", [contact("c1", "A", "a@x.com")]),
                     qbo_frame("customers", [customer("17", "A", "a@x.com"), customer("18", "A", "a@x.com")]), links)
    assert set(rows_for(plan, jobsiteon_id="c1")["status"].astype(str)) == {"blocked"}
    assert pd.Series(plan["reason"]).str.contains("occurs twice").any()
