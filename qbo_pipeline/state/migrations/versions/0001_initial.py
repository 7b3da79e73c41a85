"""Initial sync-state schema: connections, id map, inbox, cursors, operation log, dead letters,
sync log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types at this revision (migrations never import live code).
_ts = sa.DateTime(timezone=True)
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("realm_id", sa.String(64), nullable=False),
        sa.Column("company_name", sa.String(255)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("access_token_encrypted", sa.Text),
        sa.Column("refresh_token_encrypted", sa.Text),
        sa.Column("token_key_id", sa.String(32)),
        sa.Column("access_expires_at", _ts),
        sa.Column("refresh_expires_at", _ts),
        sa.Column("invalid_grant_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("settings", _json, nullable=False),
        sa.Column("connected_at", _ts),
        sa.Column("disconnected_at", _ts),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_connections"),
        sa.CheckConstraint(
            "status IN ('connected', 'needs_reconnect', 'disconnected')",
            name="ck_connections_status",
        ),
    )
    op.create_index(
        "uq_connections_live_realm",
        "connections",
        ["realm_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'disconnected'"),
        sqlite_where=sa.text("status <> 'disconnected'"),
    )

    op.create_table(
        "id_map",
        sa.Column("id", _bigid, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("jobsiteon_id", sa.String(128), nullable=False),
        sa.Column("qbo_id", sa.String(64), nullable=False),
        sa.Column("qbo_sync_token", sa.String(32)),
        sa.Column("qbo_updated_at", _ts),
        sa.Column("jobsiteon_updated_at", _ts),
        sa.Column("content_hash", sa.String(128)),
        sa.Column("synced_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_id_map"),
        sa.UniqueConstraint(
            "workspace_id", "entity", "jobsiteon_id", name="uq_id_map_workspace_id_entity_jobsiteon_id"
        ),
        sa.UniqueConstraint("workspace_id", "entity", "qbo_id", name="uq_id_map_workspace_id_entity_qbo_id"),
    )

    op.create_table(
        "inbox",
        sa.Column("id", _bigid, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("realm_id", sa.String(64)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("occurred_at", _ts),
        sa.Column("payload", sa.Text),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("received_at", _ts, nullable=False),
        sa.Column("processed_at", _ts),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_at", _ts),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("workspace_id", "dedupe_key", name="uq_inbox_workspace_id_dedupe_key"),
    )
    op.create_index(
        "ix_inbox_pending",
        "inbox",
        ["workspace_id", "id"],
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )
    op.create_index(
        "ix_inbox_processed_at",
        "inbox",
        ["processed_at"],
        postgresql_where=sa.text("processed_at IS NOT NULL"),
        sqlite_where=sa.text("processed_at IS NOT NULL"),
    )

    op.create_table(
        "cursors",
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "source", name="pk_cursors"),
    )

    op.create_table(
        "operations",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("outcome", _json),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_operations"),
    )

    op.create_table(
        "dead_letters",
        sa.Column("id", _bigid, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("record_key", sa.String(1024), nullable=False),
        sa.Column("record_ids", _json, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("hint", sa.Text),
        sa.Column("payload", _json),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("first_seen", _ts, nullable=False),
        sa.Column("last_seen", _ts, nullable=False),
        sa.Column("requeued_at", _ts),
        sa.Column("resolved_at", _ts),
        sa.Column("resolution_note", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sa.CheckConstraint("direction IN ('push', 'pull')", name="ck_dead_letters_direction"),
    )
    op.create_index(
        "uq_dead_letters_open_natural_key",
        "dead_letters",
        ["workspace_id", "entity", "direction", "operation", "record_key"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
        sqlite_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index(
        "ix_dead_letters_workspace_id_category", "dead_letters", ["workspace_id", "category"]
    )

    op.create_table(
        "sync_log",
        sa.Column("id", _bigid, autoincrement=True, nullable=False),
        sa.Column("timestamp", _ts, nullable=False),
        sa.Column("workspace_id", sa.String(128), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(128)),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_log"),
        sa.CheckConstraint("direction IN ('push', 'pull')", name="ck_sync_log_direction"),
        sa.CheckConstraint(
            "status IN ('error', 'warning', 'info')", name="ck_sync_log_status"
        ),
    )
    op.create_index("ix_sync_log_workspace_id_id", "sync_log", ["workspace_id", "id"])


def downgrade() -> None:
    op.drop_table("sync_log")
    op.drop_table("dead_letters")
    op.drop_table("operations")
    op.drop_table("cursors")
    op.drop_table("inbox")
    op.drop_table("id_map")
    op.drop_table("connections")
