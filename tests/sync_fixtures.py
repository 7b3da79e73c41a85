"""Helpers for the incremental, CDC and dead-letter pipeline tests: a QuickBooks user working
in the emulator through its public API, run metadata, and the JobsiteOn database."""
from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import httpx
import pytest

from qbo_pipeline.state import NewInboxEvent


@pytest.fixture()
def jobsiteon_pg_url(pg_server):
    from conftest import create_scratch_database, drop_database

    url = create_scratch_database("jobsiteon_test")
    yield url
    drop_database(url)


class QBOUser:
    """Someone editing the company in QuickBooks: the public v3 API with a grant of their own
    (so the pipeline's tokens are untouched)."""

    def __init__(self, emulator_url: str, realm_id: str) -> None:
        tokens = httpx.post(f"{emulator_url}/_emulator/companies/{realm_id}/tokens")
        tokens.raise_for_status()
        self.base = f"{emulator_url}/v3/company/{realm_id}"
        self.realm_id = realm_id
        self._headers = {"Authorization": f"Bearer {tokens.json()['access_token']}", "Accept": "application/json"}

    def get(self, entity: str, record_id: str) -> dict:
        response = httpx.get(f"{self.base}/{entity.lower()}/{record_id}", headers=self._headers)
        response.raise_for_status()
        return response.json()[entity]

    def query(self, text: str) -> list[dict]:
        response = httpx.get(f"{self.base}/query", params={"query": text}, headers=self._headers)
        response.raise_for_status()
        entity = text.split()[3]
        return response.json()["QueryResponse"].get(entity, [])

    def create(self, entity: str, **fields) -> dict:
        response = httpx.post(f"{self.base}/{entity.lower()}", json=fields, headers=self._headers)
        response.raise_for_status()
        return response.json()[entity]

    def update(self, entity: str, record_id: str, **fields) -> dict:
        """A sparse update on the current SyncToken; returns the new object."""
        current = self.get(entity, record_id)
        body = {"Id": record_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
        response = httpx.post(f"{self.base}/{entity.lower()}", json=body, headers=self._headers)
        response.raise_for_status()
        return response.json()[entity]


def webhook_event(workspace, entity: str, record: dict, operation: str = "Update", *,
                  key: str | None = None) -> NewInboxEvent:
    """The inbox row the webhook receiver files for a QBO change notification."""
    updated = datetime.fromisoformat(record["MetaData"]["LastUpdatedTime"]).astimezone(timezone.utc)
    return NewInboxEvent(
        workspace_id=workspace.workspace_id, realm_id=workspace.realm_id, source="webhook", entity=entity,
        record_id=str(record["Id"]), operation=operation, occurred_at=updated,
        dedupe_key=key or f"legacy:{workspace.realm_id}:{entity}:{record['Id']}:{operation}:{updated.isoformat()}",
        payload={"name": entity, "id": str(record["Id"]), "operation": operation,
                 "lastUpdated": record["MetaData"]["LastUpdatedTime"]},
    )


def metadata(result, key: str) -> dict:
    """The materialization metadata of one asset in a run (plain values)."""
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization.asset_key.to_user_string() == key:
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"{key} was not materialized; failures: {failures(result)}")


def failures(result) -> list[str]:
    return [event.message for event in result.all_events if event.is_failure]


def sync_writes(result, entities=None) -> dict[str, tuple[int, int]]:
    """{entity: (QBO writes, JobsiteOn writes)} of the run's sync steps."""
    from qbo_pipeline.entities import REGISTRY

    return {name: (metadata(result, f"sync/{name}")["writes_qbo"], metadata(result, f"sync/{name}")["writes_jobsiteon"])
            for name in (entities or REGISTRY)}


def asset_keys(*keys: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(key.split("/")) for key in keys]
