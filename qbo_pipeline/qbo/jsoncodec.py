"""JSON without float error: money stays exact in both directions.

`loads` turns every JSON number with a fraction or exponent into `Decimal` straight from its
text, so `1675.52` is `Decimal("1675.52")`, never `1675.5199999`. `dumps` writes `Decimal`
as a JSON number from its exact text. `to_jsonable` prepares a value for any JSON encoder.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any) -> str:
    """Compact JSON; `Decimal` is written exactly (no exponent, no float rounding)."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} cannot be sent to QuickBooks: JSON has no NaN or Infinity")
    return format(value, "f")


def to_jsonable(value: Any) -> Any:
    """Plain JSON types only: Decimal → int/float when that is exact (true for every amount
    below 15 significant digits), else its text as a number via `dumps`; dates → ISO text."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return _decimal_number(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    return value


def _decimal_number(value: Decimal) -> int | float | Decimal:
    if not value.is_finite():
        raise ValueError(f"{value} cannot be sent to QuickBooks: JSON has no NaN or Infinity")
    if value == value.to_integral_value() and value.as_tuple().exponent >= 0:
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    return value  # keeps every digit; `dumps` writes it exactly


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        out.append(decimal_text(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be sent to QuickBooks: JSON has no NaN or Infinity")
        out.append(repr(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, (datetime, date, time)):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, Enum):
        _encode(value.value, out)
    elif hasattr(value, "to_wire"):
        _encode(value.to_wire(), out)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON for QuickBooks")
