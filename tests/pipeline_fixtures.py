"""A connected workspace with demo books on both sides, for pipeline (asset) tests."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import dagster as dg
import httpx

from qbo_pipeline.emulator.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from qbo_pipeline.jobsiteon.demo import generate_books
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.partitions import workspaces
from qbo_pipeline.qbo.oauth import TokenSet
from qbo_pipeline.resources import JobsiteOnResource, QBOResource, StateResource
from qbo_pipeline.state import StateStore, TokenVault, generate_key
from qbo_pipeline.state.vault import decode_key


@dataclass
class Workspace:
    workspace_id: str
    realm_id: str
    emulator_url: str
    state_url: str
    jobsiteon_url: str
    token_key: str
    books: object

    @property
    def state(self) -> StateStore:
        return StateStore.from_url(self.state_url)

    @property
    def jobsiteon(self) -> JobsiteOnStore:
        return JobsiteOnStore.from_url(self.jobsiteon_url)

    def resources(self) -> dict:
        return {
            "state": StateResource(database_url=self.state_url),
            "jobsiteon": JobsiteOnResource(database_url=self.jobsiteon_url),
            "qbo": QBOResource(
                environment="emulator", emulator_url=self.emulator_url, client_id=DEFAULT_CLIENT_ID,
                client_secret=DEFAULT_CLIENT_SECRET, token_key=self.token_key,
            ),
        }

    def qbo_get(self, path: str) -> dict:
        company = self.state.connections.require(self.workspace_id)
        tokens = self.state.connections.tokens(self.workspace_id, TokenVault(decode_key(self.token_key)))
        response = httpx.get(f"{self.emulator_url}/v3/company/{company.realm_id}/{path}",
                             headers={"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"})
        response.raise_for_status()
        return response.json()

    def qbo_query(self, text: str) -> list[dict]:
        body = self.qbo_get(f"query?query={httpx.QueryParams({'q': text})['q']}")
        entity = text.split()[3]
        return body["QueryResponse"].get(entity, [])

    def requests(self) -> dict:
        return httpx.get(f"{self.emulator_url}/_emulator/requests", params={"realm_id": self.realm_id}).json()


def make_workspace(emulator_url: str, state_url: str, jobsiteon_url: str, *, scale: float = 0.05, seed: int = 7,
                   throttle: bool = False) -> Workspace:
    company = httpx.post(f"{emulator_url}/_emulator/companies", json={"name": "Demo Builders"}).json()
    realm = company["realm_id"]
    if not throttle:
        httpx.put(f"{emulator_url}/_emulator/companies/{realm}/settings", json={"throttle": False}).raise_for_status()
    workspace_id = f"ws-{uuid.uuid4().hex[:8]}"
    key = generate_key()
    state = StateStore.from_url(state_url)
    now = datetime.now(timezone.utc)
    tokens = TokenSet(company["access_token"], company["refresh_token"], now + timedelta(hours=1), now + timedelta(days=100))
    state.connections.connect(workspace_id, realm, tokens, TokenVault(decode_key(key)), company_name="Demo Builders",
                              settings={"default_income_account_id": "1", "tax_code_mapping": {"taxable": "TAX", "exempt": "NON"}})
    books = generate_books(seed=seed, scale=scale)
    jobsiteon = JobsiteOnStore.from_url(jobsiteon_url)
    books.load_jobsiteon(jobsiteon, workspace_id)
    books.seed_qbo(emulator_url, realm)
    return Workspace(workspace_id, realm, emulator_url, state_url, jobsiteon_url, key, books)


def materialize(workspace: Workspace, instance: dg.DagsterInstance, *, mode: str = "full", selection=None):
    from qbo_pipeline.assets import SYNC_ASSETS
    from qbo_pipeline.partitions import MODE_TAG

    if workspace.workspace_id not in instance.get_dynamic_partitions(workspaces.name):
        instance.add_dynamic_partitions(workspaces.name, [workspace.workspace_id])
    return dg.materialize(
        SYNC_ASSETS, partition_key=workspace.workspace_id, instance=instance, resources=workspace.resources(),
        tags={MODE_TAG: mode}, selection=selection, raise_on_error=False,
    )
