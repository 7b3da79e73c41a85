"""The JobsiteOn side of the demo books: pricebook, vendors, contacts, invoices with their
payments, weekly deposits, credit memos, refund receipts and purchase orders.

Every document is internally consistent: line amounts are exact cents (QBO rejects
Amount != Qty x UnitPrice), totals come from `money.compute_document_totals`, and an
invoice's amount_paid/balance/status follow its payments.
"""
from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from qbo_pipeline.jobsiteon.demo import catalog as cat
from qbo_pipeline.jobsiteon.demo.context import DemoContext
from qbo_pipeline.jobsiteon.money import ZERO, compute_document_totals, round_cents, sum_line_costs

BANK_ACCOUNT = "Business Checking"
LINE_COUNT_WEIGHTS = (20, 18, 15, 12, 9, 7, 5, 4, 3, 2, 2, 1, 1, 1, 1)  # 1..15 lines


class JobsiteOnGenerator(DemoContext):
    def items(self) -> None:
        rng = self.rng
        catalog = {name: (price, "service") for name, price in cat.SERVICES}
        catalog |= {name: (price, "part") for name, price in cat.PARTS}
        rest = [name for name in catalog if name not in cat.STAPLE_ITEMS]
        rng.shuffle(rest)
        names = list(cat.STAPLE_ITEMS) + rest
        wanted = self.count("pricebook_items")
        reserve = self.count("qbo_only_items")
        pool = [(name, *catalog[name]) for name in names]
        for variant in cat.ITEM_VARIANTS:  # only reached above ~1.3x scale
            if len(pool) >= wanted + reserve:
                break
            pool += [(f"{name} {variant}", *catalog[name]) for name in names]
        self.spare_items = pool[wanted:wanted + reserve]
        for name, price, kind in pool[:wanted]:
            self.books.pricebook_items.append({
                "id": self.new_id("itm"),
                "name": name,
                "description": item_description(name, kind),
                "default_price": Decimal(price).quantize(Decimal("0.01")),
                "type": kind,
                "archived": False,
                **self.stamps(400, 1000, edit_chance=0.25),
            })
        candidates = [i for i in self.books.pricebook_items[len(cat.STAPLE_ITEMS):]]
        archived = rng.sample(candidates, max(1, round(len(candidates) * 0.03)))
        for item in archived:
            item["archived"] = True
            item["updated_at"] = max(item["updated_at"], self.at(self.days_ago(20, 200)))
        self.books.scenarios["archived_items"] = [i["id"] for i in archived]
        self.active_items = [i for i in self.books.pricebook_items if not i["archived"]]

    def vendors(self) -> None:
        for index in range(self.count("vendors")):
            subcontractor = index % 5 < 3
            name = self.business_name(
                cat.SUBCONTRACTOR_PATTERNS if subcontractor else cat.SUPPLIER_PATTERNS
            )
            address = self.address()
            self.books.vendors.append({
                "id": self.new_id("ven"),
                "name": name,
                "email": self.business_email(name, cat.VENDOR_MAILBOXES),
                "phone": self.phone(address.pop("_area")),
                **address,
                **self.stamps(300, 1100, edit_chance=0.2),
            })
        self.subcontractors = [v for i, v in enumerate(self.books.vendors) if i % 5 < 3]
        self.suppliers = [v for i, v in enumerate(self.books.vendors) if i % 5 >= 3]

    def contacts(self) -> None:
        rng = self.rng
        total = self.count("contacts")
        # A subcontractor the contractor also works for: a customer AND a vendor, one name.
        both = rng.choice(self.subcontractors)
        self.books.contacts.append({
            "id": self.new_id("con"), "name": both["name"], "email": both["email"],
            "phone": both["phone"],
            **{k: both[k] for k in both if k.startswith("billing_")},
            **self.stamps(200, 700),
        })
        self.books.scenarios["customer_also_vendor"] = {
            "contact_id": self.books.contacts[0]["id"], "vendor_id": both["id"],
            "name": both["name"],
        }
        self.customer_also_vendor_vendor = both
        for _ in range(total - 1):
            address = self.address()
            area = address.pop("_area")
            contact_id = self.new_id("con")
            if rng.random() < 0.55:
                name, given, family = self.person_name()
                email = self.personal_email(given, family)
                self.person[contact_id] = (given, family)
            else:
                name = self.business_name(cat.CUSTOMER_COMPANY_PATTERNS)
                email = self.business_email(name, cat.BUSINESS_MAILBOXES)
            self.books.contacts.append({
                "id": contact_id, "name": name,
                "email": email if rng.random() > 0.03 else None,  # a few never gave one
                "phone": self.phone(area) if rng.random() > 0.05 else None,
                **address,
                **self.stamps(30, 900),
            })
        rng.shuffle(self.books.contacts)
        special = {self.books.scenarios["customer_also_vendor"]["contact_id"]}
        plain = [c for c in self.books.contacts if c["id"] not in special and c["email"]]
        deleted = rng.sample(plain, max(1, round(total * 0.01)))
        for contact in deleted:
            when = self.at(self.days_ago(5, 60))
            contact["deleted_at"] = when
            contact["updated_at"] = max(contact["updated_at"], when)
            contact["created_at"] = min(contact["created_at"], when)
        self.books.scenarios["deleted_contacts"] = [c["id"] for c in deleted]
        self.live_contacts = [c for c in self.books.contacts if c["deleted_at"] is None]
        weights = [1 if c["id"] in self.person else 5 for c in self.live_contacts]
        self._contact_cum = list(itertools.accumulate(weights))

    def pick_contact(self) -> dict:
        position = self.rng.random() * self._contact_cum[-1]
        return self.live_contacts[bisect.bisect_right(self._contact_cum, position)]

    def sales_line(self, position: int, item: dict, *, small: bool = False) -> dict:
        rng = self.rng
        name, price = item["name"], item["default_price"]
        qty = _quantity(rng, name, item["type"], price, small)
        unit_price = price
        if rng.random() < 0.15 and price > 0:
            unit_price = round_cents(price * Decimal(rng.randint(90, 112)) / 100)
            if "hourly" in name:
                unit_price = unit_price.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        if (qty * unit_price) != (qty * unit_price).quantize(Decimal("0.01")):
            qty = qty.quantize(Decimal(1), rounding=ROUND_HALF_UP) or Decimal(1)
        return {
            "position": position,
            "item_id": item["id"],
            "description": item["description"] if rng.random() < 0.7 else name,
            "qty": qty,
            "unit_price": unit_price,
            "taxable": item["type"] == "part" or rng.random() < 0.08,
        }

    def invoices(self) -> None:
        rng = self.rng
        books = self.books
        drafts, voids, inclusive = [], [], []
        specs = sorted(
            (self.days_ago(1, 365), rng.random()) for _ in range(self.count("invoices"))
        )
        line_cum = list(itertools.accumulate(LINE_COUNT_WEIGHTS))
        for number, (issue, _) in enumerate(specs, start=5001):
            contact = self.pick_contact()
            invoice_id = self.new_id("inv")
            count = bisect.bisect_right(line_cum, rng.random() * line_cum[-1]) + 1
            lines = [
                self.sales_line(position, rng.choice(self.active_items))
                for position in range(1, count + 1)
            ]
            tax_inclusive = rng.random() < 0.03
            subtotal, tax, total = compute_document_totals(lines, books.tax_rate, tax_inclusive)
            age = (self.as_of - issue).days
            created = self.at(issue)
            invoice = {
                "id": invoice_id, "number": str(number), "contact_id": contact["id"],
                "status": "approved", "issue_date": issue,
                "due_date": issue + dt.timedelta(days=rng.choice((15, 30, 30, 30, 45))),
                "tax_inclusive": tax_inclusive, "subtotal": subtotal, "tax": tax,
                "total": total, "amount_paid": ZERO, "balance": total,
                "created_at": created, "updated_at": created, "deleted_at": None,
            }
            roll = rng.random()
            if roll < 0.03:
                invoice.update(status="void", balance=ZERO)
                invoice["updated_at"] = self.at(min(issue + dt.timedelta(days=rng.randint(0, 9)),
                                                    self.as_of - dt.timedelta(days=1)))
                invoice["updated_at"] = max(invoice["updated_at"], created)
                voids.append(invoice_id)
            elif (age <= 14 and rng.random() < 0.45) or rng.random() < 0.01:
                invoice["status"] = "draft"
                drafts.append(invoice_id)
            elif total > 0:
                self.pay(invoice, contact, age)
            if tax_inclusive:
                inclusive.append(invoice_id)
            books.invoices.append(invoice)
            books.invoice_lines += [
                {"id": f"{invoice_id}/{line['position']}", "invoice_id": invoice_id, **line}
                for line in lines
            ]
        books.scenarios["draft_invoices"] = drafts
        books.scenarios["void_invoices"] = voids
        books.scenarios["tax_inclusive_invoices"] = inclusive

    def pay(self, invoice: dict, contact: dict, age: int) -> None:
        rng = self.rng
        total = invoice["total"]
        p_paid = 0.9 if age > 60 else 0.65 if age > 30 else 0.3
        p_partial = 0.06 if age > 60 else 0.12
        roll = rng.random()
        if roll < p_paid:
            if rng.random() < 0.2 and total >= Decimal("2.00"):
                first = round_cents(total * Decimal(rng.randint(30, 70)) / 100)
                amounts = [first, total - first]
            else:
                amounts = [total]
        elif roll < p_paid + p_partial and total >= Decimal("0.02"):
            part = round_cents(total * Decimal(rng.randint(20, 80)) / 100)
            amounts = [min(max(part, Decimal("0.01")), total - Decimal("0.01"))]
        else:
            return
        day = invoice["issue_date"]
        last_day = self.as_of - dt.timedelta(days=1)
        for amount in amounts:
            day = min(day + dt.timedelta(days=rng.randint(1, 40)), last_day)
            method = weighted(rng, cat.PAYMENT_METHODS)
            when = max(self.at(day), invoice["created_at"])
            self.books.payments.append({
                "id": self.new_id("pay"), "contact_id": contact["id"],
                "invoice_id": invoice["id"], "amount": amount, "paid_on": day,
                "method": method, "reference": _payment_reference(rng, method),
                "origin": "jobsiteon", "created_at": when, "updated_at": when,
                "deleted_at": None,
            })
            invoice["updated_at"] = max(invoice["updated_at"], when)
        paid = sum(amounts, ZERO)
        invoice.update(
            amount_paid=paid, balance=total - paid,
            status="paid" if paid >= total else "partially_paid",
        )

    def deposits(self) -> None:
        contacts = {c["id"]: c for c in self.books.contacts}
        by_day: dict[dt.date, list[dict]] = defaultdict(list)
        for payment in sorted(self.books.payments, key=lambda p: (p["paid_on"], p["id"])):
            friday = payment["paid_on"] + dt.timedelta(days=(4 - payment["paid_on"].weekday()) % 7)
            if friday < self.as_of:  # later payments are still in Undeposited Funds
                by_day[friday].append(payment)
        for day in sorted(by_day):
            deposit_id = self.new_id("dep")
            lines = []
            for position, payment in enumerate(by_day[day], start=1):
                who = contacts[payment["contact_id"]]["name"]
                label = payment["method"].replace("_", " ")
                ref = f" {payment['reference']}" if payment["reference"] else ""
                lines.append({
                    "id": f"{deposit_id}/{position}", "deposit_id": deposit_id,
                    "position": position, "payment_id": payment["id"],
                    "description": f"{who} - {label}{ref}", "amount": payment["amount"],
                })
            when = self.at(day)
            self.books.deposits.append({
                "id": deposit_id, "deposited_on": day, "account_name": BANK_ACCOUNT,
                "memo": f"Weekly deposit {day:%b %d, %Y}",
                "total": sum((line["amount"] for line in lines), ZERO),
                "created_at": when, "updated_at": when, "deleted_at": None,
            })
            self.books.deposit_lines += lines

    def credit_memos(self) -> None:
        rng = self.rng
        for number in range(1001, 1001 + self.count("credit_memos")):
            memo_id = self.new_id("crm")
            if rng.random() < 0.25:
                lines = [{
                    "position": 1, "item_id": None,
                    "description": rng.choice((
                        "Goodwill credit - schedule delay", "Credit for touch-up visit",
                        "Price adjustment per estimate", "Credit for damaged materials",
                    )),
                    "qty": Decimal(1), "unit_price": Decimal(rng.randint(25, 250)), "taxable": False,
                }]
            else:
                lines = [
                    self.sales_line(position, rng.choice(self.active_items), small=True)
                    for position in range(1, rng.randint(1, 3) + 1)
                ]
            subtotal, tax, total = compute_document_totals(lines, self.books.tax_rate, False)
            issue = self.days_ago(1, 330)
            when = self.at(issue)
            self.books.credit_memos.append({
                "id": memo_id, "number": f"CM-{number}", "contact_id": self.pick_contact()["id"],
                "issue_date": issue, "tax_inclusive": False, "subtotal": subtotal, "tax": tax,
                "total": total, "remaining_credit": total,
                "created_at": when, "updated_at": when, "deleted_at": None,
            })
            self.books.credit_memo_lines += [
                {"id": f"{memo_id}/{line['position']}", "credit_memo_id": memo_id, **line}
                for line in lines
            ]

    def refund_receipts(self) -> None:
        rng = self.rng
        parts = [i for i in self.active_items if i["type"] == "part"] or self.active_items
        for number in range(1001, 1001 + self.count("refund_receipts")):
            receipt_id = self.new_id("rfr")
            lines = [
                self.sales_line(position, rng.choice(parts), small=True)
                for position in range(1, rng.randint(1, 2) + 1)
            ]
            issue = self.days_ago(1, 330)
            when = self.at(issue)
            self.books.refund_receipts.append({
                "id": receipt_id, "number": f"RF-{number}",
                "contact_id": self.pick_contact()["id"], "issue_date": issue,
                "payment_method": rng.choice(("check", "credit_card")),
                "refund_from_account": BANK_ACCOUNT,
                "total": compute_document_totals(lines, self.books.tax_rate, False)[2],
                "created_at": when, "updated_at": when, "deleted_at": None,
            })
            self.books.refund_receipt_lines += [
                {"id": f"{receipt_id}/{line['position']}", "refund_receipt_id": receipt_id, **line}
                for line in lines
            ]

    def purchase_orders(self) -> None:
        rng = self.rng
        parts = [i for i in self.active_items if i["type"] == "part"] or self.active_items
        dates = sorted(self.days_ago(1, 365) for _ in range(self.count("purchase_orders")))
        for number, issue in enumerate(dates, start=3001):
            order_id = self.new_id("po")
            vendor = rng.choice(self.suppliers if rng.random() < 0.85 else self.subcontractors)
            lines = []
            for position in range(1, rng.randint(1, 8) + 1):
                item = rng.choice(parts)
                qty = _quantity(rng, item["name"], "part", item["default_price"], False)
                qty = qty.quantize(Decimal(1), rounding=ROUND_HALF_UP) or Decimal(1)
                lines.append({
                    "position": position, "item_id": item["id"], "description": item["name"],
                    "qty": qty,
                    "unit_cost": round_cents(item["default_price"] * Decimal(rng.randint(55, 75)) / 100),
                })
            age = (self.as_of - issue).days
            when = self.at(issue)
            closed = age > 21 and rng.random() < 0.92
            self.books.purchase_orders.append({
                "id": order_id, "number": f"PO-{number}", "vendor_id": vendor["id"],
                "status": "closed" if closed else "open", "issue_date": issue,
                "due_date": issue + dt.timedelta(days=rng.randint(3, 21)),
                "memo": rng.choice((
                    f"Materials for {self.pick_contact()['name']}", "Van restock",
                    "Shop inventory", None,
                )),
                "total": sum_line_costs(lines),
                "created_at": when,
                "updated_at": max(when, self.at(min(issue + dt.timedelta(days=rng.randint(3, 25)),
                                                    self.as_of - dt.timedelta(days=1))))
                if closed else when,
                "deleted_at": None,
            })
            self.books.purchase_order_lines += [
                {"id": f"{order_id}/{line['position']}", "purchase_order_id": order_id, **line}
                for line in lines
            ]


def weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _payment_reference(rng: random.Random, method: str) -> str | None:
    if method == "check":
        return f"Check #{rng.randint(1001, 9899)}"
    if method == "credit_card":
        brand = rng.choice(("Visa", "Visa", "Mastercard", "Amex", "Discover"))
        return f"{brand} ending {rng.randint(0, 9999):04d}"
    if method == "ach":
        return f"ACH {rng.getrandbits(32):08X}"
    return None


def _quantity(rng: random.Random, name: str, kind: str, price: Decimal, small: bool) -> Decimal:
    """A believable quantity for the unit the item is sold in."""
    lowered = name.lower()
    if "hourly" in lowered:
        return Decimal(rng.randint(2, 8 if small else 32)) / 2
    if small:
        return Decimal(rng.randint(1, 3))
    if "per sq ft" in lowered or "per board ft" in lowered:
        return Decimal(rng.randint(40, 1600) if kind == "service" else rng.randint(50, 900))
    if "per linear ft" in lowered or "per ft" in lowered:
        return Decimal(rng.randint(10, 300))
    if "per square" in lowered:
        return Decimal(rng.randint(8, 40))
    if "per sq yd" in lowered:
        return Decimal(rng.randint(15, 120))
    if "(flat)" in lowered or "fee" in lowered or "trip charge" in lowered or price >= 300:
        return Decimal(1) if rng.random() < 0.9 else Decimal(2)
    if kind == "service":
        return Decimal(rng.randint(1, 6))
    return Decimal(rng.randint(1, 40))


def item_description(name: str, kind: str) -> str:
    base = name.split(" (")[0]
    if kind == "part":
        return f"Material: {name}"
    if "hourly" in name:
        return f"{base.replace(' hourly', '').replace(' overtime', ' (overtime)')} labor, billed per hour"
    if "(" in name and name.endswith(")"):
        unit = name[name.rindex("(") + 1:-1]
        return f"{base} - labor, priced {unit}" if unit.startswith("per") else f"{base} - {unit} rate"
    return base
