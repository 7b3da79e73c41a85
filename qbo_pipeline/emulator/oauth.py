"""OAuth 2.0 as Intuit runs it (qbo-api.md §7): authorize (auto-consent), token (code and refresh
grants, refresh-token rotation), revoke, userinfo; and bearer checks for API calls.

Tokens are opaque random strings and never logged. Every refresh rotates the refresh token: the
superseded value, an expired one or a revoked one answers HTTP 400 invalid_grant. Revoking either
token of a grant revokes the whole grant (refresh token and all its access tokens).
"""
from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import errors
from .settings import ACCOUNTING_SCOPE

if TYPE_CHECKING:
    from .models import EmulatorBackend

INVALID_GRANT = {"error_description": "Token invalid", "error": "invalid_grant"}
_ALNUM = string.ascii_letters + string.digits


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


@dataclass
class Grant:
    grant_id: str
    client_id: str
    realm_id: str
    scope: str
    refresh_token: str
    refresh_expires: datetime
    revoked: bool = False
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class AccessToken:
    grant_id: str
    realm_id: str
    client_id: str
    expires: datetime


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    realm_id: str
    scope: str
    expires: datetime
    used: bool = False


class AuthFailure(Exception):
    """A bearer token the API rejects; `status` 401 (AuthenticationFault) or 403 (AuthorizationFault)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class TokenStore:
    def __init__(self, backend: "EmulatorBackend") -> None:
        self.backend = backend
        self.lock = threading.RLock()
        self.grants: dict[str, Grant] = {}
        self.refresh: dict[str, tuple[str, bool]] = {}   # token -> (grant id, superseded)
        self.access: dict[str, AccessToken] = {}
        self.codes: dict[str, AuthCode] = {}

    def __repr__(self) -> str:
        return f"TokenStore(grants={len(self.grants)}, access_tokens={len(self.access)})"

    def clear(self) -> None:
        with self.lock:
            self.grants.clear()
            self.refresh.clear()
            self.access.clear()
            self.codes.clear()

    # ---- issuing -------------------------------------------------------------------------
    def issue(self, client_id: str, realm_id: str, scope: str = ACCOUNTING_SCOPE) -> dict[str, Any]:
        """A new grant (what an authorization yields): access + refresh token."""
        with self.lock:
            grant = Grant(uuid.uuid4().hex, client_id, realm_id, scope, "", self._now())
            self.grants[grant.grant_id] = grant
            return self._tokens(grant)

    def _tokens(self, grant: Grant) -> dict[str, Any]:
        settings = self.backend.settings
        now = self._now()
        refresh = "AB11" + _random(46)
        if grant.refresh_token:
            self.refresh[grant.refresh_token] = (grant.grant_id, True)
        grant.refresh_token = refresh
        grant.refresh_expires = now + timedelta(seconds=settings.refresh_token_ttl)
        self.refresh[refresh] = (grant.grant_id, False)
        access = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." + _random(200)
        self.access[access] = AccessToken(grant.grant_id, grant.realm_id, grant.client_id,
                                          now + timedelta(seconds=settings.access_token_ttl))
        grant.access_tokens.add(access)
        body = {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
                "expires_in": int(settings.access_token_ttl),
                "x_refresh_token_expires_in": int(settings.refresh_token_ttl)}
        if "openid" in grant.scope.split():
            body["id_token"] = self._id_token(grant, now)
        return body

    def _id_token(self, grant: Grant, now: datetime) -> str:
        def part(obj: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        claims = {"sub": grant.grant_id, "aud": [grant.client_id], "realmid": grant.realm_id,
                  "iss": "https://oauth.platform.intuit.com/op/v1", "auth_time": int(now.timestamp()),
                  "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 3600}
        return f"{part({'alg': 'none', 'kid': 'emulator'})}.{part(claims)}."

    def new_code(self, client_id: str, redirect_uri: str, realm_id: str, scope: str) -> str:
        code = "AB11" + _random(40)
        with self.lock:
            self.codes[code] = AuthCode(client_id, redirect_uri, realm_id, scope,
                                        self._now() + timedelta(seconds=self.backend.settings.auth_code_ttl))
        return code

    # ---- grants --------------------------------------------------------------------------
    def exchange_code(self, client_id: str, code: str, redirect_uri: str) -> tuple[dict[str, Any] | None, str | None]:
        """→ (token response, realm) or (None, realm-or-None) for invalid_grant."""
        with self.lock:
            entry = self.codes.get(code)
            if entry is None:
                return None, None
            realm = entry.realm_id
            if entry.used or entry.client_id != client_id or entry.redirect_uri != redirect_uri \
                    or entry.expires < self._now():
                return None, realm
            entry.used = True
            grant = Grant(uuid.uuid4().hex, client_id, realm, entry.scope, "", self._now())
            self.grants[grant.grant_id] = grant
            return self._tokens(grant), realm

    def refresh_grant(self, client_id: str, refresh_token: str) -> tuple[dict[str, Any] | None, str | None]:
        with self.lock:
            entry = self.refresh.get(refresh_token)
            if entry is None:
                return None, None
            grant = self.grants.get(entry[0])
            if grant is None:
                return None, None
            if entry[1] or grant.revoked or grant.client_id != client_id or grant.refresh_expires < self._now() \
                    or grant.realm_id not in self.backend.companies:
                return None, grant.realm_id
            return self._tokens(grant), grant.realm_id

    def revoke(self, client_id: str, token: str) -> str | None:
        """Revokes the grant a refresh or access token belongs to; returns its realm (or None)."""
        with self.lock:
            grant_id = None
            if token in self.refresh:
                grant_id = self.refresh[token][0]
            elif token in self.access:
                grant_id = self.access[token].grant_id
            grant = self.grants.get(grant_id) if grant_id else None
            if grant is None or grant.client_id != client_id:
                return None
            grant.revoked = True
            for access in grant.access_tokens:
                self.access.pop(access, None)
            grant.access_tokens.clear()
            return grant.realm_id

    def expire_realm(self, realm_id: str) -> int:
        """Fault injection: every current access token of the realm expires now."""
        now = self._now() - timedelta(seconds=1)
        count = 0
        with self.lock:
            for token in self.access.values():
                if token.realm_id == realm_id and token.expires > now:
                    token.expires = now
                    count += 1
        return count

    def drop_realm(self, realm_id: str) -> None:
        with self.lock:
            for grant in self.grants.values():
                if grant.realm_id == realm_id:
                    grant.revoked = True
                    for access in grant.access_tokens:
                        self.access.pop(access, None)
                    grant.access_tokens.clear()

    # ---- API bearer check ----------------------------------------------------------------
    def authenticate(self, authorization: str | None, realm_id: str) -> AccessToken:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthFailure(401, "Authorization header missing or not a Bearer token")
        token = authorization[7:].strip()
        with self.lock:
            entry = self.access.get(token)
            if entry is None:
                if len(token) < 20 or len(token) > 4096:
                    raise AuthFailure(401, "Malformed bearer token: too short or too long")
                raise AuthFailure(401, "Token invalid: the access token is unknown or was revoked")
            if entry.expires <= self._now():
                raise AuthFailure(401, "Token expired: the access token is older than its expires_in; refresh it")
            grant = self.grants.get(entry.grant_id)
            if grant is None or grant.revoked:
                raise AuthFailure(401, "Token revoked")
            if entry.realm_id != realm_id:
                raise AuthFailure(403, "This access token was issued for another company (realmId)")
            return entry

    def access_realm(self, authorization: str | None) -> AccessToken | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        entry = self.access.get(authorization[7:].strip())
        if entry is None or entry.expires <= self._now():
            return None
        return entry

    def _now(self) -> datetime:
        return self.backend.clock.now()

    # ---- persistence ---------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "grants": [{**asdict(g), "refresh_expires": g.refresh_expires.isoformat(),
                            "access_tokens": sorted(g.access_tokens)} for g in self.grants.values()],
                "refresh": {k: list(v) for k, v in self.refresh.items()},
                "access": {k: {**asdict(v), "expires": v.expires.isoformat()} for k, v in self.access.items()},
            }

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.clear()
            for g in data.get("grants", []):
                grant = Grant(g["grant_id"], g["client_id"], g["realm_id"], g["scope"], g["refresh_token"],
                              datetime.fromisoformat(g["refresh_expires"]), g["revoked"], set(g["access_tokens"]))
                self.grants[grant.grant_id] = grant
            self.refresh = {k: (v[0], bool(v[1])) for k, v in data.get("refresh", {}).items()}
            for k, v in data.get("access", {}).items():
                self.access[k] = AccessToken(v["grant_id"], v["realm_id"], v["client_id"],
                                             datetime.fromisoformat(v["expires"]))


# ---- HTTP ----------------------------------------------------------------------------------

def _client_auth(request: Request, form: dict[str, str] | None = None) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep else None
    if form and form.get("client_id") and form.get("client_secret"):
        return form["client_id"], form["client_secret"]
    return None


def _valid_client(backend: "EmulatorBackend", creds: tuple[str, str] | None) -> bool:
    if creds is None:
        return False
    settings = backend.settings
    return secrets.compare_digest(creds[0], settings.client_id) and secrets.compare_digest(creds[1], settings.client_secret)


def _oauth_json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", "Pragma": "no-cache",
                                                           "intuit_tid": str(uuid.uuid4())},
                        media_type="application/json;charset=UTF-8")


def _count_auth(backend: "EmulatorBackend", realm_id: str | None) -> None:
    company = backend.companies.get(realm_id) if realm_id else None
    if company is not None:
        company.requests["auth"] += 1
        company.requests["total"] += 1


def _redirect(uri: str, params: dict[str, str]) -> RedirectResponse:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)


def routes(backend: "EmulatorBackend") -> list[Route]:
    async def authorize(request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri")
        state = q.get("state")
        if not redirect_uri or not urlsplit(redirect_uri).scheme:
            return _oauth_json({"error": "invalid_request", "error_description": "redirect_uri is required"}, 400)
        if q.get("client_id") != backend.settings.client_id:
            return _oauth_json({"error": "invalid_client", "error_description": "Unknown client_id"}, 400)
        if q.get("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state})
        scope = " ".join((q.get("scope") or "").split())
        if ACCOUNTING_SCOPE not in scope.split():
            return _redirect(redirect_uri, {"error": "invalid_scope", "state": state})
        if backend.consent_deny:
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        company = backend.companies.get(backend.consent_realm or "") or backend.most_recent_company()
        if company is None:
            company = backend.create_company("Sandbox Company_US_1")
        code = backend.tokens.new_code(backend.settings.client_id, redirect_uri, company.realm_id, scope)
        return _redirect(redirect_uri, {"code": code, "state": state, "realmId": company.realm_id})

    async def token(request: Request) -> Response:
        # application/x-www-form-urlencoded, parsed here (no python-multipart dependency)
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
        creds = _client_auth(request, form)
        if not _valid_client(backend, creds):
            _count_auth(backend, None)
            return _oauth_json({"error": "invalid_client"}, 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            body, realm = backend.tokens.exchange_code(creds[0], form.get("code", ""), form.get("redirect_uri", ""))
        elif grant_type == "refresh_token":
            body, realm = backend.tokens.refresh_grant(creds[0], form.get("refresh_token", ""))
        else:
            return _oauth_json({"error": "unsupported_grant_type"}, 400)
        _count_auth(backend, realm)
        backend.mark_dirty()
        if body is None:
            return _oauth_json(dict(INVALID_GRANT), 400)
        return _oauth_json(body)

    async def revoke(request: Request) -> Response:
        raw = await request.body()
        token_value = None
        content_type = request.headers.get("content-type", "")
        try:
            if "json" in content_type or raw.strip().startswith(b"{"):
                token_value = (json.loads(raw or b"{}") or {}).get("token")
            else:
                token_value = dict(parse_qsl(raw.decode())).get("token")
        except (ValueError, AttributeError):
            token_value = None
        if not _valid_client(backend, _client_auth(request)):
            return _oauth_json({"error": "invalid_client"}, 401)
        if not token_value:
            return _oauth_json({"error": "invalid_request", "error_description": "token is required"}, 400)
        realm = backend.tokens.revoke(backend.settings.client_id, str(token_value))
        _count_auth(backend, realm)
        backend.mark_dirty()
        return Response(status_code=200, headers={"intuit_tid": str(uuid.uuid4())})

    async def userinfo(request: Request) -> Response:
        entry = backend.tokens.access_realm(request.headers.get("authorization"))
        if entry is None:
            return _oauth_json({"error": "invalid_token"}, 401)
        return _oauth_json({"sub": entry.grant_id, "email": "emulator.user@example.com", "emailVerified": True,
                            "givenName": "Emulator", "familyName": "User", "phoneNumber": "+1 (650) 555-0100",
                            "phoneNumberVerified": False,
                            "address": {"streetAddress": "2600 Marine Way", "locality": "Mountain View",
                                        "region": "CA", "postalCode": "94043", "country": "US"}})

    async def discovery(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return _oauth_json({
            "issuer": "https://oauth.platform.intuit.com/op/v1",
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
            "response_types_supported": ["code"], "grant_types_supported": ["authorization_code", "refresh_token"],
            "scopes_supported": [ACCOUNTING_SCOPE, "com.intuit.quickbooks.payment", "openid", "profile", "email",
                                 "phone", "address"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        })

    return [
        Route("/connect/oauth2", authorize, methods=["GET"]),
        Route("/oauth2/v1/tokens/bearer", token, methods=["POST"]),
        Route("/v2/oauth2/tokens/revoke", revoke, methods=["POST"]),
        Route("/v1/openid_connect/userinfo", userinfo, methods=["GET"]),
        Route("/.well-known/openid_configuration", discovery, methods=["GET"]),
        Route("/.well-known/openid_sandbox_configuration", discovery, methods=["GET"]),
    ]


def auth_error_response(backend: "EmulatorBackend", failure: AuthFailure) -> Response:
    millis = int(backend.clock.now().timestamp() * 1000)
    if failure.status == 403:
        body = errors.authorization_fault(millis)
        headers = {}
    else:
        body = errors.authentication_fault(failure.detail, millis)
        headers = {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'}
    headers["intuit_tid"] = str(uuid.uuid4())
    return JSONResponse(body, status_code=failure.status, headers=headers,
                        media_type="application/json;charset=UTF-8")
