"""The QBO query language, parsed and evaluated the way QuickBooks Online does it.

`parse()` turns query text into a `ParsedQuery` or raises `QueryError` with QBO's own fault
wording: code 4000 "Error parsing query" (javacc-style `QueryParserError` detail) for syntax,
code 4001 "Invalid query" (`QueryValidationError`) for paging bounds and unknown properties.
`execute()` filters, orders and pages a list of entity dicts (the emulator's stored JSON).

Decisions where QBO is not documented (see also the module tests):
- Strings compare case-insensitively for every operator (QBO's store is case-insensitive;
  LIKE certainly is). `%` is LIKE's only wildcard; `_` is literal.
- Dates and datetimes compare as instants. When one side is date-only, the comparison is by
  calendar date, the datetime side taken in its own UTC offset (`LastUpdatedTime <= '2015-07-24'`
  includes the whole 24th). A datetime literal without an offset is read in the field's offset.
- `Id` and reference values (`CustomerRef = '20'`) compare as integers when both sides are
  digit strings; numeric fields (TotalAmt, Balance) compare as decimals even against a quoted
  literal; an unquoted number also matches a string field numerically.
- Unknown properties: for the entities the emulator serves (Customer, Vendor, Item, Invoice,
  Payment, Deposit, CreditMemo, RefundReceipt, PurchaseOrder and a few more) a property that
  is neither in the entity's known field list nor present in any stored row is rejected with
  QBO's live-sandbox wording "Property Foo not found for Entity Customer" (4001). Array/complex
  fields known to be unfilterable (Line, LinkedTxn, CustomField, TxnTaxDetail, DepartmentRef,
  Deposit.TotalAmt) get "property 'Line' is not queryable" (4001). For other entities a
  missing property simply matches nothing.
- OR is rejected as a syntax error (4000); `!=` is a lexical error (4000).
- Ties in ORDERBY (and the default order) fall back to ascending numeric Id, so offset paging
  is stable.
- `SELECT Id, Name FROM X` (a column list) is accepted and projects the rows to those fields;
  `Sku` on Item is only returned when selected (`SELECT *, Sku FROM Item`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable, Iterable

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000


class QueryError(Exception):
    """A query QBO would reject; `code`, `message` and `detail` go into the Fault verbatim."""

    def __init__(self, code: str, message: str, detail: str) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail


def _parser_error(detail: str) -> QueryError:
    return QueryError("4000", "Error parsing query", "QueryParserError: " + detail)


def _validation_error(detail: str) -> QueryError:
    return QueryError("4001", "Invalid query", "QueryValidationError: " + detail)


# ----------------------------------------------------------------------------- data model


@dataclass
class Condition:
    prop: str  # as written, e.g. "MetaData.LastUpdatedTime"
    op: str  # "=", "<", ">", "<=", ">=", "IN", "LIKE"
    value: Any  # str (quoted), bool, Decimal (unquoted number); a list of those for IN

    @property
    def path(self) -> tuple[str, ...]:
        return _path(self.prop)


@dataclass
class OrderTerm:
    prop: str
    descending: bool = False

    @property
    def path(self) -> tuple[str, ...]:
        return _path(self.prop)


@dataclass
class ParsedQuery:
    entity: str  # as written
    count: bool
    conditions: list[Condition]
    order_by: list[OrderTerm]
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS
    select_extra: list[str] = field(default_factory=list)  # `SELECT *, Sku` -> ["Sku"]
    columns: list[str] | None = None  # `SELECT Id, Name` -> ["Id", "Name"]; None = all

    def mentions(self, prop: str) -> bool:
        """True if the WHERE clause filters on `prop` (case-insensitive, top-level name)."""
        wanted = prop.lower()
        return any(c.path[0] == wanted for c in self.conditions)


@dataclass
class QueryResult:
    rows: list[dict]  # the requested page
    total: int  # matches before paging


def _path(prop: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in prop.split("."))


# ----------------------------------------------------------------------------- lexer

_KEYWORDS = frozenset(
    "select from where and or in like orderby order by asc desc startposition maxresults "
    "count true false null iterator".split()
)
_NAMED_TOKENS = {"and": "<AND>", "or": "<OR>"}  # QBO names these tokens instead of quoting them
_CLASS_TOKENS = ("EOF", "IDENTIFIER", "STRING", "INTEGER", "DECIMAL")
_PUNCT_TWO = ("<=", ">=")
_PUNCT_ONE = "<>=(),*"


@dataclass(frozen=True)
class _Token:
    kind: str  # a keyword or punctuation in lower case, or one of _CLASS_TOKENS, or "LEXERR"
    image: str
    value: Any
    line: int
    column: int


def _java_escape(text: str) -> str:
    """javacc's ParseException.add_escapes."""
    out = []
    for ch in text:
        if ch == "\b":
            out.append("\\b")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\r":
            out.append("\\r")
        elif ch in "\"'\\":
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, line, col = 0, 1, 1
    last_line, last_col = 0, 0  # position of the last character read (javacc puts EOF there)
    n = len(text)

    def advance(count: int) -> None:
        nonlocal i, line, col, last_line, last_col
        for _ in range(count):
            last_line, last_col = line, col
            if text[i] == "\n":
                line, col = line + 1, 1
            else:
                col += 1
            i += 1

    while i < n:
        ch = text[i]
        if ch in " \t\r\n\f":
            advance(1)
            continue
        start_line, start_col, start = line, col, i
        if ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            word = text[i:j]
            lower = word.lower()
            kind = lower if lower in _KEYWORDS else "IDENTIFIER"
            value = {"true": True, "false": False}.get(lower, word)
            advance(j - i)
            tokens.append(_Token(kind, word, value, start_line, start_col))
        elif ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            j = i + 1
            while j < n and text[j].isdigit():
                j += 1
            kind = "INTEGER"
            if j + 1 < n and text[j] == "." and text[j + 1].isdigit():
                j += 2
                while j < n and text[j].isdigit():
                    j += 1
                kind = "DECIMAL"
            word = text[i:j]
            advance(j - i)
            tokens.append(_Token(kind, word, Decimal(word), start_line, start_col))
        elif ch == "'":
            chars: list[str] = []
            j = i + 1
            closed = False
            while j < n:
                c = text[j]
                if c == "\\" and j + 1 < n:
                    chars.append(text[j + 1])
                    j += 2
                    continue
                if c == "'":
                    closed = True
                    break
                chars.append(c)
                j += 1
            if not closed:
                advance(n - i)
                detail = (
                    f"Invalid content. Lexical error at line {last_line}, column {last_col}.  "
                    f'Encountered: <EOF> after : "{_java_escape(text[start:])}"'
                )
                tokens.append(_Token("LEXERR", text[start:], detail, start_line, start_col))
                return tokens
            advance(j + 1 - i)
            tokens.append(_Token("STRING", text[start : j + 1], "".join(chars), start_line, start_col))
        elif text.startswith(_PUNCT_TWO, i):
            word = text[i : i + 2]
            advance(2)
            tokens.append(_Token(word, word, word, start_line, start_col))
        elif ch in _PUNCT_ONE:
            advance(1)
            tokens.append(_Token(ch, ch, ch, start_line, start_col))
        else:
            detail = (
                f"Invalid content. Lexical error at line {line}, column {col}.  "
                f'Encountered: "{_java_escape(ch)}" ({ord(ch)}), after : ""'
            )
            tokens.append(_Token("LEXERR", ch, detail, line, col))
            return tokens
    tokens.append(_Token("EOF", "", None, last_line, last_col))
    return tokens


# ----------------------------------------------------------------------------- parser


def _token_image(kind: str) -> str:
    if kind in _CLASS_TOKENS:
        return f"<{kind}>"
    return _NAMED_TOKENS.get(kind, f'"{kind}"')


def _expectation_key(kind: str) -> tuple[int, str]:
    return (0, "") if kind == "EOF" else (1, _token_image(kind).strip('"<>').lower())


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> _Token:
        token = self.tokens[self.pos]
        if token.kind == "LEXERR":
            raise _parser_error(token.value)
        return token

    def take(self, expected: Iterable[str]) -> _Token:
        """Consumes the next token if its kind is in `expected`, otherwise fails listing them."""
        expected = tuple(expected)
        token = self.peek()
        if token.kind not in expected:
            self.fail(expected)
        self.pos += 1
        return token

    def fail(self, expected: Iterable[str]) -> None:
        token = self.peek()
        kinds = sorted(set(expected) - {token.kind}, key=_expectation_key)
        if token.kind == "EOF":
            encountered = '"<EOF>"'
        else:
            encountered = f'" {_token_image(token.kind)} "{_java_escape(token.image)} ""'
        lines = "".join(
            _token_image(k) + (" " if k == "EOF" else " ...") + "\n    " for k in kinds
        )
        heading = "Was expecting:" if len(kinds) == 1 else "Was expecting one of:"
        raise _parser_error(
            f"Encountered {encountered} at line {token.line}, column {token.column}.\n"
            f"{heading}\n    {lines}"
        )


_COMPARISONS = ("=", "<", ">", "<=", ">=")
_OPERATORS = _COMPARISONS + ("in", "like")
_LITERALS = ("STRING", "INTEGER", "DECIMAL", "true", "false")
_TAIL = ("EOF", "iterator")  # QBO's grammar also accepts an ITERATOR clause we do not serve


def parse(text: str) -> ParsedQuery:
    """Parses one QBO query; raises QueryError (4000 syntax, 4001 validation)."""
    p = _Parser(text)
    p.take(["select"])
    count = False
    select_extra: list[str] = []
    columns: list[str] | None = None
    token = p.peek()
    if token.kind == "*":
        p.pos += 1
        while p.peek().kind == ",":
            p.pos += 1
            select_extra.append(p.take(["IDENTIFIER"]).image)
        p.take([",", "from"])
    elif token.kind == "count":
        p.pos += 1
        count = True
        p.take(["("])
        p.take(["*"])
        p.take([")"])
        p.take(["from"])
    elif token.kind == "IDENTIFIER":
        columns = [p.take(["IDENTIFIER"]).image]
        while p.peek().kind == ",":
            p.pos += 1
            columns.append(p.take(["IDENTIFIER"]).image)
        p.take([",", "from"])
    else:
        p.fail(["*", "count", "IDENTIFIER"])
    entity = p.take(["IDENTIFIER"]).image

    paging = ("startposition", "maxresults")
    follow: tuple[str, ...] = _TAIL + ("where", "orderby", "order") + paging
    conditions: list[Condition] = []
    if p.peek().kind == "where":
        p.pos += 1
        conditions.append(_parse_condition(p))
        follow = _TAIL + ("and", "or", "orderby", "order") + paging
        while p.peek().kind == "and":
            p.pos += 1
            conditions.append(_parse_condition(p))

    order_by: list[OrderTerm] = []
    if p.peek().kind in ("orderby", "order"):
        if p.take(["orderby", "order"]).kind == "order":
            p.take(["by"])
        while True:
            prop = p.take(["IDENTIFIER"]).image
            descending = False
            follow = _TAIL + (",", "asc", "desc") + paging
            if p.peek().kind in ("asc", "desc"):
                descending = p.take(["asc", "desc"]).kind == "desc"
                follow = _TAIL + (",",) + paging
            order_by.append(OrderTerm(prop, descending))
            if p.peek().kind != ",":
                break
            p.pos += 1

    limits: dict[str, int] = {}
    remaining = list(paging)
    while p.peek().kind in remaining:
        keyword = p.take(remaining).kind
        remaining.remove(keyword)
        limits[keyword] = int(p.take(["INTEGER"]).value)
        follow = _TAIL + tuple(remaining)
    if p.peek().kind != "EOF":
        p.fail(follow)

    start_position = limits.get("startposition", 1)
    max_results = limits.get("maxresults", DEFAULT_MAX_RESULTS)
    for value in (start_position, max_results):
        if value < 1:
            raise _validation_error(f"value {value} is too small. Min allowed value is 1")
    if max_results > MAX_RESULTS_LIMIT:
        raise _validation_error(
            f"value {max_results} is too large. Max allowed value is {MAX_RESULTS_LIMIT}"
        )
    return ParsedQuery(
        entity=entity,
        count=count,
        conditions=conditions,
        order_by=order_by,
        start_position=start_position,
        max_results=max_results,
        select_extra=select_extra,
        columns=columns,
    )


def _parse_condition(p: _Parser) -> Condition:
    prop = p.take(["IDENTIFIER"]).image
    op = p.take(_OPERATORS).kind
    if op == "in":
        p.take(["("])
        values = [p.take(_LITERALS).value]
        while p.peek().kind == ",":
            p.pos += 1
            values.append(p.take(_LITERALS).value)
        p.take([",", ")"])
        return Condition(prop, "IN", values)
    value = p.take(_LITERALS).value
    return Condition(prop, op.upper(), value)


# ----------------------------------------------------------------------------- field access

_MISSING = object()


class _Getter:
    """Reads a dotted path case-insensitively, remembering the key spelling the rows use."""

    __slots__ = ("path", "keys")

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.keys: list[str | None] = [None] * len(path)

    def raw(self, row: dict) -> Any:
        current: Any = row
        for index, segment in enumerate(self.path):
            if not isinstance(current, dict):
                return _MISSING
            key = self.keys[index]
            if key is not None and key in current:
                current = current[key]
                continue
            for candidate in current:
                if candidate.lower() == segment:
                    self.keys[index] = candidate
                    current = current[candidate]
                    break
            else:
                return _MISSING
        return current

    def value(self, row: dict) -> Any:
        return _scalar(self.raw(row))


def _scalar(value: Any) -> Any:
    """Reference fields compare on their id; e-mail/phone/web objects on their text."""
    if isinstance(value, dict):
        for key in ("value", "Address", "FreeFormNumber", "URI"):
            if key in value:
                return value[key]
        return _MISSING
    if isinstance(value, list) or value is None:
        return _MISSING
    return value


def _is_id_like(path: tuple[str, ...]) -> bool:
    return path[-1] == "id" or any(segment.endswith("ref") for segment in path)


# ----------------------------------------------------------------------------- value semantics

_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


@lru_cache(maxsize=200_000)
def _temporal(text: str) -> tuple[str, Any] | None:
    """('d', date) or ('t', datetime) for ISO-8601 text (offsets as -07:00, -0700 or Z)."""
    text = text.strip()
    if not _DATE_PREFIX.match(text):
        return None
    try:
        if len(text) == 10:
            return ("d", date.fromisoformat(text))
        return ("t", datetime.fromisoformat(text))
    except ValueError:
        return None


def _compare_temporal(left: tuple[str, Any], right: tuple[str, Any]) -> int:
    lk, lv = left
    rk, rv = right
    if lk == "t" and rk == "d":
        lv = lv.date()
    elif lk == "d" and rk == "t":
        rv = rv.date()
    elif lk == "t" and rk == "t" and (lv.tzinfo is None) != (rv.tzinfo is None):
        if lv.tzinfo is None:
            lv = lv.replace(tzinfo=rv.tzinfo)
        else:
            rv = rv.replace(tzinfo=lv.tzinfo)
    return (lv > rv) - (lv < rv)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _make_comparator(literal: Any, id_like: bool) -> Callable[[Any], int | None]:
    """Returns compare(field_value) -> -1/0/1, or None when the two cannot be compared."""
    lit_bool = _as_bool(literal)
    lit_num = _decimal(literal)
    unquoted_number = isinstance(literal, Decimal)
    lit_int = int(literal) if isinstance(literal, str) and literal.isdigit() else None
    if unquoted_number and literal == literal.to_integral_value():
        lit_int = int(literal)
    lit_time = _temporal(literal) if isinstance(literal, str) else None
    lit_text = _literal_text(literal).casefold()

    def compare(value: Any) -> int | None:
        if value is _MISSING:
            return None
        if isinstance(value, bool):
            if lit_bool is None:
                return None
            return (value > lit_bool) - (value < lit_bool)
        if isinstance(value, (int, float, Decimal)):
            if lit_num is None:
                return None
            number = _decimal(value)
            return (number > lit_num) - (number < lit_num)
        if isinstance(value, str):
            if lit_time is not None:
                parsed = _temporal(value)
                if parsed is not None:
                    return _compare_temporal(parsed, lit_time)
            if lit_int is not None and (id_like or unquoted_number) and value.isdigit():
                number_int = int(value)
                return (number_int > lit_int) - (number_int < lit_int)
            if unquoted_number:
                number = _decimal(value)
                if number is not None:
                    return (number > lit_num) - (number < lit_num)
            text = value.casefold()
            return (text > lit_text) - (text < lit_text)
        return None

    return compare


_TESTS: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0,
    "<": lambda c: c < 0,
    ">": lambda c: c > 0,
    "<=": lambda c: c <= 0,
    ">=": lambda c: c >= 0,
}


def _equality_keys(literal: Any) -> set[tuple[str, Any]]:
    """Hashable forms a literal can be equal under, for set-based IN."""
    keys: set[tuple[str, Any]] = {("s", _literal_text(literal).casefold())}
    as_bool = _as_bool(literal)
    if as_bool is not None:
        keys.add(("b", as_bool))
    number = _decimal(literal)
    if number is not None:
        keys.add(("n", number))
    return keys


def _compile(condition: Condition) -> Callable[[dict], bool]:
    getter = _Getter(condition.path)
    id_like = _is_id_like(condition.path)

    if condition.op == "LIKE":
        pattern = _literal_text(condition.value)
        regex = re.compile(
            ".*".join(re.escape(part) for part in pattern.split("%")), re.IGNORECASE | re.DOTALL
        )

        def like(row: dict) -> bool:
            value = getter.value(row)
            if value is _MISSING or isinstance(value, bool):
                return False
            return regex.fullmatch(str(value)) is not None

        return like

    if condition.op == "IN":
        literals = list(condition.value)
        if any(isinstance(v, str) and _temporal(v) for v in literals):
            comparators = [_make_comparator(v, id_like) for v in literals]

            def in_temporal(row: dict) -> bool:
                value = getter.value(row)
                return any(compare(value) == 0 for compare in comparators)

            return in_temporal
        keys: set[tuple[str, Any]] = set()
        for literal in literals:
            keys |= _equality_keys(literal)
        digit_ids = {k[1] for k in keys if k[0] == "n" and k[1] == k[1].to_integral_value()}
        digit_ids = {int(v) for v in digit_ids}
        text_keys = {k[1] for k in keys if k[0] == "s"}

        def in_set(row: dict) -> bool:
            value = getter.value(row)
            if value is _MISSING:
                return False
            if isinstance(value, bool):
                return ("b", value) in keys
            if isinstance(value, (int, float, Decimal)):
                return ("n", _decimal(value)) in keys
            if isinstance(value, str):
                if id_like and value.isdigit():
                    return int(value) in digit_ids or value.casefold() in text_keys
                return value.casefold() in text_keys
            return False

        return in_set

    compare = _make_comparator(condition.value, id_like)
    test = _TESTS[condition.op]

    def compare_row(row: dict) -> bool:
        result = compare(getter.value(row))
        return result is not None and test(result)

    return compare_row


# ----------------------------------------------------------------------------- ordering

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _instant(parsed: tuple[str, Any]) -> float:
    kind, value = parsed
    if kind == "d":
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH).total_seconds()


def _sort_key(value: Any, id_like: bool) -> tuple:
    if value is _MISSING:
        return (0,)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float, Decimal)):
        return (2, value)
    if isinstance(value, str):
        if id_like and value.isdigit():
            return (2, int(value))
        return _text_sort_key(value)
    return (5, str(value))


@lru_cache(maxsize=200_000)
def _text_sort_key(value: str) -> tuple:
    parsed = _temporal(value)
    if parsed is not None:
        return (3, _instant(parsed))
    return (4, value.casefold())


def _id_order(row: dict) -> tuple:
    value = row.get("Id")
    if isinstance(value, str) and value.isdigit():
        return (0, int(value), "")
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


# ----------------------------------------------------------------------------- validation

_ENTITY_NAMES = {
    name.lower(): name
    for name in (
        "Customer Vendor Item Invoice Payment Deposit CreditMemo RefundReceipt PurchaseOrder "
        "SalesReceipt Estimate Bill Employee Account"
    ).split()
}

_COMMON = "Id SyncToken MetaData domain sparse status"
_TXN = (
    "TxnDate DocNumber PrivateNote CustomField CurrencyRef ExchangeRate LinkedTxn TotalAmt "
    "HomeTotalAmt Line TxnTaxDetail DepartmentRef TxnSource TransactionLocationType "
    "TaxExemptionRef GlobalTaxCalculation RecurDataRef ProjectRef ClassRef"
)
_SALES = (
    "CustomerRef CustomerMemo BillAddr ShipAddr ShipFromAddr FreeFormAddress ShipDate TrackingNum "
    "ShipMethodRef SalesTermRef DueDate BillEmail BillEmailCc BillEmailBcc EmailStatus PrintStatus "
    "ApplyTaxAfterDiscount DeliveryInfo Balance HomeBalance PaymentMethodRef PaymentRefNum "
    "DepositToAccountRef"
)
_PARTY = (
    "DisplayName Title GivenName MiddleName FamilyName Suffix CompanyName FullyQualifiedName "
    "PrintOnCheckName PrimaryEmailAddr PrimaryPhone AlternatePhone Mobile Fax WebAddr BillAddr "
    "OtherAddr Notes Active Balance CurrencyRef TaxIdentifier Source GSTIN BusinessNumber "
    "GSTRegistrationType OpenBalanceDate V4IDPseudonym"
)
_KNOWN_FIELDS: dict[str, frozenset[str]] = {
    entity.lower(): frozenset(f.lower() for f in (_COMMON + " " + fields).split())
    for entity, fields in {
        "Customer": _PARTY + " ShipAddr Job ParentRef Level BillWithParent BalanceWithJobs "
        "PreferredDeliveryMethod SalesTermRef PaymentMethodRef Taxable DefaultTaxCodeRef "
        "ResaleNum TaxExemptionReasonId CustomerTypeRef IsProject PrimaryTaxIdentifier "
        "SecondaryTaxIdentifier ARAccountRef ClientEntityId",
        "Vendor": _PARTY + " Vendor1099 AcctNum TermRef OtherContactInfo APAccountRef BillRate "
        "CostRate T4AEligible T5018Eligible HasTPAR VendorPaymentBankDetail TaxReportingBasis "
        "ContactInfo",
        "Employee": _PARTY + " EmployeeNumber SSN PrimaryAddr BillableTime BillRate CostRate "
        "BirthDate Gender HiredDate ReleasedDate Organization",
        "Item": "Name Sku Type Description UnitPrice PurchaseDesc PurchaseCost Taxable "
        "SalesTaxIncluded PurchaseTaxIncluded SalesTaxCodeRef PurchaseTaxCodeRef IncomeAccountRef "
        "ExpenseAccountRef AssetAccountRef TrackQtyOnHand QtyOnHand InvStartDate SubItem ParentRef "
        "Level FullyQualifiedName Active PrefVendorRef ReorderPoint AbatementRate ReverseChargeRate "
        "ServiceType ItemCategoryType ClassRef TaxClassificationRef Source ItemGroupDetail "
        "PrintGroupedItems",
        "Account": "Name SubAccount ParentRef Description FullyQualifiedName Active "
        "Classification AccountType AccountSubType AcctNum CurrentBalance "
        "CurrentBalanceWithSubAccounts CurrencyRef TaxCodeRef",
        "Invoice": _TXN + " " + _SALES + " Deposit AllowIPNPayment AllowOnlinePayment "
        "AllowOnlineCreditCardPayment AllowOnlineACHPayment InvoiceLink",
        "SalesReceipt": _TXN + " " + _SALES + " PaymentType CreditCardPayment",
        "Estimate": _TXN + " " + _SALES + " ExpirationDate AcceptedBy AcceptedDate TxnStatus",
        "CreditMemo": _TXN + " " + _SALES + " RemainingCredit InvoiceRef",
        "RefundReceipt": _TXN + " " + _SALES + " PaymentType CheckPayment CreditCardPayment",
        "Payment": _TXN + " CustomerRef DepositToAccountRef PaymentMethodRef PaymentRefNum "
        "UnappliedAmt ProcessPayment CreditCardPayment ARAccountRef",
        "Deposit": _TXN + " DepositToAccountRef CashBack",
        "PurchaseOrder": _TXN + " VendorRef APAccountRef POStatus VendorAddr ShipAddr DueDate "
        "POEmail ShipMethodRef SalesTermRef Memo EmailStatus ManuallyClosed ShipTo",
        "Bill": _TXN + " VendorRef APAccountRef SalesTermRef DueDate Balance HomeBalance "
        "VendorAddr",
    }.items()
}
_METADATA_FIELDS = frozenset({"createtime", "lastupdatedtime", "lastmodifiedbyref"})
_NOT_QUERYABLE = frozenset({"line", "linkedtxn", "customfield", "txntaxdetail", "departmentref"})
_NOT_QUERYABLE_BY_ENTITY = {"deposit": frozenset({"totalamt"})}
_HIDDEN_UNLESS_SELECTED = {"item": ("Sku",)}


def _row_has(rows: list[dict], head: str) -> bool:
    return any(isinstance(row, dict) and any(k.lower() == head for k in row) for row in rows)


def _validate_properties(query: ParsedQuery, rows: list[dict]) -> None:
    entity = query.entity.lower()
    known = _KNOWN_FIELDS.get(entity)
    display = _ENTITY_NAMES.get(entity, query.entity)
    filtered = [c.prop for c in query.conditions] + [t.prop for t in query.order_by]
    for prop in filtered:
        head = _path(prop)[0]
        if head in _NOT_QUERYABLE or head in _NOT_QUERYABLE_BY_ENTITY.get(entity, ()):
            raise _validation_error(f"property '{prop.split('.')[0]}' is not queryable")
    if known is None:
        return
    for prop in filtered + (query.columns or []) + query.select_extra:
        path = _path(prop)
        unknown = path[0] not in known and not _row_has(rows, path[0])
        if path[0] == "metadata" and len(path) > 1 and path[1] not in _METADATA_FIELDS:
            unknown = True
        if unknown:
            raise _validation_error(f"Property {prop} not found for Entity {display}")


# ----------------------------------------------------------------------------- execution


def execute(query: ParsedQuery, rows: list[dict], *, name_list: bool) -> QueryResult:
    """Filters, orders and pages `rows` (one entity's stored JSON dicts) like QBO.

    `name_list` hides inactive rows unless the WHERE clause mentions Active. Raises QueryError
    (4001) for properties the entity does not have.
    """
    _validate_properties(query, rows)
    predicates = [_compile(c) for c in query.conditions]
    hide_inactive = name_list and not query.mentions("Active")
    active = _Getter(("active",))

    matched: list[dict] = []
    for row in rows:
        if hide_inactive and _as_bool(active.value(row)) is False:
            continue
        for predicate in predicates:
            if not predicate(row):
                break
        else:
            matched.append(row)

    total = len(matched)
    if query.count:
        return QueryResult(rows=[], total=total)

    matched.sort(key=_id_order)
    for term in reversed(query.order_by):
        getter = _Getter(term.path)
        id_like = _is_id_like(term.path)
        matched.sort(key=lambda row: _sort_key(getter.value(row), id_like), reverse=term.descending)

    start = query.start_position - 1
    page = matched[start : start + query.max_results]
    return QueryResult(rows=_present(query, page), total=total)


def _present(query: ParsedQuery, page: list[dict]) -> list[dict]:
    if query.columns is not None:
        wanted = {_path(c)[0] for c in query.columns}
        return [{k: v for k, v in row.items() if k.lower() in wanted} for row in page]
    hidden = _HIDDEN_UNLESS_SELECTED.get(query.entity.lower(), ())
    selected = {s.lower() for s in query.select_extra}
    drop = [h for h in hidden if h.lower() not in selected]
    if not drop:
        return page
    return [
        {k: v for k, v in row.items() if k not in drop} if any(h in row for h in drop) else row
        for row in page
    ]
