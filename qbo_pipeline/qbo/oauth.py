"""OAuth 2.0 with Intuit: authorization URL, code exchange, refresh, revoke, and token sources.

Intuit rotates the refresh token on refresh and the superseded one soon answers
`invalid_grant`, so refreshing must be single-flight per realm and the rotated pair must be
persisted before it is used. `InMemoryTokenSource` does that inside one process; the state
store's `DatabaseTokenSource` implements the same `TokenSource` protocol across processes.
"""
from __future__ import annotations

import base64
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Protocol, runtime_checkable
from urllib.parse import urlencode

import httpx

from .config import QBOEndpoints
from .errors import QBOError, error_from_response, network_error
from .http import shared_http_client
from .jsoncodec import loads
from .redaction import fingerprint

log = logging.getLogger(__name__)

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, repr=False)
class TokenSet:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime | None = None

    @classmethod
    def from_token_response(cls, body: dict[str, Any], *, now: datetime | None = None) -> "TokenSet":
        now = now or utcnow()
        try:
            access, refresh = str(body["access_token"]), str(body["refresh_token"])
        except KeyError as missing:
            raise QBOError.create(
                "token response without " + str(missing),
                category="server",
                detail="the token endpoint answered 200 but the body lacks a token",
            ) from None
        access_ttl = float(body.get("expires_in") or 3600)
        refresh_ttl = body.get("x_refresh_token_expires_in")
        return cls(
            access_token=access,
            refresh_token=refresh,
            access_expires_at=now + timedelta(seconds=access_ttl),
            refresh_expires_at=now + timedelta(seconds=float(refresh_ttl)) if refresh_ttl else None,
        )

    def access_expires_within(self, seconds: float, *, now: datetime | None = None) -> bool:
        return self.access_expires_at - timedelta(seconds=seconds) <= (now or utcnow())

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token={fingerprint(self.access_token)}, "
            f"refresh_token={fingerprint(self.refresh_token)}, "
            f"access_expires_at={self.access_expires_at.isoformat()}, "
            f"refresh_expires_at={self.refresh_expires_at.isoformat() if self.refresh_expires_at else None})"
        )

    __str__ = __repr__


class OAuthClient:
    """Intuit's OAuth 2.0 endpoints with HTTP Basic client authentication."""

    def __init__(
        self,
        endpoints: QBOEndpoints,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._http = http_client

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, token_url={self.endpoints.token_url!r})"

    def authorization_url(self, state: str, scopes: Iterable[str] = (ACCOUNTING_SCOPE,)) -> str:
        query = urlencode({
            "client_id": self.client_id,
            "response_type": "code",
            "scope": " ".join(scopes),
            "redirect_uri": self.redirect_uri,
            "state": state,
        })
        return f"{self.endpoints.authorize_url}?{query}"

    def exchange_code(self, code: str) -> TokenSet:
        body = self._post_form(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri},
            operation="exchange authorization code",
        )
        return TokenSet.from_token_response(body)

    def refresh(self, refresh_token: str) -> TokenSet:
        body = self._post_form(
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            operation="refresh access token",
        )
        return TokenSet.from_token_response(body)

    def revoke(self, token: str) -> None:
        self._send(
            self.endpoints.revoke_url,
            operation="revoke token",
            json={"token": token},
        )

    # ------------------------------------------------------------------------- transport

    def _post_form(self, form: dict[str, str], *, operation: str) -> dict[str, Any]:
        response = self._send(self.endpoints.token_url, operation=operation, data=form)
        try:
            return loads(response.content)
        except ValueError:
            raise QBOError.create(
                "token endpoint answered a non-JSON body",
                category="server",
                status_code=response.status_code,
                operation=operation,
            ) from None

    def _send(self, url: str, *, operation: str, **body: Any) -> httpx.Response:
        credentials = base64.b64encode(f"{self.client_id}:{self._client_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        http = self._http or shared_http_client()
        for attempt in range(1, self._max_attempts + 1):
            started = time.monotonic()
            try:
                response = http.post(url, headers=headers, timeout=self._timeout, **body)
            except httpx.TransportError as exc:
                error = network_error(exc, operation=operation)
                if attempt < self._max_attempts:
                    log.warning("OAuth %s: %s; retrying (attempt %d/%d)", operation, type(exc).__name__,
                                attempt, self._max_attempts)
                    self._sleep(attempt)
                    continue
                raise error from None
            tid = response.headers.get("intuit_tid")
            log.debug("OAuth %s -> %d in %.0f ms (intuit_tid=%s)", operation, response.status_code,
                      (time.monotonic() - started) * 1000, tid)
            if response.status_code < 300:
                return response
            error = error_from_response(response.status_code, response.content, response.headers)
            error.with_context(operation=operation, entity="OAuth token")
            if error.retryable and attempt < self._max_attempts:
                log.warning("OAuth %s -> %d; retrying (attempt %d/%d)", operation, response.status_code,
                            attempt, self._max_attempts)
                self._sleep(attempt)
                continue
            log.warning("OAuth %s failed: %s", operation, error)
            raise error
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int) -> None:
        time.sleep(random.uniform(0, min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))))


@runtime_checkable
class TokenSource(Protocol):
    """What the QBO client needs from token storage."""

    def access_token(self) -> str:
        """A (probably) valid access token."""

    def refresh(self, rejected_access_token: str) -> str:
        """A new access token after QBO rejected `rejected_access_token` (401). If another
        caller already replaced that token, returns the replacement without refreshing."""


class InMemoryTokenSource:
    """Tokens of one realm held in memory, refreshed single-flight.

    When 20 threads get a 401 at once, they all call `refresh(rejected)`; the first one
    refreshes, the rest find the current token differs from the one they had rejected and
    reuse it. The rotated TokenSet goes to `on_rotate` (persistence) before it is used; if
    persisting fails the error propagates and the pair is offered again on the next call.
    Use one instance per realm per process.
    """

    def __init__(
        self,
        tokens: TokenSet,
        oauth: OAuthClient,
        on_rotate: Callable[[TokenSet], None] | None = None,
        *,
        refresh_margin: timedelta = timedelta(seconds=120),
        realm_id: str | None = None,
    ) -> None:
        self._tokens = tokens
        self._oauth = oauth
        self._on_rotate = on_rotate
        self._margin = refresh_margin
        self._realm_id = realm_id
        self._lock = threading.Lock()
        self._unpersisted = False
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"InMemoryTokenSource(realm_id={self._realm_id!r}, tokens={self._tokens!r})"

    @property
    def tokens(self) -> TokenSet:
        return self._tokens

    def access_token(self) -> str:
        tokens = self._tokens
        if not self._unpersisted and not self._expiring(tokens):
            return tokens.access_token
        with self._lock:
            if self._unpersisted:
                self._persist(self._tokens)
            if self._expiring(self._tokens):
                self._refresh_locked(reason="expires soon")
            return self._tokens.access_token

    def refresh(self, rejected_access_token: str) -> str:
        with self._lock:
            if self._unpersisted:
                self._persist(self._tokens)
            if self._tokens.access_token != rejected_access_token:
                return self._tokens.access_token  # someone refreshed while we waited
            self._refresh_locked(reason="rejected by QuickBooks")
            return self._tokens.access_token

    def _refresh_locked(self, *, reason: str) -> None:
        fresh = self._oauth.refresh(self._tokens.refresh_token)
        self.refresh_count += 1
        rotated = fresh.refresh_token != self._tokens.refresh_token
        self._tokens = fresh
        self._unpersisted = True
        log.info("refreshed QuickBooks access token for realm %s (%s; refresh token %s)",
                 self._realm_id or "?", reason, "rotated" if rotated else "unchanged")
        self._persist(fresh)

    def _persist(self, tokens: TokenSet) -> None:
        if self._on_rotate is not None:
            self._on_rotate(tokens)
        self._unpersisted = False

    def _expiring(self, tokens: TokenSet) -> bool:
        return tokens.access_expires_within(self._margin.total_seconds())


class StaticTokenSource:
    """A fixed access token (scripts, benchmarks). A 401 cannot be recovered from."""

    def __init__(self, access_token: str) -> None:
        self._token = access_token

    def __repr__(self) -> str:
        return f"StaticTokenSource({fingerprint(self._token)})"

    def access_token(self) -> str:
        return self._token

    def refresh(self, rejected_access_token: str) -> str:
        raise QBOError.create(
            "the access token was rejected and this token source cannot refresh it",
            category="auth",
            code="401",
            operation="refresh access token",
        )
