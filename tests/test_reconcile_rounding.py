"""Money: half-up rounding to the cent, totals computed QBO's way, and total mismatches."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from qbo_pipeline.emulator import computations as emulator
from qbo_pipeline.jobsiteon import money as jobsiteon_money
from qbo_pipeline.reconcile import money, reconcile, residual
from tests.reconcile_fixtures import (
    id_map, jobsiteon_frame, jobsiteon_invoice, line, one, qbo_frame, qbo_invoice, rows_for,
)

REFS = {"customers": id_map([("c1", "17")]), "items": id_map([("itm_1", "5")])}


def test_half_up_and_cents():
    assert money.round_half_up(Decimal("0.125")) == Decimal("0.13")
    assert money.round_half_up(Decimal("-0.125")) == Decimal("-0.13")
    assert money.cents(2.675) == 268  # the float's repr, not its binary value (267.49...)
    assert money.cents(Decimal("314.28")) == 31428 and money.cents(None) is None
    assert money.line_amount(Decimal("2.5"), Decimal("0.03")) == Decimal("0.08")
    assert money.line_amount(None, Decimal("4")) == Decimal("4.00")  # QBO: no Qty means 1
    assert money.format_delta(-150) == "-1.50" and money.format_delta(1) == "+0.01"


def test_document_totals_both_modes():
    lines = [{"qty": Decimal("1"), "unit_price": Decimal("275"), "taxable": True},
             {"qty": Decimal("4"), "unit_price": Decimal("4"), "taxable": True}]
    exclusive = money.document_totals(lines, Decimal("0.08"), False)
    assert (exclusive.subtotal, exclusive.tax, exclusive.total) == (Decimal("291.00"), Decimal("23.28"), Decimal("314.28"))
    inclusive = money.document_totals(lines, Decimal("0.08"), True)
    assert inclusive.total == Decimal("291.00") and inclusive.tax == Decimal("21.56")
    assert inclusive.subtotal + inclusive.tax == inclusive.total


LINES = st.lists(
    st.fixed_dictionaries({
        "qty": st.integers(1, 400_000).map(lambda n: Decimal(n).scaleb(-4)),
        "unit_price": st.integers(0, 500_000).map(lambda n: Decimal(n).scaleb(-2)),
        "taxable": st.booleans(),
    }),
    min_size=1, max_size=8,
)
RATES = st.sampled_from(["0", "0.05", "0.0725", "0.08", "0.0825", "0.1", "0.15"]).map(Decimal)


@settings(max_examples=150, deadline=None)
@given(LINES, RATES, st.booleans())
def test_totals_agree_with_jobsiteon_and_the_emulator(lines, rate, inclusive):
    ours = money.document_totals(lines, rate, inclusive)
    assert ours == money.Totals(*jobsiteon_money.compute_document_totals(lines, rate, inclusive))
    amounts = [emulator.round_half_up(l["qty"] * l["unit_price"]) for l in lines]
    taxable = sum((a for a, l in zip(amounts, lines) if l["taxable"]), Decimal(0))
    qbo = emulator.sales_tax(sum(amounts, Decimal(0)), Decimal(0), taxable, rate * 100,
                             "TaxInclusive" if inclusive else "TaxExcluded")
    assert (qbo.tax, qbo.total) == (ours.tax, ours.total)


@settings(max_examples=40, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=6), RATES, st.booleans())
def test_correctly_synced_invoices_never_read_as_a_mismatch(invoices, rate, inclusive):
    """JobsiteOn's totals (its own code) vs QBO's TotalAmt (the emulator's code), both modes."""
    j_rows, q_rows, links = [], [], []
    for n, raw in enumerate(invoices):
        j_lines = [line("itm_1", l["qty"], l["unit_price"], l["taxable"], i) for i, l in enumerate(raw, 1)]
        q_lines = [line("5", l["qty"], l["unit_price"], l["taxable"], i) for i, l in enumerate(raw, 1)]
        j = jobsiteon_invoice(f"inv_{n}", f"{n}", "c1", j_lines, rate=rate, inclusive=inclusive)
        j.update(zip(("subtotal", "tax", "total"), jobsiteon_money.compute_document_totals(j_lines, rate, inclusive)))
        amounts = [emulator.round_half_up(l["qty"] * l["unit_price"]) for l in raw]
        taxable = sum((a for a, l in zip(amounts, raw) if l["taxable"]), Decimal(0))
        qbo_total = emulator.sales_tax(sum(amounts, Decimal(0)), Decimal(0), taxable, rate * 100,
                                       "TaxInclusive" if inclusive else "TaxExcluded").total
        q = qbo_invoice(f"{500 + n}", f"{n}", "17", q_lines, rate=rate, inclusive=inclusive)
        q.update(total=qbo_total, balance=qbo_total)
        j.update(balance=j["total"])
        j_rows.append(j)
        q_rows.append(q)
        links.append((f"inv_{n}", f"{500 + n}"))
    plan = reconcile("invoices", jobsiteon_frame("invoices", j_rows), qbo_frame("invoices", q_rows), id_map(links),
                     ref_id_maps=REFS, settings={"tax_rate": rate})
    assert residual(plan) == 0, plan[["jobsiteon_id", "status", "reason"]]
    assert not plan["reason"].astype(str).str.contains("total mismatch").any()


def test_a_real_one_cent_difference_is_a_total_mismatch_with_its_delta():
    lines = [line("itm_1", 1, "0.05", position=1), line("itm_1", 1, "0.05", position=2)]
    j = jobsiteon_invoice("inv_1", "1", "c1", lines, rate=Decimal("0.1"))
    j.update(tax=Decimal("0.02"), total=Decimal("0.12"), balance=Decimal("0.12"))  # tax rounded per line
    q = qbo_invoice("500", "1", "17", [dict(l, item_id="5") for l in lines], rate=Decimal("0.1"))
    assert q["total"] == Decimal("0.11")
    plan = reconcile("invoices", jobsiteon_frame("invoices", [j]), qbo_frame("invoices", [q]),
                     id_map([("inv_1", "500")]), ref_id_maps=REFS, settings={"tax_rate": "0.1"})
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["status"], row["action"], row["fields"]) == ("blocked", "none", ("total",))
    assert row["total_delta"] == Decimal("0.01")
    assert row["reason"].startswith("total mismatch: JobsiteOn total 0.12 vs QBO TotalAmt 0.11 (delta +0.01)")
    assert "QBO's rounding of the same lines gives 0.11" in row["reason"]
    assert residual(plan) == 1


def test_no_mismatch_is_reported_while_a_push_is_pending():
    j_lines = [line("itm_1", 2, "10.00")]
    j = jobsiteon_invoice("inv_1", "1", "c1", j_lines, updated_at=__import__("pandas").Timestamp("2025-03-02T00:00Z"))
    q = qbo_invoice("500", "1", "17", [line("5", 1, "10.00")])
    plan = reconcile("invoices", jobsiteon_frame("invoices", [j]), qbo_frame("invoices", [q]),
                     id_map([("inv_1", "500")]), ref_id_maps=REFS)
    row = one(plan, jobsiteon_id="inv_1")
    assert (row["action"], row["fields"]) == ("update_qbo", ("lines",))


def test_a_tax_inclusive_invoice_in_a_us_company_is_one_total_mismatch_and_nothing_else():
    """A US QBO company ignores GlobalTaxCalculation and adds tax on top: the flag is not
    compared (QBO cannot hold it), the total is blocked with the fix in its reason, and the
    balance QBO derived from its own total is not pulled into JobsiteOn meanwhile."""
    lines = [line("itm_1", 1, "108.00")]
    j = jobsiteon_invoice("inv_1", "1", "c1", lines, inclusive=True)  # total 108.00, tax 8.00 inside
    q = qbo_invoice("500", "1", "17", [dict(l, item_id="5") for l in lines])  # 108.00 + 8.64 on top
    assert (j["total"], q["total"]) == (Decimal("108.00"), Decimal("116.64"))
    us = {"tax_rate": "0.08", "send_global_tax_calculation": False}
    plan = reconcile("invoices", jobsiteon_frame("invoices", [j]), qbo_frame("invoices", [q]),
                     id_map([("inv_1", "500")]), ref_id_maps=REFS, settings=us)
    [row] = rows_for(plan, jobsiteon_id="inv_1").to_dict("records")
    assert (row["status"], row["action"], row["fields"]) == ("blocked", "none", ("total",))
    assert "a US QBO company has no tax-inclusive pricing" in row["reason"]
    assert row["total_delta"] == Decimal("-8.64")

    # A company on the global tax model holds the flag: the same pair pushes it instead.
    global_ = reconcile("invoices", jobsiteon_frame("invoices", [j]), qbo_frame("invoices", [q]),
                        id_map([("inv_1", "500")]), ref_id_maps=REFS, settings={"tax_rate": "0.08"})
    pushed = one(global_, jobsiteon_id="inv_1")
    assert (pushed["action"], pushed["fields"]) == ("update_qbo", ("tax_inclusive",))
