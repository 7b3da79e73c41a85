"""The QBO v3 API over HTTP: /v3/company/{realmId}/... (qbo-api.md §1.2).

Every call runs the same pipeline: bearer check (401/403) → request counter → throttle and
injected faults (429, 5xx, slow answers) → requestid replay → the operation → JSON with `time`
and an `intuit_tid` header. `minorversion` is accepted and ignored (everything behaves as 75).
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import errors, responses
from .entities import spec_for
from .models import EmulatorBackend
from .oauth import AuthFailure, auth_error_response
from .operations import Operations

Executor = Callable[[Operations, Request, Any], Awaitable[dict[str, Any]]]

_WRITE_KINDS = ("write", "batch")
REPLAY_LIMIT = 100_000  # requestids remembered per company (Intuit's retention is undocumented)


def _includes(request: Request) -> tuple[str, ...]:
    values = []
    for raw in request.query_params.getlist("include"):
        values.extend(part.strip().lower() for part in raw.split(",") if part.strip())
    return tuple(values)


class Api:
    def __init__(self, backend: EmulatorBackend) -> None:
        self.backend = backend

    async def run(self, request: Request, kind: str, execute: Executor) -> Response:
        backend = self.backend
        realm = request.path_params["realm"]
        try:
            token = backend.tokens.authenticate(request.headers.get("authorization"), realm)
        except AuthFailure as failure:
            company = backend.companies.get(realm)
            if company is not None:
                company.requests["unauthorized"] += 1
            return auth_error_response(backend, failure)
        company = backend.companies.get(realm)
        if company is None:
            return auth_error_response(backend, AuthFailure(401, "Token invalid: the company no longer exists"))

        if request.method == "POST":
            await request.body()  # read (and cache) it now: an injected slow answer outlives the client
        decision = backend.faults.decide(realm)
        if (decision is not None and decision.kind == "throttle") or \
                not backend.throttle.allow(company, token.client_id, kind == "batch"):
            company.requests["throttled"] += 1
            company.requests["total"] += 1
            return responses.throttle_response(
                backend, bool(backend.setting(company, "retry_after")),
                backend.clock.scaled(float(backend.setting(company, "retry_after_seconds"))))
        company.requests[kind] += 1
        company.requests["total"] += 1

        if decision is not None and decision.kind == "error":
            status, body = responses.fault_response(backend, errors.system_fault(decision.status))
            return responses.json_response(body, status)
        if decision is not None and decision.kind == "timeout":
            await asyncio.sleep(decision.seconds)
            if decision.mode == "drop":
                status, body = responses.fault_response(backend, errors.system_fault(504))
                return responses.json_response(body, status)

        request_id = request.query_params.get("requestid") if kind in _WRITE_KINDS else None
        if request_id:
            stored = company.replay.get(request_id)
            if stored is not None:
                if backend.setting(company, "requestid_mode") == "fault600":
                    status, body = responses.fault_response(backend, errors.duplicate_request(request_id))
                    return responses.json_response(body, status)
                return responses.json_response(stored[1], stored[0])

        try:
            body_in = await self._body(request, kind)
            payload = await execute(Operations(backend, company), request, body_in)
            status, body = 200, responses.envelope(backend, payload)
        except errors.QBOFault as fault:
            status, body = responses.fault_response(backend, fault)
        if request_id:
            with company.lock:
                company.replay[request_id] = (status, body, responses.JSON_TYPE)
                if len(company.replay) > REPLAY_LIMIT:  # forget the oldest requestids
                    del company.replay[next(iter(company.replay))]
        return responses.json_response(body, status)

    async def _body(self, request: Request, kind: str) -> Any:
        if request.method != "POST" or kind == "query":
            return None
        raw = await request.body()
        if not raw.strip():
            raise errors.invalid_request("The request body is empty; send the object as JSON.")
        try:
            return responses.loads(raw)
        except ValueError:
            raise errors.invalid_request("Error parsing object: the request body is not valid JSON.") from None


def routes(backend: EmulatorBackend) -> list[Route]:
    api = Api(backend)

    async def query(request: Request) -> Response:
        async def execute(ops: Operations, req: Request, _body: Any) -> dict[str, Any]:
            text = ""
            if req.method == "POST":
                text = (await req.body()).decode("utf-8", errors="replace").strip()
            if not text:
                text = (req.query_params.get("query") or "").strip()
            if not text:
                raise errors.query_error("4000", "Error parsing query", "QueryParserError: the query is empty.")
            return {"QueryResponse": ops.query(text)}

        return await api.run(request, "query", execute)

    async def cdc(request: Request) -> Response:
        async def execute(ops: Operations, req: Request, _body: Any) -> dict[str, Any]:
            return ops.cdc(req.query_params.get("entities"), req.query_params.get("changedSince"))

        return await api.run(request, "cdc", execute)

    async def batch(request: Request) -> Response:
        async def execute(ops: Operations, req: Request, body: Any) -> dict[str, Any]:
            return ops.batch(body, allow_duplicate_docnum="allowduplicatedocnum" in _includes(req))

        return await api.run(request, "batch", execute)

    async def entity_post(request: Request) -> Response:
        async def execute(ops: Operations, req: Request, body: Any) -> dict[str, Any]:
            spec = spec_for(req.path_params["entity"])
            if spec is None:
                raise errors.unknown_resource(req.url.path)
            include = _includes(req)
            ctx = ops.context(allow_duplicate_docnum="allowduplicatedocnum" in include)
            result = ops.write(spec.name, body, ctx, operation=req.query_params.get("operation"), include=include)
            return {spec.name: result}

        return await api.run(request, "write", execute)

    async def entity_get(request: Request) -> Response:
        async def execute(ops: Operations, req: Request, _body: Any) -> dict[str, Any]:
            spec = spec_for(req.path_params["entity"])
            if spec is None:
                raise errors.unknown_resource(req.url.path)
            return {spec.name: ops.read(spec.name, req.path_params["id"])}

        return await api.run(request, "read", execute)

    async def preferences(request: Request) -> Response:
        async def execute(ops: Operations, req: Request, _body: Any) -> dict[str, Any]:
            if req.method == "POST":
                raise errors.unsupported_operation("Update")
            return {"Preferences": ops.read("Preferences", "1")}

        return await api.run(request, "read" if request.method == "GET" else "write", execute)

    async def collection_get(request: Request) -> Response:
        async def execute(ops: Operations, req: Request, _body: Any) -> dict[str, Any]:
            raise errors.unknown_resource(req.url.path)

        return await api.run(request, "read", execute)

    async def unknown(request: Request) -> Response:
        async def execute(ops: Operations, req: Request, _body: Any) -> dict[str, Any]:
            raise errors.unknown_resource(req.url.path)

        return await api.run(request, "read" if request.method == "GET" else "write", execute)

    base = "/v3/company/{realm}"
    return [
        Route(f"{base}/query", query, methods=["GET", "POST"]),
        Route(f"{base}/cdc", cdc, methods=["GET"]),
        Route(f"{base}/batch", batch, methods=["POST"]),
        Route(f"{base}/preferences", preferences, methods=["GET", "POST"]),
        Route(f"{base}/{{entity}}", entity_post, methods=["POST"]),
        Route(f"{base}/{{entity}}", collection_get, methods=["GET"]),
        Route(f"{base}/{{entity}}/{{id}}", entity_get, methods=["GET"]),
        Route(f"{base}/{{rest:path}}", unknown, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
