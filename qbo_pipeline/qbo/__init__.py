"""The QuickBooks Online v3 wire protocol: the one path by which the pipeline talks to QBO.

Works unchanged against production, the Intuit sandbox and the local emulator — only the
`QBOEndpoints` differ. Modules (one concern each):

  config        QBOEndpoints (production / sandbox / emulator / env overrides)
  models        pydantic models of the entities (PascalCase as on the wire, Decimal money)
  query         query builder with QBO literal escaping
  errors        QBOError + category subclasses, Fault/XML/OAuth body parsing, user hints
  ratelimit     per-realm sliding-window limiter (process-wide registry)
  oauth         TokenSet, OAuthClient, TokenSource protocol, InMemoryTokenSource
  http          pooled httpx client, retries/backoff, 401 refresh, logging
  client        QBOClient (CRUD, void, deactivate, query, paging, count, ids, CDC, batch)
  cdc, batch    CDC past the cap and the 30-day limit; batch chunks with requestid replay
  idempotency   deterministic requestids
"""
from __future__ import annotations

from types import ModuleType as _ModuleType

from .batch import MAX_BATCH_ITEMS, BatchOperation, BatchOutcome
from .cdc import CDCResult, parse_cdc_body
from .client import QBOClient, QueryPage
from .config import QBOEndpoints
from .errors import (
    ErrorCategory,
    HINTS,
    QBOAuthError,
    QBODuplicateError,
    QBOError,
    QBONetworkError,
    QBONotFoundError,
    QBOServerError,
    QBOStaleObjectError,
    QBOThrottleError,
    QBOValidationError,
    error_from_fault,
    error_from_response,
)
from .http import close_shared_http_client, shared_http_client
from .idempotency import derived_request_id, request_id_for
from .jsoncodec import dumps as dumps_json, loads as loads_json
from .models import (
    ENTITY_MODELS,
    NAME_LIST_ENTITIES,
    AccountBasedExpenseLineDetail,
    Account,
    Address,
    CompanyInfo,
    CreditMemo,
    Customer,
    CustomField,
    Deposit,
    DepositLineDetail,
    DescriptionLineDetail,
    DescriptionOnly,
    DiscountLineDetail,
    EmailAddress,
    Entity,
    GenericEntity,
    GroupLineDetail,
    Invoice,
    Item,
    ItemBasedExpenseLineDetail,
    Line,
    LinkedTxn,
    MetaData,
    Payment,
    PurchaseOrder,
    QBOModel,
    Ref,
    RefundReceipt,
    SalesItemLineDetail,
    SubTotalLineDetail,
    TaxCode,
    TaxLine,
    TaxLineDetail,
    TaxRate,
    TelephoneNumber,
    TxnTaxDetail,
    Vendor,
    WebSiteAddress,
    canonical_entity_name,
    parse_entity,
)
from .oauth import ACCOUNTING_SCOPE, InMemoryTokenSource, OAuthClient, StaticTokenSource, TokenSet, TokenSource
from .query import Condition, Query, escape_string, literal, select, select_count
from .ratelimit import RateLimiter, RateLimits, limiter_for, reset_limiters

__all__ = sorted(
    name for name, value in globals().items()
    if not name.startswith("_") and name != "annotations" and not isinstance(value, _ModuleType)
)
