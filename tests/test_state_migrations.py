"""Migrations from an empty database on both dialects, the `db upgrade` command, and that
the migrations and schema.py describe the same tables."""
from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from qbo_pipeline.cli import main
from qbo_pipeline.state import current_revision, make_engine, upgrade
from qbo_pipeline.state.db import head_revision, normalize_url
from qbo_pipeline.state.schema import metadata

import state_children

TABLES = {"connections", "id_map", "inbox", "cursors", "operations", "dead_letters", "sync_log"}


def test_upgrade_from_empty_creates_every_table_and_matches_schema(db_url):
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(engine) == head_revision()
        assert upgrade(engine) == head_revision()  # idempotent
        inspector = sa.inspect(engine)
        assert TABLES <= set(inspector.get_table_names())
        index_names = {ix["name"] for ix in inspector.get_indexes("inbox")}
        assert "ix_inbox_pending" in index_names
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == [], f"schema.py and migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_sqlite_engine_settings(sqlite_url):
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        engine.dispose()


def test_postgres_urls_are_pinned_to_psycopg2():
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_concurrent_upgrades_from_several_processes_and_threads(db_url):
    """Services start together (receiver, Dagster daemon, webserver): all may migrate."""
    with state_children.context().Pool(2) as pool:
        children = pool.map_async(upgrade, [db_url] * 2)
        results, errors = [], []

        def run():
            try:
                results.append(upgrade(db_url))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert results + children.get(timeout=60) == [head_revision()] * 4


def test_db_upgrade_command_prints_revision_but_never_the_password(pg_url, monkeypatch):
    # Trust auth ignores the password, so the URL still connects.
    url = pg_url.replace("postgresql+psycopg2://postgres@", "postgresql://postgres:s3cr3t-pw@")
    monkeypatch.setenv("QBO_PIPELINE_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert head_revision() in result.output
    assert "s3cr3t-pw" not in result.output
    assert current_revision(pg_url) == head_revision()


def test_db_upgrade_command_on_default_sqlite(tmp_path, monkeypatch):
    monkeypatch.delenv("QBO_PIPELINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("QBO_PIPELINE_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state.db").exists()
    assert current_revision(f"sqlite:///{tmp_path / 'state.db'}") == head_revision()


def test_db_upgrade_failure_hides_password(monkeypatch):
    monkeypatch.setenv("QBO_PIPELINE_DATABASE_URL", "postgresql://postgres:hunter2@127.0.0.1:5432/no_such_db_x")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code != 0
    assert "hunter2" not in result.output
    assert "***" in result.output
