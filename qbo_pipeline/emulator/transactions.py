"""Transactions: Invoice, CreditMemo, RefundReceipt (sales forms), Payment, Deposit, PurchaseOrder.

Server-computed: Line Id/LineNum, the SubTotalLine, TxnTaxDetail, TotalAmt, Balance,
RemainingCredit, UnappliedAmt, DocNumber (when omitted), DueDate (Net 30), LinkedTxn.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from . import errors, links
from .computations import ZERO, money, number, percent_of, plain, check_line_amount, sales_tax
from .entities import SPECS
from .handlers import Handler, assign_address_ids
from .models import USD, Company, Record
from .validation import Context, active_name, blank, flag, iso_date, ref_id, reference, text

TAX_MODES = ("TaxExcluded", "TaxInclusive", "NotApplicable")
DETAIL_TYPES = ("SalesItemLineDetail", "DiscountLineDetail", "DescriptionOnly", "GroupLineDetail",
                "SubTotalLineDetail", "DepositLineDetail", "ItemBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail")


# ---- shared pieces --------------------------------------------------------------------------

def today(company: Company, ctx: Context) -> str:
    return ctx.moment.astimezone(company.tz).date().isoformat()


def common(company: Company, ctx: Context, entity: str, fields: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    data = dict(fields)
    data["TxnDate"] = iso_date(fields["TxnDate"], "TxnDate") if "TxnDate" in fields else today(company, ctx)
    ref = fields.get("CurrencyRef")
    code = (ref.get("value") if isinstance(ref, dict) else ref) or "USD"
    if str(code).upper() != "USD":
        raise errors.business("Multicurrency is not enabled for this company; CurrencyRef must be USD.",
                              "CurrencyRef")
    data["CurrencyRef"] = dict(USD)
    if "PrivateNote" in data:
        data["PrivateNote"] = text(data["PrivateNote"], "PrivateNote", 4000)
    _doc_number(company, ctx, entity, fields, existing, data)
    return data


def _doc_number(company: Company, ctx: Context, entity: str, fields: dict[str, Any], existing: Record | None,
                data: dict[str, Any]) -> None:
    group = SPECS[entity].doc_group
    if "DocNumber" in fields:
        number_ = text(fields["DocNumber"], "DocNumber", 21).strip()
        data["DocNumber"] = number_
    elif existing is not None and existing.data.get("DocNumber"):
        data["DocNumber"] = existing.data["DocNumber"]
        return
    elif group is not None:
        counter = company.doc_counters.get(group, 1000)
        index = company.doc_numbers.setdefault(entity, {})
        while True:
            counter += 1
            if str(counter) not in index:
                break
        company.doc_counters[group] = counter
        data["DocNumber"] = str(counter)
        return
    else:
        return
    if group is None or ctx.allow_duplicate_docnum:
        return
    holders = company.doc_numbers.get(entity, {}).get(data["DocNumber"])
    own = existing.data["Id"] if existing else None
    if holders:
        others = holders - {own}
        if others:
            raise errors.duplicate_doc_number(data["DocNumber"], entity, min(others, key=int))


def index_doc_number(company: Company, entity: str, old: dict[str, Any] | None, record: Record | None) -> None:
    index = company.doc_numbers.setdefault(entity, {})
    if old is not None and old.get("DocNumber"):
        holders = index.get(old["DocNumber"])
        if holders is not None:
            holders.discard(old["Id"])
            if not holders:
                index.pop(old["DocNumber"], None)
    if record is not None and record.data.get("DocNumber"):
        index.setdefault(record.data["DocNumber"], set()).add(record.data["Id"])


def customer(company: Company, ctx: Context, fields: dict[str, Any], *, required: bool) -> Record | None:
    record = reference(company, ctx, fields.get("CustomerRef"), "Customer", "CustomerRef", required=required)
    if record is not None:
        active_name(record, "CustomerRef")
    return record


def account(company: Company, ctx: Context, ref: Any, element: str, *, required: bool = False,
            default: str | None = None) -> dict[str, str] | None:
    if blank(ref) and default is not None:
        return {"value": default}
    record = reference(company, ctx, ref, "Account", element, required=required)
    return {"value": record.data["Id"]} if record else None


def _existing_line_ids(existing: Record | None) -> set[str]:
    if existing is None:
        return set()
    return {str(line["Id"]) for line in existing.data.get("Line", []) if "Id" in line}


class _LineIds:
    """Line Ids: a line that names an existing Id keeps it; new lines get the next number."""

    def __init__(self, existing: Record | None) -> None:
        self.known = _existing_line_ids(existing)
        numeric = [int(x) for x in self.known if x.isdigit()]
        self.next = max(numeric, default=0) + 1
        self.used: set[str] = set()

    def assign(self, supplied: Any) -> tuple[str, bool]:
        value = None if blank(supplied) else str(supplied).strip()
        if value is not None and value in self.known and value not in self.used:
            self.used.add(value)
            return value, False
        while str(self.next) in self.known or str(self.next) in self.used:
            self.next += 1
        value = str(self.next)
        self.next += 1
        self.used.add(value)
        return value, True


def _detail_type(raw: dict[str, Any]) -> str:
    kind = raw.get("DetailType")
    if isinstance(kind, str) and kind:
        if kind not in DETAIL_TYPES:
            raise errors.invalid_request(f"Unsupported Line.DetailType {kind}", "Line.DetailType")
        return kind
    for candidate in DETAIL_TYPES:
        if candidate in raw:
            return candidate
    if "LinkedTxn" in raw:
        return "LinkedTxn"
    raise errors.required("Line.DetailType")


def _amount(raw: dict[str, Any], element: str = "Line.Amount") -> Decimal:
    if blank(raw.get("Amount")):
        raise errors.required(element)
    return money(raw["Amount"], element)


def _optional_number(detail: dict[str, Any], key: str, element: str) -> Decimal | None:
    value = detail.get(key)
    return None if blank(value) else number(value, element)


def _item(company: Company, ctx: Context, detail: dict[str, Any], element: str, new_line: bool) -> Record | None:
    item = reference(company, ctx, detail.get("ItemRef"), "Item", element)
    if item is not None:
        if new_line and item.data.get("Active") is False:
            raise errors.business(f"The item \"{item.data['Name']}\" is inactive. Reactivate it or choose "
                                  "another item for new lines.", element)
        detail["ItemRef"] = {"value": item.data["Id"]}
    else:
        detail.pop("ItemRef", None)
    return item


def _tax_code(company: Company, ctx: Context, detail: dict[str, Any], default: str, element: str) -> str:
    code = ref_id(detail.get("TaxCodeRef")) or default
    if code not in ("TAX", "NON") and company.get("TaxCode", code) is None:
        raise errors.invalid_reference(element, "TaxCode", code)
    detail["TaxCodeRef"] = {"value": code}
    return code


def _line(line_id: str | None, line_num: int | None, raw: dict[str, Any], amount: Decimal, kind: str,
          detail: dict[str, Any] | None) -> dict[str, Any]:
    line: dict[str, Any] = {}
    if line_id is not None:
        line["Id"] = line_id
        line["LineNum"] = line_num
    if not blank(raw.get("Description")):
        line["Description"] = text(raw["Description"], "Line.Description", 4000)
    line["Amount"] = amount
    line["DetailType"] = kind
    if detail is not None:
        line[kind] = detail
    for key, value in raw.items():
        if key not in line and key not in ("Id", "LineNum", "Description", "Amount", "DetailType", kind,
                                           "LineEx") and not blank(value):
            line[key] = value
    return line


# ---- sales forms ---------------------------------------------------------------------------

def sales_lines(company: Company, ctx: Context, raw_lines: Any, existing: Record | None
                ) -> tuple[list[dict[str, Any]], Decimal, Decimal, Decimal]:
    """Lines of a sales form → (lines incl. SubTotalLine, subtotal, discount, taxable amount)."""
    if not isinstance(raw_lines, list) or not raw_lines:
        raise errors.required("Line")
    ids = _LineIds(existing)
    lines: list[dict[str, Any]] = []
    discounts: list[tuple[int, dict[str, Any], dict[str, Any], str, bool]] = []
    subtotal = taxable = ZERO
    for raw in raw_lines:
        if not isinstance(raw, dict):
            raise errors.invalid_request("Each Line must be an object", "Line")
        kind = _detail_type(raw)
        if kind == "SubTotalLineDetail":
            continue  # read-only; recomputed below
        line_id, new_line = ids.assign(raw.get("Id"))
        detail = dict(raw.get(kind) or {}) if kind != "LinkedTxn" else None
        if kind == "SalesItemLineDetail":
            element = "Line.SalesItemLineDetail.ItemRef"
            amount = _amount(raw)
            item = _item(company, ctx, detail, element, new_line)
            qty = _optional_number(detail, "Qty", "Line.SalesItemLineDetail.Qty")
            price = _optional_number(detail, "UnitPrice", "Line.SalesItemLineDetail.UnitPrice")
            check_line_amount(amount, qty, price)
            if qty is not None:
                detail["Qty"] = plain(qty)
            if price is not None:
                detail["UnitPrice"] = plain(price)
            default_code = "TAX" if item is not None and item.data.get("Taxable") else "NON"
            code = _tax_code(company, ctx, detail, default_code, "Line.SalesItemLineDetail.TaxCodeRef")
            if code != "NON":
                taxable += amount
            subtotal += amount
        elif kind == "DiscountLineDetail":
            discounts.append((len(lines), raw, detail, line_id, new_line))
            lines.append({})  # placeholder, filled once the subtotal is known
            continue
        elif kind == "DescriptionOnly":
            amount = money(raw.get("Amount", 0), "Line.Amount")
            detail = dict(raw.get("DescriptionLineDetail") or {})
            line = _line(line_id, 0, raw, amount, kind, None)
            if detail:
                line["DescriptionLineDetail"] = detail
            lines.append(line)
            continue
        elif kind == "GroupLineDetail":
            inner = detail.get("Line") or []
            amount = sum((money(x.get("Amount", 0), "Line.GroupLineDetail.Line.Amount") for x in inner
                          if isinstance(x, dict)), ZERO)
            subtotal += amount
        else:
            raise errors.invalid_request(f"Line.DetailType {kind} is not allowed on this transaction",
                                         "Line.DetailType")
        lines.append(_line(line_id, 0, raw, amount, kind, detail))
    discount = ZERO
    for position, raw, detail, line_id, _new in discounts:
        if flag(detail.get("PercentBased", False), "Line.DiscountLineDetail.PercentBased"):
            percent = number(detail.get("DiscountPercent", 0), "Line.DiscountLineDetail.DiscountPercent")
            detail["DiscountPercent"] = plain(percent)
            amount = percent_of(subtotal, percent)
        else:
            amount = _amount(raw)
        if "DiscountAccountRef" in detail:
            detail["DiscountAccountRef"] = account(company, ctx, detail["DiscountAccountRef"],
                                                   "Line.DiscountLineDetail.DiscountAccountRef")
        else:
            detail["DiscountAccountRef"] = {"value": company.defaults.get("discounts", "1")}
        discount += amount
        lines[position] = _line(line_id, 0, raw, amount, "DiscountLineDetail", detail)
    for number_, line in enumerate(lines, start=1):
        line["LineNum"] = number_
    lines.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    return lines, subtotal, discount, taxable


def tax_rate(company: Company, code_id: str) -> tuple[Decimal | None, str | None]:
    record = company.get("TaxCode", code_id)
    if record is None:
        return None, None
    details = (record.data.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
    total = ZERO
    first = None
    for detail in details:
        rate_id = (detail.get("TaxRateRef") or {}).get("value")
        rate = company.get("TaxRate", rate_id)
        if rate is not None:
            total += Decimal(rate.data.get("RateValue", 0))
            first = first or rate.data["Id"]
    return (total, first) if first else (None, None)


def uses_global_tax_model(company: Company) -> bool:
    """GlobalTaxCalculation is "not applicable to US companies" (Intuit's Invoice
    reference): a US company accepts the field, ignores it and adds tax on top of the line
    amounts, so a tax-inclusive document pushed to it comes back with a larger total."""
    info = company.get("CompanyInfo", "1")
    return info is not None and info.data.get("Country", "US") != "US"


def tax_and_total(company: Company, ctx: Context, fields: dict[str, Any], subtotal: Decimal, discount: Decimal,
                  taxable: Decimal) -> tuple[dict[str, Any], Decimal]:
    supplied = fields.get("TxnTaxDetail") if isinstance(fields.get("TxnTaxDetail"), dict) else {}
    code = ref_id(supplied.get("TxnTaxCodeRef"))
    if code in ("TAX", "NON"):
        code = None
    if code is not None and company.get("TaxCode", code) is None:
        raise errors.invalid_reference("TxnTaxDetail.TxnTaxCodeRef", "TaxCode", code)
    mode = str(fields.get("GlobalTaxCalculation") or "TaxExcluded")
    if mode not in TAX_MODES:
        raise errors.invalid_request(f"Invalid enumeration value for GlobalTaxCalculation: {mode}",
                                     "GlobalTaxCalculation")
    if not uses_global_tax_model(company):
        mode = "TaxExcluded"
    if taxable > ZERO and code is None:
        code = company.defaults.get("sales_tax_code")
    rate, rate_id = tax_rate(company, code) if code else (None, None)
    result = sales_tax(subtotal, discount, taxable, rate, mode)
    detail: dict[str, Any] = {}
    if code is not None:
        detail["TxnTaxCodeRef"] = {"value": code}
    detail["TotalTax"] = result.tax
    if taxable > ZERO and rate is not None and mode != "NotApplicable":
        tax_line: dict[str, Any] = {"TaxRateRef": {"value": rate_id}, "PercentBased": True,
                                    "TaxPercent": plain(rate), "NetAmountTaxable": result.net_taxable}
        if mode == "TaxInclusive":
            tax_line["TaxInclusiveAmount"] = result.taxable
        detail["TaxLine"] = [{"Amount": result.tax, "DetailType": "TaxLineDetail", "TaxLineDetail": tax_line}]
    return detail, result.total


class SalesFormHandler(Handler):
    """Shared by Invoice, CreditMemo and RefundReceipt."""

    customer_required = True

    def build(self, company, ctx, fields, existing):
        data = common(company, ctx, self.entity, fields, existing)
        cust = customer(company, ctx, fields, required=self.customer_required)
        if cust is not None:
            data["CustomerRef"] = {"value": cust.data["Id"]}
        lines, subtotal, discount, taxable = sales_lines(company, ctx, fields.get("Line"), existing)
        tax_detail, total = tax_and_total(company, ctx, fields, subtotal, discount, taxable)
        data["Line"] = lines
        data["TxnTaxDetail"] = tax_detail
        data["TotalAmt"] = total
        if "GlobalTaxCalculation" in fields and uses_global_tax_model(company):
            data["GlobalTaxCalculation"] = str(fields["GlobalTaxCalculation"])
        else:
            data.pop("GlobalTaxCalculation", None)
        data.setdefault("ApplyTaxAfterDiscount", False)
        if "DepositToAccountRef" in fields:
            data["DepositToAccountRef"] = account(company, ctx, fields["DepositToAccountRef"], "DepositToAccountRef")
        if existing is None and cust is not None:
            for key, source in (("BillAddr", "BillAddr"), ("ShipAddr", "ShipAddr"), ("BillEmail", "PrimaryEmailAddr")):
                if key not in data and cust.data.get(source):
                    data[key] = dict(cust.data[source])
        assign_address_ids(company, data, ("BillAddr", "ShipAddr"))
        self.finish(company, ctx, fields, existing, data)
        return data

    def finish(self, company, ctx, fields, existing, data) -> None:
        pass

    def committed(self, company, ctx, old, record):
        index_doc_number(company, self.entity, old, record)
        links.customer_effect(company, ctx, self.entity, old, record.data if record else None)

    def check_delete(self, company, record):
        if links.linked_payments(company, self.entity, record.data["Id"]):
            raise errors.business("This transaction has payments applied to it. Delete or unapply those "
                                  "payments before deleting it.")


class InvoiceHandler(SalesFormHandler):
    entity = "Invoice"

    def finish(self, company, ctx, fields, existing, data):
        own = existing.data["Id"] if existing else None
        paid = links.applied_total(company, "Invoice", own) if own else ZERO
        deposit = money(fields.get("Deposit", 0), "Deposit")
        balance = data["TotalAmt"] - paid - deposit
        if balance < ZERO and (paid > ZERO or deposit > ZERO):
            raise errors.business("The invoice total is less than the payments and deposit already applied to "
                                  "it. Unapply payments first.", "TotalAmt")
        data["Deposit"] = deposit
        data["Balance"] = balance
        data["LinkedTxn"] = [{"TxnId": pid, "TxnType": "Payment"}
                             for pid in company.applied.get(("Invoice", own), {})] if own else []
        if "DueDate" in fields:
            data["DueDate"] = iso_date(fields["DueDate"], "DueDate")
        else:
            data["DueDate"] = (date.fromisoformat(data["TxnDate"]) + timedelta(days=30)).isoformat()
        data.setdefault("PrintStatus", "NeedToPrint")
        data.setdefault("EmailStatus", "NotSet")
        for key in ("AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment"):
            data[key] = flag(fields.get(key, False), key)

    def void(self, company, ctx, record):
        if links.linked_payments(company, "Invoice", record.data["Id"]):
            raise errors.business("This invoice has payments applied to it. Delete or unapply those payments "
                                  "before voiding it.")
        data = {k: v for k, v in record.data.items() if k not in ("domain", "sparse", "Id", "SyncToken", "MetaData")}
        voided = []
        for line in data.get("Line", []):
            if line.get("DetailType") == "SubTotalLineDetail":
                continue
            line = dict(line)
            line["Amount"] = ZERO
            kind = line.get("DetailType")
            if isinstance(line.get(kind), dict):
                detail = dict(line[kind])
                if "Qty" in detail or kind == "SalesItemLineDetail":
                    detail["Qty"] = 0
                detail.pop("UnitPrice", None)
                line[kind] = detail
            voided.append(line)
        data.update({"Line": voided, "TotalAmt": ZERO, "Balance": ZERO, "Deposit": ZERO,
                     "TxnTaxDetail": {"TotalTax": ZERO}, "PrivateNote": "Voided"})
        return data


class CreditMemoHandler(SalesFormHandler):
    entity = "CreditMemo"

    def finish(self, company, ctx, fields, existing, data):
        own = existing.data["Id"] if existing else None
        used = links.applied_total(company, "CreditMemo", own) if own else ZERO
        remaining = data["TotalAmt"] - used
        if remaining < ZERO:
            raise errors.business("The credit memo total is less than the credit already applied from it.",
                                  "TotalAmt")
        data["RemainingCredit"] = remaining
        data["Balance"] = remaining
        data.setdefault("PrintStatus", "NeedToPrint")
        data.setdefault("EmailStatus", "NotSet")


class RefundReceiptHandler(SalesFormHandler):
    entity = "RefundReceipt"
    customer_required = False

    def finish(self, company, ctx, fields, existing, data):
        data["DepositToAccountRef"] = account(company, ctx, fields.get("DepositToAccountRef"),
                                              "DepositToAccountRef", required=True)
        data["Balance"] = ZERO
        data.setdefault("PrintStatus", "NotSet")

    def committed(self, company, ctx, old, record):
        index_doc_number(company, self.entity, old, record)

    def check_delete(self, company, record):
        pass


# ---- payments ------------------------------------------------------------------------------

def _line_ex(txn_id: str, open_balance: Decimal, reference_number: str | None) -> dict[str, Any]:
    """The JAXB NameValue block QBO attaches to payment lines (payment.json)."""
    def entry(name: str, value: str) -> dict[str, Any]:
        return {"name": "{http://schema.intuit.com/finance/v3}NameValue",
                "declaredType": "com.intuit.schema.finance.v3.NameValue",
                "scope": "javax.xml.bind.JAXBElement$GlobalScope",
                "value": {"Name": name, "Value": value},
                "nil": False, "globalScope": True, "typeSubstituted": False}

    values = [entry("txnId", txn_id), entry("txnOpenBalance", f"{open_balance:.2f}")]
    if reference_number:
        values.append(entry("txnReferenceNumber", reference_number))
    return {"any": values}


class PaymentHandler(Handler):
    entity = "Payment"

    def build(self, company, ctx, fields, existing):
        data = common(company, ctx, "Payment", fields, existing)
        cust = customer(company, ctx, fields, required=True)
        data["CustomerRef"] = {"value": cust.data["Id"]}
        if blank(fields.get("TotalAmt")):
            raise errors.required("TotalAmt")
        total = money(fields["TotalAmt"], "TotalAmt")
        if total < ZERO:
            raise errors.business("The payment amount cannot be negative.", "TotalAmt")
        data["TotalAmt"] = total
        data["DepositToAccountRef"] = account(company, ctx, fields.get("DepositToAccountRef"), "DepositToAccountRef",
                                              default=company.defaults["undeposited"])
        if "ARAccountRef" in fields:
            data["ARAccountRef"] = account(company, ctx, fields["ARAccountRef"], "ARAccountRef")
        own = existing.data["Id"] if existing else None
        applied: dict[tuple[str, str], Decimal] = {}
        invoices = credits = ZERO
        lines = []
        raw_lines = fields.get("Line") or []
        if not isinstance(raw_lines, list):
            raise errors.invalid_request("Line must be a list", "Line")
        for raw in raw_lines:
            if not isinstance(raw, dict):
                raise errors.invalid_request("Each Line must be an object", "Line")
            amount = _amount(raw)
            line: dict[str, Any] = {"Amount": amount, "LinkedTxn": []}
            line_ex = None
            for link in raw.get("LinkedTxn") or []:
                kind = str(link.get("TxnType") or "")
                txn_id = ref_id({"value": link.get("TxnId")})
                if txn_id is None:
                    raise errors.required("Line.LinkedTxn.TxnId")
                if kind in ("Invoice", "CreditMemo"):
                    target = company.get(kind, txn_id, ctx.horizon)
                    if target is None:
                        raise errors.invalid_reference("Line.LinkedTxn.TxnId", kind, txn_id)
                    if (target.data.get("CustomerRef") or {}).get("value") != cust.data["Id"]:
                        raise errors.business(f"{kind} {txn_id} belongs to another customer; a payment can only "
                                              "be applied to its own customer's transactions.", "Line.LinkedTxn")
                    key = (kind, txn_id)
                    before_this = company.applied.get(key, {}).get(own, ZERO) if own else ZERO
                    open_balance = Decimal(target.data.get("Balance" if kind == "Invoice" else "RemainingCredit", 0)) \
                        + before_this
                    applied[key] = applied.get(key, ZERO) + amount
                    if applied[key] > open_balance:
                        raise errors.business(f"The amount applied to {kind} {txn_id} ({applied[key]}) is more than "
                                              f"its open balance ({open_balance}).", "Line.Amount")
                    if kind == "Invoice":
                        invoices += amount
                    else:
                        credits += amount
                    if line_ex is None:
                        line_ex = _line_ex(txn_id, open_balance, target.data.get("DocNumber"))
                line["LinkedTxn"].append({"TxnId": txn_id, "TxnType": kind})
            if line_ex is not None:
                line["LineEx"] = line_ex
            lines.append(line)
        unapplied = total - (invoices - credits)
        if unapplied < ZERO:
            raise errors.business(f"The payment amount ({total}) is less than the amount applied to invoices net of "
                                  f"credits ({invoices - credits}).", "TotalAmt")
        data["Line"] = lines
        data["UnappliedAmt"] = unapplied
        data["ProcessPayment"] = flag(fields.get("ProcessPayment", False), "ProcessPayment")
        deposit_links = [x for x in (existing.data.get("LinkedTxn") or [])] if existing else []
        if deposit_links:
            data["LinkedTxn"] = deposit_links
        else:
            data.pop("LinkedTxn", None)
        return data

    def committed(self, company, ctx, old, record):
        new = record.data if record else None
        pid = (record.data if record else old)["Id"]
        links.apply_payment(company, ctx, pid, old, new)
        links.customer_effect(company, ctx, "Payment", old, new)

    def _deposited_guard(self, company, record, action):
        deposit = company.deposited.get(record.data["Id"])
        if deposit is not None:
            raise errors.business(f"This payment is included in deposit {deposit}. Remove it from the deposit "
                                  f"before you {action} it.")

    def check_delete(self, company, record):
        self._deposited_guard(company, record, "delete")

    def void(self, company, ctx, record):
        self._deposited_guard(company, record, "void")
        data = {k: v for k, v in record.data.items() if k not in ("domain", "sparse", "Id", "SyncToken", "MetaData")}
        data.update({"TotalAmt": ZERO, "UnappliedAmt": ZERO, "Line": [], "PrivateNote": "Voided"})
        return data


# ---- deposits ------------------------------------------------------------------------------

class DepositHandler(Handler):
    entity = "Deposit"

    def build(self, company, ctx, fields, existing):
        data = common(company, ctx, "Deposit", fields, existing)
        data["DepositToAccountRef"] = account(company, ctx, fields.get("DepositToAccountRef"), "DepositToAccountRef",
                                              required=True)
        raw_lines = fields.get("Line")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise errors.required("Line")
        own = existing.data["Id"] if existing else None
        ids = _LineIds(existing)
        lines = []
        total = ZERO
        seen: set[str] = set()
        number_ = 0
        for raw in raw_lines:
            if not isinstance(raw, dict):
                raise errors.invalid_request("Each Line must be an object", "Line")
            amount = _amount(raw)
            linked = raw.get("LinkedTxn") or []
            if linked:
                link = linked[0]
                kind = str(link.get("TxnType") or "")
                txn_id = ref_id({"value": link.get("TxnId")})
                if kind != "Payment" or txn_id is None:
                    raise errors.invalid_reference("Line.LinkedTxn.TxnId", kind or "Transaction", txn_id)
                payment = company.get("Payment", txn_id, ctx.horizon)
                if payment is None:
                    raise errors.invalid_reference("Line.LinkedTxn.TxnId", "Payment", txn_id)
                holder = company.deposited.get(txn_id)
                if txn_id in seen or (holder is not None and holder != own):
                    raise errors.business(f"Payment {txn_id} has already been deposited.", "Line.LinkedTxn")
                if (payment.data.get("DepositToAccountRef") or {}).get("value") != company.defaults["undeposited"]:
                    raise errors.business(f"Payment {txn_id} was not received into Undeposited Funds, so it cannot "
                                          "be added to a deposit.", "Line.LinkedTxn")
                seen.add(txn_id)
                line: dict[str, Any] = {"Amount": amount,
                                        "LinkedTxn": [{"TxnId": txn_id, "TxnType": "Payment", "TxnLineId": "0"}]}
                if isinstance(raw.get("DepositLineDetail"), dict) and raw["DepositLineDetail"]:
                    line["DepositLineDetail"] = dict(raw["DepositLineDetail"])
            else:
                detail = dict(raw.get("DepositLineDetail") or {})
                if not detail:
                    raise errors.required("Line.DepositLineDetail")
                detail["AccountRef"] = account(company, ctx, detail.get("AccountRef"),
                                               "Line.DepositLineDetail.AccountRef", required=True)
                line_id, _new = ids.assign(raw.get("Id"))
                number_ += 1
                line = _line(line_id, number_, raw, amount, "DepositLineDetail", detail)
            total += amount
            lines.append(line)
        data["Line"] = lines
        cash_back = fields.get("CashBack")
        if isinstance(cash_back, dict) and cash_back:
            cash_back = dict(cash_back)
            cash_back["AccountRef"] = account(company, ctx, cash_back.get("AccountRef"), "CashBack.AccountRef",
                                              required=True)
            cash_back["Amount"] = money(cash_back.get("Amount", 0), "CashBack.Amount")
            data["CashBack"] = cash_back
            total -= cash_back["Amount"]
        else:
            data.pop("CashBack", None)
        data["TotalAmt"] = total
        return data

    def committed(self, company, ctx, old, record):
        deposit_id = (record.data if record else old)["Id"]
        links.apply_deposit(company, deposit_id, old, record.data if record else None)


# ---- purchase orders -----------------------------------------------------------------------

class PurchaseOrderHandler(Handler):
    entity = "PurchaseOrder"

    def build(self, company, ctx, fields, existing):
        data = common(company, ctx, "PurchaseOrder", fields, existing)
        vendor = reference(company, ctx, fields.get("VendorRef"), "Vendor", "VendorRef", required=True)
        active_name(vendor, "VendorRef")
        data["VendorRef"] = {"value": vendor.data["Id"]}
        data["APAccountRef"] = account(company, ctx, fields.get("APAccountRef"), "APAccountRef",
                                       default=company.defaults["ap"])
        raw_lines = fields.get("Line")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise errors.required("Line")
        ids = _LineIds(existing)
        lines = []
        total = ZERO
        for raw in raw_lines:
            if not isinstance(raw, dict):
                raise errors.invalid_request("Each Line must be an object", "Line")
            kind = _detail_type(raw)
            if kind not in ("ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail"):
                raise errors.invalid_request(f"Line.DetailType {kind} is not allowed on a PurchaseOrder",
                                             "Line.DetailType")
            line_id, new_line = ids.assign(raw.get("Id"))
            amount = _amount(raw)
            detail = dict(raw.get(kind) or {})
            if kind == "ItemBasedExpenseLineDetail":
                _item(company, ctx, detail, "Line.ItemBasedExpenseLineDetail.ItemRef", new_line)
                if "ItemRef" not in detail:
                    raise errors.required("Line.ItemBasedExpenseLineDetail.ItemRef")
                qty = _optional_number(detail, "Qty", "Line.ItemBasedExpenseLineDetail.Qty")
                price = _optional_number(detail, "UnitPrice", "Line.ItemBasedExpenseLineDetail.UnitPrice")
                check_line_amount(amount, qty, price)
                if qty is not None:
                    detail["Qty"] = plain(qty)
                if price is not None:
                    detail["UnitPrice"] = plain(price)
            else:
                detail["AccountRef"] = account(company, ctx, detail.get("AccountRef"),
                                               "Line.AccountBasedExpenseLineDetail.AccountRef", required=True)
            if "CustomerRef" in detail:
                cust = reference(company, ctx, detail["CustomerRef"], "Customer", f"Line.{kind}.CustomerRef")
                if cust is not None:
                    detail["CustomerRef"] = {"value": cust.data["Id"]}
                else:
                    detail.pop("CustomerRef")
            detail.setdefault("BillableStatus", "NotBillable")
            _tax_code(company, ctx, detail, "NON", f"Line.{kind}.TaxCodeRef")
            total += amount
            lines.append(_line(line_id, len(lines) + 1, raw, amount, kind, detail))
        data["Line"] = lines
        data["TotalAmt"] = total
        status = str(fields.get("POStatus") or "Open")
        if status not in ("Open", "Closed"):
            raise errors.invalid_request(f"Invalid enumeration value for POStatus: {status}", "POStatus")
        data["POStatus"] = status
        if existing is None and "VendorAddr" not in data and vendor.data.get("BillAddr"):
            data["VendorAddr"] = dict(vendor.data["BillAddr"])
        if "DueDate" in fields:
            data["DueDate"] = iso_date(fields["DueDate"], "DueDate")
        data.setdefault("EmailStatus", "NotSet")
        if existing is not None and existing.data.get("LinkedTxn"):
            data["LinkedTxn"] = existing.data["LinkedTxn"]
        return data

    def committed(self, company, ctx, old, record):
        index_doc_number(company, "PurchaseOrder", old, record)


HANDLERS_BY_ENTITY = {
    "Invoice": InvoiceHandler(), "CreditMemo": CreditMemoHandler(), "RefundReceipt": RefundReceiptHandler(),
    "Payment": PaymentHandler(), "Deposit": DepositHandler(), "PurchaseOrder": PurchaseOrderHandler(),
}
