"""The entity registry: real QBO samples -> canonical rows, canonical rows -> QBO bodies
(checked against the emulator over HTTP), and the registry's structure."""
from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from qbo_pipeline.entities import (
    REGISTRY, Direction, RegistryError, WorkspaceSettings, get_spec, qbo_to_frame, row_to_qbo,
    topological_order,
)

SAMPLES = Path("/work/shared/reference/qbo-samples")


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def canonical(entity: str, name: str, settings=None) -> dict:
    frame = qbo_to_frame(entity, [sample(name)], settings)
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def identity(entity: str, jobsiteon_id: str) -> str:
    return jobsiteon_id


# -- QBO samples -> canonical rows ----------------------------------------------------------------

def test_customer_sample():
    row = canonical("customers", "customer.json")
    assert row["qbo_id"] == "17" and row["qbo_sync_token"] == "0"
    assert row["qbo_updated_at"] == pd.Timestamp("2023-02-18T20:57:24Z")
    assert row["qbo_active"] and row["qbo_status"] == "active"
    assert (row["name"], row["email"], row["phone"]) == ("Mark Cho", "Mark@Cho.com", "(650) 554-1479")
    assert (row["billing_line1"], row["billing_city"], row["billing_state"], row["billing_postal_code"]) == (
        "36 Willow Rd", "Menlo Park", "CA", "94304")
    assert row["billing_country"] is None


def test_vendor_sample_in_read_envelope():
    row = canonical("vendors", "vendor.json")
    assert (row["qbo_id"], row["name"], row["email"], row["billing_city"]) == (
        "30", "Books by Bessie", "Books@Intuit.com", "Palo Alto")


def test_deleted_customer_is_inactive_without_the_deleted_suffix():
    record = {"Id": "1", "SyncToken": "4", "DisplayName": "Thrifty Meats (deleted)", "Active": False,
              "MetaData": {"LastUpdatedTime": "2013-11-16T11:33:57-08:00"},
              "PrimaryEmailAddr": {"Address": "info@thriftymeats.com"}}
    row = qbo_to_frame("customers", [record]).iloc[0]
    assert not row["qbo_active"] and row["qbo_status"] == "inactive"
    assert row["name"] == "Thrifty Meats"


def test_items_sample_types_and_money():
    service = canonical("items", "item_service.json")
    assert (service["name"], service["type"], service["default_price"], service["archived"]) == (
        "Concrete", "service", Decimal("0.00"), False)
    inventory = canonical("items", "item_inventory.json")
    assert inventory["type"] == "part" and inventory["default_price"] == Decimal("275.00")


def test_invoice_sample_lines_tax_and_totals():
    row = canonical("invoices", "invoice.json")
    assert (row["number"], row["contact_id"], row["issue_date"], row["due_date"]) == (
        "1035", "17", dt.date(2023, 2, 18), dt.date(2023, 3, 20))
    assert (row["subtotal"], row["tax"], row["total"]) == (Decimal("291.00"), Decimal("23.28"), Decimal("314.28"))
    assert (row["amount_paid"], row["balance"], row["status"]) == (Decimal("0.00"), Decimal("314.28"), "approved")
    assert row["tax_inclusive"] is False or row["tax_inclusive"] == False  # noqa: E712 - numpy bool
    assert [(l["item_id"], l["qty"], l["unit_price"], l["taxable"]) for l in row["lines"]] == [
        ("5", Decimal("1.0000"), Decimal("275.00"), True), ("17", Decimal("4.0000"), Decimal("4.00"), True)]
    assert all(isinstance(l["unit_price"], Decimal) for l in row["lines"])


def test_paid_invoice_sample_is_paid():
    row = canonical("invoices", "invoice_paid.json")
    assert (row["total"], row["amount_paid"], row["balance"], row["status"]) == (
        Decimal("2369.52"), Decimal("2369.52"), Decimal("0.00"), "paid")
    assert len(row["lines"]) == 4  # the SubTotalLine is QBO's, not a JobsiteOn line


def test_voided_invoice_and_payment_are_flagged_voided():
    invoice = canonical("invoices", "invoice_void_response.json")
    assert invoice["qbo_status"] == "voided" and not invoice["qbo_active"] and invoice["status"] == "void"
    payment = canonical("payments", "payment_void_response.json")
    assert payment["qbo_status"] == "voided" and payment["amount"] == Decimal("0.00")


def test_cdc_tombstone_is_deleted():
    tombstone = {"domain": "QBO", "status": "Deleted", "Id": "39",
                 "MetaData": {"LastUpdatedTime": "2014-12-08T19:36:24-08:00"}}
    row = qbo_to_frame("invoices", [tombstone]).iloc[0]
    assert (row["qbo_id"], row["qbo_status"], row["qbo_active"]) == ("39", "deleted", False)
    assert row["qbo_updated_at"] == pd.Timestamp("2014-12-09T03:36:24Z")


def test_payment_sample_links_invoice_and_ignores_lineex():
    row = canonical("payments", "payment.json")
    assert (row["contact_id"], row["invoice_id"], row["amount"], row["paid_on"]) == (
        "3", "12", Decimal("1675.52"), dt.date(2023, 2, 18))


def test_purchase_order_sample():
    row = canonical("purchase_orders", "purchase_order.json")
    assert (row["number"], row["vendor_id"], row["status"], row["total"]) == ("1003", "41", "closed", Decimal("228.75"))
    assert [(l["item_id"], l["qty"], l["unit_cost"]) for l in row["lines"]][:2] == [
        ("5", Decimal("1.0000"), Decimal("125.00")), ("16", Decimal("15.0000"), Decimal("0.75"))]


def test_credit_memo_and_refund_receipt_samples():
    memo = canonical("credit_memos", "credit_memo.json")
    assert (memo["number"], memo["contact_id"], memo["total"], memo["remaining_credit"]) == (
        "1026", "1", Decimal("100.00"), Decimal("0.00"))
    assert memo["lines"][0]["taxable"] is False
    refund = canonical("refund_receipts", "refund_receipt.json")
    assert (refund["number"], refund["contact_id"], refund["payment_method"], refund["refund_from_account"]) == (
        "1020", "15", "Check", "Checking")
    assert refund["lines"][0]["qty"] == Decimal("2.5000") and refund["total"] == Decimal("87.50")


def test_deposit_sample_lines_link_payments():
    row = canonical("deposits", "deposit.json")
    assert (row["deposited_on"], row["account_name"], row["total"]) == (dt.date(2023, 2, 18), "Checking", Decimal("868.15"))
    assert [(l["payment_id"], l["amount"]) for l in row["lines"]][:2] == [("97", Decimal("226.75")), ("94", Decimal("460.40"))]


def test_custom_tax_codes_map_through_settings():
    record = sample("invoice.json")
    record["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] = {"value": "EXEMPT"}
    settings = {"tax_code_mapping": {"taxable": "STD", "non_taxable": "EXEMPT"}}
    lines = qbo_to_frame("invoices", [record], settings).iloc[0]["lines"]
    assert [l["taxable"] for l in lines] == [False, True]


# -- round trips ------------------------------------------------------------------------------------

ROUND_TRIPS = [
    ("customers", "customer.json"), ("vendors", "vendor.json"), ("items", "item_service.json"),
    ("invoices", "invoice.json"), ("invoices", "invoice_paid.json"), ("payments", "payment.json"),
    ("purchase_orders", "purchase_order.json"), ("credit_memos", "credit_memo.json"),
    ("refund_receipts", "refund_receipt.json"), ("deposits", "deposit.json"),
]
SETTINGS = WorkspaceSettings(income_account_id="48", ap_account_id="33", deposit_account_id="35",
                             accounts={"Checking": "35"}, payment_methods={"Check": "2"})


@pytest.mark.parametrize("entity,name", ROUND_TRIPS)
def test_sample_round_trips_through_a_create_body(entity, name):
    """QBO JSON -> canonical row -> create body -> canonical row: every written field survives."""
    spec = get_spec(entity)
    original = canonical(entity, name, SETTINGS)
    body = row_to_qbo(spec, original, id_map_lookup=identity, settings=SETTINGS)
    read_only = {"Id", "SyncToken", "MetaData"} | {
        fm.qbo_path.split(".")[0] for fm in spec.fields if fm.read_only and fm.qbo_path}
    assert not read_only & set(body), read_only & set(body)
    if spec.is_name_list:
        body.setdefault("Active", True)
    again = qbo_to_frame(spec, [{**body, "Id": original["qbo_id"], "SyncToken": "0"}], SETTINGS).iloc[0]
    for fm in spec.fields:
        if fm.read_only:
            continue
        assert again[fm.column] == original[fm.column], fm.column
    if spec.line_spec:
        strip = lambda lines: [{k: v for k, v in l.items() if k not in ("qbo_line_id", "position")} for l in lines]
        assert strip(again["lines"]) == strip(original["lines"])


def test_invoice_create_body_translates_refs_taxes_and_rounds_half_up():
    lookup = {("customers", "con_1"): "17", ("items", "itm_a"): "5", ("items", "itm_b"): "6"}
    row = {"id": "inv_1", "number": "A-1", "contact_id": "con_1", "due_date": dt.date(2025, 3, 1),
           "tax_inclusive": False, "total": Decimal("999.99"), "balance": Decimal("1"), "status": "approved",
           "lines": [{"position": 2, "item_id": "itm_b", "qty": Decimal("2.5"), "unit_price": Decimal("0.03"),
                      "taxable": False, "description": "b"},
                     {"position": 1, "item_id": "itm_a", "qty": Decimal("1.5"), "unit_price": Decimal("10.01"),
                      "taxable": True, "description": "a"}]}
    settings = {"tax_code_mapping": {"taxable": "TAXME", "non_taxable": "NOTAX"}}
    body = row_to_qbo("invoices", row, id_map_lookup=lambda e, j: lookup.get((e, j)), settings=settings)
    assert body["CustomerRef"] == {"value": "17"} and body["DocNumber"] == "A-1" and body["DueDate"] == "2025-03-01"
    assert body["GlobalTaxCalculation"] == "TaxExcluded"
    first, second = body["Line"]
    assert first["SalesItemLineDetail"]["ItemRef"] == {"value": "5"}
    assert first["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "TAXME"}
    assert first["Amount"] == 15.02  # 15.015 rounds half-up
    assert second["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NOTAX"}
    assert second["Amount"] == 0.08  # 2.5 x 0.03 = 0.075 -> 0.08 (binary floats give 0.07)
    for read_only in ("TotalAmt", "Balance", "amount_paid", "status"):
        assert read_only not in body
    json.dumps(body)  # JSON-native numbers


def test_unmapped_reference_names_the_record_and_the_fix():
    with pytest.raises(RegistryError, match=r"invoices inv_9: contact_id con_x is not linked .* sync customers first"):
        row_to_qbo("invoices", {"id": "inv_9", "contact_id": "con_x", "lines": []},
                   id_map_lookup=lambda e, j: None, settings=None)


def test_item_bodies_income_account_type_and_archive():
    row = {"id": "itm_1", "name": "Drywall", "type": "part", "default_price": Decimal("12.5"), "archived": False}
    body = row_to_qbo("items", row, id_map_lookup=identity, settings={"default_income_account_id": "79"})
    assert body["IncomeAccountRef"] == {"value": "79"} and body["Type"] == "NonInventory"
    assert body["UnitPrice"] == 12.5 and "Active" not in body
    with pytest.raises(RegistryError, match="default income account|income_account_id"):
        row_to_qbo("items", row, id_map_lookup=identity, settings=None)
    existing = sample("item_service.json")
    archived = row_to_qbo("items", {**row, "name": "Concrete", "type": "service", "default_price": 0,
                                    "description": "Concrete for fountain installation", "archived": True},
                          id_map_lookup=identity, settings=None, existing=existing)
    assert archived == {"Id": "3", "SyncToken": "1", "sparse": True, "Active": False}


def test_sparse_update_holds_only_changed_fields_and_keeps_the_address():
    existing = sample("customer.json")
    row = canonical("customers", "customer.json")
    row["phone"] = "(650) 555-0000"
    row["billing_city"] = "Palo Alto"
    body = row_to_qbo("customers", row, id_map_lookup=identity, settings=None, existing=existing)
    assert set(body) == {"Id", "SyncToken", "sparse", "PrimaryPhone", "BillAddr"}
    assert body["PrimaryPhone"] == {"FreeFormNumber": "(650) 555-0000"}
    assert body["BillAddr"]["City"] == "Palo Alto" and body["BillAddr"]["Id"] == "17"
    assert body["BillAddr"]["Line1"] == "36 Willow Rd"
    # the same value in another spelling is no change
    row = canonical("customers", "customer.json")
    row["email"] = "mark@cho.com"
    assert set(row_to_qbo("customers", row, id_map_lookup=identity, existing=existing)) == {"Id", "SyncToken", "sparse"}
    # with the plan's fields, exactly those
    body = row_to_qbo("customers", {"email": "new@cho.com"}, id_map_lookup=identity, existing=existing,
                      fields=["email"])
    assert body == {"Id": "17", "SyncToken": "0", "sparse": True, "PrimaryEmailAddr": {"Address": "new@cho.com"}}


def test_payment_link_update_keeps_the_amount():
    existing = sample("payment.json")
    body = row_to_qbo("payments", {"invoice_id": "inv_2"}, id_map_lookup=lambda e, j: "99",
                      existing=existing, fields=["invoice_id"])
    assert body["Line"] == [{"Amount": 1675.52, "LinkedTxn": [{"TxnId": "99", "TxnType": "Invoice"}]}]


# -- structure ----------------------------------------------------------------------------------------

def test_registry_names_directions_and_aliases():
    assert list(REGISTRY) == ["customers", "items", "vendors", "invoices", "credit_memos", "refund_receipts",
                              "purchase_orders", "payments", "deposits"]
    assert get_spec("contacts") is REGISTRY["customers"] is get_spec("Customer")
    assert get_spec("pricebook_items").name == "items"
    invoices = REGISTRY["invoices"]
    assert invoices.direction is Direction.PUSH and not invoices.pull_creates and not invoices.pull_updates
    assert invoices.field_map("amount_paid").direction is Direction.PULL
    items = REGISTRY["items"]
    assert items.direction is Direction.PUSH and items.pull_updates and not items.pull_creates
    assert REGISTRY["payments"].direction is Direction.TWO_WAY
    assert not REGISTRY["customers"].deletable_in_qbo and REGISTRY["customers"].is_name_list
    assert [k.name for k in REGISTRY["customers"].match_keys] == ["id_map", "email", "name"]
    assert [k.name for k in invoices.match_keys] == ["id_map", "doc_number"]
    assert {(r.column, r.entity) for r in invoices.references} == {("contact_id", "customers"), ("item_id", "items")}
    assert {r.entity for r in REGISTRY["purchase_orders"].references} == {"vendors", "items"}
    deposit_refs = REGISTRY["deposits"].references
    assert [(r.entity, r.required) for r in deposit_refs] == [("payments", False)]
    with pytest.raises(RegistryError, match="unknown entity 'bills'"):
        get_spec("bills")


def test_topological_order_puts_references_first():
    order = [spec.name for spec in topological_order()]
    position = {name: i for i, name in enumerate(order)}
    for spec in REGISTRY.values():
        for dependency in spec.referenced_entities:
            assert position[dependency] < position[spec.name], (dependency, spec.name)
    assert order[:3] == ["customers", "items", "vendors"] and order[-1] == "deposits"


def test_settings_coerce_from_the_state_connection_settings():
    from qbo_pipeline.state.connections import ConnectionSettings

    settings = WorkspaceSettings.coerce(ConnectionSettings(
        default_income_account_id="1", tax_code_mapping={"TAX": "T1", "NON": "N1"}))
    assert (settings.income_account_id, settings.tax_code_taxable, settings.tax_code_non_taxable) == ("1", "T1", "N1")
    assert WorkspaceSettings.coerce({"tax_rate": 0.0825}).tax_rate == Decimal("0.0825")


def test_conflict_overrides_are_validated():
    spec = REGISTRY["customers"].with_conflict_overrides({"email": "jobsiteon"})
    assert spec.field_map("email").conflict.value == "jobsiteon"
    with pytest.raises(RegistryError, match="no field"):
        REGISTRY["customers"].with_conflict_overrides({"nope": "qbo"})


# -- against the emulator over HTTP ------------------------------------------------------------------

def test_bodies_are_accepted_by_the_emulator_and_read_back_in_sync(emulator, qbo_company):
    """Create a customer, an item and a tax-inclusive + an exclusive invoice from JobsiteOn rows
    through the emulator (a US company); what comes back maps to the same canonical values and
    QBO's TotalAmt is the lines' total with tax on top."""
    import httpx

    from qbo_pipeline.reconcile import money

    base = f"{emulator.base_url}/v3/company/{qbo_company['realm_id']}"
    http = httpx.Client(headers={"Authorization": f"Bearer {qbo_company['access_token']}",
                                 "Accept": "application/json"}, timeout=30, verify=False)
    try:
        accounts = http.get(f"{base}/query", params={"query": "select * from Account"}).json()
        income = next(a["Id"] for a in accounts["QueryResponse"]["Account"] if a["Name"] == "Services")
        # The emulator's company is a US one: no GlobalTaxCalculation (resolve_workspace_settings).
        settings = WorkspaceSettings(income_account_id=income, tax_rate=Decimal("0.08"), txn_tax_code_id="2",
                                     send_global_tax_calculation=False)
        ids: dict[tuple[str, str], str] = {}
        lookup = lambda entity, jid: ids.get((entity, jid))

        def create(entity, row):
            spec = get_spec(entity)
            response = http.post(f"{base}/{spec.qbo_entity.lower()}",
                                 json=row_to_qbo(spec, row, id_map_lookup=lookup, settings=settings))
            assert response.status_code == 200, response.text
            record = response.json()[spec.qbo_entity]
            ids[(spec.name, row["id"])] = record["Id"]
            return qbo_to_frame(spec, [record], settings).iloc[0]

        customer = create("customers", {"id": "con_1", "name": "Ada O'Brien", "email": "ada@example.com",
                                        "phone": "555-0100", "billing_city": "Austin"})
        assert (customer["name"], customer["email"], customer["billing_city"]) == ("Ada O'Brien", "ada@example.com", "Austin")
        item = create("items", {"id": "itm_1", "name": "Labor", "type": "service",
                                "default_price": Decimal("45.00"), "archived": False})
        assert (item["type"], item["default_price"]) == ("service", Decimal("45.00"))
        lines = [{"position": 1, "item_id": "itm_1", "qty": Decimal("2.5"), "unit_price": Decimal("0.03"), "taxable": True},
                 {"position": 2, "item_id": "itm_1", "qty": Decimal("1.5"), "unit_price": Decimal("10.01"), "taxable": True},
                 {"position": 3, "item_id": "itm_1", "qty": Decimal("1"), "unit_price": Decimal("0.05"), "taxable": False}]
        for inclusive in (False, True):
            # A US company adds tax on top whatever the document says: a tax-inclusive
            # JobsiteOn invoice comes back with the exclusive total (the total check's case).
            expected = money.document_totals(lines, Decimal("0.08"), False)
            invoice = create("invoices", {"id": f"inv_{inclusive}", "number": f"T-{int(inclusive)}",
                                          "contact_id": "con_1", "tax_inclusive": inclusive, "lines": lines,
                                          "due_date": dt.date(2025, 4, 1), "status": "approved"})
            assert invoice["total"] == expected.total, (inclusive, invoice["total"], expected)
            assert invoice["tax_inclusive"] is False or invoice["tax_inclusive"] == False  # noqa: E712
            assert [(l["qty"], l["unit_price"], l["taxable"]) for l in invoice["lines"]] == [
                (l["qty"].quantize(Decimal("0.0001")), l["unit_price"].quantize(Decimal("0.01")), l["taxable"])
                for l in lines]
            assert invoice["balance"] == expected.total and invoice["status"] == "approved"
    finally:
        http.close()


def test_qbo_to_frame_of_nothing_has_the_columns():
    frame = qbo_to_frame("invoices", [])
    assert list(frame.columns) == REGISTRY["invoices"].qbo_columns and frame.empty
    copy.deepcopy(frame)


def test_deactivate_and_reactivate_bodies_from_plan_values():
    existing = sample("customer.json")
    body = row_to_qbo("customers", {"active": False}, id_map_lookup=identity, existing=existing, fields=())
    assert body == {"Id": "17", "SyncToken": "0", "sparse": True, "Active": False}
    inactive = {**existing, "Active": False}
    body = row_to_qbo("customers", {"active": True, "phone": "1"}, id_map_lookup=identity, existing=inactive,
                      fields=("phone",))
    assert body == {"Id": "17", "SyncToken": "0", "sparse": True, "PrimaryPhone": {"FreeFormNumber": "1"},
                    "Active": True}
