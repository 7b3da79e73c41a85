"""Access tokens for the QBO client, refreshed at most once per realm at a time across all
processes sharing the state database.

Intuit rotates the refresh token on refresh; two workers refreshing with the same refresh
token leave one of them holding a superseded token (→ invalid_grant). So a refresh happens
under a database lock on the connection row, re-reads the row inside the lock, and stores
the rotated pair before anyone uses it."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Protocol

from qbo_pipeline.state.connections import (
    DISCONNECTED,
    NEEDS_RECONNECT,
    StoredTokens,
    TokenPair,
    decrypt_tokens,
)
from qbo_pipeline.state.db import write_transaction
from qbo_pipeline.state.errors import ConnectionNeedsReconnect
from qbo_pipeline.state.store import StateStore
from qbo_pipeline.state.types import utcnow
from qbo_pipeline.state.vault import TokenVault

log = logging.getLogger(__name__)

INVALID_GRANT_THRESHOLD = 2


class OAuthRefresher(Protocol):
    def refresh(self, refresh_token: str) -> TokenPair: ...


class TokenSource(Protocol):
    """What the QBO client needs: a current access token, and a new one after a 401."""

    def access_token(self) -> str: ...

    def refresh(self, rejected_access_token: str) -> str: ...


def is_invalid_grant(exc: BaseException) -> bool:
    """True for the OAuth client's invalid_grant error (QBOError, category "auth")."""
    return getattr(exc, "code", None) == "invalid_grant"


class DatabaseTokenSource:
    def __init__(
        self,
        store: StateStore,
        vault: TokenVault,
        workspace_id: str,
        oauth_client: OAuthRefresher,
        *,
        expiry_margin: timedelta = timedelta(seconds=60),
        invalid_grant_threshold: int = INVALID_GRANT_THRESHOLD,
    ) -> None:
        self._store = store
        self._vault = vault
        self._workspace_id = workspace_id
        self._oauth = oauth_client
        self._margin = expiry_margin
        self._threshold = invalid_grant_threshold
        self._lock = threading.Lock()  # one refresh per source object; the DB lock does the rest
        self._cached: StoredTokens | None = None

    @property
    def workspace_id(self) -> str:
        return self._workspace_id

    def __repr__(self) -> str:
        return f"DatabaseTokenSource(workspace_id={self._workspace_id!r})"

    def access_token(self) -> str:
        cached = self._cached
        if cached is not None and not self._expiring(cached.access_expires_at):
            return cached.access_token
        connection = self._store.connections.require(self._workspace_id)
        self._check_usable(connection.status, connection.realm_id)
        tokens = self._store.connections.tokens(self._workspace_id, self._vault)
        if self._expiring(tokens.access_expires_at):
            return self.refresh(tokens.access_token)
        self._cached = tokens
        return tokens.access_token

    def refresh(self, rejected_access_token: str) -> str:
        """A valid access token other than `rejected_access_token`, refreshing through
        OAuth only if no other process has already done so."""
        with self._lock:
            failure: BaseException | None = None
            with write_transaction(self._store.engine) as conn:
                row = self._store.connections.lock_row(conn, self._workspace_id)
                m = row._mapping
                self._check_usable(m["status"], m["realm_id"])
                stored = decrypt_tokens(row, self._vault)
                if stored.access_token != rejected_access_token and not self._expiring(stored.access_expires_at):
                    self._cached = stored  # another process refreshed while we waited
                    return stored.access_token
                try:
                    fresh = self._oauth.refresh(stored.refresh_token)
                except Exception as exc:  # noqa: BLE001 - classified below, re-raised after commit
                    if not is_invalid_grant(exc):
                        raise
                    count = self._store.connections.record_invalid_grant(
                        self._workspace_id, threshold=self._threshold, conn=conn
                    )
                    failure = exc
                    log.warning(
                        "QuickBooks rejected the refresh token of workspace %s (realm %s): "
                        "invalid_grant %d/%d",
                        self._workspace_id, m["realm_id"], count, self._threshold,
                    )
                    if count >= self._threshold:
                        failure = ConnectionNeedsReconnect(
                            self._workspace_id, m["realm_id"], "QuickBooks rejected the refresh token (invalid_grant)"
                        )
                else:
                    self._store.connections.store_tokens(self._workspace_id, fresh, self._vault, conn=conn)
            # Leaving the block committed the new pair (or the invalid_grant count).
            self._cached = None
            if failure is not None:
                if isinstance(failure, ConnectionNeedsReconnect):
                    raise failure from None
                raise failure
            log.info("refreshed QuickBooks tokens for workspace %s (realm %s)", self._workspace_id, m["realm_id"])
            self._cached = StoredTokens(
                access_token=fresh.access_token,
                refresh_token=fresh.refresh_token,
                access_expires_at=fresh.access_expires_at,
                refresh_expires_at=fresh.refresh_expires_at,
            )
            return fresh.access_token

    def _check_usable(self, status: str, realm_id: str) -> None:
        if status == NEEDS_RECONNECT:
            raise ConnectionNeedsReconnect(self._workspace_id, realm_id, "its connection needs reconnecting")
        if status == DISCONNECTED:
            raise ConnectionNeedsReconnect(self._workspace_id, realm_id, "it is disconnected")

    def _expiring(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and expires_at - self._margin <= utcnow()
