"""Wire errors: QBO Fault bodies (JSON), the XML throttle fault, and OAuth gateway errors.

Shapes follow qbo-api.md §6 and the samples in qbo-samples/ (fault_*.json, throttle_429.xml,
batch_response.json). HTTP status is 400 for validation faults unless stated.
"""
from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

BUSINESS_MESSAGE = "A business validation error has occurred while processing your request"
NOT_FOUND_DETAIL = ("Object Not Found : Something you're trying to use has been made inactive. "
                    "Check the fields with accounts, customers, items, vendors or employees.")


class QBOFault(Exception):
    """A Fault that the API answers instead of a result."""

    def __init__(self, code: str, message: str, detail: str, element: str | None = None, *,
                 status: int = 400, fault_type: str = "ValidationFault") -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = str(code)
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def fault(self) -> dict[str, Any]:
        error: dict[str, Any] = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            error["element"] = self.element
        return {"Error": [error], "type": self.fault_type}


def required(element: str) -> QBOFault:
    name = element.rsplit(".", 1)[-1]
    return QBOFault("2020", "Required param missing, need to supply the required value for the API",
                    f"Required parameter {name} is missing in the request", element)


def invalid_reference(element: str, kind: str, ref_id: Any) -> QBOFault:
    return QBOFault("2500", "Invalid Reference Id",
                    f"Invalid Reference Id : {kind} element id {ref_id} not found", element)


def object_not_found(detail: str = NOT_FOUND_DETAIL) -> QBOFault:
    return QBOFault("610", "Object Not Found", detail, "")


def stale_object() -> QBOFault:
    return QBOFault("5010", "Stale Object Error",
                    "Stale Object Error : You and root were working on this at the same time. "
                    "root finished before you did, so your work was not saved.", "")


def duplicate_name(item: bool = False) -> QBOFault:
    who = "product or service" if item else "customer, vendor or employee"
    return QBOFault("6240", "Duplicate Name Exists Error",
                    f"The name supplied already exists. : Another {who} is already using this name. "
                    "Please use a different name.", "")


def duplicate_doc_number(doc_number: str, entity: str, txn_id: str) -> QBOFault:
    return QBOFault("6140", "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. "
                    f"This number has already been used. DocNumber={doc_number} is assigned to "
                    f"TxnType={entity} with TxnId={txn_id}", "")


def amount_mismatch(supplied: Any, element: str = "Line.Amount") -> QBOFault:
    return QBOFault("6070", "Amount is not equal to UnitPrice * Qty",
                    f"Amount is not equal to UnitPrice * Qty. Supplied value:{_grouped(supplied)}",
                    element)


def business(detail: str, element: str = "") -> QBOFault:
    return QBOFault("6000", BUSINESS_MESSAGE, f"Business Validation Error: {detail}", element)


def invalid_value(element: str, detail: str) -> QBOFault:
    return QBOFault("2050", "String length is either shorter or longer than supported by specification",
                    detail, element)


def unsupported_property(name: str, entity: str) -> QBOFault:
    return QBOFault("2010", "Request has invalid or unsupported property",
                    f"Property Name:Unrecognized field \"{name}\" (class com.intuit.schema.finance.v3."
                    f"{entity}), not marked as ignorable specified is unsupported or invalid", name)


def unsupported_operation(operation: str) -> QBOFault:
    return QBOFault("500", "Unsupported Operation", f"Operation {operation} is not supported.", "")


def invalid_request(detail: str, element: str = "") -> QBOFault:
    return QBOFault("2010", "Request has invalid or unsupported property", detail, element)


def query_error(code: str, message: str, detail: str) -> QBOFault:
    return QBOFault(code, message, detail, None)


def unknown_resource(path: str, status: int = 400) -> QBOFault:
    return QBOFault("10000", "An application error has occurred while processing your request",
                    f"System Failure Error: Could not find resource for relative : {path}", None,
                    status=status, fault_type="SystemFault")


def system_fault(status: int = 503) -> QBOFault:
    return QBOFault("10000", "An application error has occurred while processing your request",
                    "System Failure Error: An unexpected error occurred while accessing or saving your data. "
                    "Please wait a few minutes and try again.", None, status=status, fault_type="SystemFault")


def duplicate_request(request_id: str) -> QBOFault:
    return QBOFault("600", "Duplicate Request",
                    f"RequestId already exists: a request with requestid={request_id} was already processed "
                    "for this company.", "")


def fault_body(fault: QBOFault, time: str) -> dict[str, Any]:
    return {"Fault": fault.fault(), "time": time}


THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<IntuitResponse time="{time}" xmlns="http://schema.intuit.com/finance/v3">\n'
    '  <Fault type="SERVICE">\n'
    '    <Error code="3001">\n'
    '      <Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>\n'
    '      <Detail>The request limit was reached.  Try again later</Detail>\n'
    '    </Error>\n'
    '  </Fault>\n'
    '</IntuitResponse>\n'
)


def throttle_xml(time: str) -> str:
    return THROTTLE_XML.format(time=escape(time))


def gateway_fault(code: str, status: int, message: str, detail: str | None, fault_type: str,
                  epoch_millis: int) -> dict[str, Any]:
    """The lower-case gateway envelope QBO answers for 401/403 (seen in python-quickbooks #250)."""
    return {
        "warnings": None, "intuitObject": None,
        "fault": {"error": [{"message": f"message={message}; errorCode={int(code):06d}; statusCode={status}",
                             "detail": detail, "code": code, "element": None}],
                  "type": fault_type},
        "report": None, "queryResponse": None, "batchItemResponse": [], "attachableResponse": [],
        "syncErrorResponse": None, "requestId": None, "time": epoch_millis, "status": None,
        "cdcresponse": [],
    }


def authentication_fault(detail: str, epoch_millis: int) -> dict[str, Any]:
    return gateway_fault("3200", 401, "AuthenticationFailed", detail, "AUTHENTICATION", epoch_millis)


def authorization_fault(epoch_millis: int) -> dict[str, Any]:
    return gateway_fault("3100", 403, "AuthorizationFailed", None, "SERVICE", epoch_millis)


def _grouped(value: Any) -> str:
    """Java-style #,##0.## rendering used in QBO's 6070 detail ("Supplied value:1,000")."""
    from decimal import Decimal, InvalidOperation

    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{number:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
