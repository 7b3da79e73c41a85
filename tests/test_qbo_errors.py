"""Fault parsing: every body shape QBO sends maps to a category, a code and a useful hint."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from qbo_pipeline.qbo.errors import (
    ErrorCategory,
    QBOAuthError,
    QBODuplicateError,
    QBOError,
    QBONotFoundError,
    QBOServerError,
    QBOStaleObjectError,
    QBOThrottleError,
    QBOValidationError,
    error_from_fault,
    error_from_response,
    parse_retry_after,
)

SAMPLES = Path("/work/shared/reference/qbo-samples")


@pytest.mark.parametrize(
    ("sample", "status", "cls", "code", "retryable"),
    [
        ("fault_2020_required_param.json", 400, QBOValidationError, "2020", False),
        ("fault_4000_query_parse.json", 400, QBOValidationError, "4000", False),
        ("fault_4001_query_validation.xml", 400, QBOValidationError, "4001", False),
        ("fault_5010_stale_object.json", 400, QBOStaleObjectError, "5010", False),
        ("fault_610_object_not_found.json", 400, QBONotFoundError, "610", False),
        ("fault_6240_duplicate_name.xml", 400, QBODuplicateError, "6240", False),
        ("fault_10000_system.xml", 500, QBOServerError, "10000", True),
        ("throttle_429.xml", 429, QBOThrottleError, "3001", True),
        ("throttle_403_older.xml", 403, QBOThrottleError, "3001", True),
    ],
)
def test_sample_faults(sample, status, cls, code, retryable):
    error = error_from_response(status, (SAMPLES / sample).read_bytes(), {"intuit_tid": "1-tid"})
    assert type(error) is cls
    assert error.code == code
    assert error.retryable is retryable
    assert error.status_code == status and error.intuit_tid == "1-tid"
    assert error.hint and error.message


def test_hints_are_specialised():
    e2020 = error_from_response(400, (SAMPLES / "fault_2020_required_param.json").read_bytes())
    assert e2020.element == "Name" and "Name" in e2020.hint
    e6240 = error_from_response(400, (SAMPLES / "fault_6240_duplicate_name.xml").read_bytes())
    assert "used by a customer" in e6240.hint and "rename or merge" in e6240.hint
    dup_number = error_from_fault({"type": "ValidationFault", "Error": [
        {"Message": "Duplicate Document Number Error", "code": "6140", "Detail": "Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=1001 is assigned to TxnType=Invoice with TxnId=12"}]})
    assert isinstance(dup_number, QBODuplicateError)
    dup_number.with_context(operation="create", entity="Invoice", doc_number="1001")
    assert "1001" in dup_number.hint and "{number}" not in dup_number.hint
    assert "{number}" not in error_from_fault({"Error": [{"code": "6140", "Message": "Duplicate"}]}).hint


def test_batch_response_item_faults():
    body = json.loads((SAMPLES / "batch_response.json").read_text())
    kinds = [type(error_from_fault(item["Fault"])) for item in body["BatchItemResponse"] if "Fault" in item]
    assert kinds == [QBODuplicateError, QBONotFoundError, QBOStaleObjectError]


def test_oauth_and_empty_bodies():
    grant = error_from_response(400, json.dumps({"error_description": "Token invalid", "error": "invalid_grant"}))
    assert isinstance(grant, QBOAuthError) and grant.code == "invalid_grant"
    assert "reconnect" in grant.hint and not grant.retryable
    empty = error_from_response(401, b"", {})
    assert isinstance(empty, QBOAuthError) and empty.hint == "reconnect; sync resumes by itself"
    gateway = error_from_response(401, json.dumps({"warnings": None, "fault": {"error": [{
        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "detail": "Token expired: eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..secretpart", "code": "3200"}],
        "type": "AUTHENTICATION"}}))
    assert isinstance(gateway, QBOAuthError) and gateway.code == "3200"
    assert "secretpart" not in str(gateway) and "eyJlbmMi" not in str(gateway)
    html = error_from_response(503, b"<html><body>Service Unavailable</body></html>")
    assert isinstance(html, QBOServerError) and html.retryable


def test_str_names_operation_and_record_but_no_token():
    error = error_from_response(400, (SAMPLES / "fault_5010_stale_object.json").read_bytes(), {"intuit_tid": "tid-9"})
    error.with_context(operation="update", entity="Invoice", record_id="33", doc_number="1035")
    text = str(error)
    assert text.startswith("update Invoice id 33 DocNumber 1035 failed [stale]: 5010")
    assert "tid-9" in text and "fix:" in text
    leaky = QBOError.create("Bearer abc.def.ghi rejected", category=ErrorCategory.AUTH,
                            detail="refresh_token=RT-secret-value")
    assert "abc.def.ghi" not in str(leaky) and "RT-secret-value" not in str(leaky)


def test_errors_pickle_with_their_fields():
    error = error_from_response(429, (SAMPLES / "throttle_429.xml").read_bytes(), {"Retry-After": "7"})
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is QBOThrottleError and again.retry_after == 7.0 and again.code == "3001"
    assert str(again) == str(error)


def test_retry_after_forms():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_duplicate_requestid_fault():
    error = error_from_fault({"type": "ValidationFault", "Error": [{"Message": "Duplicate Request", "code": "600",
                              "Detail": "RequestId already exists"}]})
    assert isinstance(error, QBODuplicateError) and "already ran" in error.hint
