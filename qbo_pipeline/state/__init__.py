"""Sync state in SQL: PostgreSQL in production, SQLite as the embedded default.

    from qbo_pipeline.state import StateStore, make_engine, upgrade
    store = StateStore.from_url()            # QBO_PIPELINE_DATABASE_URL or data/state.db, migrated
    store = StateStore(make_engine(url))     # an existing, already-migrated database

Database (`state.db`): `database_url()`, `make_engine(url)`, `upgrade(url_or_engine)` → revision,
`current_revision(...)`, `redact_url(url)`, `write_transaction(engine)` (SQLite: BEGIN IMMEDIATE).
Migrations: `state/migrations/` (Alembic), run by `qbo-pipeline db upgrade`.

Repositories on `StateStore` (every write method also accepts `conn=` to join a caller's
transaction where noted in its signature):

`store.connections` (ConnectionsRepository) — one QBO company per workspace
    connect(workspace_id, realm_id, tokens, vault, *, company_name=None, settings=None) -> Connection
    get(workspace_id) -> Connection | None;  require(workspace_id) -> Connection
    by_realm(realm_id) -> Connection | None;  list(status=None) -> list[Connection]
    live_realms() -> dict[realm_id, workspace_id]         (connected + needs_reconnect)
    tokens(workspace_id, vault) -> StoredTokens;  store_tokens(workspace_id, tokens, vault)
    record_invalid_grant(workspace_id, threshold=2) -> int;  mark_needs_reconnect(workspace_id)
    set_status(workspace_id, status);  disconnect(workspace_id)
    update_settings(workspace_id, **changes) -> ConnectionSettings
    reencrypt_all(vault) -> int
  Connection.settings is a ConnectionSettings(default_income_account_id, tax_code_mapping,
  pull_interval_minutes=15, timezone="UTC"). Tokens are never part of Connection.

`store.id_map` (IdMapRepository)
    frame(workspace_id, entity) -> DataFrame[jobsiteon_id, qbo_id, qbo_sync_token,
        qbo_updated_at, jobsiteon_updated_at, content_hash, synced_at]
    upsert(workspace_id, entity, links: DataFrame | iterable of dicts) -> int   (IdMapConflict)
    get_by_jobsiteon(ws, entity, id) / get_by_qbo(ws, entity, id) -> dict | None
    delete(ws, entity, *, jobsiteon_ids=(), qbo_ids=()) -> int;  count(ws, entity=None) -> int

`store.inbox` (InboxRepository)
    append(events: iterable of NewInboxEvent) -> int (new rows; duplicates ignored)
    pending_summary(after_id=None, *, runnable_only=False, with_entities=False)
        -> list[PendingSummary(workspace_id, pending, max_id, entities)]  (runnable: 'connected')
    claim(workspace_id, limit, worker) -> list[InboxEvent]
    mark_processed(ids) -> int;  release(ids) -> int;  release_stale(older_than) -> int
    release_claimed_by(worker) -> int   (a failed run's claims back to the pool)
    pending(workspace_id, limit=1000) -> list[InboxEvent];  count(ws=None, pending_only=False)
    purge_processed(older_than) -> int

`store.cursors` (CursorsRepository)
    get(ws, source) -> str | None;  set(ws, source, value);  all(ws) -> dict
    get_with_time(ws, source);  delete(ws, source);  bump(ws, source, by=1);  counter(ws, source)

`store.operations` (OperationsRepository) — idempotency keys
    reserve(key) -> (OperationRecord, created: bool);  finish(key, status, outcome=None)
    get(key) -> OperationRecord | None;  get_many(keys) -> dict;  forget(key)

`store.dead_letters` (DeadLettersRepository)
    add(ws, entity, direction, operation, record_ids, *, category, message, code=None,
        hint=None, payload=None) -> DeadLetter        (repeat → attempts + 1)
    list_open(ws=None, *, category=None, entity=None, limit=1000) -> list[DeadLetter]
    count_open(ws=None) -> dict[category, int];  get(id)
    resolve(ids, note) -> int;  resolve_matching(ws, entity, direction, operation, record_ids, note)
    requeue(ids) -> list[DeadLetter]                   (back into the inbox)

`store.sync_log` (SyncLogRepository)
    add(ws, entity, direction, status, details, record_id=None)
    add_many(entries: iterable of SyncLogEntry) -> int
    recent(ws, *, limit=100, status=None, entity=None, before_id=None) -> DataFrame

Tokens:
    TokenVault.from_env() (AES-256-GCM, keys QBO_PIPELINE_TOKEN_KEY[_PREVIOUS]); generate_key()
        encrypt(plaintext, realm_id) -> "v1:<key id>:<b64>";  decrypt(ciphertext, realm_id)
        key_id, needs_rotation(ciphertext), reencrypt(ciphertext, realm_id);  errors: VaultError
    DatabaseTokenSource(store, vault, workspace_id, oauth_client)  — the QBO client's TokenSource:
        access_token() -> str;  refresh(rejected_access_token) -> str
        one refresh per realm across processes (row lock / BEGIN IMMEDIATE); after 2
        invalid_grant the connection is needs_reconnect and ConnectionNeedsReconnect is raised
        (category "auth", hint "qbo-pipeline connect --workspace W").
"""
from __future__ import annotations

from qbo_pipeline.state.connections import Connection, ConnectionSettings, StoredTokens
from qbo_pipeline.state.db import (
    current_revision,
    database_url,
    make_engine,
    redact_url,
    upgrade,
    write_transaction,
)
from qbo_pipeline.state.dead_letters import DeadLetter
from qbo_pipeline.state.errors import (
    ConnectionNeedsReconnect,
    ConnectionNotFound,
    IdMapConflict,
    RealmAlreadyConnected,
    StateError,
)
from qbo_pipeline.state.inbox import InboxEvent, NewInboxEvent, PendingSummary
from qbo_pipeline.state.store import StateStore
from qbo_pipeline.state.sync_log import SyncLogEntry
from qbo_pipeline.state.token_source import DatabaseTokenSource
from qbo_pipeline.state.vault import TokenVault, VaultError, generate_key

__all__ = [
    "Connection",
    "ConnectionNeedsReconnect",
    "ConnectionNotFound",
    "ConnectionSettings",
    "DatabaseTokenSource",
    "DeadLetter",
    "IdMapConflict",
    "InboxEvent",
    "NewInboxEvent",
    "PendingSummary",
    "RealmAlreadyConnected",
    "StateError",
    "StateStore",
    "StoredTokens",
    "SyncLogEntry",
    "TokenVault",
    "VaultError",
    "current_revision",
    "database_url",
    "generate_key",
    "make_engine",
    "redact_url",
    "upgrade",
    "write_transaction",
]
