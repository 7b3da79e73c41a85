"""QBO as its user sees it: plain v3 API calls over HTTP with the workspace's access token
(read from the state database, refreshed through it) — what a bookkeeper's edits in
QuickBooks amount to. Independent of the pipeline's QBO client on purpose."""
from __future__ import annotations

from typing import Any

import httpx

from qbo_pipeline.connect.flow import AppConfig
from qbo_pipeline.state import StateStore, TokenVault
from qbo_pipeline.state.token_source import DatabaseTokenSource

NAME_LISTS = ("Customer", "Vendor", "Item")
PAGE = 1000


class QBOUser:
    def __init__(self, state: StateStore, workspace_id: str) -> None:
        app = AppConfig.from_env()
        connection = state.connections.require(workspace_id)
        self.realm_id = connection.realm_id
        self._base = app.endpoints.company_url(connection.realm_id)
        self._tokens = DatabaseTokenSource(state, TokenVault.from_env(), workspace_id, app.oauth())
        self._http = httpx.Client(timeout=60)

    def __repr__(self) -> str:
        return f"QBOUser(realm_id={self.realm_id!r})"

    def close(self) -> None:
        self._http.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._tokens.access_token()}", "Accept": "application/json"}

    def _send(self, method: str, path: str, **kwargs) -> dict:
        for _ in range(30):
            response = self._http.request(method, f"{self._base}/{path}", headers=self._headers(), **kwargs)
            if response.status_code == 429:  # a bookkeeper's browser waits too
                import time

                time.sleep(1.0)
                continue
            if response.status_code >= 400:
                raise RuntimeError(f"QBO {method} {path.split('?')[0]} answered HTTP {response.status_code}: "
                                   f"{response.text[:400]}")
            return response.json()
        raise RuntimeError(f"QBO {method} {path.split('?')[0]} stayed throttled for 30 s")

    def query(self, text: str) -> list[dict]:
        body = self._send("GET", "query", params={"query": text})
        response = body.get("QueryResponse") or {}
        entity = text.split()[3]
        return response.get(entity, [])

    def all(self, entity: str) -> list[dict]:
        """Every record of an entity (inactive name-list records included)."""
        where = " where Active in (true, false)" if entity in NAME_LISTS else ""
        rows, start = [], 1
        while True:
            page = self.query(f"select * from {entity}{where} startposition {start} maxresults {PAGE}")
            rows += page
            if len(page) < PAGE:
                return rows
            start += PAGE

    def read(self, entity: str, qbo_id: str) -> dict:
        return self._send("GET", f"{entity.lower()}/{qbo_id}")[entity]

    def create(self, entity: str, body: dict[str, Any]) -> dict:
        return self._send("POST", entity.lower(), json=body)[entity]

    def update(self, entity: str, body: dict[str, Any]) -> dict:
        return self._send("POST", entity.lower(), json={**body, "sparse": True})[entity]

    def void_invoice(self, qbo_id: str) -> dict:
        current = self.read("Invoice", qbo_id)
        body = {"Id": qbo_id, "SyncToken": current["SyncToken"]}
        return self._send("POST", "invoice", params={"operation": "void"}, json=body)["Invoice"]
