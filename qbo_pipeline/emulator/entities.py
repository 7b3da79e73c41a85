"""The entity registry: what each QBO entity is, which of its fields a client may write, which
are computed by the server, and how it is addressed and numbered.

Sources: qbo-api.md §1.2 (deletable/voidable), §9 (fields), the Intuit reference field lists.
"""
from __future__ import annotations

from dataclasses import dataclass

META = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status"})

_NAME_COMMON = frozenset({
    "DisplayName", "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "CompanyName",
    "PrintOnCheckName", "PrimaryEmailAddr", "PrimaryPhone", "AlternatePhone", "Mobile", "Fax",
    "WebAddr", "OtherAddr", "BillAddr", "Notes", "Active", "Balance", "CurrencyRef", "Source",
    "OtherContactInfo", "BusinessNumber", "GSTIN", "GSTRegistrationType", "PrimaryTaxIdentifier",
    "SecondaryTaxIdentifier", "TaxRegistrationNumber", "OpenBalanceDate", "V4IDPseudonym",
})

_TXN_COMMON = frozenset({
    "TxnDate", "DocNumber", "PrivateNote", "CustomField", "CurrencyRef", "ExchangeRate", "LinkedTxn",
    "Line", "TotalAmt", "HomeTotalAmt", "TxnSource", "DepartmentRef", "ClassRef", "TxnStatus",
    "GlobalTaxCalculation", "TransactionLocationType", "ProjectRef", "RecurDataRef",
    "TaxExemptionRef", "TxnTaxDetail", "Memo", "AttachableRef",
})

_SALES = _TXN_COMMON | frozenset({
    "CustomerRef", "CustomerMemo", "BillAddr", "ShipAddr", "ShipFromAddr", "BillEmail", "BillEmailCc",
    "BillEmailBcc", "ApplyTaxAfterDiscount", "PrintStatus", "EmailStatus", "DeliveryInfo",
    "SalesTermRef", "DueDate", "ShipDate", "ShipMethodRef", "TrackingNum", "Balance", "HomeBalance",
    "Deposit", "DepositToAccountRef", "AllowIPNPayment", "AllowOnlinePayment",
    "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment", "InvoiceLink", "FreeFormAddress",
    "RemainingCredit", "PaymentMethodRef", "PaymentRefNum", "PaymentType", "CheckPayment",
    "CreditCardPayment", "InvoiceEx", "TotalTax",
})


@dataclass(frozen=True)
class EntitySpec:
    name: str
    kind: str                     # "name" (name list), "txn" (transaction) or "readonly"
    id_group: str                 # entities in one group share an Id sequence
    allowed: frozenset[str]       # known top-level properties (others → 2010 when strict)
    readonly: frozenset[str]      # computed by the server; ignored when a client sends them
    deletable: bool = False
    voidable: bool = False
    doc_group: str | None = None  # DocNumber auto-numbering sequence / uniqueness scope
    cdc: bool = True

    @property
    def path(self) -> str:
        return self.name.lower()

    @property
    def name_list(self) -> bool:
        return self.kind in ("name", "readonly") and self.name not in ("CompanyInfo", "Preferences")


SPECS: dict[str, EntitySpec] = {}


def _add(spec: EntitySpec) -> None:
    SPECS[spec.name] = spec


_add(EntitySpec(
    "Customer", "name", "names",
    META | _NAME_COMMON | {"FullyQualifiedName", "ShipAddr", "Taxable", "Job", "ParentRef", "Level",
                           "BillWithParent", "BalanceWithJobs", "PreferredDeliveryMethod", "SalesTermRef",
                           "PaymentMethodRef", "ResaleNum", "DefaultTaxCodeRef", "TaxExemptionReasonId",
                           "ARAccountRef", "IsProject", "ClientEntityId", "CustomerTypeRef", "ProjectRef",
                           "TaxRegistration"},
    META | {"FullyQualifiedName", "Level", "BalanceWithJobs", "Balance"},
))
_add(EntitySpec(
    "Vendor", "name", "names",
    META | _NAME_COMMON | {"Vendor1099", "TaxIdentifier", "AcctNum", "TermRef", "CostRate", "BillRate",
                           "APAccountRef", "TaxReportingBasis", "VendorPaymentBankDetail", "T4AEligible",
                           "T5018Eligible", "HasTPAR", "ShipAddr", "VendorEx"},
    META | {"Balance"},
))
_add(EntitySpec(
    "Item", "name", "Item",
    META | {"Name", "Sku", "Description", "Active", "SubItem", "ParentRef", "Level", "FullyQualifiedName",
            "Taxable", "SalesTaxIncluded", "UnitPrice", "RatePercent", "Type", "PaymentMethodRef", "UOMSetRef",
            "IncomeAccountRef", "PurchaseDesc", "PurchaseTaxIncluded", "PurchaseCost", "ExpenseAccountRef",
            "AssetAccountRef", "PrefVendorRef", "TrackQtyOnHand", "QtyOnHand", "QtyOnPurchaseOrder",
            "QtyOnSalesOrder", "ReorderPoint", "InvStartDate", "SalesTaxCodeRef", "PurchaseTaxCodeRef",
            "ClassRef", "Source", "AbatementRate", "ReverseChargeRate", "ServiceType", "ItemCategoryType",
            "ItemEx", "TaxClassificationRef", "ItemGroupDetail", "ItemAssemblyDetail"},
    META | {"FullyQualifiedName", "Level", "QtyOnPurchaseOrder", "QtyOnSalesOrder"},
))
_add(EntitySpec(
    "Invoice", "txn", "txn", META | _SALES,
    META | {"TotalAmt", "HomeTotalAmt", "Balance", "HomeBalance", "LinkedTxn", "InvoiceLink", "TotalTax"},
    deletable=True, voidable=True, doc_group="sales",
))
_add(EntitySpec(
    "CreditMemo", "txn", "txn", META | _SALES,
    META | {"TotalAmt", "HomeTotalAmt", "Balance", "HomeBalance", "RemainingCredit", "LinkedTxn", "TotalTax"},
    deletable=True, doc_group="sales",
))
_add(EntitySpec(
    "RefundReceipt", "txn", "txn", META | _SALES,
    META | {"TotalAmt", "HomeTotalAmt", "Balance", "HomeBalance", "LinkedTxn", "TotalTax"},
    deletable=True, doc_group="sales",
))
_add(EntitySpec(
    "Payment", "txn", "txn",
    META | _TXN_COMMON | {"CustomerRef", "DepositToAccountRef", "ARAccountRef", "PaymentMethodRef",
                          "PaymentRefNum", "CreditCardPayment", "UnappliedAmt", "ProcessPayment"},
    META | {"UnappliedAmt", "HomeTotalAmt", "LinkedTxn"},
    deletable=True, voidable=True,
))
_add(EntitySpec(
    "Deposit", "txn", "txn",
    META | _TXN_COMMON | {"DepositToAccountRef", "CashBack", "HomeTotalAmt"},
    META | {"TotalAmt", "HomeTotalAmt"},
    deletable=True,
))
_add(EntitySpec(
    "PurchaseOrder", "txn", "txn",
    META | _TXN_COMMON | {"VendorRef", "APAccountRef", "VendorAddr", "ShipAddr", "ShipTo", "ShipMethodRef",
                          "POStatus", "POEmail", "DueDate", "EmailStatus", "SalesTermRef", "ManuallyClosed"},
    META | {"TotalAmt", "HomeTotalAmt", "LinkedTxn"},
    deletable=True, doc_group="PurchaseOrder",
))
for _name, _group, _cdc in (("Account", "Account", True), ("TaxCode", "TaxCode", False),
                            ("TaxRate", "TaxRate", False), ("CompanyInfo", "CompanyInfo", True),
                            ("Preferences", "Preferences", True)):
    _add(EntitySpec(_name, "readonly", _group, frozenset(), frozenset(), cdc=_cdc))

WRITABLE = tuple(name for name, spec in SPECS.items() if spec.kind != "readonly")
NAME_LISTS = ("Customer", "Vendor", "Item")
TRANSACTIONS = tuple(name for name, spec in SPECS.items() if spec.kind == "txn")
# Seeding order: what an entity references is created first.
DEPENDENCY_ORDER = ("Customer", "Vendor", "Item", "Invoice", "CreditMemo", "Payment", "Deposit",
                    "RefundReceipt", "PurchaseOrder")

_BY_LOWER = {name.lower(): spec for name, spec in SPECS.items()}


def spec_for(name: str) -> EntitySpec | None:
    """Entity names are case-insensitive in paths, queries and CDC lists."""
    return _BY_LOWER.get(name.strip().lower())
