"""What a brand-new sandbox company contains: chart of accounts, the two starter items,
US sales-tax codes (TAX, NON, and the "California" code at 8 %), CompanyInfo, Preferences."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from .models import USD, Company

_ACCOUNTS = (
    # key, Name, Classification, AccountType, AccountSubType
    ("services", "Services", "Revenue", "Income", "ServiceFeeIncome"),
    ("sales", "Sales of Product Income", "Revenue", "Income", "SalesOfProductIncome"),
    ("cogs", "Cost of Goods Sold", "Expense", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("undeposited", "Undeposited Funds", "Asset", "Other Current Asset", "UndepositedFunds"),
    ("checking", "Checking", "Asset", "Bank", "Checking"),
    ("savings", "Savings", "Asset", "Bank", "Savings"),
    ("ar", "Accounts Receivable (A/R)", "Asset", "Accounts Receivable", "AccountsReceivable"),
    ("ap", "Accounts Payable (A/P)", "Liability", "Accounts Payable", "AccountsPayable"),
    ("inventory", "Inventory Asset", "Asset", "Other Current Asset", "Inventory"),
    ("expense", "Purchases", "Expense", "Expense", "SuppliesMaterials"),
    ("equity", "Opening Balance Equity", "Equity", "Equity", "OpeningBalanceEquity"),
    ("sales_tax_payable", "Board of Equalization Payable", "Liability", "Other Current Liability",
     "SalesTaxPayable"),
    ("discounts", "Discounts given", "Revenue", "Income", "DiscountsRefundsGiven"),
    ("uncategorized_income", "Uncategorized Income", "Revenue", "Income", "ServiceFeeIncome"),
    ("uncategorized_expense", "Uncategorized Expense", "Expense", "Expense", "OtherMiscellaneousServiceCost"),
    ("uncategorized_asset", "Uncategorized Asset", "Asset", "Other Current Asset", "OtherCurrentAssets"),
)

SALES_TAX_RATE = Decimal(8)


def bootstrap_company(company: Company, now: datetime) -> None:
    start = now - timedelta(days=1)  # the company existed before any API call
    for key, name, classification, account_type, subtype in _ACCOUNTS:
        record = company.insert("Account", {
            "Name": name, "SubAccount": False, "FullyQualifiedName": name, "Active": True,
            "Classification": classification, "AccountType": account_type, "AccountSubType": subtype,
            "CurrentBalance": 0, "CurrentBalanceWithSubAccounts": 0, "CurrencyRef": dict(USD),
        }, start)
        company.defaults[key] = record.data["Id"]

    for name in ("Services", "Hours"):
        record = company.insert("Item", {
            "Name": name, "Active": True, "FullyQualifiedName": name, "Taxable": False, "UnitPrice": 0,
            "Type": "Service", "IncomeAccountRef": {"value": company.defaults["services"]},
            "PurchaseCost": 0, "TrackQtyOnHand": False,
        }, start)
        company.item_names[name.casefold()] = record.data["Id"]

    company.insert("TaxRate", {
        "Name": "California", "Description": "California", "Active": True, "RateValue": SALES_TAX_RATE,
        "AgencyRef": {"value": "1"}, "SpecialTaxType": "NONE", "DisplayType": "ReadOnly",
        "EffectiveTaxRate": [{"RateValue": SALES_TAX_RATE, "EffectiveDate": "2014-01-01T00:00:00-08:00"}],
    }, start, entity_id="3")
    for code, taxable in (("TAX", True), ("NON", False)):
        company.insert("TaxCode", {
            "Name": code, "Description": code, "Active": True, "Hidden": False, "Taxable": taxable,
            "TaxGroup": False, "TaxCodeConfigType": "SYSTEM_GENERATED",
        }, start, entity_id=code)
    company.insert("TaxCode", {
        "Name": "California", "Description": "California", "Active": True, "Hidden": False, "Taxable": True,
        "TaxGroup": True,
        "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "3", "name": "California"},
                                                "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}]},
        "PurchaseTaxRateList": {"TaxRateDetail": []}, "TaxCodeConfigType": "USER_DEFINED",
    }, start, entity_id="2")
    company.defaults["sales_tax_code"] = "2"

    address = {"Id": "1", "Line1": "2600 Marine Way", "City": "Mountain View", "CountrySubDivisionCode": "CA",
               "PostalCode": "94043", "Country": "US"}
    company.insert("CompanyInfo", {
        "CompanyName": company.name, "LegalName": company.name, "CompanyAddr": dict(address),
        "CustomerCommunicationAddr": dict(address), "LegalAddr": dict(address),
        "PrimaryPhone": {}, "CompanyStartDate": start.astimezone(company.tz).date().isoformat(),
        "FiscalYearStartMonth": "January", "Country": "US", "Email": {"Address": "noreply@quickbooks.com"},
        "WebAddr": {}, "SupportedLanguages": "en",
        "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "IndustryType", "Value": "Construction"},
                      {"Name": "CompanyType", "Value": "Other"}, {"Name": "SubscriptionStatus", "Value": "TRIAL"},
                      {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
                      {"Name": "PayrollFeature", "Value": "false"}, {"Name": "AccountantFeature", "Value": "false"},
                      {"Name": "IsQbdtMigrated", "Value": "false"}, {"Name": "ItemCategoriesFeature", "Value": "true"}],
    }, start, entity_id="1")
    company.insert("Preferences", {
        "AccountingInfoPrefs": {"TrackDepartments": False, "DepartmentTerminology": "Location",
                                "ClassTrackingPerTxn": False, "ClassTrackingPerTxnLine": False,
                                "CustomerTerminology": "Customers", "FirstMonthOfFiscalYear": "January",
                                "UseAccountNumbers": False, "TaxYearMonth": "January"},
        "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True, "QuantityWithPriceAndRate": True,
                                    "QuantityOnHand": True, "RevenueRecognition": "Disabled"},
        "SalesFormsPrefs": {"CustomField": [], "AllowDeposit": True, "AllowDiscount": True,
                            "DefaultDiscountAccount": company.defaults["discounts"], "AllowEstimates": True,
                            "ETransactionEnabledStatus": "NotApplicable", "ETransactionAttachPDF": False,
                            "ETransactionPaymentEnabled": False, "IPNSupportEnabled": False,
                            "AllowServiceDate": False, "AllowShipping": False, "DefaultTerms": {"value": "3"},
                            "CustomTxnNumbers": False, "EmailCopyToCompany": False,
                            "UsingProgressInvoicing": False, "UsingPriceLevels": False, "AutoApplyCredit": True,
                            "AutoApplyPayments": True, "PrintItemWithZeroAmount": False},
        "EmailMessagesPrefs": {"InvoiceMessage": {"Subject": "Invoice from {company}",
                                                  "Message": "Thank you for your business."}},
        "VendorAndPurchasesPrefs": {"TrackingByCustomer": True, "BillableExpenseTracking": True,
                                    "DefaultTerms": {"value": "3"}, "POCustomField": []},
        "TimeTrackingPrefs": {"UseServices": True, "BillCustomers": True, "ShowBillRateToAll": False,
                              "WorkWeekStartDate": "Monday", "MarkTimeEntriesBillable": True},
        "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": True,
                     "TaxGroupCodeRef": {"value": company.defaults["sales_tax_code"]}},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [
            {"Name": "SalesFormsPrefs.DefaultCustomerMessage",
             "Value": "Thank you for your business and have a great day!"},
            {"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"},
            {"Name": "DTXCopyMemo", "Value": "false"},
            {"Name": "UncategorizedAssetAccountId", "Value": company.defaults["uncategorized_asset"]},
            {"Name": "UncategorizedIncomeAccountId", "Value": company.defaults["uncategorized_income"]},
            {"Name": "UncategorizedExpenseAccountId", "Value": company.defaults["uncategorized_expense"]},
            {"Name": "MasAccountEnabled", "Value": "false"},
        ]},
    }, start, entity_id="1")
    company.doc_counters.update({"sales": 1000, "PurchaseOrder": 1000})
