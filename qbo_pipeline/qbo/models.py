"""Pydantic models of the QBO v3 entities the pipeline syncs, named exactly as on the wire.

Every client method returns these models (never bare dicts). They are lenient readers:
unknown fields are kept (`extra="allow"`), enum-like fields are plain strings, Ids and
SyncTokens accept int or str. Money and quantities are `Decimal`, parsed from the JSON
text (see `jsoncodec.loads`) so no float error creeps in.

Access: attributes (`invoice.TotalAmt`), mapping style (`invoice["TotalAmt"]`,
`invoice.get("Foo")` also for unknown fields), `to_dict()` (python types, Decimal kept: good
for pandas `json_normalize`) and `to_wire()` (JSON-ready, for requests; `None` omitted;
`Payment.Line[].LineEx` never included).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Iterator

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from .jsoncodec import to_jsonable


def _money(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))  # shortest text that round-trips: 0.1 -> Decimal("0.1")
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def _id_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)):
        return str(value)
    return value


def _qbo_date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str) and len(value) > 10 and value[10] in "T ":
        return value[:10]  # a datetime where a date is expected: keep the day
    return value


# Many QBO field names equal their type's name (`LinkedTxn: list[LinkedTxn]`). Inside a class
# body the field name would shadow the type while pydantic evaluates the annotation, so such
# fields are annotated with a module-level alias `_<Type>` defined right after each class.

Money = Annotated[Decimal, BeforeValidator(_money)]
IdStr = Annotated[str, BeforeValidator(_id_text)]
QBODate = Annotated[date, BeforeValidator(_qbo_date)]


class QBOModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    def to_dict(self) -> dict[str, Any]:
        """Python types (Decimal, date, datetime) with `None` omitted."""
        return self.model_dump(exclude_none=True)

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready dict for a request body (Decimal -> number, dates -> ISO text)."""
        return to_jsonable(self.model_dump(exclude_none=True))

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        extra = self.__pydantic_extra__ or {}
        if key in extra:
            return extra[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def keys(self) -> Iterator[str]:
        return iter(self.to_dict().keys())

    def __repr_args__(self):  # repr shows only the fields that are set
        return [(key, value) for key, value in super().__repr_args__() if value is not None]


# ----------------------------------------------------------------------------- small types


class Ref(QBOModel):
    """ReferenceType: `{"value": "<id>", "name": "<display>"}`."""

    value: IdStr | None = None
    name: str | None = None
    type: str | None = None


class MemoRef(QBOModel):
    value: str | None = None


class Address(QBOModel):
    """PhysicalAddress. Lat/Long are strings on the wire (QBO sends "INVALID" sometimes)."""

    Id: IdStr | None = None
    Line1: str | None = None
    Line2: str | None = None
    Line3: str | None = None
    Line4: str | None = None
    Line5: str | None = None
    City: str | None = None
    Country: str | None = None
    CountryCode: str | None = None
    CountrySubDivisionCode: str | None = None
    PostalCode: str | None = None
    Lat: str | None = None
    Long: str | None = None
    Note: str | None = None


class EmailAddress(QBOModel):
    Address: str | None = None


class TelephoneNumber(QBOModel):
    FreeFormNumber: str | None = None


class WebSiteAddress(QBOModel):
    URI: str | None = None


class MetaData(QBOModel):
    CreateTime: datetime | None = None
    LastUpdatedTime: datetime | None = None
    LastModifiedByRef: Ref | None = None


_MetaData = MetaData


class CustomField(QBOModel):
    DefinitionId: IdStr | None = None
    Name: str | None = None
    Type: str | None = None
    StringValue: str | None = None


_CustomField = CustomField


class LinkedTxn(QBOModel):
    TxnId: IdStr | None = None
    TxnType: str | None = None
    TxnLineId: IdStr | None = None


_LinkedTxn = LinkedTxn


class NameValue(QBOModel):
    Name: str | None = None
    Value: str | None = None


_NameValue = NameValue


# ----------------------------------------------------------------------------- line details


class SalesItemLineDetail(QBOModel):
    ItemRef: Ref | None = None
    ClassRef: Ref | None = None
    ItemAccountRef: Ref | None = None
    TaxCodeRef: Ref | None = None
    PriceLevelRef: Ref | None = None
    MarkupInfo: dict[str, Any] | None = None
    Qty: Money | None = None
    UnitPrice: Money | None = None
    DiscountRate: Money | None = None
    DiscountAmt: Money | None = None
    TaxInclusiveAmt: Money | None = None
    ServiceDate: QBODate | None = None


_SalesItemLineDetail = SalesItemLineDetail


class SubTotalLineDetail(QBOModel):
    ItemRef: Ref | None = None


_SubTotalLineDetail = SubTotalLineDetail


class DiscountLineDetail(QBOModel):
    PercentBased: bool | None = None
    DiscountPercent: Money | None = None
    DiscountAccountRef: Ref | None = None
    ClassRef: Ref | None = None
    TaxCodeRef: Ref | None = None


_DiscountLineDetail = DiscountLineDetail


class DescriptionLineDetail(QBOModel):
    """Detail of a `DetailType: "DescriptionOnly"` line."""

    ServiceDate: QBODate | None = None
    TaxCodeRef: Ref | None = None


_DescriptionLineDetail = DescriptionLineDetail


DescriptionOnly = DescriptionLineDetail


class GroupLineDetail(QBOModel):
    GroupItemRef: Ref | None = None
    Quantity: Money | None = None
    Line: list["_Line"] | None = None


_GroupLineDetail = GroupLineDetail


class DepositLineDetail(QBOModel):
    Entity: Ref | None = None
    ClassRef: Ref | None = None
    AccountRef: Ref | None = None
    PaymentMethodRef: Ref | None = None
    TaxCodeRef: Ref | None = None
    CheckNum: str | None = None
    TxnType: str | None = None


_DepositLineDetail = DepositLineDetail


class ItemBasedExpenseLineDetail(QBOModel):
    ItemRef: Ref | None = None
    ClassRef: Ref | None = None
    CustomerRef: Ref | None = None
    TaxCodeRef: Ref | None = None
    PriceLevelRef: Ref | None = None
    MarkupInfo: dict[str, Any] | None = None
    BillableStatus: str | None = None
    Qty: Money | None = None
    UnitPrice: Money | None = None
    TaxInclusiveAmt: Money | None = None


_ItemBasedExpenseLineDetail = ItemBasedExpenseLineDetail


class AccountBasedExpenseLineDetail(QBOModel):
    AccountRef: Ref | None = None
    ClassRef: Ref | None = None
    CustomerRef: Ref | None = None
    TaxCodeRef: Ref | None = None
    MarkupInfo: dict[str, Any] | None = None
    BillableStatus: str | None = None
    TaxAmount: Money | None = None
    TaxInclusiveAmt: Money | None = None


_AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail


class TaxLineDetail(QBOModel):
    TaxRateRef: Ref | None = None
    PercentBased: bool | None = None
    TaxPercent: Money | None = None
    NetAmountTaxable: Money | None = None
    TaxInclusiveAmount: Money | None = None
    OverrideDeltaAmount: Money | None = None


_TaxLineDetail = TaxLineDetail


class Line(QBOModel):
    """One transaction line. `DetailType` names which detail object is filled; it is a
    plain string because QBO has sent odd spellings (`SALES_ITEM_LINE_DETAIL`)."""

    Id: IdStr | None = None
    LineNum: int | None = None
    Description: str | None = None
    Amount: Money | None = None
    DetailType: str | None = None
    SalesItemLineDetail: _SalesItemLineDetail | None = None
    SubTotalLineDetail: _SubTotalLineDetail | None = None
    DiscountLineDetail: _DiscountLineDetail | None = None
    DescriptionLineDetail: _DescriptionLineDetail | None = None
    GroupLineDetail: _GroupLineDetail | None = None
    DepositLineDetail: _DepositLineDetail | None = None
    ItemBasedExpenseLineDetail: _ItemBasedExpenseLineDetail | None = None
    AccountBasedExpenseLineDetail: _AccountBasedExpenseLineDetail | None = None
    TaxLineDetail: _TaxLineDetail | None = None
    LinkedTxn: list[_LinkedTxn] | None = None
    CustomField: list[_CustomField] | None = None
    # Payment reads carry JAXB noise here; accepted on read, never serialized back.
    LineEx: Any = Field(default=None, exclude=True)


_Line = Line


GroupLineDetail.model_rebuild()
Line.model_rebuild()


class TaxLine(QBOModel):
    Amount: Money | None = None
    DetailType: str | None = None
    TaxLineDetail: _TaxLineDetail | None = None


_TaxLine = TaxLine


class TxnTaxDetail(QBOModel):
    TxnTaxCodeRef: Ref | None = None
    TotalTax: Money | None = None
    TaxLine: list[_TaxLine] | None = None


_TxnTaxDetail = TxnTaxDetail


class CashBack(QBOModel):
    AccountRef: Ref | None = None
    Amount: Money | None = None
    Memo: str | None = None


_CashBack = CashBack


# ----------------------------------------------------------------------------- entities


class Entity(QBOModel):
    """Fields common to every QBO entity. `status == "Deleted"` marks a delete response or
    a CDC tombstone (which carries only Id and MetaData)."""

    entity_name: ClassVar[str] = ""
    _generic_name: str = PrivateAttr(default="")

    Id: IdStr | None = None
    SyncToken: IdStr | None = None
    MetaData: _MetaData | None = None
    domain: str | None = None
    sparse: bool | None = None
    status: str | None = None

    @property
    def qbo_entity(self) -> str:
        return self.entity_name or self._generic_name

    @property
    def is_deleted(self) -> bool:
        return (self.status or "").lower() == "deleted"

    @property
    def last_updated(self) -> datetime | None:
        return self.MetaData.LastUpdatedTime if self.MetaData else None


class GenericEntity(Entity):
    """Any entity this module has no model for (Employee, Class, Bill, ...)."""


class _Person(Entity):
    DisplayName: str | None = None
    Title: str | None = None
    GivenName: str | None = None
    MiddleName: str | None = None
    FamilyName: str | None = None
    Suffix: str | None = None
    CompanyName: str | None = None
    PrintOnCheckName: str | None = None
    PrimaryEmailAddr: EmailAddress | None = None
    PrimaryPhone: TelephoneNumber | None = None
    AlternatePhone: TelephoneNumber | None = None
    Mobile: TelephoneNumber | None = None
    Fax: TelephoneNumber | None = None
    WebAddr: WebSiteAddress | None = None
    BillAddr: Address | None = None
    Balance: Money | None = None
    CurrencyRef: Ref | None = None
    Active: bool | None = None


class Customer(_Person):
    entity_name: ClassVar[str] = "Customer"

    FullyQualifiedName: str | None = None
    ShipAddr: Address | None = None
    Notes: str | None = None
    Taxable: bool | None = None
    Job: bool | None = None
    ParentRef: Ref | None = None
    Level: int | None = None
    BillWithParent: bool | None = None
    BalanceWithJobs: Money | None = None
    OpenBalanceDate: QBODate | None = None
    PreferredDeliveryMethod: str | None = None
    SalesTermRef: Ref | None = None
    PaymentMethodRef: Ref | None = None
    DefaultTaxCodeRef: Ref | None = None
    ResaleNum: str | None = None


class Vendor(_Person):
    entity_name: ClassVar[str] = "Vendor"

    Vendor1099: bool | None = None
    TaxIdentifier: str | None = None
    AcctNum: str | None = None
    TermRef: Ref | None = None
    APAccountRef: Ref | None = None
    BillRate: Money | None = None


class Item(Entity):
    entity_name: ClassVar[str] = "Item"

    Name: str | None = None
    Sku: str | None = None
    Type: str | None = None
    Description: str | None = None
    PurchaseDesc: str | None = None
    UnitPrice: Money | None = None
    PurchaseCost: Money | None = None
    Taxable: bool | None = None
    SalesTaxIncluded: bool | None = None
    PurchaseTaxIncluded: bool | None = None
    SalesTaxCodeRef: Ref | None = None
    PurchaseTaxCodeRef: Ref | None = None
    IncomeAccountRef: Ref | None = None
    ExpenseAccountRef: Ref | None = None
    AssetAccountRef: Ref | None = None
    PrefVendorRef: Ref | None = None
    ClassRef: Ref | None = None
    TrackQtyOnHand: bool | None = None
    QtyOnHand: Money | None = None
    ReorderPoint: Money | None = None
    InvStartDate: QBODate | None = None
    SubItem: bool | None = None
    ParentRef: Ref | None = None
    Level: int | None = None
    FullyQualifiedName: str | None = None
    Active: bool | None = None


class Transaction(Entity):
    TxnDate: QBODate | None = None
    DocNumber: str | None = None
    PrivateNote: str | None = None
    CustomField: list[_CustomField] | None = None
    CurrencyRef: Ref | None = None
    ExchangeRate: Money | None = None
    LinkedTxn: list[_LinkedTxn] | None = None
    Line: list[_Line] | None = None
    TotalAmt: Money | None = None
    HomeTotalAmt: Money | None = None
    DepartmentRef: Ref | None = None
    TxnSource: str | None = None


class _SalesTransaction(Transaction):
    CustomerRef: Ref | None = None
    ProjectRef: Ref | None = None
    ClassRef: Ref | None = None
    SalesTermRef: Ref | None = None
    TxnTaxDetail: _TxnTaxDetail | None = None
    GlobalTaxCalculation: str | None = None
    BillAddr: Address | None = None
    ShipAddr: Address | None = None
    ShipFromAddr: Address | None = None
    BillEmail: EmailAddress | None = None
    CustomerMemo: MemoRef | None = None
    ApplyTaxAfterDiscount: bool | None = None
    PrintStatus: str | None = None
    EmailStatus: str | None = None
    Balance: Money | None = None
    HomeBalance: Money | None = None
    ShipDate: QBODate | None = None
    ShipMethodRef: Ref | None = None
    TrackingNum: str | None = None


class Invoice(_SalesTransaction):
    entity_name: ClassVar[str] = "Invoice"

    DueDate: QBODate | None = None
    Deposit: Money | None = None
    DepositToAccountRef: Ref | None = None
    AllowIPNPayment: bool | None = None
    AllowOnlinePayment: bool | None = None
    AllowOnlineCreditCardPayment: bool | None = None
    AllowOnlineACHPayment: bool | None = None
    InvoiceLink: str | None = None
    DeliveryInfo: dict[str, Any] | None = None


class CreditMemo(_SalesTransaction):
    entity_name: ClassVar[str] = "CreditMemo"

    RemainingCredit: Money | None = None


class RefundReceipt(_SalesTransaction):
    entity_name: ClassVar[str] = "RefundReceipt"

    DepositToAccountRef: Ref | None = None
    PaymentMethodRef: Ref | None = None
    PaymentRefNum: str | None = None
    PaymentType: str | None = None
    CheckPayment: dict[str, Any] | None = None
    CreditCardPayment: dict[str, Any] | None = None


class Payment(Transaction):
    entity_name: ClassVar[str] = "Payment"

    CustomerRef: Ref | None = None
    ProjectRef: Ref | None = None
    DepositToAccountRef: Ref | None = None
    ARAccountRef: Ref | None = None
    PaymentMethodRef: Ref | None = None
    PaymentRefNum: str | None = None
    UnappliedAmt: Money | None = None
    ProcessPayment: bool | None = None
    CreditCardPayment: dict[str, Any] | None = None


class Deposit(Transaction):
    entity_name: ClassVar[str] = "Deposit"

    DepositToAccountRef: Ref | None = None
    CashBack: _CashBack | None = None
    TxnTaxDetail: _TxnTaxDetail | None = None
    GlobalTaxCalculation: str | None = None


class PurchaseOrder(Transaction):
    entity_name: ClassVar[str] = "PurchaseOrder"

    VendorRef: Ref | None = None
    APAccountRef: Ref | None = None
    ClassRef: Ref | None = None
    SalesTermRef: Ref | None = None
    POStatus: str | None = None
    POEmail: EmailAddress | None = None
    VendorAddr: Address | None = None
    ShipAddr: Address | None = None
    ShipMethodRef: Ref | None = None
    DueDate: QBODate | None = None
    Memo: str | None = None
    TxnTaxDetail: _TxnTaxDetail | None = None
    GlobalTaxCalculation: str | None = None


class Account(Entity):
    entity_name: ClassVar[str] = "Account"

    Name: str | None = None
    AcctNum: str | None = None
    AccountType: str | None = None
    AccountSubType: str | None = None
    Classification: str | None = None
    FullyQualifiedName: str | None = None
    Description: str | None = None
    SubAccount: bool | None = None
    ParentRef: Ref | None = None
    Active: bool | None = None
    CurrentBalance: Money | None = None
    CurrentBalanceWithSubAccounts: Money | None = None
    CurrencyRef: Ref | None = None
    TaxCodeRef: Ref | None = None


class TaxRateDetail(QBOModel):
    TaxRateRef: Ref | None = None
    TaxTypeApplicable: str | None = None
    TaxOrder: int | None = None


_TaxRateDetail = TaxRateDetail


class TaxRateList(QBOModel):
    TaxRateDetail: list[_TaxRateDetail] | None = None


class TaxCode(Entity):
    entity_name: ClassVar[str] = "TaxCode"

    Name: str | None = None
    Description: str | None = None
    Active: bool | None = None
    Taxable: bool | None = None
    TaxGroup: bool | None = None
    Hidden: bool | None = None
    SalesTaxRateList: TaxRateList | None = None
    PurchaseTaxRateList: TaxRateList | None = None


class EffectiveTaxRate(QBOModel):
    RateValue: Money | None = None
    EffectiveDate: datetime | QBODate | None = None
    EndDate: datetime | QBODate | None = None


_EffectiveTaxRate = EffectiveTaxRate


class TaxRate(Entity):
    entity_name: ClassVar[str] = "TaxRate"

    Name: str | None = None
    Description: str | None = None
    Active: bool | None = None
    RateValue: Money | None = None
    AgencyRef: Ref | None = None
    TaxReturnLineRef: Ref | None = None
    SpecialTaxType: str | None = None
    DisplayType: str | None = None
    EffectiveTaxRate: list[_EffectiveTaxRate] | None = None


class CompanyInfo(Entity):
    entity_name: ClassVar[str] = "CompanyInfo"

    CompanyName: str | None = None
    LegalName: str | None = None
    CompanyAddr: Address | None = None
    CustomerCommunicationAddr: Address | None = None
    LegalAddr: Address | None = None
    PrimaryPhone: TelephoneNumber | None = None
    Email: EmailAddress | None = None
    WebAddr: WebSiteAddress | None = None
    Country: str | None = None
    FiscalYearStartMonth: str | None = None
    CompanyStartDate: QBODate | None = None
    SupportedLanguages: str | None = None
    NameValue: list[_NameValue] | None = None


ENTITY_MODELS: dict[str, type[Entity]] = {
    model.entity_name: model
    for model in (
        Customer, Vendor, Item, Invoice, Payment, Deposit, CreditMemo, RefundReceipt,
        PurchaseOrder, Account, TaxCode, TaxRate, CompanyInfo,
    )
}
_BY_LOWER = {name.lower(): name for name in ENTITY_MODELS}

# Name lists hide inactive rows from queries unless asked; they are deactivated, not deleted.
NAME_LIST_ENTITIES = frozenset(
    {"Customer", "Vendor", "Item", "Account", "Employee", "Class", "Department", "Term",
     "PaymentMethod", "TaxCode", "TaxRate"}
)
DELETABLE_ENTITIES = frozenset(
    {"Invoice", "Payment", "Deposit", "CreditMemo", "RefundReceipt", "PurchaseOrder",
     "SalesReceipt", "Estimate", "Bill", "BillPayment", "Purchase", "JournalEntry",
     "TimeActivity", "Transfer", "VendorCredit"}
)


def canonical_entity_name(name: str) -> str:
    """`invoice` -> `Invoice`; unknown names are returned unchanged."""
    return _BY_LOWER.get(name.lower(), name)


def model_for(name: str) -> type[Entity]:
    return ENTITY_MODELS.get(canonical_entity_name(name), GenericEntity)


def parse_entity(name: str, data: dict[str, Any] | Entity) -> Entity:
    """Validates one wire object of entity `name` into its model (GenericEntity if unknown)."""
    model = model_for(name)
    if isinstance(data, model):
        return data
    if isinstance(data, QBOModel):
        data = data.model_dump(exclude_none=True)
    entity = model.model_validate(data)
    if model is GenericEntity:
        entity._generic_name = canonical_entity_name(name)
    return entity


def wire_body(body: Any) -> dict[str, Any]:
    """Request body from a model or a dict (dicts may hold Decimal / date values)."""
    if isinstance(body, QBOModel):
        return body.to_wire()
    if isinstance(body, dict):
        return to_jsonable(_without_none_or_lineex(body))
    raise TypeError(f"an entity body must be a model or a dict, not {type(body).__name__}")


def _without_none_or_lineex(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_none_or_lineex(item)
            for key, item in value.items()
            if item is not None and key != "LineEx"
        }
    if isinstance(value, (list, tuple)):
        return [_without_none_or_lineex(item) for item in value]
    if isinstance(value, QBOModel):
        return value.to_wire()
    return value
