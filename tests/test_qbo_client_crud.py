"""CRUD of all nine synced entities through QBOClient, over real HTTP against the emulator."""
from __future__ import annotations

from decimal import Decimal

import pytest

from qbo_pipeline.qbo import (
    BatchOperation,
    CompanyInfo,
    CreditMemo,
    Customer,
    Deposit,
    Invoice,
    Item,
    Payment,
    PurchaseOrder,
    QBONotFoundError,
    QBOValidationError,
    RefundReceipt,
    Vendor,
    select,
)
from qbo_client_fixtures import control, qbo  # noqa: F401 - fixtures


def _refs(qbo) -> dict[str, str]:
    accounts = {a.AccountType: a.Id for a in reversed(qbo.client.list_accounts())}
    return {"income": accounts["Income"], "bank": accounts["Bank"], "ap": accounts["Accounts Payable"]}


def _sales_line(item_id: str, qty: str = "2", price: str = "12.50") -> dict:
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": Decimal(qty) * Decimal(price),
        "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": Decimal(qty), "UnitPrice": Decimal(price),
                                "TaxCodeRef": {"value": "NON"}},
    }


@pytest.fixture()
def world(qbo):
    refs = _refs(qbo)
    customer = qbo.client.create("Customer", Customer(DisplayName="Acme Builders",
                                                      PrimaryEmailAddr={"Address": "ap@acme.example"}))
    vendor = qbo.client.create("Vendor", {"DisplayName": "Rebar Supply"})
    item = qbo.client.create("Item", {"Name": "Framing", "Type": "Service", "UnitPrice": Decimal("12.50"),
                                      "IncomeAccountRef": {"value": refs["income"]},
                                      "ExpenseAccountRef": {"value": refs["income"]}})
    return {**refs, "customer": customer.Id, "vendor": vendor.Id, "item": item.Id}


def test_name_lists_create_read_update_deactivate(qbo, world):
    client = qbo.client
    for entity, model, field, new_value in (
        ("Customer", Customer, "Notes", "prefers email"),
        ("Vendor", Vendor, "AcctNum", "V-100"),
        ("Item", Item, "Description", "Wall framing per hour"),
    ):
        record = client.read(entity, world[entity.lower()])
        assert isinstance(record, model) and record.SyncToken == "0"
        updated = client.update(entity, {"Id": record.Id, "SyncToken": record.SyncToken, field: new_value})
        assert updated[field] == new_value and updated.SyncToken == "1"
        # a sparse update leaves the other fields alone
        assert (updated.get("DisplayName") or updated.get("Name")) == (record.get("DisplayName") or record.get("Name"))
        inactive = client.deactivate(entity, updated.Id, updated.SyncToken)
        assert inactive.Active is False
        # hidden from plain queries, visible with include_inactive
        assert all(r.Id != record.Id for r in client.query_all(entity))
        assert any(r.Id == record.Id for r in client.query_all(entity, include_inactive=True))
        again = client.activate(entity, inactive.Id, inactive.SyncToken)
        assert again.Active is True
        with pytest.raises(ValueError):
            client.delete(entity, record.Id, again.SyncToken)


def test_invoice_create_read_update_void_delete(qbo, world):
    client = qbo.client
    invoice = client.create("Invoice", Invoice(CustomerRef={"value": world["customer"]},
                                               Line=[_sales_line(world["item"])], DocNumber="J-1001"))
    assert isinstance(invoice, Invoice)
    assert invoice.TotalAmt == Decimal("25.00") and invoice.Balance == Decimal("25.00")
    read = client.read("Invoice", invoice.Id)
    assert read.DocNumber == "J-1001" and read.CustomerRef.value == world["customer"]
    updated = client.update("Invoice", {"Id": read.Id, "SyncToken": read.SyncToken, "PrivateNote": "phase 1"})
    assert updated.PrivateNote == "phase 1" and updated.TotalAmt == Decimal("25.00")
    voided = client.void("Invoice", updated.Id, updated.SyncToken)
    assert voided.TotalAmt == 0 and voided.Id == invoice.Id
    deleted = client.delete("Invoice", voided.Id, voided.SyncToken)
    assert deleted.is_deleted and deleted.Id == invoice.Id
    with pytest.raises(QBONotFoundError) as info:
        client.read("Invoice", invoice.Id)
    assert f"read Invoice id {invoice.Id}" in str(info.value)


def test_payment_create_void_delete(qbo, world):
    client = qbo.client
    invoice = client.create("Invoice", {"CustomerRef": {"value": world["customer"]},
                                        "Line": [_sales_line(world["item"], "4", "10")]})
    payment = client.create("Payment", Payment(
        CustomerRef={"value": world["customer"]}, TotalAmt=Decimal("40.00"),
        Line=[{"Amount": Decimal("40.00"), "LinkedTxn": [{"TxnId": invoice.Id, "TxnType": "Invoice"}]}],
    ))
    assert isinstance(payment, Payment) and payment.TotalAmt == Decimal("40.00")
    assert client.read("Invoice", invoice.Id).Balance == 0
    updated = client.update("Payment", {"Id": payment.Id, "SyncToken": payment.SyncToken, "PaymentRefNum": "CHK-7"})
    assert updated.PaymentRefNum == "CHK-7"
    voided = client.void("Payment", updated.Id, updated.SyncToken)
    assert voided.TotalAmt == 0
    assert client.read("Invoice", invoice.Id).Balance == Decimal("40.00")
    assert client.delete("Payment", voided.Id, voided.SyncToken).is_deleted


def test_deposit_credit_memo_refund_receipt_purchase_order(qbo, world):
    client = qbo.client
    cases = [
        ("Deposit", Deposit, {
            "DepositToAccountRef": {"value": world["bank"]},
            "Line": [{"Amount": Decimal("150.75"), "DetailType": "DepositLineDetail",
                      "DepositLineDetail": {"AccountRef": {"value": world["income"]}}}],
        }, Decimal("150.75")),
        ("CreditMemo", CreditMemo, {
            "CustomerRef": {"value": world["customer"]}, "Line": [_sales_line(world["item"], "1", "12.50")],
        }, Decimal("12.50")),
        ("RefundReceipt", RefundReceipt, {
            "CustomerRef": {"value": world["customer"]}, "DepositToAccountRef": {"value": world["bank"]},
            "Line": [_sales_line(world["item"], "3", "0.10")],
        }, Decimal("0.30")),
        ("PurchaseOrder", PurchaseOrder, {
            "VendorRef": {"value": world["vendor"]}, "APAccountRef": {"value": world["ap"]},
            "Line": [{"DetailType": "ItemBasedExpenseLineDetail", "Amount": Decimal("99.99"),
                      "ItemBasedExpenseLineDetail": {"ItemRef": {"value": world["item"]}, "Qty": 1,
                                                     "UnitPrice": Decimal("99.99")}}],
        }, Decimal("99.99")),
    ]
    for entity, model, body, total in cases:
        created = client.create(entity, body)
        assert isinstance(created, model), entity
        assert created.TotalAmt == total, entity
        read = client.read(entity, created.Id)
        assert read.to_dict()["Line"][0]["Amount"] == total
        updated = client.update(entity, {"Id": read.Id, "SyncToken": read.SyncToken, "PrivateNote": "checked"})
        assert updated.PrivateNote == "checked" and updated.SyncToken == str(int(read.SyncToken) + 1)
        if entity in ("CreditMemo", "RefundReceipt"):
            with pytest.raises(ValueError):
                client.void(entity, updated.Id, updated.SyncToken)
        assert client.delete(entity, updated.Id, updated.SyncToken).is_deleted
        assert client.get_by_ids(entity, [created.Id]) == []


def test_full_update_replaces_the_record(qbo, world):
    client = qbo.client
    vendor = client.read("Vendor", world["vendor"])
    body = vendor.to_wire()
    body["CompanyName"] = "Rebar Supply LLC"
    updated = client.update("Vendor", body, sparse=False)
    assert updated.CompanyName == "Rebar Supply LLC" and updated.DisplayName == "Rebar Supply"


def test_company_info_accounts_tax_codes_count_and_ids(qbo, world):
    client = qbo.client
    info = client.company_info()
    assert isinstance(info, CompanyInfo) and info.CompanyName == qbo.company["name"]
    banks = client.list_accounts("Bank")
    assert banks and all(a.AccountType == "Bank" for a in banks)
    assert {c.Id for c in client.list_tax_codes()} >= {"TAX", "NON"}
    assert client.count("Customer") == 1
    found = client.get_by_ids("Item", [world["item"], world["item"], "999999"])
    assert [i.Id for i in found] == [world["item"]]


def test_validation_fault_is_not_retried(qbo):
    before = qbo.counts()["write"]
    with pytest.raises(QBOValidationError) as info:
        qbo.client.create("Item", {"Type": "Service"})
    assert qbo.counts()["write"] == before + 1
    error = info.value
    assert error.code == "2020" and error.category.value == "validation" and not error.retryable
    assert "create Item" in str(error)


def test_escaping_round_trip(qbo):
    client = qbo.client
    names = ["O'Brien & Sons", "Back\\slash 'n quote", "100% Fence"]
    created = {name: client.create("Customer", {"DisplayName": name}).Id for name in names}
    for name, id_ in created.items():
        rows = client.query(select("Customer").where("DisplayName", "=", name).build())
        assert [r.Id for r in rows] == [id_], name
        assert client.query_all("Customer", [("DisplayName", "=", name)])[0].DisplayName == name
    like = client.query(select("Customer").where("DisplayName", "LIKE", "O'Brien%").build())
    assert [r.DisplayName for r in like] == ["O'Brien & Sons"]


def test_batch_mixed_outcomes(qbo, world):
    client = qbo.client
    customer = client.read("Customer", world["customer"])
    operations = [
        BatchOperation.create("Customer", {"DisplayName": "Batch One"}, key="one"),
        BatchOperation.create("Customer", {"DisplayName": "Acme Builders"}, key="duplicate"),
        BatchOperation.update("Customer", {"Id": customer.Id, "SyncToken": "7", "Notes": "x"}, key="stale"),
        BatchOperation.delete("Invoice", "424242", "0", key="missing"),
        BatchOperation.create("Item", {"Type": "Service"}, key="invalid"),
        BatchOperation.query("select * from Item where Name = 'Framing'", key="query"),
    ]
    outcomes = client.batch(operations)
    by_key = {o.key: o for o in outcomes}
    assert [o.key for o in outcomes] == [op.key for op in operations]
    assert by_key["one"].ok and by_key["one"].entity.DisplayName == "Batch One"
    assert by_key["duplicate"].error.category.value == "duplicate" and by_key["duplicate"].error.code == "6240"
    assert "Acme Builders" in str(by_key["duplicate"].error)
    assert by_key["stale"].error.category.value == "stale"
    assert by_key["missing"].error.category.value == "not_found"
    assert by_key["invalid"].error.category.value == "validation"
    assert [i.Name for i in by_key["query"].entities] == ["Framing"]
    assert qbo.counts()["batch"] == 1
