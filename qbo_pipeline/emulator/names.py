"""Name lists: Customer, Vendor, Item.

DisplayName is unique across Customer and Vendor, inactive ones included (6240); Item Name is
unique among items (6240). Name lists cannot be deleted (deactivate with Active=false); an
inactive customer keeps its name.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import errors, links
from .computations import ZERO, money, plain, number
from .handlers import Handler, assign_address_ids
from .models import USD, Company, Record
from .validation import Context, flag, iso_date, reference, text

NAME_PARTS = (("Title", 16), ("GivenName", 100), ("MiddleName", 100), ("FamilyName", 100), ("Suffix", 16))


def _currency(company: Company, fields: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    if existing is not None:
        return existing.data.get("CurrencyRef") or dict(USD)
    ref = fields.get("CurrencyRef")
    code = (ref.get("value") if isinstance(ref, dict) else ref) or "USD"
    if str(code).upper() != "USD":
        raise errors.business("Multicurrency is not enabled for this company; CurrencyRef must be USD.",
                              "CurrencyRef")
    return dict(USD)


def _display_name(fields: dict[str, Any], existing: Record | None) -> str:
    for key, limit in NAME_PARTS:
        if key in fields:
            fields[key] = text(fields[key], key, limit)
    if "DisplayName" in fields:
        display = text(fields["DisplayName"], "DisplayName", 500).strip()
        if display:
            return display
    derived = " ".join(str(fields[key]).strip() for key, _ in NAME_PARTS if fields.get(key))
    if derived:
        return derived
    if existing is not None:
        return existing.data["DisplayName"]
    raise errors.required("DisplayName")


def _claim_name(company: Company, entity: str, display: str, existing: Record | None) -> None:
    hit = company.display_names.get(display.casefold())
    if hit is not None and (existing is None or hit != (entity, existing.data["Id"])):
        raise errors.duplicate_name()


def _index_name(company: Company, entity: str, old: dict[str, Any] | None, record: Record | None) -> None:
    if old is not None and (record is None or old.get("DisplayName") != record.data.get("DisplayName")):
        key = str(old.get("DisplayName", "")).casefold()
        if company.display_names.get(key) == (entity, old["Id"]):
            company.display_names.pop(key, None)
    if record is not None:
        company.display_names[record.data["DisplayName"].casefold()] = (entity, record.data["Id"])


def _opening_balance(fields: dict[str, Any], existing: Record | None, key: str = "Balance") -> Decimal:
    if existing is not None:
        return Decimal(existing.data.get(key, 0))
    return money(fields.get("Balance", 0), "Balance") if "Balance" in fields else ZERO


class CustomerHandler(Handler):
    entity = "Customer"

    def build(self, company, ctx, fields, existing):
        display = _display_name(fields, existing)
        _claim_name(company, "Customer", display, existing)
        own_id = existing.data["Id"] if existing else None
        parent = reference(company, ctx, fields.get("ParentRef"), "Customer", "ParentRef")
        data = dict(fields)
        data["DisplayName"] = display
        if parent is not None:
            level = int(parent.data.get("Level", 0)) + 1
            if parent.data["Id"] == own_id or level > 5:
                raise errors.business("A sub-customer cannot be its own parent, and nesting is limited to "
                                      "five levels.", "ParentRef")
            data["ParentRef"] = {"value": parent.data["Id"]}
            data["Level"] = level
            data["FullyQualifiedName"] = f"{parent.data['FullyQualifiedName']}:{display}"
        else:
            data.pop("ParentRef", None)
            data.pop("Level", None)
            data["FullyQualifiedName"] = display
        data.setdefault("PrintOnCheckName", fields.get("CompanyName") or display)
        data["Active"] = flag(fields.get("Active", True), "Active")
        data["Taxable"] = flag(fields.get("Taxable", "TaxExemptionReasonId" not in fields), "Taxable")
        data["Job"] = flag(fields.get("Job", parent is not None), "Job")
        data["BillWithParent"] = flag(fields.get("BillWithParent", False), "BillWithParent")
        balance = _opening_balance(fields, existing)
        data["Balance"] = balance if existing else ZERO  # the opening balance is added in committed()
        data["BalanceWithJobs"] = Decimal(existing.data.get("BalanceWithJobs", 0)) if existing else ZERO
        if existing is None and "Balance" in fields:
            data["_opening"] = balance
        data["CurrencyRef"] = _currency(company, fields, existing)
        data.setdefault("PreferredDeliveryMethod", "Print")
        for key in ("SalesTermRef", "PaymentMethodRef"):
            if key in data and not isinstance(data[key], dict):
                data[key] = {"value": str(data[key])}
        assign_address_ids(company, data, ("BillAddr", "ShipAddr"))
        return data

    def committed(self, company, ctx, old, record):
        opening = record.data.pop("_opening", None) if record is not None else None
        _index_name(company, "Customer", old, record)
        if record is not None and old is None and opening:
            links.adjust_customer(company, ctx, record.data["Id"], opening)
        if record is not None and old is not None:
            old_parent = (old.get("ParentRef") or {}).get("value")
            new_parent = (record.data.get("ParentRef") or {}).get("value")
            if old_parent != new_parent:
                moved = Decimal(record.data.get("BalanceWithJobs", 0))
                _walk_parents(company, ctx, old_parent, -moved)
                _walk_parents(company, ctx, new_parent, moved)


def _walk_parents(company: Company, ctx: Context, parent_id: str | None, delta: Decimal) -> None:
    seen: set[str] = set()
    while parent_id and parent_id not in seen and delta:
        seen.add(parent_id)
        parent = company.stores["Customer"].get(parent_id)
        if parent is None:
            return
        parent.data["BalanceWithJobs"] = Decimal(parent.data.get("BalanceWithJobs", 0)) + delta
        if ctx.touch_related:
            company.touch(parent, ctx.moment, bump=False)
        parent_id = (parent.data.get("ParentRef") or {}).get("value")


class VendorHandler(Handler):
    entity = "Vendor"

    def build(self, company, ctx, fields, existing):
        display = _display_name(fields, existing)
        _claim_name(company, "Vendor", display, existing)
        data = dict(fields)
        data["DisplayName"] = display
        data.setdefault("PrintOnCheckName", fields.get("CompanyName") or display)
        data["Active"] = flag(fields.get("Active", True), "Active")
        data["Vendor1099"] = flag(fields.get("Vendor1099", False), "Vendor1099")
        data["Balance"] = _opening_balance(fields, existing)
        data["CurrencyRef"] = _currency(company, fields, existing)
        if "APAccountRef" in data:
            account = reference(company, ctx, data["APAccountRef"], "Account", "APAccountRef")
            data["APAccountRef"] = {"value": account.data["Id"]} if account else data.pop("APAccountRef")
        assign_address_ids(company, data, ("BillAddr", "ShipAddr"))
        return data

    def committed(self, company, ctx, old, record):
        _index_name(company, "Vendor", old, record)


ITEM_TYPES = ("Service", "Inventory", "NonInventory", "Category", "Group")


class ItemHandler(Handler):
    entity = "Item"

    def build(self, company, ctx, fields, existing):
        if "Name" in fields:
            name = text(fields["Name"], "Name", 100).strip()
        elif existing is not None:
            name = existing.data["Name"]
        else:
            raise errors.required("Name")
        if not name:
            raise errors.required("Name")
        item_type = str(fields.get("Type") or (existing.data.get("Type") if existing else "Service"))
        if item_type not in ITEM_TYPES:
            raise errors.invalid_request(f"Invalid enumeration value for Type: {item_type}", "Type")
        if item_type in ("Group",):
            raise errors.unsupported_operation("Create of Group items")
        if existing is not None and existing.data.get("Type") == "Inventory" and item_type != "Inventory":
            raise errors.business("You can't change the type of an inventory item.", "Type")
        parent = reference(company, ctx, fields.get("ParentRef"), "Item", "ParentRef")
        own_id = existing.data["Id"] if existing else None
        data = dict(fields)
        data["Name"] = name
        data["Type"] = item_type
        if parent is not None:
            if parent.data["Id"] == own_id:
                raise errors.business("An item cannot be its own parent.", "ParentRef")
            data["ParentRef"] = {"value": parent.data["Id"]}
            data["SubItem"] = True
            data["Level"] = int(parent.data.get("Level", 0)) + 1
            data["FullyQualifiedName"] = f"{parent.data['FullyQualifiedName']}:{name}"
        else:
            data.pop("ParentRef", None)
            data.pop("Level", None)
            data.pop("SubItem", None)
            data["FullyQualifiedName"] = name
        hit = company.item_names.get(data["FullyQualifiedName"].casefold())
        if hit is not None and hit != own_id:
            raise errors.duplicate_name(item=True)
        data["Active"] = flag(fields.get("Active", True), "Active")
        if item_type != "Category":
            data["Taxable"] = flag(fields.get("Taxable", False), "Taxable")
            for key in ("UnitPrice", "PurchaseCost"):
                data[key] = plain(number(fields.get(key, 0), key))
            for key in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
                account = reference(company, ctx, fields.get(key), "Account", key)
                if account is not None:
                    data[key] = {"value": account.data["Id"]}
                else:
                    data.pop(key, None)
            if item_type == "Inventory":
                for key in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef", "InvStartDate"):
                    if key not in data:
                        raise errors.required(key)
                data["InvStartDate"] = iso_date(data["InvStartDate"], "InvStartDate")
                data["TrackQtyOnHand"] = True
                data["QtyOnHand"] = plain(number(fields.get("QtyOnHand", 0), "QtyOnHand"))
            else:
                if "IncomeAccountRef" not in data and "ExpenseAccountRef" not in data:
                    raise errors.required("IncomeAccountRef")
                data["TrackQtyOnHand"] = False
                data.pop("QtyOnHand", None)
        return data

    def committed(self, company, ctx, old, record):
        if old is not None:
            key = str(old.get("FullyQualifiedName", "")).casefold()
            if company.item_names.get(key) == old["Id"]:
                company.item_names.pop(key, None)
        if record is not None:
            company.item_names[record.data["FullyQualifiedName"].casefold()] = record.data["Id"]
