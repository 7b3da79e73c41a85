"""A workspace's mapping settings as the registry needs them: what was chosen at connect
time plus defaults read from the company (AP, bank accounts, the sales tax rate)."""
from __future__ import annotations

from decimal import Decimal

from qbo_pipeline.entities import WorkspaceSettings


def _get(record, name):
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def _ref_value(ref):
    return None if ref is None else _get(ref, "value")


def resolve_workspace_settings(connection, client) -> WorkspaceSettings:
    """Connect-time choices win; the rest comes from the company's chart of accounts."""
    accounts = [a.to_dict() if hasattr(a, "to_dict") else a for a in client.list_accounts()]
    by_type: dict[str, list[dict]] = {}
    for account in accounts:
        by_type.setdefault(str(account.get("AccountType")), []).append(account)

    def first(account_type: str, prefer: str | None = None) -> str | None:
        candidates = by_type.get(account_type, [])
        for account in candidates:
            if prefer and account.get("Name") == prefer:
                return str(account["Id"])
        return str(candidates[0]["Id"]) if candidates else None

    tax_rate, txn_tax_code = _sales_tax(client)
    country = _get(client.company_info(), "Country")
    data = {
        **connection.settings.to_dict(),
        "ap_account_id": first("Accounts Payable"),
        "deposit_account_id": first("Bank", prefer="Checking"),
        "refund_account_id": first("Bank", prefer="Checking"),
        "accounts": {str(a.get("Name")): str(a.get("Id")) for a in accounts},
        "tax_rate": tax_rate,
        "txn_tax_code_id": txn_tax_code,
        # GlobalTaxCalculation exists for non-US companies only; a US company ignores it.
        "send_global_tax_calculation": bool(country) and str(country).upper() != "US",
    }
    return WorkspaceSettings.coerce(data)


def _sales_tax(client) -> tuple[Decimal | None, str | None]:
    """The company's sales tax: the first tax code with a sales rate, and that rate."""
    rates = {str(_get(r, "Id")): _get(r, "RateValue") for r in client.list_tax_rates()}
    for code in client.list_tax_codes():
        detail = _get(code, "SalesTaxRateList")
        rate_details = _get(detail, "TaxRateDetail") if detail is not None else None
        for item in rate_details or []:
            rate = rates.get(str(_ref_value(_get(item, "TaxRateRef"))))
            if rate is not None:
                return Decimal(str(rate)) / 100, str(_get(code, "Id"))
    return None, None
