"""The four long-running services of the demo, started as the docs say to start them, each
waited for until healthy: the QBO emulator, the ingest service (webhook receiver + JobsiteOn
relay), the Dagster webserver (UI) and the Dagster daemon (sensors, schedules, run queue)."""
from __future__ import annotations

import sys

import httpx

from qbo_pipeline.demo import console
from qbo_pipeline.demo.config import DemoConfig, DemoError
from qbo_pipeline.demo.processes import ProcessGroup, ensure_port_free, http_ok

RELAY_INTERVAL_SECONDS = 1
NEEDED_DAEMONS = ("SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR")
_DAEMON_QUERY = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
_LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _bin(name: str) -> str:
    """A console script of this virtualenv (the demo may run without it on PATH)."""
    from pathlib import Path

    return str(Path(sys.executable).with_name(name))


def serve_has_relay_option() -> bool:
    """Whether `qbo-pipeline webhooks serve` runs the JobsiteOn relay itself (--relay-interval)."""
    from qbo_pipeline.cli.webhooks import webhooks_group

    serve = webhooks_group.commands.get("serve")
    return serve is not None and any(p.name == "relay_interval" for p in serve.params)


def check_ports(config: DemoConfig) -> None:
    for port, what, env_var in (
        (config.emulator_port, "QBO emulator", "DEMO_EMULATOR_PORT"),
        (config.receiver_port, "webhook receiver", "DEMO_RECEIVER_PORT"),
        (config.dagster_port, "Dagster UI", "DEMO_DAGSTER_PORT"),
        (config.redirect_port, "OAuth redirect (connect)", "DEMO_REDIRECT_PORT"),
    ):
        ensure_port_free(port, what, env_var)


def start_emulator(group: ProcessGroup, config: DemoConfig) -> None:
    child = group.start("emulator", [_bin("qbo-pipeline"), "emulator", "--host", "127.0.0.1",
                                     "--port", str(config.emulator_port)])
    took = group.wait_healthy(child, lambda: http_ok(f"{config.emulator_url}/_emulator/companies"), 60,
                              "GET /_emulator/companies")
    console.info(f"QBO emulator      {config.emulator_url}  (healthy after {took:.1f}s)")


def start_ingest(group: ProcessGroup, config: DemoConfig) -> bool:
    """Returns True when the service relays JobsiteOn's change feed itself."""
    argv = [_bin("qbo-pipeline"), "webhooks", "serve", "--host", "127.0.0.1", "--port", str(config.receiver_port)]
    relays = serve_has_relay_option()
    if relays:
        argv += ["--relay-interval", str(RELAY_INTERVAL_SECONDS)]
    child = group.start("ingest", argv)
    took = group.wait_healthy(child, lambda: http_ok(f"{config.receiver_url}/healthz"), 60, "GET /healthz")
    how = f"relaying JobsiteOn's change feed every {RELAY_INTERVAL_SECONDS}s" if relays else \
        "JobsiteOn relay: a thread of the demo (serve has no --relay-interval yet)"
    console.info(f"ingest service    {config.receiver_url}/webhooks/qbo  ({how}; healthy after {took:.1f}s)")
    return relays


def _graphql(config: DemoConfig, query: str) -> dict:
    response = httpx.post(f"{config.dagster_url}/graphql", json={"query": query}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def _location_loaded(config: DemoConfig) -> bool:
    workspace = _graphql(config, _LOCATION_QUERY)["workspaceOrError"]
    entries = workspace.get("locationEntries") or []
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise DemoError(f"Dagster could not load code location {entry['name']}: {error.get('message', '')[:2000]}")
    return bool(entries) and all(e["loadStatus"] == "LOADED" and e.get("locationOrLoadError") for e in entries)


def _daemons_healthy(config: DemoConfig) -> bool:
    statuses = _graphql(config, _DAEMON_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
    healthy = {s["daemonType"] for s in statuses if s["healthy"]}
    return all(name in healthy for name in NEEDED_DAEMONS)


def start_dagster(group: ProcessGroup, config: DemoConfig) -> None:
    workspace = str(config.project_root / "workspace.yaml")
    web = group.start("dagster-webserver", [_bin("dagster-webserver"), "-w", workspace, "-h", "127.0.0.1",
                                            "-p", str(config.dagster_port)])
    daemon = group.start("dagster-daemon", [_bin("dagster-daemon"), "run", "-w", workspace])
    took = group.wait_healthy(web, lambda: http_ok(f"{config.dagster_url}/server_info") and _location_loaded(config),
                              180, "UI up and code location qbo_pipeline loaded")
    console.info(f"Dagster UI        {config.dagster_url}  (code location loaded after {took:.1f}s)")
    took = group.wait_healthy(daemon, lambda: _daemons_healthy(config), 180,
                              "sensor, scheduler and run-queue daemons sending heartbeats")
    console.info(f"Dagster daemon    sensors, schedule and run queue healthy after {took:.1f}s more")
