"""Where the state database is, how to connect to it, and how to migrate it."""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from qbo_pipeline.dburl import normalize_url
from qbo_pipeline.paths import data_dir

DATABASE_URL_ENV = "QBO_PIPELINE_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option read by the SQLite "begin" hook: BEGIN IMMEDIATE takes the write lock
# up front, so read-then-write transactions queue on busy_timeout instead of failing.
_IMMEDIATE = "qbo_sqlite_begin_immediate"
# Alembic keeps its migration context in module globals, so one process migrates one
# database at a time; across processes a database lock serializes (see migrations/env.py).
_MIGRATION_LOCK = threading.Lock()
# In-process writers to one SQLite file queue on this lock rather than in SQLite's busy
# handler, which sleeps in growing steps (up to 100 ms) and starves some threads.
_SQLITE_WRITE_LOCKS: dict[str, threading.RLock] = {}
_SQLITE_WRITE_LOCKS_GUARD = threading.Lock()


def database_url() -> str:
    """`QBO_PIPELINE_DATABASE_URL`, or the embedded SQLite file in the data directory."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        return f"sqlite:///{data_dir() / 'state.db'}"
    return normalize_url(url)


def redact_url(url: str | sa.URL) -> str:
    """The URL with its password masked — the only form that may be printed or logged."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | None = None, **engine_kwargs: Any) -> Engine:
    """An engine for the state database with the settings both dialects need."""
    url = normalize_url(url or database_url())
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **engine_kwargs)
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 20,
        "hide_parameters": True,  # SQL errors must not echo token ciphertexts or payloads
    }
    options.update(engine_kwargs)
    return sa.create_engine(parsed, **options)


def _sqlite_engine(url: sa.URL, **engine_kwargs: Any) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if not in_memory:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        "hide_parameters": True,
    }
    if in_memory:
        options["poolclass"] = sa.pool.StaticPool
        options["connect_args"]["check_same_thread"] = False
    options.update(engine_kwargs)
    engine = sa.create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy (not pysqlite) decide when transactions begin; see _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write. On SQLite it takes the database write lock at BEGIN,
    which serializes writers across processes; on Postgres it is an ordinary transaction
    (row locks, SKIP LOCKED and advisory locks do the serializing there)."""
    if engine.dialect.name != "sqlite":
        with engine.connect() as conn:
            with conn.begin():
                yield conn
        return
    with _sqlite_write_lock(engine), engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


def _sqlite_write_lock(engine: Engine) -> threading.RLock:
    key = engine.url.database or f":memory:{id(engine)}"
    with _SQLITE_WRITE_LOCKS_GUARD:
        return _SQLITE_WRITE_LOCKS.setdefault(key, threading.RLock())


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        with conn.begin():
            yield conn


def _alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(url_or_engine: str | Engine | None = None, revision: str = "head") -> str:
    """Migrates the database to `revision` (default: head) and returns the revision now
    current. Safe to run from several processes at once."""
    from alembic import command

    engine, owned = _engine_for(url_or_engine)
    try:
        with _MIGRATION_LOCK, engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.execution_options(**{_IMMEDIATE: True})
            command.upgrade(_alembic_config(conn), revision)
            conn.commit()
        return current_revision(engine) or ""
    finally:
        if owned:
            engine.dispose()


def current_revision(url_or_engine: str | Engine | None = None) -> str | None:
    """The database's Alembic revision, or None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    engine, owned = _engine_for(url_or_engine)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


def _engine_for(url_or_engine: str | Engine | None) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    return make_engine(url_or_engine), True


def upsert_insert(dialect_name: str, table: sa.Table):
    """`INSERT` supporting `.on_conflict_do_nothing/do_update` on the given dialect."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise NotImplementedError(f"state store supports postgresql and sqlite, not {dialect_name}")
    return insert(table)
