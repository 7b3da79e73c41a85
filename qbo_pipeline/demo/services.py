"""The four long-running services of the demo, started as the docs say to start them and
then waited for until healthy (all start at once: loading the code location is the slow
part): the QBO emulator, the ingest service (webhook receiver + JobsiteOn change-feed
relay), the Dagster webserver (UI) and the Dagster daemon (sensors, schedule, run queue)."""
from __future__ import annotations

import sys
from pathlib import Path

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
    return str(Path(sys.executable).with_name(name))


def check_ports(config: DemoConfig) -> None:
    for port, what, env_var in (
        (config.emulator_port, "QBO emulator", "DEMO_EMULATOR_PORT"),
        (config.receiver_port, "webhook receiver", "DEMO_RECEIVER_PORT"),
        (config.dagster_port, "Dagster UI", "DEMO_DAGSTER_PORT"),
        (config.redirect_port, "OAuth redirect (connect)", "DEMO_REDIRECT_PORT"),
    ):
        ensure_port_free(port, what, env_var)


def start_all(group: ProcessGroup, config: DemoConfig) -> None:
    workspace = str(config.project_root / "workspace.yaml")
    web = group.start("dagster-webserver", [_bin("dagster-webserver"), "-w", workspace, "-h", "127.0.0.1",
                                            "-p", str(config.dagster_port)])
    daemon = group.start("dagster-daemon", [_bin("dagster-daemon"), "run", "-w", workspace])
    emulator = group.start("emulator", [_bin("qbo-pipeline"), "emulator", "--host", "127.0.0.1",
                                        "--port", str(config.emulator_port)])
    ingest = group.start("ingest", [_bin("qbo-pipeline"), "webhooks", "serve", "--host", "127.0.0.1",
                                    "--port", str(config.receiver_port), "--relay-interval", str(RELAY_INTERVAL_SECONDS)])

    took = group.wait_healthy(emulator, lambda: http_ok(f"{config.emulator_url}/_emulator/companies"), 90,
                              "GET /_emulator/companies")
    console.info(f"QBO emulator      {config.emulator_url}  (healthy after {took:.1f}s)")
    took = group.wait_healthy(ingest, lambda: http_ok(f"{config.receiver_url}/healthz"), 90, "GET /healthz")
    console.info(f"ingest service    {config.receiver_url}/webhooks/qbo, relaying JobsiteOn's change feed every "
                 f"{RELAY_INTERVAL_SECONDS}s (+{took:.1f}s)")
    took = group.wait_healthy(web, lambda: http_ok(f"{config.dagster_url}/server_info") and _location_loaded(config),
                              240, "UI up and code location qbo_pipeline loaded")
    console.info(f"Dagster UI        {config.dagster_url}  (code location loaded, +{took:.1f}s)")
    took = group.wait_healthy(daemon, lambda: _daemons_healthy(config), 240,
                              "sensor, scheduler and run-queue daemons sending heartbeats")
    console.info(f"Dagster daemon    sensors, schedule and run queue healthy (+{took:.1f}s)")


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
