"""Rendering: JSON bodies (Decimal money as JSON numbers), the `time` field, intuit_tid headers."""
from __future__ import annotations

import json
import math
import uuid
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from . import clock as clockmod
from . import errors

JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "application/xml;charset=UTF-8"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Whole quantities/prices (exponent >= 0) print as integers like QBO's UnitPrice 275;
        # money (two decimals) prints as a float such as 100.0 or 23.28.
        if value.as_tuple().exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, default=_default, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(raw: bytes) -> Any:
    """Request bodies: JSON numbers become exact Decimals."""
    return json.loads(raw, parse_float=Decimal)


def tid() -> str:
    return str(uuid.uuid4())


def now_text(backend) -> str:
    return clockmod.response_time(backend.clock.now(), backend.tz)


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    merged = {"intuit_tid": tid()}
    if headers:
        merged.update(headers)
    return Response(body, status_code=status, headers=merged, media_type=JSON_TYPE)


def envelope(backend, payload: dict[str, Any]) -> bytes:
    body = dict(payload)
    body["time"] = now_text(backend)
    return dumps(body)


def fault_response(backend, fault: errors.QBOFault) -> tuple[int, bytes]:
    return fault.status, dumps(errors.fault_body(fault, now_text(backend)))


def throttle_response(backend, retry_after: bool, retry_after_seconds: float) -> Response:
    headers = {"intuit_tid": tid()}
    if retry_after:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after_seconds)))
    return Response(errors.throttle_xml(now_text(backend)), status_code=429, headers=headers, media_type=XML_TYPE)
