"""Alembic environment for the sync-state database.

Runs on a connection handed over by `qbo_pipeline.state.db.upgrade()` (config attribute
"connection"), or on a fresh engine for the configured URL when invoked from the alembic CLI.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from qbo_pipeline.state.db import database_url, make_engine
from qbo_pipeline.state.schema import metadata

# Any constant shared by every migrating process: serializes concurrent upgrades on Postgres.
_MIGRATION_LOCK_ID = 0x71B0_5747


def _run(connection: sa.engine.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(database_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
