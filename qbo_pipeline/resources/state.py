"""The sync-state database as a Dagster resource."""

import functools
from typing import Optional

import dagster as dg

from qbo_pipeline.state import StateStore, database_url


@functools.lru_cache(maxsize=8)
def _store_for(url: str) -> StateStore:
    # One engine (and connection pool) per process and URL: steps and sensor ticks reuse it.
    return StateStore.from_url(url)


class StateResource(dg.ConfigurableResource):
    """Sync state (connections, id map, inbox, cursors, dead letters, sync log).

    `database_url` defaults to QBO_PIPELINE_DATABASE_URL, else the embedded SQLite file."""

    database_url: Optional[str] = None

    def store(self) -> StateStore:
        return _store_for(self.database_url or database_url())
