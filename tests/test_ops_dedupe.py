"""Dedupe against the emulator over HTTP: plan (dry run), merge in QBO and JobsiteOn, re-run,
undo — with real state (SQLite and PostgreSQL) and a real JobsiteOn database."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from qbo_pipeline.cli import main
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.ops.dedupe import apply_dedupe, load_merge, plan_dedupe, undo_merge
from qbo_pipeline.cli.ops import ENTITY_CHOICES
from qbo_pipeline.ops.dedupe_plan import KINDS, name_key
from qbo_pipeline.state import StateStore

from ops_fixtures import Workspace, requests, reset_requests, seed

WS = "ws-dedupe"


def _line(amount: int, item: str = "1") -> dict:
    return {"Amount": amount, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": 1, "UnitPrice": amount}}


@pytest.fixture()
def state(db_url):
    store = StateStore.from_url(db_url)
    yield store
    store.dispose()


@pytest.fixture()
def jobsiteon(tmp_path):
    store = JobsiteOnStore.from_url(f"sqlite:///{tmp_path / 'jobsiteon.db'}")
    store.ensure_workspace(WS, "Dedupe Co")
    yield store
    store.engine.dispose()


@pytest.fixture()
def books(state, jobsiteon, emulator, qbo_company):
    """Customers "Acme Builders" and "ACME  Builders" — each with two invoices and a payment
    in QBO, each linked to a JobsiteOn contact that has its own invoice and payment."""
    ws = Workspace(state, emulator, qbo_company, WS)
    ids = seed(emulator, ws.realm_id, {
        "Customer": [{"DisplayName": "Acme Builders", "PrimaryEmailAddr": {"Address": "ap@acme.test"}},
                     {"DisplayName": "ACME  Builders"},
                     {"DisplayName": "Zeta Plumbing"}],
        "Invoice": [{"CustomerRef": {"name": "Acme Builders"}, "DocNumber": "A-1", "Line": [_line(100)]},
                    {"CustomerRef": {"name": "Acme Builders"}, "DocNumber": "A-2", "Line": [_line(200)]},
                    {"CustomerRef": {"name": "ACME  Builders"}, "DocNumber": "B-1", "Line": [_line(50)]},
                    {"CustomerRef": {"name": "ACME  Builders"}, "DocNumber": "B-2", "Line": [_line(75)]},
                    {"CustomerRef": {"name": "Zeta Plumbing"}, "DocNumber": "Z-1", "Line": [_line(10)]}],
        "Payment": [{"CustomerRef": {"name": "Acme Builders"}, "TotalAmt": 100,
                     "Line": [{"Amount": 100, "LinkedTxn": [{"TxnType": "Invoice", "DocNumber": "A-1"}]}]},
                    {"CustomerRef": {"name": "ACME  Builders"}, "TotalAmt": 50,
                     "Line": [{"Amount": 50, "LinkedTxn": [{"TxnType": "Invoice", "DocNumber": "B-1"}]}]}],
    })
    survivor, duplicate, zeta = ids["Customer"]
    con_a = jobsiteon.create_contact(WS, "Acme Builders", "ap@acme.test", contact_id="con_a")
    con_b = jobsiteon.create_contact(WS, "ACME  Builders", contact_id="con_b")
    item = jobsiteon.create_record(WS, "pricebook_items", id="itm_1", name="Services", default_price="100", type="service")
    invoices = {}
    for contact, number, amount in ((con_a, "A-1", "100"), (con_b, "B-1", "50"), (con_b, "B-2", "75")):
        invoices[number] = jobsiteon.create_record(
            WS, "invoices", id=f"inv_{number}", number=number, contact_id=contact, status="approved",
            lines=[{"item_id": item, "qty": "1", "unit_price": amount, "taxable": False}])
    pay_b = jobsiteon.record_payment(WS, invoices["B-1"], "50", payment_id="pay_b")
    state.id_map.upsert(WS, "customers", [{"jobsiteon_id": con_a, "qbo_id": survivor},
                                          {"jobsiteon_id": con_b, "qbo_id": duplicate}])
    state.id_map.upsert(WS, "items", [{"jobsiteon_id": item, "qbo_id": "1"}])
    return {"ws": ws, "ids": ids, "survivor": survivor, "duplicate": duplicate, "zeta": zeta,
            "con_a": con_a, "con_b": con_b, "pay_b": pay_b, "invoices": invoices}


def _customer_refs(client) -> dict[str, str]:
    refs = {}
    for entity in ("Invoice", "Payment"):
        for record in client.query_all(entity):
            refs[f"{entity} {record.DocNumber or record.Id}"] = record.CustomerRef.value
    return refs


def test_name_key_ignores_case_spacing_punctuation_and_deleted_suffix():
    assert name_key("Acme Builders") == name_key("ACME  Builders") == name_key("acme builders (deleted)")
    assert name_key("O'Brien Plumbing, Inc.") == name_key("OBrien   plumbing inc")
    assert name_key("Acme Builders") != name_key("Acme Builder")
    assert set(ENTITY_CHOICES) == set(KINDS)


def test_dry_run_prints_the_plan_and_writes_nothing(books, state, jobsiteon, db_url, tmp_path, emulator):
    ws = books["ws"]
    reset_requests(emulator, ws.realm_id)
    env = ws.cli_env(db_url, str(jobsiteon.engine.url), tmp_path)
    result = CliRunner().invoke(main, ["dedupe", "--workspace", WS, "--entity", "customer"], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1 group(s), 1 merge(s), 3 reference(s) to re-point" in out
    assert f"keep   {books['survivor']:>6}  'Acme Builders' [JobsiteOn contacts con_a]" in out
    assert "the lowest Id (same CreateTime) of the 2 linked to JobsiteOn (contacts con_a)" in out
    assert f"merge  {books['duplicate']:>6}  'ACME  Builders' [JobsiteOn contacts con_b] — 2 Invoice, 1 Payment reference(s)" in out
    assert f"CustomerRef: {books['duplicate']} -> {books['survivor']}" in out
    assert "dry run: nothing was changed" in out
    assert "Zeta" not in out

    counters = requests(emulator, ws.realm_id)
    assert counters["write"] == 0 and counters["batch"] == 0 and counters["query"] > 0
    assert state.id_map.count(WS, "customers") == 2
    assert jobsiteon.get(WS, "contacts", "con_b")["deleted_at"] is None

    as_json = CliRunner().invoke(main, ["dedupe", "--workspace", WS, "--entity", "customer", "--json"], env=env)
    plan = json.loads(as_json.output)["plan"]
    assert plan["merges"] == 1 and plan["groups"][0]["survivor"]["qbo_id"] == books["survivor"]
    assert requests(emulator, ws.realm_id)["write"] == 0


def test_apply_merges_both_sides_rerun_is_a_noop_and_undo_restores(books, state, jobsiteon, emulator):
    ws, survivor, duplicate = books["ws"], books["survivor"], books["duplicate"]
    client = ws.client()
    before = _customer_refs(client)
    feed_position = jobsiteon.latest_seq()

    plan = plan_dedupe(client, state, WS, "customer")
    [result] = apply_dedupe(client, state, jobsiteon, plan)
    assert result.status == "merged" and result.qbo_references == 3 and result.jobsiteon_references == 3

    # QBO: every transaction references the survivor; the duplicate is inactive and renamed.
    refs = _customer_refs(client)
    assert set(refs.values()) == {survivor, books["zeta"]}
    assert refs["Invoice B-1"] == refs["Invoice B-2"] == survivor
    assert refs[f"Payment {books['ids']['Payment'][1]}"] == survivor
    dup = client.read("Customer", duplicate)
    assert dup.Active is False and dup.DisplayName == "ACME  Builders (merged)"
    # Open balances follow the invoices: 100 + 200 + 50 + 75 invoiced, 100 + 50 paid.
    assert client.read("Customer", survivor).Balance == Decimal("275")
    assert client.read("Invoice", books["ids"]["Invoice"][2]).Balance == Decimal("0")  # B-1 still paid

    # JobsiteOn: the duplicate contact's documents moved to the survivor's; it is deleted.
    assert jobsiteon.get(WS, "invoices", "inv_B-1")["contact_id"] == "con_a"
    assert jobsiteon.get(WS, "invoices", "inv_B-2")["contact_id"] == "con_a"
    assert jobsiteon.get(WS, "payments", "pay_b")["contact_id"] == "con_a"
    assert jobsiteon.get(WS, "contacts", "con_b")["deleted_at"] is not None
    assert jobsiteon.get(WS, "invoices", "inv_B-1")["amount_paid"] == Decimal("50.00")
    # Those writes are the integration's own: the feed must not echo them to QBO.
    merge_feed = jobsiteon.changes_since(feed_position)
    assert {c["record_id"] for c in merge_feed} >= {"inv_B-1", "inv_B-2", "pay_b", "con_b"}
    assert {c["source"] for c in merge_feed} == {"integration"}

    # Id map: the duplicate's link is gone, the survivor's stays.
    assert state.id_map.get_by_qbo(WS, "customers", duplicate) is None
    assert state.id_map.get_by_qbo(WS, "customers", survivor)["jobsiteon_id"] == "con_a"

    record = load_merge(state, result.merge_id)
    assert record["state"] == "applied"
    assert record["deactivation"]["name_before"] == "ACME  Builders" and record["deactivation"]["active_before"] is True
    assert {(c["qbo_entity"], c["before"], c["after"], c["status"]) for c in record["qbo_changes"]} == {
        ("Invoice", duplicate, survivor, "applied"), ("Payment", duplicate, survivor, "applied")}
    assert len(record["jobsiteon_changes"]) == 3
    log = state.sync_log.recent(WS, entity="customers")
    assert f"Undo: qbo-pipeline dedupe --undo {result.merge_id}" in log.iloc[0]["details"]

    # Running it again finds nothing and writes nothing.
    reset_requests(emulator, ws.realm_id)
    again = plan_dedupe(client, state, WS, "customer")
    assert again.groups == [] and apply_dedupe(client, state, jobsiteon, again) == []
    assert requests(emulator, ws.realm_id)["write"] == 0

    # Undo puts everything back.
    undone = undo_merge(client, state, jobsiteon, result.merge_id)
    assert undone.problems == [] and undone.qbo_references == 3
    assert _customer_refs(client) == before
    dup = client.read("Customer", duplicate)
    assert dup.Active is True and dup.DisplayName == "ACME  Builders"
    assert jobsiteon.get(WS, "invoices", "inv_B-2")["contact_id"] == "con_b"
    assert jobsiteon.get(WS, "payments", "pay_b")["contact_id"] == "con_b"
    assert jobsiteon.get(WS, "contacts", "con_b")["deleted_at"] is None
    assert state.id_map.get_by_qbo(WS, "customers", duplicate)["jobsiteon_id"] == "con_b"
    assert load_merge(state, result.merge_id)["state"] == "undone"
    assert "undid merge" in state.sync_log.recent(WS, entity="customers").iloc[0]["details"]
    with pytest.raises(Exception, match="already undone"):
        undo_merge(client, state, jobsiteon, result.merge_id)


def test_cli_apply_and_undo(books, state, jobsiteon, db_url, tmp_path, emulator):
    ws = books["ws"]
    env = ws.cli_env(db_url, str(jobsiteon.engine.url), tmp_path)
    runner = CliRunner()
    applied = runner.invoke(main, ["dedupe", "--workspace", WS, "--entity", "customer", "--apply"], env=env)
    assert applied.exit_code == 0, applied.output
    assert "3 QBO and 3 JobsiteOn reference(s) re-pointed" in applied.output
    merge_id = applied.output.split("dedupe --undo ")[-1].split()[0]
    assert ws.client().read("Customer", books["duplicate"]).Active is False

    rerun = runner.invoke(main, ["dedupe", "--workspace", WS, "--entity", "customer", "--apply"], env=env)
    assert rerun.exit_code == 0 and "no duplicate customers" in rerun.output

    undone = runner.invoke(main, ["dedupe", "--undo", merge_id], env=env)
    assert undone.exit_code == 0, undone.output
    assert f"undid merge {merge_id}" in undone.output and "3 QBO and 3 JobsiteOn reference(s) restored" in undone.output
    assert ws.client().read("Customer", books["duplicate"]).Active is True

    assert runner.invoke(main, ["dedupe", "--undo", "Mnope"], env=env).exit_code == 1
    assert runner.invoke(main, ["dedupe", "--workspace", WS], env=env).exit_code == 2


def _po_line(amount: int, item: str) -> dict:
    return {"Amount": amount, "DetailType": "ItemBasedExpenseLineDetail",
            "ItemBasedExpenseLineDetail": {"ItemRef": {"value": item}, "Qty": 1, "UnitPrice": amount}}


def _item_refs(client, entity: str, record_id: str) -> list[str | None]:
    detail = "ItemBasedExpenseLineDetail" if entity == "PurchaseOrder" else "SalesItemLineDetail"
    lines = client.read(entity, record_id).to_wire()["Line"]
    return [line[detail]["ItemRef"]["value"] for line in lines if detail in line]


def test_items_and_vendors_repoint_lines_and_deposits_then_undo(sqlite_url, jobsiteon, emulator, qbo_company):
    state = StateStore.from_url(sqlite_url)
    ws = Workspace(state, emulator, qbo_company, WS)
    client = ws.client()
    income = {"IncomeAccountRef": {"value": "1"}}
    names = seed(emulator, ws.realm_id, {
        "Vendor": [{"DisplayName": "Hill Lumber"}, {"DisplayName": "hill-lumber",
                                                    "PrimaryEmailAddr": {"Address": "x@hill.test"}},
                   {"DisplayName": "Other Supply", "PrimaryEmailAddr": {"Address": "X@Hill.test "}}],
        "Item": [{"Name": "Lumber 2x4", "Type": "Service", **income}, {"Name": "Lumber  2x4.", "Type": "Service", **income},
                 {"Name": "Drywall", "Type": "Service", **income},
                 {"Name": "Dry-wall", "Type": "NonInventory", **income}],
    })
    v_keep, v_dup, v_other = names["Vendor"]
    i_keep, i_dup, dry_service, dry_part = names["Item"]
    docs = seed(emulator, ws.realm_id, {
        "Customer": [{"DisplayName": "Builder Bob"}],
        "Invoice": [{"CustomerRef": {"name": "Builder Bob"}, "Line": [_line(10, i_keep), _line(20, i_dup), _line(5, "1")]}],
        "CreditMemo": [{"CustomerRef": {"name": "Builder Bob"}, "Line": [_line(20, i_dup)]}],
        "PurchaseOrder": [{"VendorRef": {"value": v_dup}, "Line": [_po_line(30, i_dup), _po_line(40, dry_part)]},
                          {"VendorRef": {"value": v_other}, "Line": [_po_line(15, i_keep)]}],
        "Deposit": [{"DepositToAccountRef": {"value": "5"}, "Line": [
            {"Amount": 12, "DetailType": "DepositLineDetail",
             "DepositLineDetail": {"AccountRef": {"value": "1"}, "Entity": {"value": v_dup, "type": "VENDOR"}}}]}],
    })
    [invoice], [memo], [po_dup, po_other], [deposit] = (docs["Invoice"], docs["CreditMemo"],
                                                        docs["PurchaseOrder"], docs["Deposit"])
    line = {"qty": "1", "unit_price": "20", "taxable": False}
    jobsiteon.create_contact(WS, "Builder Bob", contact_id="con_bob")
    for item_id, name in (("itm_a", "Lumber 2x4"), ("itm_b", "Lumber  2x4.")):
        jobsiteon.create_record(WS, "pricebook_items", id=item_id, name=name, default_price="20", type="service")
    jobsiteon.create_record(WS, "invoices", id="inv_1", number="1", contact_id="con_bob", status="approved",
                            lines=[{**line, "item_id": "itm_a"}, {**line, "item_id": "itm_b"}])
    jobsiteon.create_record(WS, "vendors", id="ven_b", name="hill-lumber")
    jobsiteon.create_record(WS, "purchase_orders", id="po_1", number="P1", vendor_id="ven_b",
                            lines=[{"item_id": "itm_b", "qty": "1", "unit_cost": "30"}])
    totals_before = jobsiteon.get(WS, "invoices", "inv_1")["total"]
    state.id_map.upsert(WS, "items", [{"jobsiteon_id": "itm_a", "qbo_id": i_keep},
                                      {"jobsiteon_id": "itm_b", "qbo_id": i_dup}])

    # Items: lines of invoices, credit memos and purchase orders; different types are not merged.
    plan = plan_dedupe(client, state, WS, "item")
    assert [(g.survivor.qbo_id, [d.qbo_id for d in g.duplicates]) for g in plan.groups] == [
        (i_keep, [i_dup]), (dry_service, [dry_part])]
    assert "item types differ" in plan.groups[1].blocked[dry_part]
    results = apply_dedupe(client, state, jobsiteon, plan)
    assert [r.status for r in results] == ["merged", "skipped"]
    assert _item_refs(client, "Invoice", invoice) == [i_keep, i_keep, "1"]
    assert _item_refs(client, "CreditMemo", memo) == [i_keep]
    assert _item_refs(client, "PurchaseOrder", po_dup) == [i_keep, dry_part]
    assert client.read("Invoice", invoice).TotalAmt == Decimal("35")
    item = client.read("Item", i_dup)
    assert item.Active is False and item.Name == "Lumber  2x4."  # items are only deactivated
    assert [l["item_id"] for l in jobsiteon.get(WS, "invoices", "inv_1")["lines"]] == ["itm_a", "itm_a"]
    assert jobsiteon.get(WS, "invoices", "inv_1")["total"] == totals_before
    assert jobsiteon.get(WS, "purchase_orders", "po_1")["lines"][0]["item_id"] == "itm_a"
    assert jobsiteon.get(WS, "pricebook_items", "itm_b")["deleted_at"] is not None

    # Vendors: by name and by e-mail (one group of three), purchase orders and deposit lines.
    plan = plan_dedupe(client, state, WS, "vendor")
    [group] = plan.groups
    assert group.survivor.qbo_id == v_keep and [d.qbo_id for d in group.duplicates] == [v_dup, v_other]
    assert group.matched_on == ["email 'x@hill.test'", "name 'hilllumber'"]
    vendor_results = apply_dedupe(client, state, jobsiteon, plan)
    assert client.read("PurchaseOrder", po_dup).VendorRef.value == v_keep
    assert client.read("PurchaseOrder", po_other).VendorRef.value == v_keep
    deposit_line = client.read("Deposit", deposit).to_wire()["Line"][0]["DepositLineDetail"]
    assert deposit_line["Entity"]["value"] == v_keep and deposit_line["Entity"]["type"] == "VENDOR"
    assert client.read("Vendor", v_other).DisplayName == "Other Supply (merged)"

    # Undo restores line-level references exactly.
    items_merge = results[0].merge_id
    assert undo_merge(client, state, jobsiteon, items_merge).problems == []
    assert _item_refs(client, "Invoice", invoice) == [i_keep, i_dup, "1"]
    assert _item_refs(client, "PurchaseOrder", po_dup) == [i_dup, dry_part]
    assert client.read("Item", i_dup).Active is True
    assert [l["item_id"] for l in jobsiteon.get(WS, "invoices", "inv_1")["lines"]] == ["itm_a", "itm_b"]
    assert jobsiteon.get(WS, "purchase_orders", "po_1")["lines"][0]["item_id"] == "itm_b"
    assert jobsiteon.get(WS, "pricebook_items", "itm_b")["deleted_at"] is None
    assert state.id_map.get_by_qbo(WS, "items", i_dup)["jobsiteon_id"] == "itm_b"
    undo_merge(client, state, jobsiteon, vendor_results[0].merge_id)
    deposit_line = client.read("Deposit", deposit).to_wire()["Line"][0]["DepositLineDetail"]
    assert deposit_line["Entity"]["value"] == v_dup
    state.dispose()


def test_interrupted_merge_resumes_with_the_same_merge_and_conflicts_are_left_alone(
    books, state, jobsiteon, emulator, monkeypatch
):
    from qbo_pipeline.ops import dedupe as dedupe_module
    from qbo_pipeline.ops.dedupe_plan import DedupeError
    from qbo_pipeline.qbo import QBOServerError

    ws, survivor, duplicate = books["ws"], books["survivor"], books["duplicate"]
    client = ws.client()
    plan = plan_dedupe(client, state, WS, "customer")
    # Someone moves invoice B-2 to Zeta between the plan and the merge.
    b2 = client.read("Invoice", books["ids"]["Invoice"][3])
    client.update("Invoice", {"Id": b2.Id, "SyncToken": b2.SyncToken, "CustomerRef": {"value": books["zeta"]}})

    def crash(*args, **kwargs):
        raise QBOServerError("QuickBooks answered 503", category="server")

    monkeypatch.setattr(dedupe_module, "deactivate_duplicate", crash)
    with pytest.raises(DedupeError, match="run the same dedupe --apply again to resume") as stopped:
        apply_dedupe(client, state, jobsiteon, plan)
    merge_id = str(stopped.value).split()[1]
    record = load_merge(state, merge_id)
    assert record["state"] == "applying"
    assert sorted(c["status"] for c in record["qbo_changes"]) == ["applied", "applied", "conflict"]
    assert client.read("Invoice", b2.Id).CustomerRef.value == books["zeta"]  # left alone
    monkeypatch.undo()

    # The duplicate is still active, so the next run finds it again and resumes that merge.
    reset_requests(emulator, ws.realm_id)
    plan = plan_dedupe(client, state, WS, "customer")
    [group] = plan.groups
    assert group.references[duplicate] == []  # already re-pointed
    [result] = apply_dedupe(client, state, jobsiteon, plan)
    assert result.resumed and result.merge_id == merge_id
    assert requests(emulator, ws.realm_id)["write"] == 1  # only the deactivation
    assert any("changed since the plan" in p for p in result.problems)
    assert client.read("Customer", duplicate).Active is False

    undone = undo_merge(client, state, jobsiteon, merge_id)
    assert undone.qbo_references == 2
    assert client.read("Invoice", books["ids"]["Invoice"][2]).CustomerRef.value == duplicate
    assert client.read("Invoice", b2.Id).CustomerRef.value == books["zeta"]
