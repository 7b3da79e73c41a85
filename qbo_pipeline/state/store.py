"""`StateStore`: one object giving access to every sync-state repository."""
from __future__ import annotations

from sqlalchemy.engine import Engine

from qbo_pipeline.state.connections import ConnectionsRepository
from qbo_pipeline.state.cursors import CursorsRepository
from qbo_pipeline.state.db import make_engine, redact_url, upgrade
from qbo_pipeline.state.dead_letters import DeadLettersRepository
from qbo_pipeline.state.id_map import IdMapRepository
from qbo_pipeline.state.inbox import InboxRepository
from qbo_pipeline.state.operations import OperationsRepository
from qbo_pipeline.state.sync_log import SyncLogRepository


class StateStore:
    """Facade over the sync-state database (see the package docstring for the API)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connections = ConnectionsRepository(engine)
        self.id_map = IdMapRepository(engine)
        self.inbox = InboxRepository(engine)
        self.cursors = CursorsRepository(engine)
        self.operations = OperationsRepository(engine)
        self.dead_letters = DeadLettersRepository(engine)
        self.sync_log = SyncLogRepository(engine)

    @classmethod
    def from_url(cls, url: str | None = None, *, migrate: bool = True, **engine_kwargs) -> StateStore:
        """A store on `url` (default: the configured state URL), migrated to head unless
        `migrate=False`."""
        engine = make_engine(url, **engine_kwargs)
        if migrate:
            upgrade(engine)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"StateStore({redact_url(self.engine.url)})"
