"""CRUD of the nine writable entities through the emulator over real HTTP, with the fields QBO
computes (hand-checked cents), full vs sparse update, SyncToken, delete and void forms."""
from __future__ import annotations

from tests.emulator_fixtures import qbo, sales_line  # noqa: F401 - fixture

pytest_plugins: list[str] = []


def test_customer_create_read_defaults_and_reference_names(qbo):
    created = qbo.customer("Mark Cho", GivenName="Mark", FamilyName="Cho",
                           PrimaryEmailAddr={"Address": "Mark@Cho.com"}, BillAddr={"Line1": "36 Willow Rd"})
    assert created["Id"] and created["SyncToken"] == "0"
    assert created["domain"] == "QBO" and created["sparse"] is False
    assert created["FullyQualifiedName"] == "Mark Cho" and created["PrintOnCheckName"] == "Mark Cho"
    assert created["Active"] is True and created["Balance"] == 0
    assert created["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}
    assert created["BillAddr"]["Id"]
    meta = created["MetaData"]
    assert meta["CreateTime"] == meta["LastUpdatedTime"] and meta["CreateTime"][-6] in "+-"
    assert qbo.read("Customer", created["Id"]) == created

    derived = qbo.create("Customer", {"GivenName": "Ada", "FamilyName": "Lovelace", "CompanyName": "Engines"})
    assert derived["DisplayName"] == "Ada Lovelace" and derived["PrintOnCheckName"] == "Engines"

    job = qbo.create("Customer", {"DisplayName": "Cho Job", "ParentRef": {"value": created["Id"]}, "Job": True})
    assert job["FullyQualifiedName"] == "Mark Cho:Cho Job" and job["Level"] == 1


def test_full_update_clears_omitted_fields_sparse_keeps_them(qbo):
    cust = qbo.customer("Full Update Co", CompanyName="FU Inc", Notes="keep me?",
                        PrimaryPhone={"FreeFormNumber": "555"})
    sparse = qbo.update("Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "sparse": True,
                                     "Notes": "changed"})
    assert sparse["SyncToken"] == "1" and sparse["Notes"] == "changed"
    assert sparse["CompanyName"] == "FU Inc" and sparse["PrimaryPhone"] == {"FreeFormNumber": "555"}

    # Full update: omitted writable fields are cleared; read-only fields sent back are ignored;
    # SyncToken may come as a number and empty strings count as unset.
    full = qbo.update("Customer", {"Id": cust["Id"], "SyncToken": 1, "DisplayName": "Full Update Co",
                                   "Balance": 999, "FullyQualifiedName": "ignored", "CompanyName": ""})
    assert full["SyncToken"] == "2"
    assert "Notes" not in full and "PrimaryPhone" not in full and "CompanyName" not in full
    assert full["Balance"] == 0 and full["FullyQualifiedName"] == "Full Update Co"
    assert full["MetaData"]["CreateTime"] == cust["MetaData"]["CreateTime"]


def test_stale_sync_token_answers_5010(qbo):
    cust = qbo.customer()
    qbo.update("Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "a"})
    error = qbo.fault(qbo.post("Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "b"}),
                      "5010")
    assert error["Message"] == "Stale Object Error" and error["element"] == ""


def test_name_lists_cannot_be_deleted_and_inactive_keep_their_name(qbo):
    cust = qbo.customer("Inactive Keeps Name")
    error = qbo.fault(qbo.post("Customer", {"Id": cust["Id"], "SyncToken": "0"}, operation="delete"), "500")
    assert "Delete" in error["Detail"]
    inactive = qbo.update("Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert inactive["Active"] is False and inactive["DisplayName"] == "Inactive Keeps Name"
    qbo.fault(qbo.post("Customer", {"DisplayName": "Inactive Keeps Name"}), "6240")
    qbo.fault(qbo.post("Vendor", {"DisplayName": "inactive keeps name"}), "6240")  # across lists, any case
    item = qbo.item()
    qbo.fault(qbo.post("Item", {"Id": item["Id"], "SyncToken": "0"}, operation="delete"), "500")
    vendor = qbo.vendor()
    qbo.fault(qbo.post("Vendor", {"Id": vendor["Id"], "SyncToken": "0"}, operation="delete"), "500")


def test_vendor_and_item_crud(qbo):
    vendor = qbo.vendor("Books by Bessie", CompanyName="Books by Bessie", AcctNum="1345",
                        PrimaryEmailAddr={"Address": "Books@Intuit.com"})
    assert vendor["Vendor1099"] is False and vendor["Balance"] == 0 and vendor["Active"] is True
    updated = qbo.update("Vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "AcctNum": "9"})
    assert updated["AcctNum"] == "9" and updated["CompanyName"] == "Books by Bessie"

    item = qbo.item("Rock Fountain", UnitPrice=275, Taxable=True, Sku="RF-1")
    assert item["FullyQualifiedName"] == "Rock Fountain" and item["UnitPrice"] == 275
    assert item["IncomeAccountRef"] == {"value": "1", "name": "Services"} and item["TrackQtyOnHand"] is False
    inventory = qbo.create("Item", {"Name": "Pump", "Type": "Inventory", "IncomeAccountRef": {"value": "2"},
                                    "ExpenseAccountRef": {"value": "3"}, "AssetAccountRef": {"value": "9"},
                                    "InvStartDate": "2024-01-01", "QtyOnHand": 10})
    assert inventory["TrackQtyOnHand"] is True and inventory["QtyOnHand"] == 10
    qbo.fault(qbo.post("Item", {"Name": "rock fountain", "Type": "Service", "IncomeAccountRef": {"value": "1"}}),
              "6240")
    qbo.fault(qbo.post("Item", {"Id": inventory["Id"], "SyncToken": "0", "sparse": True, "Type": "Service"}),
              "6000")


def test_tax_exclusive_invoice_hand_computed(qbo):
    cust = qbo.customer(PrimaryEmailAddr={"Address": "a@b.co"})
    inv = qbo.create("Invoice", {
        "CustomerRef": {"value": cust["Id"]},
        "TxnDate": "2025-03-01",
        "Line": [sales_line(275, 1, 275), sales_line(16, 4, 4), sales_line(99.99, 3, 33.33),
                 sales_line(1.01, 3, 0.335, tax="NON"), sales_line(10.5, 1, 10.5, tax="NON")],
    })
    # taxable = 275 + 16 + 99.99 = 390.99; 8 % = 31.2792 → 31.28; subtotal = 390.99 + 1.01 + 10.50 = 402.50
    assert [line.get("Id") for line in inv["Line"]] == ["1", "2", "3", "4", "5", None]
    assert [line.get("LineNum") for line in inv["Line"][:5]] == [1, 2, 3, 4, 5]
    assert inv["Line"][-1] == {"Amount": 402.5, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    tax = inv["TxnTaxDetail"]
    assert tax["TxnTaxCodeRef"] == {"value": "2"} and tax["TotalTax"] == 31.28
    assert tax["TaxLine"][0]["TaxLineDetail"] == {"TaxRateRef": {"value": "3"}, "PercentBased": True,
                                                   "TaxPercent": 8, "NetAmountTaxable": 390.99}
    assert inv["TotalAmt"] == 433.78 and inv["Balance"] == 433.78
    assert inv["DueDate"] == "2025-03-31" and inv["DocNumber"] and inv["LinkedTxn"] == []
    assert inv["CustomerRef"]["name"] == cust["DisplayName"] and inv["BillEmail"] == {"Address": "a@b.co"}
    assert inv["Line"][0]["SalesItemLineDetail"]["ItemRef"] == {"value": "1", "name": "Services"}
    customer = qbo.read("Customer", cust["Id"])
    # like the sandbox (customer.json vs invoice.json): Balance and LastUpdatedTime follow, SyncToken stays
    assert customer["Balance"] == 433.78 and customer["SyncToken"] == "0"
    assert customer["MetaData"]["LastUpdatedTime"] == inv["MetaData"]["CreateTime"]


def test_a_us_company_ignores_tax_inclusive_pricing(qbo):
    """GlobalTaxCalculation is not applicable to US companies: accepted, not echoed, and
    tax is added on top — the total a tax-inclusive document expected does not come back."""
    cust = qbo.customer()
    inv = qbo.create("Invoice", {
        "CustomerRef": {"value": cust["Id"]}, "GlobalTaxCalculation": "TaxInclusive",
        "Line": [sales_line(108, 2, 54), sales_line(10, 1, 10), sales_line(20, 1, 20, tax="NON")],
    })
    # taxable 118.00 at 8 % on top = 9.44; total 138.00 + 9.44 (tax-inclusive would be 138.00)
    detail = inv["TxnTaxDetail"]
    assert detail["TotalTax"] == 9.44
    assert detail["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"] == 118.0
    assert "TaxInclusiveAmount" not in detail["TaxLine"][0]["TaxLineDetail"]
    assert inv["TotalAmt"] == 147.44 and "GlobalTaxCalculation" not in inv
    rejected = qbo.post("Invoice", {"CustomerRef": {"value": cust["Id"]}, "GlobalTaxCalculation": "Inclusive",
                                    "Line": [sales_line(10, 1, 10)]})
    assert rejected.status_code == 400 and "GlobalTaxCalculation" in rejected.text  # the enumeration is still checked


def test_invoice_without_taxable_lines_and_line_ids_on_update(qbo):
    cust = qbo.customer()
    inv = qbo.create("Invoice", {"CustomerRef": {"value": cust["Id"]},
                                 "Line": [{"Amount": 100.0, "DetailType": "SalesItemLineDetail",
                                           "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
    assert inv["TxnTaxDetail"] == {"TotalTax": 0} and inv["TotalAmt"] == 100.0
    assert inv["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    lines = [inv["Line"][0], sales_line(50, 1, 50, tax="NON")]
    updated = qbo.update("Invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "Line": lines})
    assert [line.get("Id") for line in updated["Line"]] == ["1", "2", None]
    assert updated["TotalAmt"] == 150.0 and updated["DocNumber"] == inv["DocNumber"]
    sparse = qbo.update("Invoice", {"Id": inv["Id"], "SyncToken": "1", "sparse": True, "DueDate": "2030-01-01"})
    assert sparse["DueDate"] == "2030-01-01" and sparse["TotalAmt"] == 150.0 and len(sparse["Line"]) == 3


def test_invoice_delete_and_void(qbo):
    cust = qbo.customer()
    inv = qbo.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(20, 2, 10)]})
    voided = qbo.update("Invoice", {"Id": inv["Id"], "SyncToken": "0"}, operation="void")
    assert voided["TotalAmt"] == 0 and voided["Balance"] == 0 and voided["PrivateNote"] == "Voided"
    assert voided["SyncToken"] == "1" and voided["Line"][0]["Amount"] == 0
    assert voided["Line"][0]["SalesItemLineDetail"]["Qty"] == 0
    assert qbo.read("Customer", cust["Id"])["Balance"] == 0
    deleted = qbo.ok(qbo.post("Invoice", {"Id": inv["Id"], "SyncToken": "1"}, operation="delete"))
    assert deleted["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": inv["Id"]}
    qbo.fault(qbo.get(f"invoice/{inv['Id']}"), "610")


def test_payment_applies_to_invoice_and_voids_three_ways(qbo):
    cust = qbo.customer()
    inv = qbo.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(200, 2, 100)]})
    assert inv["TotalAmt"] == 216.0
    pay = qbo.create("Payment", {"TotalAmt": 150, "CustomerRef": {"value": cust["Id"]},
                                 "Line": [{"Amount": 100, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    assert pay["UnappliedAmt"] == 50.0 and pay["DepositToAccountRef"] == {"value": "4"}
    assert pay["Line"][0]["LinkedTxn"] == [{"TxnId": inv["Id"], "TxnType": "Invoice"}]
    assert pay["ProcessPayment"] is False and "LineEx" in pay["Line"][0]
    paid = qbo.read("Invoice", inv["Id"])
    assert paid["Balance"] == 116.0 and paid["SyncToken"] == "1"
    assert paid["LinkedTxn"] == [{"TxnId": pay["Id"], "TxnType": "Payment"}]
    assert qbo.read("Customer", cust["Id"])["Balance"] == 66.0  # 116 open − 50 unapplied

    qbo.fault(qbo.post("Invoice", {"Id": inv["Id"], "SyncToken": "1"}, operation="delete"), "6000")
    for params in ({"operation": "update", "include": "void"}, {"include": "void"}, {"operation": "void"}):
        pay = qbo.create("Payment", {"TotalAmt": 10, "CustomerRef": {"value": cust["Id"]},
                                     "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": inv["Id"],
                                                                             "TxnType": "Invoice"}]}]})
        voided = qbo.update("Payment", {"Id": pay["Id"], "SyncToken": "0", "sparse": True}, **params)
        assert voided["TotalAmt"] == 0 and voided["Line"] == [] and voided["PrivateNote"] == "Voided"
    assert qbo.read("Invoice", inv["Id"])["Balance"] == 116.0


def test_credit_memo_applied_through_payment(qbo):
    cust = qbo.customer()
    inv = qbo.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(100, 1, 100, tax="NON")]})
    memo = qbo.create("CreditMemo", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(40, 1, 40, tax="NON")]})
    assert memo["TotalAmt"] == 40.0 and memo["RemainingCredit"] == 40.0 and memo["Balance"] == 40.0
    assert qbo.read("Customer", cust["Id"])["Balance"] == 60.0
    pay = qbo.create("Payment", {"TotalAmt": 0, "CustomerRef": {"value": cust["Id"]}, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]},
        {"Amount": 40, "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}]}]})
    assert pay["UnappliedAmt"] == 0
    assert qbo.read("CreditMemo", memo["Id"])["RemainingCredit"] == 0
    assert qbo.read("Invoice", inv["Id"])["Balance"] == 60.0
    qbo.fault(qbo.post("CreditMemo", {"Id": memo["Id"], "SyncToken": "1"}, operation="delete"), "6000")
    qbo.ok(qbo.post("Payment", {"Id": pay["Id"], "SyncToken": "0"}, operation="delete"))
    assert qbo.read("CreditMemo", memo["Id"])["RemainingCredit"] == 40.0
    qbo.ok(qbo.post("CreditMemo", {"Id": memo["Id"], "SyncToken": "2"}, operation="delete"))


def test_deposit_of_undeposited_payment_with_cash_back(qbo):
    cust = qbo.customer()
    pay = qbo.create("Payment", {"TotalAmt": 226.75, "CustomerRef": {"value": cust["Id"]}})
    dep = qbo.create("Deposit", {
        "DepositToAccountRef": {"value": "5"},
        "Line": [{"Amount": 226.75, "LinkedTxn": [{"TxnId": pay["Id"], "TxnType": "Payment", "TxnLineId": "0"}]},
                 {"Amount": 5000, "DetailType": "DepositLineDetail",
                  "DepositLineDetail": {"AccountRef": {"value": "11"}}}],
        "CashBack": {"AccountRef": {"value": "6"}, "Amount": 200, "Memo": "to savings"}})
    assert dep["TotalAmt"] == 5026.75 and dep["DepositToAccountRef"] == {"value": "5", "name": "Checking"}
    assert "Id" not in dep["Line"][0] and dep["Line"][1]["Id"] == "1" and dep["Line"][1]["LineNum"] == 1
    deposited = qbo.read("Payment", pay["Id"])
    assert deposited["LinkedTxn"] == [{"TxnId": dep["Id"], "TxnType": "Deposit"}] and deposited["SyncToken"] == "0"
    qbo.fault(qbo.post("Payment", {"Id": pay["Id"], "SyncToken": "0"}, operation="delete"), "6000")
    qbo.ok(qbo.post("Deposit", {"Id": dep["Id"], "SyncToken": "0"}, operation="delete"))
    assert "LinkedTxn" not in qbo.read("Payment", pay["Id"])


def test_refund_receipt_and_purchase_order(qbo):
    cust = qbo.customer()
    refund = qbo.create("RefundReceipt", {"CustomerRef": {"value": cust["Id"]}, "DepositToAccountRef": {"value": "5"},
                                          "Line": [sales_line(87.5, 2.5, 35, tax="NON")]})
    assert refund["TotalAmt"] == 87.5 and refund["Balance"] == 0 and refund["Line"][-1]["Amount"] == 87.5
    qbo.fault(qbo.post("RefundReceipt", {"Line": [sales_line(1, 1, 1)]}), "2020")

    vendor = qbo.vendor(BillAddr={"Line1": "42 Main St."})
    po = qbo.create("PurchaseOrder", {"VendorRef": {"value": vendor["Id"]}, "Line": [
        {"Amount": 11.25, "DetailType": "ItemBasedExpenseLineDetail",
         "ItemBasedExpenseLineDetail": {"ItemRef": {"value": "1"}, "Qty": 15, "UnitPrice": 0.75}},
        {"Amount": 30, "DetailType": "AccountBasedExpenseLineDetail",
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "10"}}}]})
    assert po["TotalAmt"] == 41.25 and po["POStatus"] == "Open"
    assert po["APAccountRef"] == {"value": "8", "name": "Accounts Payable (A/P)"}
    assert po["Line"][0]["ItemBasedExpenseLineDetail"]["BillableStatus"] == "NotBillable"
    assert po["VendorAddr"]["Line1"] == "42 Main St." and po["DocNumber"] == "1001"
    closed = qbo.update("PurchaseOrder", {"Id": po["Id"], "SyncToken": "0", "sparse": True, "POStatus": "Closed"})
    assert closed["POStatus"] == "Closed" and closed["TotalAmt"] == 41.25
    qbo.ok(qbo.post("PurchaseOrder", {"Id": po["Id"], "SyncToken": "1"}, operation="delete"))


def test_read_only_lists_and_company_info(qbo):
    info = qbo.ok(qbo.get(f"companyinfo/{qbo.realm}"))["CompanyInfo"]
    assert info["Country"] == "US" and info["CompanyName"] == qbo.company["name"]
    prefs = qbo.ok(qbo.get("preferences"))["Preferences"]
    assert prefs["TaxPrefs"]["UsingSalesTax"] is True
    assert qbo.read("TaxCode", "2")["Name"] == "California"
    assert qbo.read("TaxRate", "3")["RateValue"] == 8
    assert qbo.read("Account", "4")["Name"] == "Undeposited Funds"
    qbo.fault(qbo.post("Account", {"Name": "New"}), "500")


def test_python_quickbooks_url_forms(qbo):
    """python-quickbooks reads Preferences at `/preferences/` and always sends minorversion."""
    assert qbo.ok(qbo.get("preferences/", minorversion="4"))["Preferences"]["Id"] == "1"
    cust = qbo.customer()
    assert qbo.ok(qbo.get(f"customer/{cust['Id']}/"))["Customer"] == cust
