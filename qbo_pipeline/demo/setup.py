"""Seeding the demo books on both sides, connecting the workspace through the real OAuth
flow, and pointing the emulator's webhooks at the receiver."""
from __future__ import annotations

import time

import httpx

from qbo_pipeline.demo import console
from qbo_pipeline.demo.commands import run_cli
from qbo_pipeline.demo.config import DemoConfig, DemoError
from qbo_pipeline.jobsiteon.demo import DemoBooks, generate_books
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore

RELAY_CURSOR = ("*", "jobsiteon_feed")  # qbo_pipeline.ingest.relay's cursor


def seed_jobsiteon(config: DemoConfig, jobsiteon: JobsiteOnStore) -> DemoBooks:
    started = time.monotonic()
    books = generate_books(config.seed, config.scale)
    counts = books.load_jobsiteon(jobsiteon, config.workspace_id)
    shown = ", ".join(f"{n:,} {t}" for t, n in counts.items() if n and not t.endswith("_lines"))
    console.info(f"JobsiteOn workspace {config.workspace_id!r} ({books.company_name}): {shown} "
                 f"[{time.monotonic() - started:.1f}s]")
    return books


def seed_qbo(config: DemoConfig, books: DemoBooks) -> dict:
    """A new emulator company holding the QBO side of the books; returns the control API's
    company record (realm id and a first token pair, used only to look up the accounts)."""
    started = time.monotonic()
    response = httpx.post(f"{config.emulator_url}/_emulator/companies", json={"name": books.company_name}, timeout=30)
    response.raise_for_status()
    company = response.json()
    realm = company["realm_id"]
    if not config.throttle:
        httpx.put(f"{config.emulator_url}/_emulator/companies/{realm}/settings", json={"throttle": False},
                  timeout=30).raise_for_status()
    ids = books.seed_qbo(config.emulator_url, realm)
    shown = ", ".join(f"{len(v):,} {k}" for k, v in ids.items() if v)
    throttle = "QBO's rate limits on" if config.throttle else "rate limits off (DEMO_NO_THROTTLE)"
    console.info(f"QBO company {books.company_name!r} (realm {realm}): {shown}; {throttle} "
                 f"[{time.monotonic() - started:.1f}s]")
    return company


def scenario_overview(books: DemoBooks) -> None:
    sizes = {name: (len(v) if isinstance(v, list) else 1) for name, v in books.scenarios.items()}
    console.info("planted cases: " + ", ".join(f"{name} {n}" for name, n in sizes.items()))


def wait_for_relay(state: StateStore, jobsiteon: JobsiteOnStore, timeout: float = 60) -> int:
    """Waits until the JobsiteOn relay has read the feed up to now. Entries of a workspace
    that is not connected yet are passed over: the initial (full) sync covers that history."""
    target = jobsiteon.latest_seq()
    deadline = time.monotonic() + timeout
    while int(state.cursors.get(*RELAY_CURSOR) or 0) < target:
        if time.monotonic() > deadline:
            raise DemoError(f"the JobsiteOn relay did not read the change feed up to seq {target} within "
                            f"{timeout:.0f}s; is the ingest service relaying? (see data/demo/logs/ingest.log)")
        time.sleep(0.2)
    return target


def services_account_id(config: DemoConfig, company: dict) -> str:
    response = httpx.get(
        f"{config.emulator_url}/v3/company/{company['realm_id']}/query",
        params={"query": "select * from Account where Name = 'Services'"},
        headers={"Authorization": f"Bearer {company['access_token']}", "Accept": "application/json"}, timeout=30,
    )
    response.raise_for_status()
    accounts = response.json()["QueryResponse"].get("Account", [])
    if not accounts:
        raise DemoError(f"realm {company['realm_id']} has no 'Services' income account to map items to")
    return str(accounts[0]["Id"])


def connect(config: DemoConfig, company: dict) -> None:
    """The OAuth code flow against the emulator: consent picks the realm, then `qbo-pipeline
    connect` opens the authorize URL, receives the redirect and stores the tokens."""
    realm = company["realm_id"]
    income = services_account_id(config, company)
    httpx.post(f"{config.emulator_url}/_emulator/consent", json={"realm_id": realm}, timeout=30).raise_for_status()
    console.info(f"consent: the emulator's authorize page will pick realm {realm}")
    run_cli(config, ["connect", "--workspace", config.workspace_id, "--browser", "http", "--income-account", income,
                     "--tax-code", "taxable=TAX", "--tax-code", "exempt=NON", "--timeout", "60"], log_name="connect")


def point_webhooks(config: DemoConfig) -> None:
    target = f"{config.receiver_url}/webhooks/qbo"
    httpx.put(f"{config.emulator_url}/_emulator/webhooks", json={"targets": [{"url": target, "format": "legacy"}]},
              timeout=30).raise_for_status()
    console.info(f"emulator webhooks -> {target} (signed with the verifier token)")
