"""JobsiteOn's invoice math against hand-computed cents (QBO's method, half-up rounding)."""
from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from qbo_pipeline.jobsiteon.money import compute_document_totals, line_amount, round_cents


def line(qty, price, taxable=True):
    return {"qty": D(str(qty)), "unit_price": D(str(price)), "taxable": taxable}


def test_line_amount_rounds_half_up_not_to_even():
    assert line_amount(D("1"), D("0.125")) == D("0.13")          # half-even would give 0.12
    assert line_amount(D("0.5"), D("0.25")) == D("0.13")
    assert line_amount(D("2.5"), D("0.05")) == D("0.13")
    assert line_amount(D("3"), D("0.333")) == D("1.00")           # 0.999
    assert line_amount(D("1.5"), D("85")) == D("127.50")
    assert round_cents(D("-0.125")) == D("-0.13")                 # away from zero
    assert line_amount(0.1, 3) == D("0.30")                       # floats via repr, no 0.30000000000000004


def test_exclusive_matches_the_qbo_sample_invoice():
    # invoice.json: Rock Fountain 1 x 275 + Sprinkler Pipes 4 x 4, both TAX, 8 % -> 23.28 / 314.28
    subtotal, tax, total = compute_document_totals([line(1, 275), line(4, 4)], D("0.08"), False)
    assert (subtotal, tax, total) == (D("291.00"), D("23.28"), D("314.28"))


def test_exclusive_taxes_only_taxable_lines_and_rounds_the_tax_half_up():
    lines = [line(1, "10.50"), line(2, "40.00", taxable=False)]
    # taxable 10.50 x 5 % = 0.525 -> 0.53 (half-even: 0.52)
    assert compute_document_totals(lines, D("0.05"), False) == (D("90.50"), D("0.53"), D("91.03"))
    # 15.00 x 8.25 % = 1.2375 -> 1.24; the line amounts are rounded before summing:
    # 3 x 1.665 = 4.995 -> 5.00, + 10.005 -> 10.01 => taxable 15.01 x 0.0825 = 1.238325 -> 1.24
    assert compute_document_totals([line(3, "1.665"), line(1, "10.005")], D("0.0825"), False) == (
        D("15.01"), D("1.24"), D("16.25"))


def test_exclusive_tax_of_a_tiny_line():
    # 0.125 -> 0.13; 0.13 x 8.25 % = 0.010725 -> 0.01
    assert compute_document_totals([line(1, "0.125")], D("0.0825"), False) == (
        D("0.13"), D("0.01"), D("0.14"))


def test_inclusive_totals_are_the_gross_lines_and_tax_is_backed_out():
    # 108.25 gross at 8.25 % = 100.00 net + 8.25 tax
    assert compute_document_totals([line(1, "108.25")], D("0.0825"), True) == (
        D("100.00"), D("8.25"), D("108.25"))
    # 10.00 gross at 8.25 %: 10 - 10/1.0825 = 0.762124... -> 0.76, net 9.24
    assert compute_document_totals([line(1, "10.00")], D("0.0825"), True) == (
        D("9.24"), D("0.76"), D("10.00"))
    # non-taxable lines carry no tax inside them
    lines = [line(1, "108.25"), line(1, "50.00", taxable=False)]
    assert compute_document_totals(lines, D("0.0825"), True) == (
        D("150.00"), D("8.25"), D("158.25"))
    # an exact half cent: 0.12 x 0.6/1.6 = 0.045 -> 0.05 (half-even: 0.04)
    assert compute_document_totals([line(1, "0.12")], D("0.6"), True) == (
        D("0.07"), D("0.05"), D("0.12"))


def test_no_lines_and_zero_rate():
    assert compute_document_totals([], D("0.0825"), False) == (D("0"), D("0"), D("0"))
    assert compute_document_totals([line(2, "19.99")], D("0"), True) == (
        D("39.98"), D("0.00"), D("39.98"))


def _half_up(value: Fraction) -> Fraction:
    cents = value * 100
    whole = int(cents)  # toward zero; inputs here are non-negative
    return Fraction(whole + (1 if cents - whole >= Fraction(1, 2) else 0), 100)


cents = st.integers(min_value=0, max_value=10_000_00).map(lambda c: D(c) / 100)
quantities = st.integers(min_value=1, max_value=2_000_0).map(lambda q: D(q) / 10)
rates = st.integers(min_value=0, max_value=150_000).map(lambda r: D(r) / 1_000_000)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(quantities, cents, st.booleans()), max_size=15), rates, st.booleans())
def test_totals_agree_with_exact_rational_arithmetic(raw_lines, rate, inclusive):
    lines = [{"qty": q, "unit_price": p, "taxable": t} for q, p, t in raw_lines]
    subtotal, tax, total = compute_document_totals(lines, rate, inclusive)
    assert subtotal + tax == total
    amounts = [_half_up(Fraction(q) * Fraction(p)) for q, p, _ in raw_lines]
    taxable = sum((a for a, (_, _, t) in zip(amounts, raw_lines) if t), Fraction(0))
    if inclusive:
        assert Fraction(total) == sum(amounts, Fraction(0))
        assert Fraction(tax) == _half_up(taxable - taxable / (1 + Fraction(rate)))
    else:
        assert Fraction(subtotal) == sum(amounts, Fraction(0))
        assert Fraction(tax) == _half_up(taxable * Fraction(rate))
