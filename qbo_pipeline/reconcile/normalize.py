"""Normalization: what counts as "the same value" on both sides, and the match keys.

Comparison (per field kind, `comparable`):
  text   strip; empty -> None                 email  strip + lowercase; empty -> None
  phone  digits only ("(650) 554-1479" == "650.554.1479"); empty -> None
  enum   strip + lowercase                    money  integer cents, half-up; None -> 0
  qty    integer ten-thousandths              date   ISO "YYYY-MM-DD"
  bool   None -> False                        ref    the id as a string
  lines  a tuple of per-line tuples (order = position order)

Match keys (`match_key`): email as above; name = casefold, punctuation deleted, whitespace
collapsed ("O'Brien  Plumbing, Inc." -> "obrien plumbing inc"); doc_number = strip +
casefold.

For the 1M-row path the email and DocNumber keys have DuckDB SQL counterparts
(`sql_prefilter`, hashed in the id join) used only to pre-select candidates over a whole
table; every candidate pair is then confirmed with the exact Python key. The SQL form
lowercases with DuckDB's `lower` and trims spaces only, so a value whose key differs only by
exotic Unicode case folding (ß/ss) or surrounding tabs is not found as a duplicate of an
already linked record; among unlinked records the exact Python key is used as well.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from qbo_pipeline.reconcile import money

_PUNCT = re.compile(r"[^\w\s]|_")
_NON_DIGIT = re.compile(r"\D")


def is_missing(value: object) -> bool:
    """None and the missing markers pandas frames carry (NaN, NaT, pd.NA)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _as_text(value: object) -> str | None:
    if is_missing(value):
        return None
    return value if isinstance(value, str) else str(value)


def normalize_text(value: object) -> str | None:
    # the str test first: the detailed path calls this per differing cell, nearly always a str
    text = value if type(value) is str else _as_text(value)
    if text is None:
        return None
    return text.strip() or None


def normalize_email(value: object) -> str | None:
    text = normalize_text(value)
    return text.lower() if text else None


# ASCII text is its own NFKC form, casefolds like lower(), and re's \w/\s agree with
# isalnum()/isspace() on it (plus "_", which _PUNCT deletes as well): a translate table
# gives the same key without the regex, several times faster.
_ASCII_PUNCT = {c: None for c in range(128) if not (chr(c).isalnum() or chr(c).isspace())}


def normalize_name(value: object) -> str | None:
    text = value if type(value) is str else _as_text(value)
    if text is None:
        return None
    if text.isascii():
        key = " ".join(text.lower().translate(_ASCII_PUNCT).split())
    else:
        key = " ".join(_PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold()).split())
    return key or None


def normalize_phone(value: object) -> str | None:
    text = _as_text(value)
    if text is None:
        return None
    digits = _NON_DIGIT.sub("", text)
    return digits or None


def normalize_enum(value: object) -> str | None:
    text = normalize_text(value)
    return text.lower() if text else None


def normalize_doc_number(value: object) -> str | None:
    text = normalize_text(value)
    return text.casefold() if text else None


def normalize_money(value: object) -> int:
    return money.cents(value) or 0


def normalize_qty(value: object) -> int | None:
    return money.qty_units(value)


def normalize_date(value: object) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text[:10] or None


def normalize_bool(value: object) -> bool:
    if is_missing(value):
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def normalize_ref(value: object) -> str | None:
    return normalize_text(value)


SCALAR: dict[str, Callable[[object], object]] = {
    "text": normalize_text,
    "email": normalize_email,
    "phone": normalize_phone,
    "enum": normalize_enum,
    "money": normalize_money,
    "qty": normalize_qty,
    "date": normalize_date,
    "bool": normalize_bool,
    "tax_code": normalize_bool,
    "ref": normalize_ref,
}

KEYS: dict[str, Callable[[object], str | None]] = {
    "email": normalize_email,
    "name": normalize_name,
    "doc_number": normalize_doc_number,
    "text": normalize_text,
    "ref": normalize_ref,
    "date": normalize_date,
    "money": lambda value: None if is_missing(value) else str(normalize_money(value)),
}


def comparable(kind: str, value: object) -> object:
    """The value as compared for a field of `kind` (module docstring)."""
    return SCALAR[kind](value)


def comparable_lines(
    lines: object, line_kinds: Sequence[tuple[str, str]], translate: Mapping[str, Callable] | None = None
) -> tuple:
    """A document's lines as a tuple of per-line tuples, in position order.

    `line_kinds` lists (column, kind) of the compared line columns; `translate` maps a column
    to a function applied before normalizing (QBO item ids -> JobsiteOn ids)."""
    if not isinstance(lines, (list, tuple, np.ndarray)):
        return ()
    ordered = sorted(lines, key=_position)
    out = []
    for line in ordered:
        values = []
        for column, kind in line_kinds:
            value = line.get(column)
            if translate and column in translate:
                value = translate[column](value)
            values.append(SCALAR[kind](value))
        out.append(tuple(values))
    return tuple(out)


def _position(line: Mapping[str, object]) -> float:
    position = line.get("position")
    return float(position) if isinstance(position, (int, float)) and not is_missing(position) else 0.0


def comparable_values(kind: str, values: Iterable[object]) -> list[object]:
    fn = SCALAR[kind]
    return [fn(v) for v in values]


def match_key(kind: str, value: object) -> str | None:
    return KEYS[kind](value)


def composite_key(kinds: Sequence[str], values: Sequence[object]) -> str | None:
    """A key over several columns (payments: customer, date, amount); None if any part is
    missing, so incomplete records never match."""
    parts = []
    for kind, value in zip(kinds, values):
        part = KEYS[kind](value)
        if part is None:
            return None
        parts.append(part)
    return "\x1f".join(parts)


# -- SQL prefilters (DuckDB) for keys searched over a whole table -----------------------------

def sql_prefilter(kind: str, column: str) -> str | None:
    """A DuckDB expression for the key of `column` (NULL when there is none) such that equal
    Python keys give equal SQL keys (up to the Unicode caveat in the module docstring);
    None when the key has no cheap SQL form. trim() costs ~100 ns a row, so only values
    with surrounding spaces pay for it."""
    if kind not in ("email", "doc_number", "text", "ref"):
        return None
    trimmed = (
        f"CASE WHEN {column} IS NULL OR {column} = '' THEN NULL "
        f"WHEN starts_with({column}, ' ') OR ends_with({column}, ' ') THEN nullif(trim({column}), '') "
        f"ELSE {column} END"
    )
    return f"lower({trimmed})" if kind in ("email", "doc_number") else trimmed


def sql_key_hash(kind: str, column: str) -> str | None:
    """A UBIGINT per row: the hash of `sql_prefilter` (records without a key all hash to
    `hash(NULL::VARCHAR)`, which callers treat as "no key"). The key expression appears
    once, so DuckDB lowercases each value once."""
    key = sql_prefilter(kind, column)
    return None if key is None else f"hash({key})"
