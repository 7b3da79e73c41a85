"""Server-computed money: line amounts, subtotal, sales tax, totals, balances.

All money is `Decimal`, rounded half-up to the cent (QBO rounds half-up; a float product
would round 0.005 down). Values serialize as JSON numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from . import errors

CENT = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")


def round_half_up(value: Decimal, places: Decimal = CENT) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def number(value: Any, element: str) -> Decimal:
    """A JSON number (or numeric string, which QBO also accepts) as an exact Decimal."""
    if isinstance(value, bool) or value is None:
        raise errors.invalid_request(f"Invalid number for {element}: {value!r}", element)
    if isinstance(value, Decimal):
        return value
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise errors.invalid_request(f"Invalid number for {element}: {value!r}", element) from None
    if not result.is_finite():
        raise errors.invalid_request(f"Invalid number for {element}: {value!r}", element)
    return result


def money(value: Any, element: str) -> Decimal:
    return round_half_up(number(value, element))


def plain(value: Decimal) -> Decimal:
    """A quantity/price without trailing zeros (UnitPrice 275 stays 275, 0.750 becomes 0.75)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def check_line_amount(amount: Decimal, qty: Decimal | None, unit_price: Decimal | None,
                      element: str = "Line.Amount") -> None:
    """QBO answers 6070 when Amount differs from round_half_up(Qty × UnitPrice, 2)."""
    if qty is None or unit_price is None:
        return
    if round_half_up(qty * unit_price) != amount:
        raise errors.amount_mismatch(amount, element)


@dataclass
class TaxResult:
    taxable: Decimal          # sum of taxable line amounts as entered (gross when tax-inclusive)
    tax: Decimal
    net_taxable: Decimal      # NetAmountTaxable reported on the TaxLine
    total: Decimal            # TotalAmt of the transaction


def sales_tax(subtotal: Decimal, discount: Decimal, taxable: Decimal, rate_percent: Decimal | None,
              mode: str) -> TaxResult:
    """Sales tax and TotalAmt of a sales form (Invoice, CreditMemo, RefundReceipt).

    Tax-exclusive (US default, `GlobalTaxCalculation` absent or "TaxExcluded"):
        tax      = round_half_up(Σ taxable line Amount × rate, 2)
        TotalAmt = subtotal − discount + tax
    The invoice.json sample: taxable 291.00 at 8 % → tax 23.28, TotalAmt 314.28.

    Tax-inclusive (`GlobalTaxCalculation` = "TaxInclusive", used by non-US locales): each line
    Amount (= Qty × UnitPrice) is a gross figure that already contains the tax, so
        gross    = Σ taxable line Amount
        tax      = round_half_up(gross − gross / (1 + rate), 2)
        NetAmountTaxable = gross − tax
        TotalAmt = Σ line Amount − discount          (tax is inside the lines, not added)
    Reference: Intuit "Global tax model" / Invoice reference, GlobalTaxCalculation
    (developer.intuit.com/app/developer/qbo/docs/workflows/manage-sales-tax-for-non-us-locales),
    where TaxInclusiveAmt is the gross line amount and NetAmountTaxable the amount net of tax.

    "NotApplicable" (or a company without sales tax): no tax, TotalAmt = subtotal − discount.
    """
    if rate_percent is None or mode == "NotApplicable" or taxable == ZERO:
        return TaxResult(taxable, ZERO, taxable, subtotal - discount)
    rate = rate_percent / HUNDRED
    if mode == "TaxInclusive":
        tax = round_half_up(taxable - taxable / (Decimal(1) + rate))
        return TaxResult(taxable, tax, taxable - tax, subtotal - discount)
    tax = round_half_up(taxable * rate)
    return TaxResult(taxable, tax, taxable, subtotal - discount + tax)


def percent_of(base: Decimal, percent: Decimal) -> Decimal:
    return round_half_up(base * percent / HUNDRED)
