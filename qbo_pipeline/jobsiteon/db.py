"""Engine for JobsiteOn's database: `JOBSITEON_DATABASE_URL`, else a SQLite file in data_dir()."""
from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from qbo_pipeline.dburl import normalize_url
from qbo_pipeline.paths import data_dir

ENV_VAR = "JOBSITEON_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def database_url() -> str:
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        return normalize_url(url)
    return f"sqlite:///{data_dir() / 'jobsiteon.db'}"


def _configure_sqlite(engine: Engine) -> None:
    in_memory = engine.url.database in (None, "", ":memory:")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers (the sync's mirrors) run while JobsiteOn writes; the busy
        # timeout makes a second writer wait instead of failing with "database is locked".
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for `url` (default: `database_url()`); SQLite gets WAL + busy timeout."""
    url = normalize_url(url) if url else database_url()
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)
