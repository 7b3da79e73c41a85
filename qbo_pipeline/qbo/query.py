"""QBO query language builder with correct literal escaping.

    select("Customer").where("DisplayName", "=", "O'Brien & Sons").build()
    -> "SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien & Sons'"

Strings are single-quoted with `\\` and `'` backslash-escaped (QBO's rule); booleans are bare
`true`/`false`; numbers and dates are quoted text (QBO accepts `TotalAmt > '300.00'`);
datetimes carry their UTC offset. Field and entity names are checked against an identifier
pattern so no value can smuggle query syntax in through a name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Sequence

MAX_PAGE_SIZE = 1000
OPERATORS = frozenset({"=", "<", ">", "<=", ">=", "IN", "LIKE"})
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def escape_string(text: str) -> str:
    """Escapes for use inside a QBO single-quoted literal (without the quotes)."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def literal(value: Any) -> str:
    """One QBO literal for `value`."""
    if value is None:
        raise ValueError("QBO queries have no NULL literal; leave the condition out instead")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return f"'{format_datetime(value)}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, Decimal):
        return f"'{format(value, 'f')}'"
    if isinstance(value, (int, float)):
        return f"'{value}'"
    if isinstance(value, str):
        return f"'{escape_string(value)}'"
    ref_value = getattr(value, "value", None)  # a Ref compares on its id
    if isinstance(ref_value, str):
        return literal(ref_value)
    raise TypeError(f"cannot use a {type(value).__name__} as a QBO query literal")


def format_datetime(value: datetime) -> str:
    """ISO-8601 with offset; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a valid QBO entity or property name")
    return name


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any

    def render(self) -> str:
        op = self.op.strip().upper()
        if op not in OPERATORS:
            raise ValueError(f"operator {self.op!r} is not supported by QBO (use one of {sorted(OPERATORS)})")
        name = identifier(self.field)
        if op == "IN":
            values = list(self.value)
            if not values:
                raise ValueError(f"IN list for {name} is empty")
            return f"{name} IN ({', '.join(literal(item) for item in values)})"
        return f"{name} {op} {literal(self.value)}"


WhereClause = str | Condition | tuple | Sequence["Condition | tuple | str"] | None


def conditions_text(where: WhereClause) -> list[str]:
    """Normalises the accepted WHERE forms into rendered condition strings (ANDed).

    A bare string is trusted as already-rendered QBO text (callers build it with `literal`)."""
    if where is None:
        return []
    if isinstance(where, str):
        return [where] if where.strip() else []
    if isinstance(where, Condition):
        return [where.render()]
    if isinstance(where, tuple) and len(where) == 3 and isinstance(where[0], str) and isinstance(where[1], str):
        return [Condition(*where).render()]
    rendered: list[str] = []
    for item in where:
        rendered.extend(conditions_text(item))
    return rendered


@dataclass(frozen=True)
class Query:
    entity: str
    conditions: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    start_position: int | None = None
    max_results: int | None = None
    count_only: bool = False
    extra_columns: tuple[str, ...] = field(default=())

    def where(self, field_name: str, op: str, value: Any) -> "Query":
        return replace(self, conditions=self.conditions + (Condition(field_name, op, value).render(),))

    def where_in(self, field_name: str, values: Iterable[Any]) -> "Query":
        return self.where(field_name, "IN", list(values))

    def where_all(self, where: WhereClause) -> "Query":
        return replace(self, conditions=self.conditions + tuple(conditions_text(where)))

    def order_by(self, field_name: str, direction: str = "ASC") -> "Query":
        direction = direction.upper()
        if direction not in ("ASC", "DESC"):
            raise ValueError(f"order direction must be ASC or DESC, not {direction!r}")
        return replace(self, order=self.order + (f"{identifier(field_name)} {direction}",))

    def start(self, position: int) -> "Query":
        if position < 1:
            raise ValueError("STARTPOSITION is 1-based")
        return replace(self, start_position=position)

    def limit(self, max_results: int) -> "Query":
        if not 1 <= max_results <= MAX_PAGE_SIZE:
            raise ValueError(f"MAXRESULTS must be between 1 and {MAX_PAGE_SIZE}")
        return replace(self, max_results=max_results)

    def page(self, start_position: int, max_results: int) -> "Query":
        return self.start(start_position).limit(max_results)

    def build(self) -> str:
        if self.count_only:
            head = "SELECT COUNT(*)"
        else:
            head = "SELECT " + ", ".join(("*",) + self.extra_columns)
        parts = [f"{head} FROM {identifier(self.entity)}"]
        if self.conditions:
            parts.append("WHERE " + " AND ".join(self.conditions))
        if self.order and not self.count_only:
            parts.append("ORDERBY " + ", ".join(self.order))
        if self.start_position is not None:
            parts.append(f"STARTPOSITION {self.start_position}")
        if self.max_results is not None:
            parts.append(f"MAXRESULTS {self.max_results}")
        return " ".join(parts)

    __str__ = build


def select(entity: str, *extra_columns: str) -> Query:
    """`SELECT * FROM entity` (plus e.g. `Sku`, which QBO returns only when selected)."""
    return Query(identifier(entity), extra_columns=tuple(identifier(c) for c in extra_columns))


def select_count(entity: str) -> Query:
    return Query(identifier(entity), count_only=True)
