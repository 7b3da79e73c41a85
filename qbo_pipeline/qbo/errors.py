"""Every way a QBO call can fail, as one exception type with a category and a fix.

`QBOError.category` is what the sync log shows (authentication expired, duplicate record,
record not found, rate limit, field validation, ...); `hint` is the resolution the user reads.
Parsers accept every body shape QBO sends: JSON `Fault`, the lower-case `fault` of the
gateway, XML `<Fault>` (throttling answers XML even to JSON clients), OAuth `{"error": ...}`
and empty 401 bodies.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from enum import Enum
from typing import Any, Mapping

from .redaction import redact


class ErrorCategory(str, Enum):
    AUTH = "auth"
    THROTTLE = "throttle"
    VALIDATION = "validation"
    DUPLICATE = "duplicate"
    NOT_FOUND = "not_found"
    STALE = "stale"
    SERVER = "server"
    NETWORK = "network"


HINTS: dict[ErrorCategory, str] = {
    ErrorCategory.AUTH: "reconnect; sync resumes by itself",
    ErrorCategory.DUPLICATE: "rename or merge the duplicate, then retry",
    ErrorCategory.NOT_FOUND: "re-create it, or unlink so the next sync creates a fresh copy",
    ErrorCategory.THROTTLE: "resolves by itself; no action",
    ErrorCategory.VALIDATION: "fill in the field; the next sync succeeds",
    ErrorCategory.STALE: "the record changed in QuickBooks meanwhile; the next sync re-reads it and retries by itself",
    ErrorCategory.SERVER: "QuickBooks had a temporary problem; the sync retries by itself",
    ErrorCategory.NETWORK: "QuickBooks could not be reached; the sync retries by itself",
}

_RETRYABLE = {ErrorCategory.THROTTLE, ErrorCategory.SERVER, ErrorCategory.NETWORK}
_AUTH_CODES = {"100", "120", "3100", "3200", "3201", "3202", "6190"}
_GATEWAY_CODE = re.compile(r"errorCode=0*(\d+)")
_GATEWAY_STATUS = re.compile(r"statusCode=(\d+)")


class QBOError(Exception):
    """A failed QBO call. Never carries a token: server text is scrubbed on the way in."""

    def __init__(
        self,
        message: str,
        *,
        category: ErrorCategory,
        code: str | None = None,
        detail: str | None = None,
        element: str | None = None,
        status_code: int | None = None,
        intuit_tid: str | None = None,
        retryable: bool | None = None,
        hint: str | None = None,
        fault_type: str | None = None,
        retry_after: float | None = None,
        operation: str | None = None,
        entity: str | None = None,
        record_id: str | None = None,
        doc_number: str | None = None,
        record_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.category = ErrorCategory(category)
        self.code = code
        self.message = redact(message)
        self.detail = redact(detail) if detail else detail
        self.element = element or None
        self.status_code = status_code
        self.intuit_tid = intuit_tid
        self.retryable = self.category in _RETRYABLE if retryable is None else retryable
        self.hint = hint or HINTS[self.category]
        self.fault_type = fault_type
        self.retry_after = retry_after
        self.operation = operation
        self.entity = entity
        self.record_id = record_id
        self.doc_number = doc_number
        self.record_name = record_name

    # -- context ------------------------------------------------------------------------
    def with_context(
        self,
        operation: str | None = None,
        entity: str | None = None,
        record_id: str | None = None,
        doc_number: str | None = None,
        record_name: str | None = None,
    ) -> "QBOError":
        """Fills in (without overwriting) which operation and record failed."""
        self.operation = self.operation or operation
        self.entity = self.entity or entity
        self.record_id = self.record_id or (str(record_id) if record_id is not None else None)
        self.doc_number = self.doc_number or doc_number
        self.record_name = self.record_name or record_name
        return self

    @property
    def hint(self) -> str:
        if "{number}" not in self._hint:
            return self._hint
        if self.doc_number:
            return self._hint.replace("{number}", self.doc_number)
        return self._hint.replace(" {number}", "")

    @hint.setter
    def hint(self, value: str) -> None:
        self._hint = value

    def record_label(self) -> str:
        parts = [self.entity or "record"]
        if self.record_id:
            parts.append(f"id {self.record_id}")
        if self.doc_number:
            parts.append(f"DocNumber {self.doc_number}")
        if self.record_name:
            parts.append(repr(self.record_name))
        return " ".join(parts)

    def __str__(self) -> str:
        what = f"{self.operation or 'call'} {self.record_label()}"
        cause = " ".join(part for part in (self.code, self.message) if part)
        if self.detail and self.detail != self.message:
            cause += ": " + " ".join(self.detail.split())
        if self.element:
            cause += f" (element {self.element})"
        text = f"{what} failed [{self.category.value}]: {cause} — fix: {self.hint}"
        if self.status_code:
            text += f" (HTTP {self.status_code}"
            text += f", intuit_tid {self.intuit_tid})" if self.intuit_tid else ")"
        return redact(text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self):  # picklable across Dagster process boundaries
        state = dict(self.__dict__)
        message = state.pop("message")
        return (_rebuild, (type(self), message, state))

    @classmethod
    def create(cls, message: str, *, category: ErrorCategory, **fields: Any) -> "QBOError":
        """The subclass matching `category`."""
        subclass = _SUBCLASSES.get(ErrorCategory(category), QBOError)
        return subclass(message, category=category, **fields)


def _rebuild(cls: type, message: str, state: dict) -> QBOError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    error.message = message
    return error


class QBOAuthError(QBOError):
    """The connection is not (or no longer) authorized: the user must reconnect."""


class QBOThrottleError(QBOError):
    """QBO's rate limit was hit (HTTP 429, fault 3001)."""


class QBOValidationError(QBOError):
    """QBO rejected the data (ValidationFault 2xxx/6xxx, query errors 4000/4001)."""


class QBODuplicateError(QBOError):
    """A name (6240) or document number (6140) already exists."""


class QBONotFoundError(QBOError):
    """The record or a record it links to is missing or inactive (610, 2500)."""


class QBOStaleObjectError(QBOError):
    """The SyncToken was stale (5010): somebody changed the record meanwhile."""


class QBOServerError(QBOError):
    """QBO failed (5xx, SystemFault 10000)."""


class QBONetworkError(QBOError):
    """No answer: connection refused/reset or timeout."""


_SUBCLASSES: dict[ErrorCategory, type[QBOError]] = {
    ErrorCategory.AUTH: QBOAuthError,
    ErrorCategory.THROTTLE: QBOThrottleError,
    ErrorCategory.VALIDATION: QBOValidationError,
    ErrorCategory.DUPLICATE: QBODuplicateError,
    ErrorCategory.NOT_FOUND: QBONotFoundError,
    ErrorCategory.STALE: QBOStaleObjectError,
    ErrorCategory.SERVER: QBOServerError,
    ErrorCategory.NETWORK: QBONetworkError,
}


# ----------------------------------------------------------------------------- classification


def categorize(
    status_code: int | None, code: str | None, fault_type: str | None, message: str = ""
) -> ErrorCategory:
    text = (message or "").lower()
    kind = (fault_type or "").lower()
    if status_code == 429 or code == "3001" or "throttle" in text:
        return ErrorCategory.THROTTLE
    if status_code == 401 or code in _AUTH_CODES or kind in ("authenticationfault", "authorizationfault", "authentication"):
        return ErrorCategory.AUTH
    if code == "5010" or "stale object" in text:
        return ErrorCategory.STALE
    if code in ("610", "2500") or status_code == 404:
        return ErrorCategory.NOT_FOUND
    if code in ("6240", "6140", "600") or "duplicate" in text:
        return ErrorCategory.DUPLICATE
    if (status_code is not None and status_code >= 500) or kind == "systemfault" or _code_number(code) >= 10000:
        return ErrorCategory.SERVER
    if status_code == 403:
        return ErrorCategory.AUTH
    return ErrorCategory.VALIDATION


def hint_for(category: ErrorCategory, code: str | None, element: str | None, detail: str | None) -> str:
    detail = detail or ""
    if code == "2020":
        field = element or _match(r"[Rr]equired parameter (\S+)", detail)
        if field:
            return f"fill in the required field {field}; the next sync succeeds"
    if code == "6240":
        who = _match(r"\$\$(\w+)\$\$", detail)
        if who:
            return (f"the name is already used by a {who} in QuickBooks (names are unique across "
                    "customers, vendors and employees); rename or merge the duplicate, then retry")
        return ("the name is already used by another customer, vendor or employee in QuickBooks; "
                "rename or merge the duplicate, then retry")
    if code == "6140":
        return ("the document number {number} is already used by another transaction in QuickBooks; "
                "change the number or merge the duplicate, then retry")
    if code == "600":
        return ("QuickBooks already ran this exact request (same requestid) and did not repeat it; "
                "the record exists there — the next sync finds and links it")
    if code == "610":
        return ("the record, or one it links to, was deleted or made inactive in QuickBooks; "
                "re-create or reactivate it, or unlink so the next sync creates a fresh copy")
    if code == "2500":
        field = element or "a reference"
        return (f"{field} points to a record that does not exist in QuickBooks; re-create it, "
                "or unlink so the next sync creates a fresh copy")
    if code in ("4000", "4001"):
        return "the pipeline sent an invalid query (a bug, not your data); report it with the intuit_tid"
    if code == "6070":
        return "a line's Amount must equal Qty × UnitPrice; fix the rounding of that line, then retry"
    if code == "6190":
        return "the QuickBooks company's subscription is not active; reactivate it, then reconnect; sync resumes by itself"
    if code == "3100":
        return "the app is not authorized for this QuickBooks company; reconnect; sync resumes by itself"
    if code == "invalid_grant":
        return "the QuickBooks authorization expired or was revoked; reconnect; sync resumes by itself"
    if code == "invalid_client":
        return "the app's client id or secret is wrong for this QuickBooks environment; fix the configuration, then reconnect"
    return HINTS[category]


def _match(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def _code_number(code: str | None) -> int:
    try:
        return int(code) if code is not None else 0
    except ValueError:
        return 0


# ----------------------------------------------------------------------------- parsing


def error_from_fault(
    fault: Mapping[str, Any],
    *,
    status_code: int | None = None,
    intuit_tid: str | None = None,
    retry_after: float | None = None,
) -> QBOError:
    """A JSON `Fault` object (also the lower-case gateway `fault`) -> QBOError.
    The first Error decides; further errors are appended to the detail."""
    fault_type = _get(fault, "type")
    errors = _get(fault, "Error") or []
    if isinstance(errors, Mapping):
        errors = [errors]
    first = errors[0] if errors else {}
    message = str(_get(first, "Message") or fault_type or "QuickBooks returned a fault")
    detail = _get(first, "Detail")
    code = _get(first, "code")
    element = _get(first, "element")
    if len(errors) > 1:
        extra = "; ".join(
            f"{_get(e, 'code') or ''} {_get(e, 'Message') or ''} {_get(e, 'Detail') or ''}".strip()
            for e in errors[1:]
        )
        detail = f"{detail or ''} (also: {extra})".strip()
    return _build(message, code, detail, element, fault_type, status_code, intuit_tid, retry_after)


def error_from_xml(text: str, **kwargs: Any) -> QBOError | None:
    try:
        root = ElementTree.fromstring(text.strip())
    except ElementTree.ParseError:
        return None
    fault = next((node for node in root.iter() if _local(node.tag) == "Fault"), None)
    if fault is None:
        return None
    error = next((node for node in fault if _local(node.tag) == "Error"), None)
    children = {_local(child.tag): (child.text or "").strip() for child in (error if error is not None else [])}
    as_dict = {
        "type": fault.get("type"),
        "Error": [{
            "code": error.get("code") if error is not None else None,
            "element": error.get("element") if error is not None else None,
            "Message": children.get("Message"),
            "Detail": children.get("Detail"),
        }],
    }
    return error_from_fault(as_dict, **kwargs)


def error_from_oauth(body: Mapping[str, Any], *, status_code: int | None = None, intuit_tid: str | None = None) -> QBOError:
    code = str(body.get("error") or "oauth_error")
    description = body.get("error_description")
    if code in ("invalid_grant", "invalid_client", "unauthorized_client", "invalid_token", "access_denied"):
        category = ErrorCategory.AUTH
    elif status_code is not None and status_code >= 500:
        category = ErrorCategory.SERVER
    elif status_code == 429:
        category = ErrorCategory.THROTTLE
    else:
        category = ErrorCategory.AUTH if status_code in (400, 401, 403) else ErrorCategory.VALIDATION
    return QBOError.create(
        f"OAuth {code}",
        category=category,
        code=code,
        detail=str(description) if description else None,
        status_code=status_code,
        intuit_tid=intuit_tid,
        hint=hint_for(category, code, None, None),
    )


def error_from_response(
    status_code: int,
    body: bytes | str | None,
    headers: Mapping[str, str] | None = None,
) -> QBOError:
    """Any non-success HTTP answer -> QBOError, whatever the body format."""
    headers = headers or {}
    intuit_tid = _header(headers, "intuit_tid") or _header(headers, "intuit-tid")
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    stripped = text.strip()
    kwargs = {"status_code": status_code, "intuit_tid": intuit_tid, "retry_after": retry_after}
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, Mapping):
            fault = _get(data, "Fault")
            if isinstance(fault, Mapping):
                return error_from_fault(fault, **kwargs)
            if "error" in data and isinstance(data.get("error"), str):
                error = error_from_oauth(data, status_code=status_code, intuit_tid=intuit_tid)
                error.retry_after = retry_after
                return error
    if stripped.startswith("<"):
        parsed = error_from_xml(stripped, **kwargs)
        if parsed is not None:
            return parsed
    message = _status_message(status_code)
    detail = stripped[:300] if stripped and not stripped.startswith("<") else None
    return _build(message, str(status_code), detail, None, None, status_code, intuit_tid, retry_after)


def network_error(exc: BaseException, *, operation: str | None = None) -> QBONetworkError:
    name = type(exc).__name__
    message = "timed out waiting for QuickBooks" if "Timeout" in name else "could not reach QuickBooks"
    return QBONetworkError(
        message, category=ErrorCategory.NETWORK, code=name, detail=redact(str(exc)) or None, operation=operation
    )


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    from datetime import datetime, timezone

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _build(message, code, detail, element, fault_type, status_code, intuit_tid, retry_after) -> QBOError:
    code = str(code) if code not in (None, "") else None
    gateway_code = _GATEWAY_CODE.search(message or "")
    if gateway_code and (code is None or code == "0"):
        code = gateway_code.group(1)
    gateway_status = _GATEWAY_STATUS.search(message or "")
    effective_status = status_code
    if gateway_status and status_code in (None, 200):
        effective_status = int(gateway_status.group(1))
    category = categorize(effective_status, code, fault_type, f"{message} {detail or ''}")
    return QBOError.create(
        str(message),
        category=category,
        code=code,
        detail=str(detail) if detail not in (None, "") else None,
        element=str(element) if element else None,
        status_code=status_code,
        intuit_tid=intuit_tid,
        hint=hint_for(category, code, str(element) if element else None, str(detail or "")),
        fault_type=fault_type,
        retry_after=retry_after,
    )


def _status_message(status_code: int) -> str:
    return {
        400: "Bad request",
        401: "Unauthorized (access token rejected)",
        403: "Forbidden",
        404: "Not found",
        429: "Too many requests",
        500: "Internal server error",
        502: "Bad gateway",
        503: "Service unavailable",
        504: "Gateway timeout",
    }.get(status_code, f"HTTP {status_code}")


def _get(mapping: Any, key: str) -> Any:
    """Case-insensitive key lookup: the gateway writes `fault`/`error`/`message`."""
    if not isinstance(mapping, Mapping):
        return None
    if key in mapping:
        return mapping[key]
    lower = key.lower()
    for candidate, value in mapping.items():
        if isinstance(candidate, str) and candidate.lower() == lower:
            return value
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None and not hasattr(headers, "get_list"):
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
