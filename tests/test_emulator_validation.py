"""Validation Faults with QBO's body shape: 2010, 2020, 2500, 610, 5010, 6000, 6070, 6140, 6240."""
from __future__ import annotations

from tests.emulator_fixtures import qbo, sales_line  # noqa: F401 - fixture


def test_2020_required_field_names_the_element(qbo):
    error = qbo.fault(qbo.post("Item", {"Type": "Service", "IncomeAccountRef": {"value": "1"}}), "2020")
    assert error == {"Message": "Required param missing, need to supply the required value for the API",
                     "Detail": "Required parameter Name is missing in the request", "code": "2020",
                     "element": "Name"}
    assert qbo.fault(qbo.post("Invoice", {"Line": [sales_line(1, 1, 1)]}), "2020")["element"] == "CustomerRef"
    cust = qbo.customer()
    assert qbo.fault(qbo.post("Invoice", {"CustomerRef": {"value": cust["Id"]}}), "2020")["element"] == "Line"
    assert qbo.fault(qbo.post("Payment", {"CustomerRef": {"value": cust["Id"]}}), "2020")["element"] == "TotalAmt"
    assert qbo.fault(qbo.post("Customer", {"Notes": "no name"}), "2020")["element"] == "DisplayName"
    assert qbo.fault(qbo.post("PurchaseOrder", {"Line": []}), "2020")["element"] == "VendorRef"


def test_2500_invalid_reference_and_610_inactive_or_missing(qbo):
    error = qbo.fault(qbo.post("Invoice", {"CustomerRef": {"value": "99999"}, "Line": [sales_line(1, 1, 1)]}), "2500")
    assert error["Message"] == "Invalid Reference Id" and error["element"] == "CustomerRef"
    cust = qbo.customer()
    error = qbo.fault(qbo.post("Invoice", {"CustomerRef": {"value": cust["Id"]},
                                           "Line": [sales_line(1, 1, 1, item="4242")]}), "2500")
    assert error["element"] == "Line.SalesItemLineDetail.ItemRef"
    qbo.update("Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    error = qbo.fault(qbo.post("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(1, 1, 1)]}),
                      "610")
    assert error["Message"] == "Object Not Found" and "made inactive" in error["Detail"]
    qbo.fault(qbo.get("customer/424242"), "610")
    qbo.fault(qbo.post("Invoice", {"Id": "424242", "SyncToken": "0"}, operation="delete"), "610")


def test_6000_inactive_item_on_new_line_but_not_on_existing(qbo):
    cust = qbo.customer()
    item = qbo.item()
    inv = qbo.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(5, 1, 5, item=item["Id"])]})
    qbo.update("Item", {"Id": item["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    error = qbo.fault(qbo.post("Invoice", {"CustomerRef": {"value": cust["Id"]},
                                           "Line": [sales_line(5, 1, 5, item=item["Id"])]}), "6000")
    assert error["Message"] == "A business validation error has occurred while processing your request"
    assert error["Detail"].startswith("Business Validation Error:")
    kept = qbo.update("Invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "ok",
                                  "Line": [inv["Line"][0]]})
    assert kept["PrivateNote"] == "ok"


def test_6070_amount_must_equal_qty_times_price_half_up(qbo):
    cust = qbo.customer()
    error = qbo.fault(qbo.post("Invoice", {"CustomerRef": {"value": cust["Id"]},
                                           "Line": [sales_line(1000, 7, 225)]}), "6070")
    assert error["Message"] == "Amount is not equal to UnitPrice * Qty"
    assert error["Detail"] == "Amount is not equal to UnitPrice * Qty. Supplied value:1,000"
    # 3 × 0.335 = 1.005 → 1.01 half-up (a float product would round to 1.00)
    qbo.fault(qbo.post("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(1.00, 3, 0.335)]}),
              "6070")
    assert qbo.create("Invoice", {"CustomerRef": {"value": cust["Id"]},
                                  "Line": [sales_line(1.01, 3, 0.335)]})["Line"][0]["Amount"] == 1.01


def test_6140_duplicate_doc_number_and_bypass(qbo):
    cust = qbo.customer()
    body = {"CustomerRef": {"value": cust["Id"]}, "DocNumber": "INV-77", "Line": [sales_line(1, 1, 1)]}
    first = qbo.create("Invoice", body)
    error = qbo.fault(qbo.post("Invoice", body), "6140")
    assert error["Message"] == "Duplicate Document Number Error" and f"TxnId={first['Id']}" in error["Detail"]
    second = qbo.create("Invoice", body, include="allowduplicatedocnum")
    assert second["DocNumber"] == "INV-77"
    # another entity type has its own numbers
    assert qbo.create("CreditMemo", {**body})["DocNumber"] == "INV-77"


def test_6240_duplicate_display_name_across_customer_and_vendor(qbo):
    qbo.customer("Smith Family Store")
    error = qbo.fault(qbo.post("Vendor", {"DisplayName": "Smith Family Store"}), "6240")
    assert error == {"Message": "Duplicate Name Exists Error", "code": "6240", "element": "",
                     "Detail": "The name supplied already exists. : Another customer, vendor or employee is "
                               "already using this name. Please use a different name."}


def test_2010_unknown_property_and_read_only_fields_are_ignored(qbo):
    error = qbo.fault(qbo.post("Customer", {"DisplayName": "Strict", "Nickname": "x"}), "2010")
    assert error["element"] == "Nickname"
    cust = qbo.customer("Lenient", Balance=12.5, MetaData={"CreateTime": "2001-01-01T00:00:00-08:00"}, Id="",
                        domain="QBO", sparse=False, FullyQualifiedName="ignored", Notes="")
    assert cust["Balance"] == 12.5 and cust["FullyQualifiedName"] == "Lenient" and "Notes" not in cust
    assert cust["MetaData"]["CreateTime"] != "2001-01-01T00:00:00-08:00"


def test_payment_business_rules(qbo):
    cust, other = qbo.customer(), qbo.customer()
    inv = qbo.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(50, 1, 50, tax="NON")]})
    line = {"Amount": 60, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}
    qbo.fault(qbo.post("Payment", {"TotalAmt": 60, "CustomerRef": {"value": cust["Id"]}, "Line": [line]}), "6000")
    line["Amount"] = 50
    qbo.fault(qbo.post("Payment", {"TotalAmt": 40, "CustomerRef": {"value": cust["Id"]}, "Line": [line]}), "6000")
    qbo.fault(qbo.post("Payment", {"TotalAmt": 50, "CustomerRef": {"value": other["Id"]}, "Line": [line]}), "6000")
    qbo.create("Payment", {"TotalAmt": 50, "CustomerRef": {"value": cust["Id"]}, "Line": [line]})
    assert qbo.read("Invoice", inv["Id"])["Balance"] == 0


def test_malformed_json_and_unknown_resource(qbo):
    response = qbo.http.post(f"{qbo.base}/customer", content=b"{not json", headers={"Content-Type": "application/json"})
    qbo.fault(response, "2010")
    response = qbo.get("widget/1")
    assert response.status_code == 400 and response.json()["Fault"]["type"] == "SystemFault"
