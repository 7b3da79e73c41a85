"""Matching: id map first, then email (case/space-insensitive), then name; a key hit links,
never creates; ambiguity blocks."""
from __future__ import annotations

import pandas as pd

from qbo_pipeline.reconcile import reconcile, residual, summarize
from tests.reconcile_fixtures import (
    contact, customer, id_map, jobsiteon_frame, one, qbo_frame, rows_for,
)


def plan_customers(j_rows, q_rows, links=()):
    return reconcile("customers", jobsiteon_frame("customers", j_rows), qbo_frame("customers", q_rows),
                     id_map(list(links)))


def test_id_map_links_first_even_when_emails_disagree():
    plan = plan_customers(
        [contact("c1", "Mark Cho", "mark@cho.com"), contact("c2", "Amy", "amy@x.com")],
        [customer("17", "Mark Cho", "amy@x.com"), customer("18", "Amy", "mark@cho.com")],
        links=[("c1", "17"), ("c2", "18")],
    )
    assert one(plan, jobsiteon_id="c1")["qbo_id"] == "17"
    assert one(plan, jobsiteon_id="c2")["qbo_id"] == "18"
    assert set(plan["match_key"].astype(str)) == {"id_map"}


def test_normalized_values_are_in_sync():
    plan = plan_customers(
        [contact("c1", "Mark Cho", "mark@cho.com", phone="(650) 554-1479", billing_city="Menlo Park")],
        [customer("17", "Mark Cho", " Mark@Cho.COM", phone="650.554.1479", billing_city="Menlo Park ")],
        links=[("c1", "17")],
    )
    row = one(plan, jobsiteon_id="c1")
    assert (row["status"], row["action"]) == ("in_sync", "none")
    assert residual(plan) == 0


def test_email_links_across_case_and_spaces_instead_of_creating():
    plan = plan_customers([contact("c1", "Mark Cho", "Mark@Cho.com")],
                          [customer("17", "Mark Cho", "  mark@cho.COM ")])
    row = one(plan, jobsiteon_id="c1")
    assert (row["qbo_id"], row["action"], row["match_key"]) == ("17", "link", "email")
    assert row["fields"] == ()
    assert not plan["action"].isin(["create_qbo", "create_jobsiteon"]).any()


def test_email_link_with_differing_fields_links_and_updates_towards_the_older_side():
    j = contact("c1", "Mark Cho", "mark@cho.com", phone="111", updated_at=pd.Timestamp("2025-03-02T00:00Z"))
    q = customer("17", "Mark Cho", "MARK@cho.com", phone="222", qbo_updated_at=pd.Timestamp("2025-03-01T00:00Z"))
    row = one(plan_customers([j], [q]), jobsiteon_id="c1")
    assert (row["action"], row["winner"], row["fields"]) == ("link", "jobsiteon", ("phone",))
    assert row["values"] == {"phone": "111"} and row["loser_values"] == {"phone": "222"}


def test_name_fallback_when_no_email_matches():
    plan = plan_customers([contact("c1", "O'Brien  Plumbing, Inc.", None)],
                          [customer("40", "obrien plumbing inc", "ops@obrien.com")])
    row = one(plan, jobsiteon_id="c1")
    assert (row["qbo_id"], row["action"], row["match_key"]) == ("40", "link", "name")


def test_name_match_with_different_emails_is_blocked_not_linked():
    plan = plan_customers([contact("c1", "Acme", "a@acme.com")], [customer("40", "ACME", "b@acme.com")])
    rows = rows_for(plan, jobsiteon_id="c1")
    assert list(rows["status"].astype(str)) == ["blocked"]
    assert "duplicate record" in rows.iloc[0]["reason"] and "email differs" in rows.iloc[0]["reason"]
    assert not plan["action"].isin(["create_qbo", "create_jobsiteon", "link"]).any()


def test_two_candidates_block_with_a_duplicate_record_reason():
    plan = plan_customers([contact("c1", "Mark", "mark@cho.com")],
                          [customer("17", "Mark", "mark@cho.com"), customer("18", "Mark C", "MARK@CHO.COM")])
    row = one(plan, jobsiteon_id="c1")
    assert (row["status"], row["action"]) == ("blocked", "none")
    assert "duplicate record" in row["reason"] and "17" in row["reason"] and "18" in row["reason"]
    for qid in ("17", "18"):  # the QBO duplicates are not imported either
        assert one(plan, qbo_id=qid)["status"] == "blocked"
    assert not plan["action"].isin(["create_qbo", "create_jobsiteon", "link"]).any()
    assert residual(plan) == 3


def test_two_jobsiteon_records_for_one_customer_block():
    plan = plan_customers([contact("c1", "Mark", "mark@cho.com"), contact("c2", "Mark 2", "mark@cho.com ")],
                          [customer("17", "Mark", "mark@cho.com")])
    assert set(rows_for(plan, jobsiteon_id="c1")["status"].astype(str)) == {"blocked"}
    assert set(rows_for(plan, jobsiteon_id="c2")["status"].astype(str)) == {"blocked"}
    assert not plan["action"].isin(["create_qbo", "link"]).any()


def test_a_new_record_with_the_email_of_a_linked_record_is_blocked():
    """c2 would otherwise create a second QBO customer with Mark's email."""
    plan = plan_customers(
        [contact("c1", "Mark Cho", "mark@cho.com"), contact("c2", "M. Cho", "Mark@Cho.com")],
        [customer("17", "Mark Cho", "mark@cho.com")],
        links=[("c1", "17")],
    )
    row = one(plan, jobsiteon_id="c2")
    assert row["status"] == "blocked" and "already linked to c1" in row["reason"]
    assert one(plan, jobsiteon_id="c1")["status"] == "in_sync"


def test_deleted_records_do_not_match_or_block():
    plan = plan_customers(
        [contact("c1", "Old", "x@y.com", deleted_at=pd.Timestamp("2025-01-01T00:00Z")), contact("c2", "New", "x@y.com")],
        [customer("17", "New", "x@y.com")],
    )
    assert one(plan, jobsiteon_id="c2")["action"] == "link"
    assert (one(plan, jobsiteon_id="c1")["action"]) == "skip"


def test_unmatched_records_are_created_on_the_other_side():
    plan = plan_customers([contact("c1", "Only Here", "here@x.com")], [customer("90", "Only There", "there@x.com")])
    created = one(plan, jobsiteon_id="c1")
    assert (created["status"], created["action"], created["winner"]) == ("missing", "create_qbo", "jobsiteon")
    assert created["values"]["email"] == "here@x.com" and created["values"]["id"] == "c1"
    pulled = one(plan, qbo_id="90")
    assert (pulled["action"], pulled["values"]["name"]) == ("create_jobsiteon", "Only There")
    assert pulled["sync_hash"] and created["sync_hash"]


def test_invoices_match_by_doc_number_and_items_by_name():
    from tests.reconcile_fixtures import jobsiteon_invoice, line, qbo_invoice

    lines = [line("itm_1", 1, "10.00")]
    j = jobsiteon_frame("invoices", [jobsiteon_invoice("inv_1", "1001", "c1", lines)])
    q = qbo_frame("invoices", [qbo_invoice("500", " 1001", "17", [line("5", 1, "10.00")])])
    refs = {"customers": id_map([("c1", "17")]), "items": id_map([("itm_1", "5")])}
    row = one(reconcile("invoices", j, q, id_map([]), ref_id_maps=refs), jobsiteon_id="inv_1")
    assert (row["qbo_id"], row["action"], row["match_key"]) == ("500", "link", "doc_number")

    items_plan = reconcile(
        "items",
        jobsiteon_frame("items", [{"id": "itm_1", "name": "Drywall  Sheet", "type": "part"}]),
        qbo_frame("items", [{"qbo_id": "5", "name": "drywall sheet", "type": "part"}]),
        id_map([]),
    )
    assert one(items_plan, jobsiteon_id="itm_1")["match_key"] == "name"


def test_summary_counts_and_mapping_completeness():
    plan = plan_customers(
        [contact("c1", "A", "a@x.com"), contact("c2", "B", "b@x.com"), contact("c3", "C", "c@x.com")],
        [customer("1", "A", "a@x.com"), customer("2", "B", "B@x.com")],
        links=[("c1", "1")],
    )
    summary = summarize(plan)
    assert summary["actions"] == {"none": 1, "link": 1, "create_qbo": 1}
    assert summary["linked"] == 1 and summary["mapping_completeness"] == round(1 / 3, 6)
    assert summary["residual"] == 2


def test_empty_inputs():
    plan = plan_customers([], [])
    assert plan.empty and list(plan.columns)[:3] == ["entity", "jobsiteon_id", "qbo_id"]
    assert residual(plan) == 0


def test_unlinked_records_link_by_the_exact_key_where_the_sql_prefilter_differs():
    """DuckDB's trim() only strips spaces: a tab-indented email is found by the exact key."""
    plan = plan_customers([contact("c1", "Mark", "\tMark@Cho.com\n")], [customer("17", "Mark C", "mark@cho.com")])
    row = one(plan, jobsiteon_id="c1")
    assert (row["action"], row["match_key"]) == ("link", "email")


def test_id_join_connection_falls_back_when_duckdb_lacks_the_optimizer_setting(monkeypatch):
    """A DuckDB release that does not know the build/probe optimizer name still reconciles
    (the setting is a speed-up only)."""
    import threading

    import duckdb

    from qbo_pipeline.reconcile import match

    real_connect = duckdb.connect
    configs = []

    def connect(*args, config=None, **kwargs):
        configs.append(dict(config or {}))
        if config and "disabled_optimizers" in config:
            raise duckdb.ParserException('Optimizer type "build_side_probe_side" not recognized')
        return real_connect(*args, config=config, **kwargs)

    monkeypatch.setattr(match.duckdb, "connect", connect)
    monkeypatch.setattr(match, "_local", threading.local())  # this thread's cached connection aside
    plan = plan_customers(
        [contact("c1", "Mark Cho", "mark@cho.com"), contact("c2", "Amy", "amy@x.com")],
        [customer("17", "Mark Cho", "mark@cho.com"), customer("18", "Amy B", "amy@x.com")],
        links=[("c1", "17")],
    )
    assert [("disabled_optimizers" in c) for c in configs] == [True, False]
    assert (one(plan, jobsiteon_id="c1")["status"], one(plan, jobsiteon_id="c2")["action"]) == ("in_sync", "link")
