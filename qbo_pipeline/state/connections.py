"""Connections: one QuickBooks company (realm) per workspace, its encrypted tokens and
settings."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Iterable, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.exc import IntegrityError

from qbo_pipeline.state._repo import Repository
from qbo_pipeline.state.errors import ConnectionNotFound, RealmAlreadyConnected, StateError
from qbo_pipeline.state.schema import CONNECTION_STATUSES, connections as t
from qbo_pipeline.state.types import utcnow
from qbo_pipeline.state.vault import TokenVault

CONNECTED, NEEDS_RECONNECT, DISCONNECTED = CONNECTION_STATUSES
LIVE_STATUSES = (CONNECTED, NEEDS_RECONNECT)


class TokenPair(Protocol):
    """What `qbo_pipeline.qbo.oauth.TokenSet` provides."""

    access_token: str
    refresh_token: str
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None


@dataclass(frozen=True)
class StoredTokens:
    """Decrypted tokens. The token values never appear in repr()."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None


@dataclass(frozen=True)
class ConnectionSettings:
    default_income_account_id: str | None = None
    tax_code_mapping: dict[str, str] = field(default_factory=dict)
    pull_interval_minutes: int = 15
    timezone: str = "UTC"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConnectionSettings:
        data = dict(data or {})
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> ConnectionSettings:
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise StateError(
                f"unknown connection setting(s) {sorted(unknown)}; "
                f"known: {sorted(self.__dataclass_fields__)}"
            )
        merged = {**self.to_dict(), **changes}
        interval = merged["pull_interval_minutes"]
        if not isinstance(interval, int) or interval < 1:
            raise StateError(f"pull_interval_minutes must be a positive integer, got {interval!r}")
        return ConnectionSettings(**merged)


@dataclass(frozen=True)
class Connection:
    """A workspace's QuickBooks connection, without its tokens."""

    workspace_id: str
    realm_id: str
    company_name: str | None
    status: str
    settings: ConnectionSettings
    token_key_id: str | None
    has_tokens: bool
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    invalid_grant_count: int
    connected_at: datetime | None
    disconnected_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: sa.Row) -> Connection:
        m = row._mapping
        return cls(
            workspace_id=m["workspace_id"],
            realm_id=m["realm_id"],
            company_name=m["company_name"],
            status=m["status"],
            settings=ConnectionSettings.from_dict(m["settings"]),
            token_key_id=m["token_key_id"],
            has_tokens=m["access_token_encrypted"] is not None and m["refresh_token_encrypted"] is not None,
            access_expires_at=m["access_expires_at"],
            refresh_expires_at=m["refresh_expires_at"],
            invalid_grant_count=m["invalid_grant_count"],
            connected_at=m["connected_at"],
            disconnected_at=m["disconnected_at"],
            updated_at=m["updated_at"],
        )


def encrypted_token_values(tokens: TokenPair, realm_id: str, vault: TokenVault) -> dict[str, Any]:
    """Column values storing `tokens` encrypted under the vault's current key."""
    return {
        "access_token_encrypted": vault.encrypt(tokens.access_token, realm_id),
        "refresh_token_encrypted": vault.encrypt(tokens.refresh_token, realm_id),
        "token_key_id": vault.key_id,
        "access_expires_at": tokens.access_expires_at,
        "refresh_expires_at": tokens.refresh_expires_at,
    }


def decrypt_tokens(row: sa.Row, vault: TokenVault) -> StoredTokens:
    m = row._mapping
    if m["access_token_encrypted"] is None or m["refresh_token_encrypted"] is None:
        raise StateError(
            f"workspace {m['workspace_id']} has no stored tokens; reconnect with: "
            f"qbo-pipeline connect --workspace {m['workspace_id']}"
        )
    return StoredTokens(
        access_token=vault.decrypt(m["access_token_encrypted"], m["realm_id"]),
        refresh_token=vault.decrypt(m["refresh_token_encrypted"], m["realm_id"]),
        access_expires_at=m["access_expires_at"],
        refresh_expires_at=m["refresh_expires_at"],
    )


class ConnectionsRepository(Repository):
    def connect(
        self,
        workspace_id: str,
        realm_id: str,
        tokens: TokenPair,
        vault: TokenVault,
        *,
        company_name: str | None = None,
        settings: ConnectionSettings | dict[str, Any] | None = None,
    ) -> Connection:
        """Creates or re-establishes the workspace's connection with fresh tokens.

        Reconnecting keeps the existing settings unless new ones are given. Raises
        `RealmAlreadyConnected` if another live workspace holds this realm."""
        now = utcnow()
        values: dict[str, Any] = {
            "realm_id": realm_id,
            "status": CONNECTED,
            "invalid_grant_count": 0,
            "connected_at": now,
            "disconnected_at": None,
            "updated_at": now,
            **encrypted_token_values(tokens, realm_id, vault),
        }
        if company_name is not None:
            values["company_name"] = company_name
        if settings is not None:
            parsed = settings if isinstance(settings, ConnectionSettings) else ConnectionSettings().replace(**settings)
            values["settings"] = parsed.to_dict()
        try:
            with self._write() as conn:
                owner = conn.execute(
                    sa.select(t.c.workspace_id).where(
                        t.c.realm_id == realm_id,
                        t.c.status != DISCONNECTED,
                        t.c.workspace_id != workspace_id,
                    )
                ).scalar()
                if owner is not None:
                    raise RealmAlreadyConnected(realm_id, workspace_id, owner)
                exists = conn.execute(
                    sa.select(t.c.workspace_id).where(t.c.workspace_id == workspace_id)
                ).scalar()
                if exists is None:
                    values.setdefault("settings", ConnectionSettings().to_dict())
                    conn.execute(sa.insert(t).values(workspace_id=workspace_id, **values))
                else:
                    conn.execute(sa.update(t).where(t.c.workspace_id == workspace_id).values(**values))
                return Connection.from_row(self._select_row(conn, workspace_id))
        except IntegrityError:
            # Another process connected the realm between our check and our write.
            raise RealmAlreadyConnected(realm_id, workspace_id, None) from None

    def get(self, workspace_id: str, *, conn: SAConnection | None = None) -> Connection | None:
        with self._read(conn) as c:
            row = c.execute(sa.select(t).where(t.c.workspace_id == workspace_id)).first()
        return Connection.from_row(row) if row else None

    def require(self, workspace_id: str, *, conn: SAConnection | None = None) -> Connection:
        found = self.get(workspace_id, conn=conn)
        if found is None:
            raise ConnectionNotFound(workspace_id)
        return found

    def by_realm(self, realm_id: str) -> Connection | None:
        """The live (connected or needs_reconnect) connection for a realm."""
        with self._read() as c:
            row = c.execute(
                sa.select(t).where(t.c.realm_id == realm_id, t.c.status.in_(LIVE_STATUSES))
            ).first()
        return Connection.from_row(row) if row else None

    def list(self, status: str | Iterable[str] | None = None) -> list[Connection]:
        query = sa.select(t).order_by(t.c.workspace_id)
        if status is not None:
            query = query.where(t.c.status.in_([status] if isinstance(status, str) else list(status)))
        with self._read() as c:
            return [Connection.from_row(r) for r in c.execute(query)]

    def live_realms(self) -> dict[str, str]:
        """realm_id -> workspace_id for connections that should receive events."""
        with self._read() as c:
            rows = c.execute(
                sa.select(t.c.realm_id, t.c.workspace_id).where(t.c.status.in_(LIVE_STATUSES))
            )
            return {realm: workspace for realm, workspace in rows}

    def tokens(self, workspace_id: str, vault: TokenVault, *, conn: SAConnection | None = None) -> StoredTokens:
        """The decrypted tokens (for the token source and for revoking on disconnect)."""
        with self._read(conn) as c:
            row = self._select_row(c, workspace_id)
        return decrypt_tokens(row, vault)

    def store_tokens(
        self, workspace_id: str, tokens: TokenPair, vault: TokenVault, *, conn: SAConnection | None = None
    ) -> None:
        """Saves a refreshed token pair (and clears the invalid_grant streak)."""
        with self._write(conn) as c:
            realm_id = self._select_row(c, workspace_id)._mapping["realm_id"]
            c.execute(
                sa.update(t)
                .where(t.c.workspace_id == workspace_id)
                .values(invalid_grant_count=0, updated_at=utcnow(), **encrypted_token_values(tokens, realm_id, vault))
            )

    def record_invalid_grant(
        self, workspace_id: str, *, threshold: int = 2, conn: SAConnection | None = None
    ) -> int:
        """Counts one invalid_grant; at `threshold` the connection becomes needs_reconnect.
        Returns the new count."""
        with self._write(conn) as c:
            count = self._select_row(c, workspace_id)._mapping["invalid_grant_count"] + 1
            values: dict[str, Any] = {"invalid_grant_count": count, "updated_at": utcnow()}
            if count >= threshold:
                values["status"] = NEEDS_RECONNECT
            c.execute(
                sa.update(t)
                .where(t.c.workspace_id == workspace_id, t.c.status != DISCONNECTED)
                .values(**values)
            )
            return count

    def set_status(self, workspace_id: str, status: str) -> None:
        if status not in CONNECTION_STATUSES:
            raise StateError(f"unknown connection status {status!r}; use one of {CONNECTION_STATUSES}")
        if status == DISCONNECTED:
            self.disconnect(workspace_id)
            return
        with self._write() as c:
            self._select_row(c, workspace_id)
            c.execute(
                sa.update(t).where(t.c.workspace_id == workspace_id).values(status=status, updated_at=utcnow())
            )

    def mark_needs_reconnect(self, workspace_id: str) -> None:
        self.set_status(workspace_id, NEEDS_RECONNECT)

    def disconnect(self, workspace_id: str) -> None:
        """Marks the connection disconnected and forgets its tokens (revoke them first).
        Synced data, id map and settings stay, so reconnecting resumes."""
        now = utcnow()
        with self._write() as c:
            self._select_row(c, workspace_id)
            c.execute(
                sa.update(t)
                .where(t.c.workspace_id == workspace_id)
                .values(
                    status=DISCONNECTED,
                    disconnected_at=now,
                    updated_at=now,
                    access_token_encrypted=None,
                    refresh_token_encrypted=None,
                    token_key_id=None,
                )
            )

    def update_settings(self, workspace_id: str, **changes: Any) -> ConnectionSettings:
        with self._write() as c:
            row = self._select_row(c, workspace_id, for_update=True)
            settings = ConnectionSettings.from_dict(row._mapping["settings"]).replace(**changes)
            c.execute(
                sa.update(t)
                .where(t.c.workspace_id == workspace_id)
                .values(settings=settings.to_dict(), updated_at=utcnow())
            )
            return settings

    def reencrypt_all(self, vault: TokenVault) -> int:
        """Re-encrypts every stored token under the vault's current key; returns how many
        connections changed. Each row is rewritten under a row lock, so a concurrent
        refresh is never overwritten with stale tokens."""
        with self._read() as c:
            stale = [
                ws
                for ws, kid in c.execute(
                    sa.select(t.c.workspace_id, t.c.token_key_id).where(
                        t.c.access_token_encrypted.is_not(None)
                    )
                )
                if kid != vault.key_id
            ]
        changed = 0
        for workspace_id in stale:
            with self._write() as c:
                m = self._select_row(c, workspace_id, for_update=True)._mapping
                if m["access_token_encrypted"] is None or m["token_key_id"] == vault.key_id:
                    continue
                c.execute(
                    sa.update(t)
                    .where(t.c.workspace_id == workspace_id)
                    .values(
                        access_token_encrypted=vault.reencrypt(m["access_token_encrypted"], m["realm_id"]),
                        refresh_token_encrypted=vault.reencrypt(m["refresh_token_encrypted"], m["realm_id"]),
                        token_key_id=vault.key_id,
                    )
                )
                changed += 1
        return changed

    def lock_row(self, conn: SAConnection, workspace_id: str) -> sa.Row:
        """Reads the row under a lock held until `conn`'s transaction ends (Postgres: FOR
        UPDATE; SQLite: the caller's BEGIN IMMEDIATE already holds the database lock)."""
        return self._select_row(conn, workspace_id, for_update=True)

    @staticmethod
    def _select_row(conn: SAConnection, workspace_id: str, *, for_update: bool = False) -> sa.Row:
        query = sa.select(t).where(t.c.workspace_id == workspace_id)
        if for_update:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise ConnectionNotFound(workspace_id)
        return row
