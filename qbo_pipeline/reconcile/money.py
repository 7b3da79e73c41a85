"""Money the way QBO computes it, exact to the cent.

Every amount is a `Decimal`; comparisons happen on integer cents. Rounding is half-up (away
from zero: 0.125 -> 0.13) once per line and once for the document's tax, never on
intermediate sums — the rule QBO and JobsiteOn both follow (qbo_pipeline/jobsiteon/money.py,
qbo_pipeline/emulator/computations.py):

    line amount      = round_half_up(qty x unit_price, 2)
    tax-exclusive    : tax = round_half_up(sum(taxable line amounts) x rate, 2)
                       TotalAmt = subtotal + tax
    tax-inclusive    : lines are gross; TotalAmt = sum(line amounts)
                       tax = round_half_up(gross_taxable - gross_taxable / (1 + rate), 2)
                       subtotal = TotalAmt - tax

`rate` is a fraction (0.08 for 8 %).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
QTY_UNIT = Decimal("0.0001")
ZERO = Decimal("0.00")


def to_decimal(value: object) -> Decimal | None:
    """An exact Decimal from Decimal/int/str/float (floats through their shortest repr, so
    314.28 stays 314.28); None for missing values (None, NaN, pandas NA)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return None if value.is_nan() else value
    if isinstance(value, float):
        return None if math.isnan(value) else Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def round_half_up(value: Decimal, places: Decimal = CENT) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def money(value: object) -> Decimal | None:
    """A money value rounded half-up to the cent (None stays None)."""
    amount = to_decimal(value)
    return None if amount is None else round_half_up(amount)


def quantity(value: object) -> Decimal | None:
    amount = to_decimal(value)
    return None if amount is None else round_half_up(amount, QTY_UNIT)


def cents(value: object) -> int | None:
    """Integer cents, half-up; None for a missing value."""
    amount = to_decimal(value)
    if amount is None:
        return None
    return int(round_half_up(amount).scaleb(2))


def qty_units(value: object) -> int | None:
    """Integer ten-thousandths (NUMERIC(14,4)); None for a missing value."""
    amount = to_decimal(value)
    if amount is None:
        return None
    return int(round_half_up(amount, QTY_UNIT).scaleb(4))


def from_cents(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(CENT)


def line_amount(qty: object, unit_price: object) -> Decimal:
    """QBO's line Amount: round_half_up(qty x unit_price, 2); a missing qty counts as 1."""
    q = to_decimal(qty)
    price = to_decimal(unit_price) or ZERO
    return round_half_up((Decimal(1) if q is None else q) * price)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def document_totals(
    lines: Iterable[Mapping[str, object]],
    tax_rate: object,
    tax_inclusive: bool,
    *,
    price_key: str = "unit_price",
) -> Totals:
    """(subtotal, tax, total) of a sales document computed QBO's way (module docstring).

    `lines` are canonical line dicts (`qty`, `unit_price`, `taxable`; a missing `taxable`
    counts as taxable). Documents without tax (purchase orders) pass tax_rate 0."""
    rate = to_decimal(tax_rate) or Decimal(0)
    amounts = ZERO
    taxable = ZERO
    for line in lines:
        amount = line_amount(line.get("qty"), line.get(price_key))
        amounts += amount
        if line.get("taxable", True) is not False:
            taxable += amount
    if rate == 0 or taxable == 0:
        return Totals(amounts, ZERO, amounts)
    if tax_inclusive:
        tax = round_half_up(taxable - taxable / (1 + rate))
        return Totals(amounts - tax, tax, amounts)
    tax = round_half_up(taxable * rate)
    return Totals(amounts, tax, amounts + tax)


def format_delta(delta_cents: int) -> str:
    """+0.01 / -1.50: a signed amount for messages."""
    sign = "+" if delta_cents >= 0 else "-"
    return f"{sign}{from_cents(abs(delta_cents))}"
