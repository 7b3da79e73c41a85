"""A document number alone does not make two documents the same: found by the demo, where a
JobsiteOn invoice was linked to a QBO-only invoice of another customer that happened to
carry its number, and JobsiteOn's version then overwrote the bookkeeper's invoice."""
from __future__ import annotations

from qbo_pipeline.reconcile import reconcile, residual
from tests.reconcile_fixtures import id_map, jobsiteon_frame, jobsiteon_invoice, line, one, qbo_frame, qbo_invoice


def _plan(qbo_customer: str):
    lines = [line("itm_1", 1, "10.00")]
    j = jobsiteon_frame("invoices", [jobsiteon_invoice("inv_1", "5195", "c1", lines)])
    q = qbo_frame("invoices", [qbo_invoice("4", "5195", qbo_customer, [line("5", 1, "10.00")])])
    refs = {"customers": id_map([("c1", "17"), ("c2", "18")]), "items": id_map([("itm_1", "5")])}
    return reconcile("invoices", j, q, id_map([]), ref_id_maps=refs)


def test_same_number_and_customer_links():
    row = one(_plan("17"), jobsiteon_id="inv_1")
    assert (row["qbo_id"], row["action"], row["match_key"]) == ("4", "link", "doc_number")


def test_same_number_of_another_customers_invoice_blocks_instead_of_overwriting_it():
    plan = _plan("18")
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["status"], row["action"]) == ("blocked", "none")
    assert row["reason"].startswith("duplicate record") and "contact_id differs" in row["reason"]
    assert not plan["action"].isin(["link", "update_qbo"]).any()
    assert residual(plan) == 1
