"""Side effects of a write on other objects: customer balances, invoice/credit-memo balances
from the payments applied to them, and the Deposit link on deposited payments.

What the sandbox shows (samples): a customer's Balance follows its open invoices and its
LastUpdatedTime moves with them while its SyncToken stays (customer.json vs invoice.json); an
invoice paid by a payment gets the payment in LinkedTxn, a new Balance, a new SyncToken and
LastUpdatedTime (invoice_paid.json); a deposited payment gets LinkedTxn Deposit and keeps its
SyncToken (payment_deposited.json).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from .computations import ZERO, number, round_half_up
from .models import Company, Record
from .validation import Context


def _touch(company: Company, ctx: Context, record: Record, *, bump: bool) -> None:
    if ctx.touch_related:
        company.touch(record, ctx.moment, bump=bump)


def contribution(entity: str, data: dict[str, Any] | None) -> tuple[str | None, Decimal]:
    """(customer id, amount) a transaction adds to its customer's open balance."""
    if data is None:
        return None, ZERO
    customer = (data.get("CustomerRef") or {}).get("value")
    if entity == "Invoice":
        return customer, Decimal(data.get("Balance", 0))
    if entity == "CreditMemo":
        return customer, -Decimal(data.get("RemainingCredit", 0))
    if entity == "Payment":
        return customer, -Decimal(data.get("UnappliedAmt", 0))
    return None, ZERO


def customer_effect(company: Company, ctx: Context, entity: str, old: dict[str, Any] | None,
                    new: dict[str, Any] | None) -> None:
    old_customer, old_amount = contribution(entity, old)
    new_customer, new_amount = contribution(entity, new)
    if old_customer == new_customer:
        adjust_customer(company, ctx, new_customer, new_amount - old_amount)
    else:
        adjust_customer(company, ctx, old_customer, -old_amount)
        adjust_customer(company, ctx, new_customer, new_amount)


def adjust_customer(company: Company, ctx: Context, customer_id: str | None, delta: Decimal) -> None:
    if customer_id is None or delta == ZERO:
        return
    record = company.stores["Customer"].get(customer_id)
    if record is None:
        return
    data = record.data
    data["Balance"] = round_half_up(number(data.get("Balance", 0), "Balance") + delta)
    data["BalanceWithJobs"] = round_half_up(number(data.get("BalanceWithJobs", 0), "BalanceWithJobs") + delta)
    _touch(company, ctx, record, bump=False)
    seen = {customer_id}
    parent_id = (data.get("ParentRef") or {}).get("value")
    while parent_id and parent_id not in seen:
        seen.add(parent_id)
        parent = company.stores["Customer"].get(parent_id)
        if parent is None:
            break
        parent.data["BalanceWithJobs"] = round_half_up(
            number(parent.data.get("BalanceWithJobs", 0), "BalanceWithJobs") + delta)
        _touch(company, ctx, parent, bump=False)
        parent_id = (parent.data.get("ParentRef") or {}).get("value")


def applied_total(company: Company, txn_type: str, txn_id: str, *, excluding: str | None = None) -> Decimal:
    payments = company.applied.get((txn_type, txn_id))
    if not payments:
        return ZERO
    return sum((amount for pid, amount in payments.items() if pid != excluding), ZERO)


def payment_applications(data: dict[str, Any] | None) -> dict[tuple[str, str], Decimal]:
    """{("Invoice"|"CreditMemo", id): amount} that a stored payment applies."""
    result: dict[tuple[str, str], Decimal] = {}
    if not data:
        return result
    for line in data.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            kind = link.get("TxnType")
            if kind in ("Invoice", "CreditMemo"):
                key = (kind, str(link.get("TxnId")))
                result[key] = result.get(key, ZERO) + Decimal(line.get("Amount", 0))
    return result


def refresh_target(company: Company, ctx: Context, kind: str, txn_id: str) -> None:
    """Recomputes an invoice's Balance/LinkedTxn or a credit memo's RemainingCredit after the
    payments applied to it changed; bumps its SyncToken like QBO."""
    record = company.stores[kind].get(txn_id)
    if record is None:
        return
    old = dict(record.data)
    data = record.data
    paid = applied_total(company, kind, txn_id)
    total = Decimal(data.get("TotalAmt", 0))
    if kind == "Invoice":
        data["Balance"] = round_half_up(total - paid - Decimal(data.get("Deposit", 0)))
        data["LinkedTxn"] = [{"TxnId": pid, "TxnType": "Payment"}
                             for pid in company.applied.get(("Invoice", txn_id), {})]
    else:
        remaining = round_half_up(total - paid)
        data["RemainingCredit"] = remaining
        data["Balance"] = remaining
    _touch(company, ctx, record, bump=True)
    customer_effect(company, ctx, kind, old, data)


def apply_payment(company: Company, ctx: Context, payment_id: str, old: dict[str, Any] | None,
                  new: dict[str, Any] | None) -> None:
    before = payment_applications(old)
    after = payment_applications(new)
    for key in set(before) | set(after):
        payments = company.applied.setdefault(key, {})
        if key in after:
            payments[payment_id] = after[key]
        else:
            payments.pop(payment_id, None)
        if not payments:
            company.applied.pop(key, None)
        if before.get(key) != after.get(key):
            refresh_target(company, ctx, key[0], key[1])


def deposit_links(data: dict[str, Any] | None) -> set[str]:
    ids: set[str] = set()
    for line in (data or {}).get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            if link.get("TxnType") == "Payment":
                ids.add(str(link.get("TxnId")))
    return ids


def apply_deposit(company: Company, deposit_id: str, old: dict[str, Any] | None,
                  new: dict[str, Any] | None) -> None:
    before = deposit_links(old)
    after = deposit_links(new)
    for payment_id in before - after:
        if company.deposited.get(payment_id) == deposit_id:
            company.deposited.pop(payment_id, None)
        record = company.stores["Payment"].get(payment_id)
        if record is not None:
            links = [x for x in record.data.get("LinkedTxn", [])
                     if not (x.get("TxnType") == "Deposit" and x.get("TxnId") == deposit_id)]
            if links:
                record.data["LinkedTxn"] = links
            else:
                record.data.pop("LinkedTxn", None)
    for payment_id in after - before:
        company.deposited[payment_id] = deposit_id
        record = company.stores["Payment"].get(payment_id)
        if record is not None:
            links = list(record.data.get("LinkedTxn", []))
            links.append({"TxnId": deposit_id, "TxnType": "Deposit"})
            record.data["LinkedTxn"] = links


def linked_payments(company: Company, kind: str, txn_id: str) -> list[str]:
    return list(company.applied.get((kind, txn_id), {}))


def is_deposited(company: Company, payment: Record) -> bool:
    return payment.data["Id"] in company.deposited
