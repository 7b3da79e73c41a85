"""The QBO side of the demo: an overlapping QuickBooks company and the planted cases
(see the package docstring), as QBO JSON objects with references by name.

Each object carries `days_before_as_of`: how long before the books' as_of date QBO last
updated it. `DemoBooks.qbo_seed_requests` turns that into the emulator's per-call
`backdate_days`. References only point to objects at least as old as the referrer.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from qbo_pipeline.jobsiteon.demo import catalog as cat
from qbo_pipeline.jobsiteon.demo.context import slug
from qbo_pipeline.jobsiteon.demo.jobsiteon_side import JobsiteOnGenerator, item_description
from qbo_pipeline.jobsiteon.money import compute_document_totals, line_amount, round_cents


class QboPlanter(JobsiteOnGenerator):
    def days_before(self, moment: dt.datetime) -> int:
        """QBO `backdate_days` (relative to as_of) that lands a day before `moment`."""
        return (self.as_of - moment.date()).days + 1

    def qbo_customer(self, contact: dict, *, name: str | None = None, email: str | None = None,
                     phone: str | None = None, days: int | None = None) -> dict:
        obj: dict[str, Any] = {"DisplayName": name or contact["name"]}
        person = self.person.get(contact.get("id", ""))
        if person:
            obj["GivenName"], obj["FamilyName"] = person
        else:
            obj["CompanyName"] = contact["name"]
        email = email if email is not None else contact.get("email")
        if email:
            obj["PrimaryEmailAddr"] = {"Address": email}
        phone = phone if phone is not None else contact.get("phone")
        if phone:
            obj["PrimaryPhone"] = {"FreeFormNumber": phone}
        obj["BillAddr"] = {
            "Line1": contact["billing_line1"], "City": contact["billing_city"],
            "CountrySubDivisionCode": contact["billing_state"],
            "PostalCode": contact["billing_postal_code"], "Country": contact["billing_country"],
        }
        obj["days_before_as_of"] = days if days is not None else self.days_before(
            contact.get("created_at") or self.at(self.days_ago(200, 900)))
        return obj

    def qbo_side(self) -> None:
        rng = self.rng
        books = self.books
        scenarios = books.scenarios
        special = {scenarios["customer_also_vendor"]["contact_id"]}
        candidates = [c for c in self.live_contacts if c["email"] and c["id"] not in special]
        rng.shuffle(candidates)
        matches = candidates[: max(4, round(len(books.contacts) * 0.15))]
        rest = candidates[len(matches):]

        # Linked by email; the first two also carry an edit made on both sides.
        email_matches = []
        for index, contact in enumerate(matches):
            qbo_name, qbo_email = contact["name"], contact["email"]
            if index >= 2 and index % 3 == 2:
                qbo_name = _respell(rng, contact["name"])
            if index >= 2 and index % 7 == 3:
                qbo_email = _recase_email(contact["email"])
            books.qbo_customers.append(self.qbo_customer(contact, name=qbo_name, email=qbo_email))
            email_matches.append({
                "contact_id": contact["id"], "email": contact["email"], "qbo_email": qbo_email,
                "jobsiteon_name": contact["name"], "qbo_name": qbo_name,
            })
        scenarios["email_matches"] = email_matches
        for key, contact, jobsiteon_days, qbo_days, winner in (
            ("conflict_jobsiteon_newer", matches[0], 2, 9, "jobsiteon"),
            ("conflict_qbo_newer", matches[1], 20, 1, "qbo"),
        ):
            area = contact["phone"][1:4] if contact["phone"] else "512"
            contact["phone"] = self.phone(area)
            contact["updated_at"] = self.at(self.as_of - dt.timedelta(days=jobsiteon_days))
            contact["created_at"] = min(contact["created_at"], contact["updated_at"])
            qbo_phone = self.phone(area)
            obj = next(c for c in books.qbo_customers
                       if c.get("PrimaryEmailAddr", {}).get("Address") == contact["email"])
            obj["PrimaryPhone"] = {"FreeFormNumber": qbo_phone}
            obj["days_before_as_of"] = qbo_days
            scenarios[key] = {
                "contact_id": contact["id"], "email": contact["email"], "field": "phone",
                "jobsiteon_phone": contact["phone"],
                "jobsiteon_updated_at": contact["updated_at"].isoformat(),
                "qbo_phone": qbo_phone, "qbo_days_before_as_of": qbo_days, "winner": winner,
            }

        # A different person already uses this JobsiteOn contact's name in QBO.
        taken = next(c for c in rest if c["id"] in self.person)
        given, family = self.person[taken["id"]]
        other_email = self.claim_email(f"{slug(given)[0]}{slug(family)}{rng.randint(10, 99)}@outlook.com")
        address = self.address()
        address.pop("_area")
        qbo_only = [self.qbo_customer({"id": taken["id"], "name": taken["name"], **address},
                                      email=other_email, phone=self.phone("512"))]
        scenarios["name_taken_different_email"] = {
            "contact_id": taken["id"], "name": taken["name"],
            "jobsiteon_email": taken["email"], "qbo_email": other_email,
        }

        # Two QBO customers that are the same business keyed in twice.
        place = rng.choice(("Summit Ridge", "Bear Creek", "Falcon Pointe", "Whisper Valley"))
        first = f"{place} Custom Homes"
        second = _respell(rng, first, force_spacing=True)
        self.claim_name(first)
        dup_emails = [self.claim_email(f"office@{slug(place)}homes.com"),
                      self.claim_email(f"{slug(place)}homes@gmail.com")]
        address = self.address()
        area = address.pop("_area")
        phone = self.phone(area)
        for name, email in zip((first, second), dup_emails):
            qbo_only.append(self.qbo_customer({"name": first, **address}, name=name, email=email,
                                              phone=phone))
        scenarios["duplicate_names_in_qbo"] = {"qbo_names": [first, second], "emails": dup_emails}

        while len(qbo_only) < self.count("qbo_only_customers"):
            address = self.address()
            area = address.pop("_area")
            if rng.random() < 0.5:
                name, given, family = self.person_name()
                email = self.personal_email(given, family)
                obj = self.qbo_customer({"name": name, **address}, email=email, phone=self.phone(area))
                obj.pop("CompanyName", None)
                obj["GivenName"], obj["FamilyName"] = given, family
            else:
                name = self.business_name(cat.CUSTOMER_COMPANY_PATTERNS)
                email = self.business_email(name, cat.BUSINESS_MAILBOXES)
                obj = self.qbo_customer({"name": name, **address}, email=email, phone=self.phone(area))
            qbo_only.append(obj)
        books.qbo_customers += qbo_only
        scenarios["qbo_only_customers"] = [c["DisplayName"] for c in qbo_only]

        self.qbo_vendor_side()
        self.qbo_item_side()
        self.qbo_transactions(email_matches, qbo_only)

    def qbo_vendor_side(self) -> None:
        rng = self.rng
        books = self.books
        both = self.customer_also_vendor_vendor
        others = [v for v in books.vendors if v["id"] != both["id"]]
        matched = [both] + rng.sample(others, max(1, round(len(books.vendors) * 0.3)) - 1)
        for vendor in matched:
            books.qbo_vendors.append(_qbo_vendor(vendor, self.days_before(vendor["created_at"])))
        books.scenarios["matched_vendors"] = [{"vendor_id": v["id"], "name": v["name"]} for v in matched]
        qbo_only = []
        for _ in range(self.count("qbo_only_vendors")):
            name = self.business_name(cat.SUPPLIER_PATTERNS)
            address = self.address()
            area = address.pop("_area")
            vendor = {"name": name, "email": self.business_email(name, cat.VENDOR_MAILBOXES),
                      "phone": self.phone(area), **address}
            qbo_only.append(_qbo_vendor(vendor, rng.randint(60, 700)))
        books.qbo_vendors += qbo_only
        books.scenarios["qbo_only_vendors"] = [v["DisplayName"] for v in qbo_only]

    def qbo_item_side(self) -> None:
        rng = self.rng
        books = self.books
        active = list(self.active_items)
        matched = rng.sample(active, max(3, round(len(books.pricebook_items) * 0.2)))
        self.qbo_item_prices: dict[str, tuple[Decimal, str]] = {}
        for item in matched:
            obj = _qbo_item(item["name"], item["description"], item["default_price"], item["type"],
                            self.days_before(item["created_at"]))
            books.qbo_items.append(obj)
            self.qbo_item_prices[item["name"]] = (item["default_price"], item["type"])
        books.scenarios["matched_items"] = [{"item_id": i["id"], "name": i["name"]} for i in matched]
        # Edited on both sides: the bookkeeper changed the price in QBO after JobsiteOn did.
        conflict = matched[0]
        conflict["updated_at"] = max(conflict["created_at"],
                                     self.at(self.as_of - dt.timedelta(days=30)))
        qbo_price = round_cents(conflict["default_price"] * Decimal("1.10")) or Decimal("10.00")
        books.qbo_items[0]["UnitPrice"] = qbo_price
        books.qbo_items[0]["days_before_as_of"] = 3
        self.qbo_item_prices[conflict["name"]] = (qbo_price, conflict["type"])
        books.scenarios["item_price_conflict"] = {
            "item_id": conflict["id"], "name": conflict["name"], "field": "default_price",
            "jobsiteon_price": conflict["default_price"],
            "jobsiteon_updated_at": conflict["updated_at"].isoformat(),
            "qbo_price": qbo_price, "qbo_days_before_as_of": 3, "winner": "qbo",
        }
        qbo_only = []
        for name, price, kind in self.spare_items:
            price = Decimal(price).quantize(Decimal("0.01"))
            qbo_only.append(_qbo_item(name, item_description(name, kind), price, kind,
                                      rng.randint(200, 900)))
            self.qbo_item_prices[name] = (price, kind)
        books.qbo_items += qbo_only
        books.scenarios["qbo_only_items"] = [i["Name"] for i in qbo_only]

    def qbo_transactions(self, email_matches: list[dict], qbo_only: list[dict]) -> None:
        rng = self.rng
        books = self.books
        # Invoices reference only customers and items that QBO had before the invoice date
        # (the planted conflicts are updated recently, so they are not referenced).
        by_name = {c["DisplayName"]: c for c in books.qbo_customers}
        customers = [(name, by_name[name]["days_before_as_of"])
                     for name in [m["qbo_name"] for m in email_matches[2:]]
                     + [c["DisplayName"] for c in qbo_only]]
        customers = [(name, days) for name, days in customers if days > 6]
        conflict_item = books.scenarios["item_price_conflict"]["name"]
        item_names = [name for name in self.qbo_item_prices if name != conflict_item]
        approved = [i for i in books.invoices if i["status"] == "approved"]
        duplicate = approved[-1] if approved else books.invoices[-1]
        count = self.count("qbo_only_invoices")
        invoices = []
        for index in range(count):
            customer, customer_days = rng.choice(customers)
            lines, qbo_lines = [], []
            for name in rng.sample(item_names, min(len(item_names), rng.randint(1, 4))):
                price, kind = self.qbo_item_prices[name]
                qty = Decimal(rng.randint(1, 12))
                taxable = kind == "part"
                lines.append({"qty": qty, "unit_price": price, "taxable": taxable})
                qbo_lines.append({
                    "Amount": line_amount(qty, price), "DetailType": "SalesItemLineDetail",
                    "Description": name,
                    "SalesItemLineDetail": {
                        "ItemRef": {"name": name}, "Qty": qty, "UnitPrice": price,
                        "TaxCodeRef": {"value": "TAX" if taxable else "NON"},
                    },
                })
            txn_date = self.days_ago(5, min(120, customer_days - 1))
            number = duplicate["number"] if index == count - 1 else str(1001 + index)
            total = compute_document_totals(lines, books.tax_rate, False)[2]
            invoices.append({
                "DocNumber": number, "TxnDate": txn_date,
                "DueDate": txn_date + dt.timedelta(days=30),
                "CustomerRef": {"name": customer}, "Line": qbo_lines,
                "PrivateNote": "Entered directly in QuickBooks",
                "days_before_as_of": (self.as_of - txn_date).days,
                "_total": total,
            })
        for index, invoice in enumerate(invoices):
            total = invoice.pop("_total")
            if index % 2 == 1 or index == count - 1:
                continue
            amount = total if index % 4 == 0 else round_cents(total / 2)
            paid_on = min(invoice["TxnDate"] + dt.timedelta(days=rng.randint(1, 20)),
                          self.as_of - dt.timedelta(days=1))
            books.qbo_payments.append({
                "CustomerRef": dict(invoice["CustomerRef"]), "TotalAmt": amount,
                "TxnDate": paid_on,
                "Line": [{"Amount": amount, "LinkedTxn": [
                    {"TxnType": "Invoice", "DocNumber": invoice["DocNumber"]}]}],
                "days_before_as_of": (self.as_of - paid_on).days,
            })
        invoices[-1].pop("_total", None)
        books.qbo_invoices += invoices
        books.scenarios["qbo_only_invoices"] = [
            {"doc_number": i["DocNumber"], "customer": i["CustomerRef"]["name"]} for i in invoices
        ]
        books.scenarios["duplicate_invoice_number"] = {
            "invoice_id": duplicate["id"], "number": duplicate["number"],
        }


def _respell(rng: random.Random, name: str, *, force_spacing: bool = False) -> str:
    """The same name with different capitalisation and/or spacing."""
    words = name.split()
    options = ["upper", "lower", "space", "lower_space"] if not force_spacing else ["lower_space"]
    if len(words) < 2:
        options = ["upper", "lower"]
    for _ in range(10):
        how = rng.choice(options)
        if how == "upper":
            result = name.upper()
        elif how == "lower":
            result = name.lower()
        else:
            cut = rng.randint(1, len(words) - 1)
            result = " ".join(words[:cut]) + "  " + " ".join(words[cut:])
            if how == "lower_space":
                result = result.lower()
        if result != name:
            return result
    return name.swapcase()


def _recase_email(email: str) -> str:
    local, domain = email.split("@")
    return f"{local[:1].upper()}{local[1:]}@{domain.capitalize()}"


def _qbo_vendor(vendor: dict, days: int) -> dict:
    obj: dict[str, Any] = {"DisplayName": vendor["name"], "CompanyName": vendor["name"]}
    if vendor.get("email"):
        obj["PrimaryEmailAddr"] = {"Address": vendor["email"]}
    if vendor.get("phone"):
        obj["PrimaryPhone"] = {"FreeFormNumber": vendor["phone"]}
    obj["BillAddr"] = {
        "Line1": vendor["billing_line1"], "City": vendor["billing_city"],
        "CountrySubDivisionCode": vendor["billing_state"],
        "PostalCode": vendor["billing_postal_code"], "Country": vendor["billing_country"],
    }
    obj["days_before_as_of"] = days
    return obj


def _qbo_item(name: str, description: str, price: Decimal, kind: str, days: int) -> dict:
    return {
        "Name": name, "Description": description, "UnitPrice": price,
        "Type": "Service" if kind == "service" else "NonInventory",
        "Taxable": kind == "part", "IncomeAccountRef": {"name": "Services"},
        "days_before_as_of": days,
    }
