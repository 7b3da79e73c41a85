"""Helpers for the emulator's own tests: a small HTTP client for one emulator company."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest


class QboClient:
    """Talks to one company of the emulator over real HTTP, like a third-party client would."""

    def __init__(self, base_url: str, company: dict[str, Any]) -> None:
        self.root = base_url
        self.realm = company["realm_id"]
        self.company = company
        self.base = f"{base_url}/v3/company/{self.realm}"
        # verify=False: plain-HTTP loopback; skips loading CA certificates (~0.1 s per client).
        self.http = httpx.Client(timeout=30.0, verify=False, headers={
            "Authorization": f"Bearer {company['access_token']}", "Accept": "application/json"})

    def close(self) -> None:
        self.http.close()

    def post(self, entity: str, body: Any, **params: Any) -> httpx.Response:
        params.setdefault("minorversion", "75")
        return self.http.post(f"{self.base}/{entity.lower()}", json=body, params=params)

    def get(self, path: str, **params: Any) -> httpx.Response:
        params.setdefault("minorversion", "75")
        return self.http.get(f"{self.base}/{path}", params=params)

    def ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        assert response.headers.get("intuit_tid")
        body = response.json()
        assert "time" in body
        return body

    def create(self, entity: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        return self.ok(self.post(entity, body, **params))[entity]

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        return self.ok(self.get(f"{entity.lower()}/{entity_id}"))[entity]

    def update(self, entity: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        return self.ok(self.post(entity, body, **params))[entity]

    def query(self, text: str, *, method: str = "GET") -> dict[str, Any]:
        if method == "GET":
            response = self.get("query", query=text)
        else:
            response = self.http.post(f"{self.base}/query", content=text.encode(),
                                      params={"minorversion": "75"}, headers={"Content-Type": "application/text"})
        return self.ok(response)["QueryResponse"]

    def fault(self, response: httpx.Response, code: str, status: int = 400) -> dict[str, Any]:
        """Asserts the Fault shape of qbo-api.md §6.2 and returns its single Error."""
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"Fault", "time"}, body
        assert body["Fault"]["type"] in ("ValidationFault", "SystemFault"), body
        error = body["Fault"]["Error"][0]
        assert error["code"] == code, body
        assert error["Message"] and error["Detail"], body
        return error

    # -- common fixtures data --
    def customer(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("Customer", {"DisplayName": name or f"Cust {uuid.uuid4().hex[:8]}", **fields})

    def vendor(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("Vendor", {"DisplayName": name or f"Vend {uuid.uuid4().hex[:8]}", **fields})

    def item(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"Name": name or f"Item {uuid.uuid4().hex[:8]}", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
        body.update(fields)
        return self.create("Item", body)


def sales_line(amount: Any, qty: Any, price: Any, item: str = "1", tax: str = "TAX", **extra: Any) -> dict[str, Any]:
    return {"Amount": amount, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": qty, "UnitPrice": price,
                                    "TaxCodeRef": {"value": tax}}, **extra}


@pytest.fixture()
def qbo(emulator, qbo_company):
    """A client for a fresh company; its throttle is off so tests can go faster than 10 req/s."""
    httpx.put(f"{emulator.base_url}/_emulator/companies/{qbo_company['realm_id']}/settings",
              json={"throttle": False}, verify=False).raise_for_status()
    client = QboClient(emulator.base_url, qbo_company)
    yield client
    client.close()


def new_company(base_url: str, name: str = "Private Co") -> dict[str, Any]:
    response = httpx.post(f"{base_url}/_emulator/companies", json={"name": name}, verify=False)
    response.raise_for_status()
    return response.json()
