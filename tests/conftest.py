"""Shared fixtures: a scratch PostgreSQL database per run, SQLite files, and the QBO emulator
served over real HTTP on loopback."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

PG_HOST = os.environ.get("QBO_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("QBO_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("QBO_TEST_PG_USER", "postgres")
ADMIN_URL = f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"


def _postgres_reachable() -> str | None:
    try:
        engine = sa.create_engine(ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def _require_postgres() -> None:
    problem = _postgres_reachable()
    if problem is None:
        return
    message = f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable ({problem})"
    if os.environ.get("CI"):
        pytest.fail(message + " — in CI no PostgreSQL test may be skipped", pytrace=False)
    pytest.skip(message + " — PostgreSQL tests cannot run on this machine")


def create_scratch_database(prefix: str = "qbo_test") -> str:
    """Creates an empty database and returns its SQLAlchemy URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def drop_database(url: str) -> None:
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_server() -> None:
    """Skips (locally) or fails (CI) when PostgreSQL is not there."""
    _require_postgres()


@pytest.fixture()
def pg_url(pg_server) -> str:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    url = create_scratch_database()
    yield url
    drop_database(url)


@pytest.fixture()
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        request.getfixturevalue("pg_server")
        url = create_scratch_database()
        yield url
        drop_database(url)


@pytest.fixture(scope="session")
def emulator():
    """One emulator process-wide, on a free loopback port, over real HTTP.

    Tests isolate themselves by creating their own company (realm) with `qbo_company`.
    """
    from qbo_pipeline.emulator.server import EmulatorServer

    server = EmulatorServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def qbo_company(emulator) -> dict:
    """A new sandbox-like company: {"realm_id", "access_token", "refresh_token", ...}."""
    import httpx

    response = httpx.post(
        f"{emulator.base_url}/_emulator/companies", json={"name": f"Test Co {uuid.uuid4().hex[:6]}"}
    )
    response.raise_for_status()
    return response.json()
