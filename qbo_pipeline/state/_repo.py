"""Shared plumbing for the repositories: transactions that may join a caller's connection."""
from __future__ import annotations

import contextlib
from typing import Iterator

from sqlalchemy.engine import Connection, Engine

from qbo_pipeline.state.db import read_transaction, write_transaction


class Repository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    @contextlib.contextmanager
    def _write(self, conn: Connection | None = None) -> Iterator[Connection]:
        """Runs inside `conn`'s transaction when given, else in a new write transaction."""
        if conn is not None:
            yield conn
            return
        with write_transaction(self._engine) as new_conn:
            yield new_conn

    @contextlib.contextmanager
    def _read(self, conn: Connection | None = None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with read_transaction(self._engine) as new_conn:
            yield new_conn
