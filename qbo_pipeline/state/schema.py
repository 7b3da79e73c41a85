"""The sync-state tables (SQLAlchemy Core). Migrations in `migrations/versions/` create them;
`tests/test_state_migrations.py` checks that the two never drift apart."""
from __future__ import annotations

import sqlalchemy as sa

from qbo_pipeline.state.types import BigIntId, JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

CONNECTION_STATUSES = ("connected", "needs_reconnect", "disconnected")
INBOX_SOURCES = ("webhook", "cdc", "jobsiteon")
DIRECTIONS = ("push", "pull")
SYNC_LOG_STATUSES = ("error", "warning", "info")

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("workspace_id", sa.String(128), primary_key=True),
    sa.Column("realm_id", sa.String(64), nullable=False),
    sa.Column("company_name", sa.String(255)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("access_token_encrypted", sa.Text),
    sa.Column("refresh_token_encrypted", sa.Text),
    sa.Column("token_key_id", sa.String(32)),
    sa.Column("access_expires_at", UTCDateTime),
    sa.Column("refresh_expires_at", UTCDateTime),
    sa.Column("invalid_grant_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("settings", JSONType, nullable=False),
    sa.Column("connected_at", UTCDateTime),
    sa.Column("disconnected_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(
        "status IN ('connected', 'needs_reconnect', 'disconnected')", name="status"
    ),
    # A realm may belong to one live workspace; disconnected history does not count.
    sa.Index(
        "uq_connections_live_realm",
        "realm_id",
        unique=True,
        postgresql_where=sa.text("status <> 'disconnected'"),
        sqlite_where=sa.text("status <> 'disconnected'"),
    ),
)

id_map = sa.Table(
    "id_map",
    metadata,
    sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(128), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("jobsiteon_id", sa.String(128), nullable=False),
    sa.Column("qbo_id", sa.String(64), nullable=False),
    sa.Column("qbo_sync_token", sa.String(32)),
    sa.Column("qbo_updated_at", UTCDateTime),
    sa.Column("jobsiteon_updated_at", UTCDateTime),
    sa.Column("content_hash", sa.String(128)),
    sa.Column("synced_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "entity", "jobsiteon_id"),
    sa.UniqueConstraint("workspace_id", "entity", "qbo_id"),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(128), nullable=False),
    sa.Column("realm_id", sa.String(64)),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(128), nullable=False),
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("occurred_at", UTCDateTime),
    sa.Column("payload", sa.Text),
    sa.Column("dedupe_key", sa.String(255), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("processed_at", UTCDateTime),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("claimed_at", UTCDateTime),
    sa.UniqueConstraint("workspace_id", "dedupe_key"),
    # Only pending rows are indexed, so the sensor's summary query and claims cost
    # O(pending), however much processed history accumulates.
    sa.Index(
        "ix_inbox_pending",
        "workspace_id",
        "id",
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    ),
    # For purging old history; pending rows stay out of it (and out of the planner's way).
    sa.Index(
        "ix_inbox_processed_at",
        "processed_at",
        postgresql_where=sa.text("processed_at IS NOT NULL"),
        sqlite_where=sa.text("processed_at IS NOT NULL"),
    ),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("workspace_id", sa.String(128), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("outcome", JSONType),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(128), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("record_key", sa.String(1024), nullable=False),
    sa.Column("record_ids", JSONType, nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("code", sa.String(64)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("hint", sa.Text),
    sa.Column("payload", JSONType),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("requeued_at", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("resolution_note", sa.Text),
    sa.CheckConstraint("direction IN ('push', 'pull')", name="direction"),
    # One open letter per failing record and operation: a repeat bumps `attempts`.
    sa.Index(
        "uq_dead_letters_open_natural_key",
        "workspace_id",
        "entity",
        "direction",
        "operation",
        "record_key",
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
        sqlite_where=sa.text("resolved_at IS NULL"),
    ),
    sa.Index("ix_dead_letters_workspace_id_category", "workspace_id", "category"),
)

sync_log = sa.Table(
    "sync_log",
    metadata,
    sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Column("workspace_id", sa.String(128), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("record_id", sa.String(128)),
    sa.Column("details", sa.Text, nullable=False),
    sa.CheckConstraint("direction IN ('push', 'pull')", name="direction"),
    sa.CheckConstraint("status IN ('error', 'warning', 'info')", name="status"),
    sa.Index("ix_sync_log_workspace_id_id", "workspace_id", "id"),
)
