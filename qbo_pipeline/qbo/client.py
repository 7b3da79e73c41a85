"""QBOClient: every QBO v3 operation the pipeline uses, for one realm.

Returned records are pydantic models from `models.py` (GenericEntity for entity names it
has no model for). For pandas: `pd.json_normalize([e.to_dict() for e in records])`
(Decimal kept) or `to_wire()` (plain JSON types). Failures raise `QBOError` subclasses.

Writes always carry a `requestid`: the caller's (use `request_id_for(...)` for idempotency
across process restarts) or a random one that stays the same across this call's retries.
"""
from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence

import httpx

from .batch import MAX_BATCH_ITEMS, BatchOperation, BatchOutcome, run_batch
from .cdc import CDCResult, run_cdc
from .config import QBOEndpoints
from .errors import QBOError, QBOStaleObjectError
from .http import Response, RetryPolicy, Transport
from .idempotency import derived_request_id
from .oauth import TokenSource
from .models import (
    DELETABLE_ENTITIES,
    NAME_LIST_ENTITIES,
    Account,
    CompanyInfo,
    Entity,
    TaxCode,
    canonical_entity_name,
    parse_entity,
    wire_body,
)
from .query import MAX_PAGE_SIZE, Condition, WhereClause, conditions_text, select, select_count
from .ratelimit import RateLimiter, limiter_for

log = logging.getLogger(__name__)

MINOR_VERSION = 75
_SALES_VOIDS_BY_UPDATE = {"Payment", "SalesReceipt", "BillPayment"}
_QUOTED = re.compile(r"'(?:\\.|[^'\\])*'")
_ACTIVE_FILTER = re.compile(r"(?:^|\s)active\s*(?:=|<|>|in\b)", re.IGNORECASE)


class QBOClient:
    def __init__(
        self,
        realm_id: str,
        token_source: TokenSource,
        endpoints: QBOEndpoints | None = None,
        *,
        minor_version: int = MINOR_VERSION,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        http_client: httpx.Client | None = None,
        cdc_cap: int = 1000,
        cdc_lookback_days: int = 30,
    ) -> None:
        if minor_version < MINOR_VERSION:
            raise ValueError(f"minorversion {minor_version} is retired; QBO treats anything below 75 as 75")
        self.realm_id = str(realm_id)
        self.endpoints = endpoints or QBOEndpoints.from_env()
        self.minor_version = minor_version
        self.limiter = limiter or limiter_for(self.realm_id)
        self.cdc_cap = cdc_cap
        self.cdc_lookback_days = cdc_lookback_days
        self._base = self.endpoints.company_url(self.realm_id)
        self._transport = Transport(
            token_source=token_source,
            limiter=self.limiter,
            retry=RetryPolicy(max_attempts=max_attempts, backoff_base=backoff_base, backoff_max=backoff_max),
            timeout=timeout,
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return f"QBOClient(realm_id={self.realm_id!r}, api_base={self.endpoints.api_base!r})"

    # ------------------------------------------------------------------------- reads

    def read(self, entity: str, id: str | int) -> Entity:
        name = canonical_entity_name(entity)
        response = self._call("GET", f"/{name.lower()}/{id}", context=_ctx("read", name, id))
        return _single(response.body, name)

    def company_info(self) -> CompanyInfo:
        response = self._call("GET", f"/companyinfo/{self.realm_id}", context=_ctx("read", "CompanyInfo", self.realm_id))
        return _single(response.body, "CompanyInfo")  # type: ignore[return-value]

    def query(self, text: str) -> list[Entity]:
        """One page: the rows of a single query (QBO returns at most MAXRESULTS, default 100)."""
        return self.query_page(text).rows

    def query_page(self, text: str) -> "QueryPage":
        """One query with its `QueryResponse` metadata and the server's `time`."""
        response = self._call("POST", "/query", text_body=text, context={"operation": "query", "record_name": text[:120]})
        body = response.body if isinstance(response.body, dict) else {}
        query_response = body.get("QueryResponse")
        query_response = query_response if isinstance(query_response, dict) else {}
        return QueryPage(_query_rows(query_response), query_response, _parse_time(body.get("time")))

    def query_response(self, text: str) -> dict[str, Any]:
        """The raw `QueryResponse` object (startPosition, maxResults, totalCount, rows)."""
        return self.query_page(text).query_response

    def iter_query_pages(
        self,
        entity: str,
        where: WhereClause = None,
        include_inactive: bool = False,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator["QueryPage"]:
        """Pages of every matching row ordered by Id; stops on a short (or empty) page."""
        name = canonical_entity_name(entity)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        base = self._filtered(select(name), name, where, include_inactive).order_by("Id")
        start = 1
        while True:
            page = self.query_page(base.page(start, page_size).build())
            yield page
            if len(page.rows) < page_size:
                return
            start += page_size

    def iter_query_all(
        self,
        entity: str,
        where: WhereClause = None,
        include_inactive: bool = False,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Entity]:
        for page in self.iter_query_pages(entity, where, include_inactive, page_size):
            yield from page.rows

    def query_all(
        self,
        entity: str,
        where: WhereClause = None,
        include_inactive: bool = False,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[Entity]:
        return list(self.iter_query_all(entity, where, include_inactive, page_size))

    def count(self, entity: str, where: WhereClause = None, include_inactive: bool = False) -> int:
        name = canonical_entity_name(entity)
        query = self._filtered(select_count(name), name, where, include_inactive)
        return int(self.query_response(query.build()).get("totalCount") or 0)

    def get_by_ids(self, entity: str, ids: Iterable[str | int]) -> list[Entity]:
        """Records by Id (inactive name-list rows included), `Id IN (...)` ≤1000 per query.
        Missing ids are simply absent from the result."""
        name = canonical_entity_name(entity)
        unique = list(dict.fromkeys(str(i) for i in ids))
        found: list[Entity] = []
        for start in range(0, len(unique), MAX_PAGE_SIZE):
            chunk = unique[start : start + MAX_PAGE_SIZE]
            query = self._filtered(select(name), name, None, True).where_in("Id", chunk)
            found.extend(self.query(query.limit(len(chunk)).build()))
        return found

    def list_accounts(
        self, account_type: str | None = None, *, include_inactive: bool = False, where: WhereClause = None
    ) -> list[Account]:
        conditions = conditions_text(where)
        if account_type:
            conditions.append(Condition("AccountType", "=", account_type).render())
        return self.query_all("Account", conditions or None, include_inactive)  # type: ignore[return-value]

    def list_tax_codes(self, *, include_inactive: bool = False) -> list[TaxCode]:
        return self.query_all("TaxCode", None, include_inactive)  # type: ignore[return-value]

    def list_tax_rates(self, *, include_inactive: bool = False) -> list[Entity]:
        return self.query_all("TaxRate", None, include_inactive)

    # ------------------------------------------------------------------------- writes

    def create(self, entity: str, body: Any, *, request_id: str | None = None) -> Entity:
        name = canonical_entity_name(entity)
        wire = wire_body(body)
        return self._write(name, wire, request_id or _random_id(), _ctx("create", name, None, wire))

    def update(self, entity: str, body: Any, *, sparse: bool = True, request_id: str | None = None) -> Entity:
        """Sparse (default) or full update. On a stale SyncToken (5010) the record is re-read
        and the same body is sent once more with the fresh SyncToken."""
        name = canonical_entity_name(entity)
        wire = wire_body(body)
        if not wire.get("Id") or wire.get("SyncToken") is None:
            raise ValueError(f"update of {name} needs Id and SyncToken in the body")
        wire["sparse"] = sparse
        request_id = request_id or _random_id()
        context = _ctx("update", name, wire.get("Id"), wire)
        try:
            return self._write(name, wire, request_id, context)
        except QBOStaleObjectError as stale:
            fresh = self.read(name, wire["Id"])
            log.info("update %s id %s: stale SyncToken %s, re-applying on %s", name, wire["Id"],
                     wire["SyncToken"], fresh.SyncToken)
            if fresh.SyncToken == str(wire["SyncToken"]):
                raise stale
            retry = {**wire, "SyncToken": fresh.SyncToken}
            return self._write(name, retry, derived_request_id(request_id, "stale", fresh.SyncToken), context)

    def delete(self, entity: str, id: str | int, sync_token: str | int, *, request_id: str | None = None) -> Entity:
        name = canonical_entity_name(entity)
        if name in NAME_LIST_ENTITIES:
            raise ValueError(f"{name} cannot be deleted in QuickBooks; use deactivate({name!r}, id, sync_token)")
        if name not in DELETABLE_ENTITIES:
            log.warning("delete of %s is not documented by Intuit; trying anyway", name)
        body = {"Id": str(id), "SyncToken": str(sync_token)}
        return self._write(name, body, request_id or _random_id(), _ctx("delete", name, id),
                           params={"operation": "delete"})

    def void(self, entity: str, id: str | int, sync_token: str | int, *, request_id: str | None = None) -> Entity:
        """Invoice: `?operation=void`. Payment (and SalesReceipt, BillPayment):
        `?operation=update&include=void` with a sparse body. The record stays, amounts 0."""
        name = canonical_entity_name(entity)
        context = _ctx("void", name, id)
        if name in _SALES_VOIDS_BY_UPDATE:
            body = {"Id": str(id), "SyncToken": str(sync_token), "sparse": True}
            params = {"operation": "update", "include": "void"}
        elif name == "Invoice":
            body = {"Id": str(id), "SyncToken": str(sync_token)}
            params = {"operation": "void"}
        else:
            raise ValueError(f"QuickBooks has no API void for {name}; delete it instead")
        return self._write(name, body, request_id or _random_id(), context, params=params)

    def deactivate(self, entity: str, id: str | int, sync_token: str | int, *, request_id: str | None = None) -> Entity:
        """Name lists (Customer, Vendor, Item, ...) are never deleted: `Active=false`."""
        return self._set_active(entity, id, sync_token, False, request_id)

    def activate(self, entity: str, id: str | int, sync_token: str | int, *, request_id: str | None = None) -> Entity:
        return self._set_active(entity, id, sync_token, True, request_id)

    def batch(
        self,
        operations: Iterable[BatchOperation],
        *,
        request_id: str | None = None,
        chunk_size: int = MAX_BATCH_ITEMS,
    ) -> list[BatchOutcome]:
        """Runs operations in requests of ≤30 items; one outcome per operation, in order."""
        return run_batch(self, operations, request_id=request_id, chunk_size=chunk_size)

    def cdc(self, entities: Sequence[str] | str, changed_since: datetime) -> CDCResult:
        """Changes (and delete tombstones) since `changed_since`, complete even past the
        per-response cap; see `cdc.py`."""
        if isinstance(entities, str):
            entities = [part.strip() for part in entities.split(",") if part.strip()]
        return run_cdc(self, [canonical_entity_name(e) for e in entities], changed_since)

    # ------------------------------------------------------------------------- internals

    def _set_active(self, entity: str, id: Any, sync_token: Any, active: bool, request_id: str | None) -> Entity:
        name = canonical_entity_name(entity)
        if name not in NAME_LIST_ENTITIES:
            raise ValueError(f"{name} is a transaction; only name lists are (de)activated")
        body = {"Id": str(id), "SyncToken": str(sync_token), "Active": active}
        return self.update(name, body, sparse=True, request_id=request_id)

    def _write(
        self,
        name: str,
        wire: dict[str, Any],
        request_id: str,
        context: dict[str, Any],
        *,
        params: dict[str, str] | None = None,
    ) -> Entity:
        query = {**(params or {}), "requestid": request_id}
        response = self._call("POST", f"/{name.lower()}", params=query, json_body=wire, context=context)
        return _single(response.body, name)

    def _post_batch(self, body: dict[str, Any], request_id: str) -> Any:
        response = self._call("POST", "/batch", params={"requestid": request_id}, json_body=body,
                              kind="batch", context={"operation": "batch"})
        return response.body

    def _get_cdc(self, entities: Sequence[str], changed_since: str) -> Any:
        response = self._call("GET", "/cdc", params={"entities": ",".join(entities), "changedSince": changed_since},
                              context={"operation": "cdc", "entity": ",".join(entities)})
        return response.body

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        text_body: str | None = None,
        kind: str = "request",
        context: dict[str, Any] | None = None,
    ) -> Response:
        query = {**(params or {}), "minorversion": str(self.minor_version)}
        return self._transport.request(
            method, self._base + path, params=query, json_body=json_body, text_body=text_body,
            kind=kind, context=context,  # type: ignore[arg-type]
        )

    def _filtered(self, query, name: str, where: WhereClause, include_inactive: bool):
        conditions = conditions_text(where)
        query = query.where_all(conditions)
        mentions_active = any(_ACTIVE_FILTER.search(_QUOTED.sub("''", c)) for c in conditions)
        if include_inactive and name in NAME_LIST_ENTITIES and not mentions_active:
            query = query.where_in("Active", [True, False])
        return query


@dataclass
class QueryPage:
    rows: list[Entity]
    query_response: dict[str, Any]
    time: datetime | None


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _random_id() -> str:
    return str(uuid.uuid4())


def _ctx(operation: str, entity: str, record_id: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    body = body or {}
    return {
        "operation": operation,
        "entity": entity,
        "record_id": str(record_id) if record_id is not None else None,
        "doc_number": body.get("DocNumber"),
        "record_name": body.get("DisplayName") or body.get("Name"),
    }


def _single(body: Any, name: str) -> Entity:
    if isinstance(body, dict):
        if name in body and isinstance(body[name], dict):
            return parse_entity(name, body[name])
        lower = name.lower()
        for key, value in body.items():
            if key.lower() == lower and isinstance(value, dict):
                return parse_entity(name, value)
    raise QBOError.create(
        f"QuickBooks answered without a {name} object",
        category="server",
        detail=f"keys: {sorted(body)[:5] if isinstance(body, dict) else type(body).__name__}",
        entity=name,
    )


def _query_rows(query_response: dict[str, Any]) -> list[Entity]:
    for key, value in query_response.items():
        if isinstance(value, list):
            return [parse_entity(key, row) for row in value]
    return []  # QBO omits the entity key on an empty page
