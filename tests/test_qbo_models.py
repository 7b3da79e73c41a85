"""QBO models: every real sample parses, money is exact, wire output is what QBO expects."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from qbo_pipeline.qbo import jsoncodec
from qbo_pipeline.qbo.models import (
    ENTITY_MODELS,
    Customer,
    GenericEntity,
    Invoice,
    Payment,
    canonical_entity_name,
    parse_entity,
    wire_body,
)

SAMPLES = Path("/work/shared/reference/qbo-samples")

# Bare entity samples (AIRBYTE records) and the entity they hold.
BARE = {
    "customer.json": "Customer",
    "customer_subcustomer_job.json": "Customer",
    "item_inventory.json": "Item",
    "item_service.json": "Item",
    "invoice.json": "Invoice",
    "invoice_paid.json": "Invoice",
    "invoice_create_request.json": "Invoice",
    "invoice_sparse_update_request.json": "Invoice",
    "invoice_delete_request.json": "Invoice",
    "invoice_void_request.json": "Invoice",
    "payment.json": "Payment",
    "payment_deposited.json": "Payment",
    "payment_create_request.json": "Payment",
    "deposit.json": "Deposit",
    "deposit_account_line.json": "Deposit",
    "credit_memo.json": "CreditMemo",
    "refund_receipt.json": "RefundReceipt",
    "purchase_order.json": "PurchaseOrder",
}


def _load(name: str):
    return jsoncodec.loads((SAMPLES / name).read_bytes())


def _entities_in(name: str, data) -> list[tuple[str, dict]]:
    """Every entity object in a sample file: bare, in an envelope, a QueryResponse, CDC or batch."""
    if name in BARE:
        return [(BARE[name], data)]
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ENTITY_MODELS and isinstance(value, dict):
                found.append((key, value))
        query_response = data.get("QueryResponse")
        if isinstance(query_response, dict):
            found += [(k, row) for k, v in query_response.items() if isinstance(v, list) for row in v]
        for cdc in data.get("CDCResponse", []):
            for qr in cdc.get("QueryResponse", []):
                found += [(k, row) for k, v in qr.items() if isinstance(v, list) for row in v]
        for item in data.get("BatchItemResponse", []) + data.get("BatchItemRequest", []):
            found += [(k, v) for k, v in item.items() if k[0].isupper() and isinstance(v, dict) and k != "Fault"]
            qr = item.get("QueryResponse") or {}
            found += [(k, row) for k, v in qr.items() if isinstance(v, list) for row in v]
    return found


ENTITY_SAMPLES = sorted(
    name for name in (p.name for p in SAMPLES.glob("*.json"))
    if name in BARE or _entities_in(name, _load(name))
)


def test_every_entity_sample_is_covered():
    # Guards the sample list itself: a new entity sample must not be skipped silently.
    assert len(ENTITY_SAMPLES) >= 28
    assert {"vendor.json", "invoice_query_response.json", "cdc_response.json", "batch_response.json",
            "query_response_items.json", "payment_void_response.json"} <= set(ENTITY_SAMPLES)


@pytest.mark.parametrize("sample", ENTITY_SAMPLES)
def test_sample_parses_and_round_trips(sample):
    entities = _entities_in(sample, _load(sample))
    assert entities
    for name, raw in entities:
        model = parse_entity(name, raw)
        expected_type = ENTITY_MODELS.get(name, GenericEntity)
        assert isinstance(model, expected_type)
        assert model.qbo_entity == name
        wire = model.to_wire()
        # Wire output is plain JSON and re-parses to the same model.
        text = json.dumps(wire)
        again = parse_entity(name, jsoncodec.loads(text))
        assert again.to_dict() == model.to_dict()
        # Every field of the sample survives (LineEx excepted), numbers exactly.
        _assert_subset(_without_lineex(raw), jsoncodec.loads(jsoncodec.dumps(model.to_dict())), sample)


def _without_lineex(value):
    if isinstance(value, dict):
        return {k: _without_lineex(v) for k, v in value.items() if k != "LineEx" and v is not None}
    if isinstance(value, list):
        return [_without_lineex(v) for v in value]
    return value


def _assert_subset(expected, actual, where):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}: {key} lost"
            _assert_subset(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (e, a) in enumerate(zip(expected, actual)):
            _assert_subset(e, a, f"{where}[{index}]")
    elif isinstance(expected, (int, Decimal)) and not isinstance(expected, bool):
        assert Decimal(str(actual)) == Decimal(str(expected)), where
    elif isinstance(expected, str) and isinstance(actual, str) and "T" in expected and expected[:4].isdigit():
        assert datetime.fromisoformat(actual) == datetime.fromisoformat(expected), where
    else:
        assert actual == expected, where


def test_money_is_exact_decimal_from_json_text():
    invoice = parse_entity("Invoice", _load("invoice.json"))
    assert isinstance(invoice.TotalAmt, Decimal)
    assert invoice.Line[0].SalesItemLineDetail.UnitPrice == Decimal("275")
    payment = parse_entity("Payment", _load("payment.json"))
    assert payment.TotalAmt == Decimal("1675.52")
    # float input (e.g. from a json.loads without parse_float) is converted via its text
    assert Customer(Balance=0.1).Balance == Decimal("0.1")
    assert Customer(Balance=1675.52).Balance == Decimal("1675.52")


def test_sync_token_and_ids_accept_int_or_str():
    assert Customer(Id=17, SyncToken=3).SyncToken == "3"
    assert Customer(Id="17", SyncToken="3").Id == "17"
    assert parse_entity("Invoice", {"CustomerRef": {"value": 5}}).CustomerRef.value == "5"


def test_payment_lineex_is_read_but_never_sent():
    payment = parse_entity("Payment", _load("payment.json"))
    assert payment.Line[0].LineEx is not None
    assert "LineEx" not in json.dumps(payment.to_wire())
    assert "LineEx" not in json.dumps(wire_body(_load("payment.json")))


def test_unknown_fields_are_kept_and_sent_back():
    customer = parse_entity("Customer", {"DisplayName": "A", "FutureField": {"x": 1.5}, "Gone": None})
    assert customer["FutureField"] == {"x": Decimal("1.5")}
    assert customer.to_wire() == {"DisplayName": "A", "FutureField": {"x": 1.5}}


def test_to_wire_omits_none_and_serializes_types():
    invoice = Invoice(
        CustomerRef={"value": "1"},
        TxnDate=date(2024, 1, 31),
        Line=[{"Amount": Decimal("10.10"), "DetailType": "SalesItemLineDetail",
               "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": Decimal("10.10")}}],
    )
    wire = invoice.to_wire()
    assert wire == {
        "CustomerRef": {"value": "1"},
        "TxnDate": "2024-01-31",
        "Line": [{"Amount": 10.1, "DetailType": "SalesItemLineDetail",
                  "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 10.1}}],
    }
    # huge values keep every digit when encoded
    assert jsoncodec.dumps({"Amount": Decimal("12345678901234567.89")}) == '{"Amount":12345678901234567.89}'


def test_mapping_style_access():
    customer = parse_entity("Customer", _load("customer.json"))
    assert customer["DisplayName"] == "Mark Cho"
    assert customer.get("Nope", "d") == "d"
    assert "PrimaryEmailAddr" in customer
    assert customer.to_dict()["PrimaryEmailAddr"] == {"Address": "Mark@Cho.com"}


def test_odd_detail_type_spelling_is_tolerated():
    voided = _load("invoice_void_response.json")["Invoice"]
    invoice = parse_entity("Invoice", voided)
    assert invoice.Line[0].DetailType == "SALES_ITEM_LINE_DETAIL"
    assert invoice.TotalAmt == 0


def test_tombstone_and_generic_entities():
    cdc = _load("cdc_response.json")
    estimate_rows = cdc["CDCResponse"][0]["QueryResponse"][1]["Estimate"]
    tombstone = parse_entity("Estimate", estimate_rows[2])
    assert isinstance(tombstone, GenericEntity) and tombstone.is_deleted and tombstone.qbo_entity == "Estimate"
    assert tombstone.last_updated == datetime.fromisoformat("2015-12-23T12:55:50-08:00")
    assert canonical_entity_name("purchaseorder") == "PurchaseOrder"


def test_payment_model_fields():
    payment = parse_entity("Payment", _load("payment_deposited.json"))
    assert isinstance(payment, Payment)
    assert payment.LinkedTxn[0].TxnType == "Deposit"
