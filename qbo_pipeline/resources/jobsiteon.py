"""JobsiteOn's database as a Dagster resource."""

import functools
from typing import Optional

import dagster as dg

from qbo_pipeline.jobsiteon.db import database_url
from qbo_pipeline.jobsiteon.store import JobsiteOnStore


@functools.lru_cache(maxsize=8)
def _store_for(url: str) -> JobsiteOnStore:
    return JobsiteOnStore.from_url(url)


class JobsiteOnResource(dg.ConfigurableResource):
    """JobsiteOn's records (contacts, pricebook, invoices, ...) and its change feed.

    `database_url` defaults to JOBSITEON_DATABASE_URL, else the embedded SQLite file."""

    database_url: Optional[str] = None

    def store(self) -> JobsiteOnStore:
        return _store_for(self.database_url or database_url())
