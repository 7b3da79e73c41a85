"""Money math JobsiteOn shares with QBO: line amounts, sales tax, document totals.

Rounding follows QBO: every amount is rounded to the cent half-up (ROUND_HALF_UP, i.e. a
half cent goes away from zero: 0.125 -> 0.13, -0.125 -> -0.13), once per line and once for
the document's tax; never on intermediate sums.

Tax-exclusive documents (the US norm): line amounts are net;
    tax = round(sum(taxable line amounts) * rate), total = subtotal + tax.
Tax-inclusive documents: line amounts are gross (the customer-facing prices include tax),
and QBO reports TotalAmt as the sum of the gross lines, so we do the same:
    total = sum(line amounts)
    tax = round(gross_taxable - gross_taxable / (1 + rate))
    subtotal = total - tax          (net of tax)
So in both modes subtotal + tax == total exactly.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_decimal(value: object) -> Decimal:
    """Decimal from Decimal/int/str/float without binary-float noise (floats via repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not an amount: {value!r}")
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def round_cents(value: object) -> Decimal:
    """Rounds to the cent, half-up (away from zero), as QBO does."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(qty: object, unit_price: object) -> Decimal:
    """QBO's line Amount: round_half_up(qty x unit_price, 2)."""
    return round_cents(to_decimal(qty) * to_decimal(unit_price))


def compute_document_totals(
    lines: Iterable[Mapping[str, object]], tax_rate: object, tax_inclusive: bool
) -> tuple[Decimal, Decimal, Decimal]:
    """(subtotal, tax, total) of a sales document.

    `lines` are mappings with `qty`, `unit_price` and optional `taxable` (default True);
    `tax_rate` is a fraction (0.0825 for 8.25 %). See the module docstring for the method.
    """
    rate = to_decimal(tax_rate)
    amounts_sum = ZERO
    taxable_sum = ZERO
    for line in lines:
        amount = line_amount(line.get("qty", 1), line.get("unit_price", 0))
        amounts_sum += amount
        if line.get("taxable", True):
            taxable_sum += amount
    if tax_inclusive:
        tax = round_cents(taxable_sum - taxable_sum / (1 + rate))
        total = amounts_sum
        return total - tax, tax, total
    tax = round_cents(taxable_sum * rate)
    return amounts_sum, tax, amounts_sum + tax


def sum_line_costs(lines: Iterable[Mapping[str, object]], price_key: str = "unit_cost") -> Decimal:
    """Total of untaxed qty x price lines (purchase orders)."""
    return sum(
        (line_amount(line.get("qty", 1), line.get(price_key, 0)) for line in lines), ZERO
    )
