"""Change detection and conflict resolution: one side changed -> it wins; both -> most recent
wins (or the field's override), the loser's values recorded."""
from __future__ import annotations

import numpy as np

from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.reconcile import reconcile
from qbo_pipeline.reconcile.frames import fast_columns, fingerprints, make_context
from tests.reconcile_fixtures import (
    BEFORE, at, contact, customer, id_map, jobsiteon_frame, one, qbo_frame, rows_for,
)

BASE_J = dict(name="Mark Cho", email="mark@cho.com", phone="111")
BASE_Q = dict(name="Mark Cho", email="mark@cho.com", phone="111")


def plan_one(j_changes: dict, q_changes: dict, *, j_time=None, q_time=None, token="0", spec="customers",
             links=None):
    j = {**BASE_J, **j_changes, "updated_at": j_time or BEFORE}
    q = {**BASE_Q, **q_changes, "qbo_sync_token": token, "qbo_updated_at": q_time or BEFORE}
    return reconcile(spec, jobsiteon_frame("customers", [contact("c1", **j)]),
                     qbo_frame("customers", [customer("17", **q)]),
                     links if links is not None else id_map([("c1", "17", "0")]))


def test_only_jobsiteon_changed_pushes():
    row = one(plan_one({"phone": "222"}, {}, j_time=at(5)), jobsiteon_id="c1")
    assert (row["status"], row["action"], row["winner"], row["fields"]) == ("update", "update_qbo", "jobsiteon", ("phone",))
    assert row["values"] == {"phone": "222"} and row["loser_values"] == {"phone": "111"}
    assert row["reason"] == "phone changed in JobsiteOn"


def test_only_qbo_changed_pulls_even_if_jobsiteon_looks_newer():
    row = one(plan_one({}, {"phone": "333"}, token="1", q_time=at(1)), jobsiteon_id="c1")
    assert (row["action"], row["winner"], row["values"]) == ("update_jobsiteon", "qbo", {"phone": "333"})


def test_both_changed_most_recent_wins_jobsiteon():
    row = one(plan_one({"phone": "222"}, {"phone": "333"}, j_time=at(10), q_time=at(5), token="1"), jobsiteon_id="c1")
    assert (row["status"], row["action"], row["winner"]) == ("conflict", "update_qbo", "jobsiteon")
    assert row["loser_values"] == {"phone": "333"} and "conflict" in row["reason"]


def test_both_changed_most_recent_wins_qbo():
    row = one(plan_one({"phone": "222"}, {"phone": "333"}, j_time=at(5), q_time=at(10), token="1"), jobsiteon_id="c1")
    assert (row["status"], row["action"], row["winner"]) == ("conflict", "update_jobsiteon", "qbo")
    assert row["values"] == {"phone": "333"} and row["loser_values"] == {"phone": "222"}


def test_per_field_override_beats_recency_and_splits_the_record():
    spec = REGISTRY["customers"].with_conflict_overrides({"email": "jobsiteon"})
    j = {**BASE_J, "phone": "222", "email": "new-j@cho.com", "updated_at": at(5)}
    q = {**BASE_Q, "phone": "333", "email": "new-q@cho.com", "qbo_sync_token": "1", "qbo_updated_at": at(10)}
    plan = reconcile(spec, jobsiteon_frame("customers", [contact("c1", **j)]),
                     qbo_frame("customers", [customer("17", **q)]), id_map([("c1", "17", "0")]))
    rows = rows_for(plan, jobsiteon_id="c1")
    by_action = {str(r["action"]): r for r in rows.to_dict("records")}
    assert set(by_action) == {"update_qbo", "update_jobsiteon"}
    assert by_action["update_qbo"]["fields"] == ("email",) and by_action["update_qbo"]["loser_values"] == {"email": "new-q@cho.com"}
    assert by_action["update_jobsiteon"]["fields"] == ("phone",)
    assert {str(r["status"]) for r in rows.to_dict("records")} == {"conflict"}


def test_a_moved_sync_token_with_unchanged_content_is_no_change():
    """QBO bumped the SyncToken (say, a payment was linked) but the customer's content still
    hashes as last synced: JobsiteOn's edit is not a conflict."""
    spec = REGISTRY["customers"]
    synced = jobsiteon_frame("customers", [contact("c1", **BASE_J)])
    ctx = make_context(spec, synced, qbo_frame("customers", []), None)
    recorded = fingerprints(list(fast_columns(ctx, synced, "jobsiteon").values()), np.array([True]))[0]
    links = id_map([("c1", "17", "0")])
    links["content_hash"] = [recorded]
    row = one(plan_one({"phone": "222"}, {}, j_time=at(1), q_time=at(9), token="5", links=links), jobsiteon_id="c1")
    assert (row["status"], row["action"]) == ("update", "update_qbo")
    # without the hash the same inputs are a conflict that QBO (more recent) wins
    row = one(plan_one({"phone": "222"}, {}, j_time=at(1), q_time=at(9), token="5"), jobsiteon_id="c1")
    assert (row["status"], row["action"]) == ("conflict", "update_jobsiteon")


def test_drift_without_version_change_goes_to_the_most_recent():
    row = one(plan_one({"phone": "222"}, {}, j_time=BEFORE, q_time=at(-120)), jobsiteon_id="c1")
    assert row["action"] == "update_qbo"


def test_recorded_last_updated_time_works_as_the_qbo_version():
    links = id_map([("c1", "17")])
    links["qbo_sync_token"] = [BEFORE.isoformat()]
    row = one(plan_one({}, {"phone": "333"}, q_time=at(3), links=links), jobsiteon_id="c1")
    assert row["action"] == "update_jobsiteon"
    row = one(plan_one({"phone": "222"}, {}, j_time=at(3), q_time=BEFORE, links=links), jobsiteon_id="c1")
    assert row["action"] == "update_qbo"


def test_brief_id_map_column_names_are_accepted():
    links = id_map([("c1", "17", "0")]).rename(columns={
        "qbo_sync_token": "last_synced_qbo_version", "jobsiteon_updated_at": "last_synced_jobsiteon_at",
        "content_hash": "hash"})
    links["entity"] = "customers"
    row = one(plan_one({"phone": "222"}, {}, j_time=at(5), links=links), jobsiteon_id="c1")
    assert row["action"] == "update_qbo"
