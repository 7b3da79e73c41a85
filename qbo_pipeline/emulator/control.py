"""The emulator's control API under /_emulator/ (tests and demos; never part of QBO).

No authentication, no throttling, not counted in request counters.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import clock as clockmod
from . import errors
from .entities import DEPENDENCY_ORDER
from .models import Company, EmulatorBackend
from .operations import Operations
from .responses import dumps
from .validation import blank
from .webhook_link import build_config

COUNTER_KEYS = ("read", "query", "cdc", "write", "batch", "auth", "throttled", "total")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")


def _problem(status: int, message: str) -> Response:
    return _json({"error": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    from .responses import loads

    value = loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the request body must be a JSON object")
    return value


def _company_summary(backend: EmulatorBackend, company: Company) -> dict[str, Any]:
    return {"realm_id": company.realm_id, "name": company.name,
            "created": clockmod.meta_time(company.created_at, company.tz),
            "counts": {name: len(store) for name, store in company.stores.items() if store}}


def counters(company: Company) -> dict[str, int]:
    return {key: int(company.requests.get(key, 0)) for key in COUNTER_KEYS}


def _seed_links(company: Company, entity: str, obj: Any) -> Any:
    """Seeding convenience: a payment line may link an invoice/credit memo by DocNumber."""
    if entity != "Payment" or not isinstance(obj, dict):
        return obj
    for line in obj.get("Line") or []:
        for link in (line.get("LinkedTxn") or []) if isinstance(line, dict) else []:
            if isinstance(link, dict) and blank(link.get("TxnId")) and link.get("DocNumber"):
                kind = link.get("TxnType", "Invoice")
                holders = company.doc_numbers.get(kind, {}).get(str(link.pop("DocNumber")))
                if holders:
                    link["TxnId"] = min(holders, key=int)
    return obj


def routes(backend: EmulatorBackend) -> list[Route]:
    def company_or_404(request: Request) -> Company | Response:
        company = backend.companies.get(request.path_params["realm"])
        if company is None:
            return _problem(404, f"No company with realm_id {request.path_params['realm']}; "
                                 "create one with POST /_emulator/companies")
        return company

    async def create_company(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return _problem(400, str(exc))
        name = str(body.get("name") or "Sandbox Company_US_1")
        company = backend.create_company(name)
        tokens = backend.tokens.issue(backend.settings.client_id, company.realm_id)
        return _json({"realm_id": company.realm_id, "name": company.name,
                      "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                      "expires_in": tokens["expires_in"],
                      "x_refresh_token_expires_in": tokens["x_refresh_token_expires_in"]})

    async def list_companies(request: Request) -> Response:
        return _json([_company_summary(backend, c) for c in backend.iter_companies()])

    async def issue_tokens(request: Request) -> Response:
        company = company_or_404(request)
        if isinstance(company, Response):
            return company
        return _json({"realm_id": company.realm_id, **backend.tokens.issue(backend.settings.client_id,
                                                                          company.realm_id)})

    async def seed(request: Request) -> Response:
        company = company_or_404(request)
        if isinstance(company, Response):
            return company
        try:
            body = await _body(request)
        except ValueError as exc:
            return _problem(400, str(exc))
        backdate = float(body.pop("backdate_days", 0) or 0)
        notify = bool(body.pop("notify", False))
        unknown = sorted(set(body) - set(DEPENDENCY_ORDER))
        if unknown:
            return _problem(400, f"cannot seed {unknown}; seedable entities: {list(DEPENDENCY_ORDER)}")
        ops = Operations(backend, company)
        moment = backend.clock.now() - timedelta(days=backdate)
        ids: dict[str, list[str | None]] = {}
        faults: list[dict[str, Any]] = []
        for entity in DEPENDENCY_ORDER:
            objects = body.get(entity)
            if objects is None:
                continue
            if not isinstance(objects, list):
                return _problem(400, f"{entity} must be a list of objects")
            created: list[str | None] = []
            for index, obj in enumerate(objects):
                ctx = ops.context(moment=moment, notify=notify, resolve_names=True, touch_related=False)
                try:
                    result = ops.write(entity, _seed_links(company, entity, obj), ctx)
                    created.append(result["Id"])
                except errors.QBOFault as fault:
                    created.append(None)
                    faults.append({"entity": entity, "index": index, "Fault": fault.fault()})
            ids[entity] = created
        return _json({"realm_id": company.realm_id, "ids": ids, "faults": faults})

    async def reset_all(request: Request) -> Response:
        backend.reset()
        return _json({"reset": True})

    async def reset_company(request: Request) -> Response:
        company = backend.reset_company(request.path_params["realm"])
        if company is None:
            return _problem(404, f"No company with realm_id {request.path_params['realm']}")
        return _json({"reset": True, "realm_id": company.realm_id})

    async def faults(request: Request) -> Response:
        company = company_or_404(request)
        if isinstance(company, Response):
            return company
        if request.method == "GET":
            return _json(backend.faults.get(company.realm_id).public())
        try:
            return _json(backend.faults.configure(company.realm_id, await _body(request)))
        except (ValueError, TypeError) as exc:
            return _problem(400, str(exc))

    async def company_settings(request: Request) -> Response:
        company = company_or_404(request)
        if isinstance(company, Response):
            return company
        if request.method == "PUT":
            try:
                unknown = backend.set_company_settings(company, await _body(request))
            except (ValueError, TypeError) as exc:
                return _problem(400, str(exc))
            if unknown:
                return _problem(400, f"unknown or global-only setting(s) {unknown}")
        from .settings import COMPANY_OVERRIDABLE

        return _json({name: backend.setting(company, name) for name in COMPANY_OVERRIDABLE})

    async def global_settings(request: Request) -> Response:
        if request.method == "PUT":
            try:
                unknown = backend.settings.update(await _body(request))
            except (ValueError, TypeError) as exc:
                return _problem(400, str(exc))
            if unknown:
                return _problem(400, f"unknown setting(s) {unknown}")
            backend.clock.time_scale = backend.settings.time_scale
        return _json(backend.settings.public())

    async def consent(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return _problem(400, str(exc))
        realm = body.get("realm_id")
        if realm is not None and realm not in backend.companies:
            return _problem(404, f"No company with realm_id {realm}")
        backend.consent_realm = realm
        backend.consent_deny = bool(body.get("deny", False))
        return _json({"realm_id": backend.consent_realm, "deny": backend.consent_deny})

    async def clock(request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await _body(request)
                if "offset_seconds" in body:
                    backend.clock.set_offset(float(body["offset_seconds"]))
                if "advance_seconds" in body:
                    backend.clock.advance(float(body["advance_seconds"]))
            except (ValueError, TypeError) as exc:
                return _problem(400, str(exc))
        now = backend.clock.now()
        return _json({"now": clockmod.response_time(now, backend.tz), "offset_seconds": backend.clock.offset_seconds,
                      "time_scale": backend.clock.time_scale})

    async def requests_(request: Request) -> Response:
        realm = request.query_params.get("realm_id")
        selected = [backend.companies[realm]] if realm in backend.companies else (
            [] if realm else backend.iter_companies())
        if realm and not selected:
            return _problem(404, f"No company with realm_id {realm}")
        if request.method == "DELETE":
            for company in selected:
                company.requests.clear()
        if realm:
            return _json(counters(selected[0]))
        totals = {key: 0 for key in COUNTER_KEYS}
        for company in selected:
            for key, value in counters(company).items():
                totals[key] += value
        return _json(totals)

    async def webhooks(request: Request) -> Response:
        if request.method == "PUT":
            try:
                config = build_config(await _body(request), backend.settings)
            except (ValueError, TypeError, RuntimeError) as exc:
                return _problem(400 if not isinstance(exc, RuntimeError) else 501, str(exc))
            backend.webhooks.configure(config)
        return _json(backend.webhooks.stats())

    async def webhooks_flush(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError:
            body = {}
        import asyncio

        done = await asyncio.to_thread(backend.webhooks.flush, float(body.get("timeout", 10.0)))
        return _json({"flushed": bool(done), **backend.webhooks.stats()})

    async def health(request: Request) -> Response:
        return _json({"ok": True, "companies": len(backend.companies)})

    return [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/companies", create_company, methods=["POST"]),
        Route("/_emulator/companies", list_companies, methods=["GET"]),
        Route("/_emulator/companies/{realm}/tokens", issue_tokens, methods=["POST"]),
        Route("/_emulator/companies/{realm}/seed", seed, methods=["POST"]),
        Route("/_emulator/companies/{realm}/reset", reset_company, methods=["POST"]),
        Route("/_emulator/companies/{realm}/faults", faults, methods=["GET", "PUT"]),
        Route("/_emulator/companies/{realm}/settings", company_settings, methods=["GET", "PUT"]),
        Route("/_emulator/reset", reset_all, methods=["POST"]),
        Route("/_emulator/settings", global_settings, methods=["GET", "PUT"]),
        Route("/_emulator/consent", consent, methods=["POST"]),
        Route("/_emulator/clock", clock, methods=["GET", "PUT"]),
        Route("/_emulator/requests", requests_, methods=["GET", "DELETE"]),
        Route("/_emulator/webhooks", webhooks, methods=["GET", "PUT"]),
        Route("/_emulator/webhooks/flush", webhooks_flush, methods=["POST"]),
    ]
