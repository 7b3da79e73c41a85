"""`qbo-pipeline demo` end to end: a subprocess with its own ports and data directory runs
the whole product (emulator, ingest service, Dagster webserver and daemon), fixes what the
dead letters say, plays live changes on both sides and writes its summary, which must show
both systems in sync."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.jobsiteon.demo import generate_books

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCALE = 0.05
LIVE_CHANGES = {"qbo_payment", "qbo_customer_edit", "qbo_void_invoice", "jobsiteon_new_contact", "jobsiteon_item_price"}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.timeout(1800)
def test_demo_ends_in_sync_with_no_duplicates_and_every_live_change_landed(tmp_path):
    emulator, receiver, dagster, redirect = _free_ports(4)
    summary_path = tmp_path / "summary.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DEMO_", "DAGSTER_"))},
        "DEMO_NONINTERACTIVE": "1",
        "DEMO_SCALE": str(SCALE),
        "DEMO_DATA_DIR": str(tmp_path / "data"),
        "DEMO_SUMMARY_PATH": str(summary_path),
        "DEMO_EMULATOR_PORT": str(emulator),
        "DEMO_RECEIVER_PORT": str(receiver),
        "DEMO_DAGSTER_PORT": str(dagster),
        "DEMO_REDIRECT_PORT": str(redirect),
    }
    command = [str(Path(sys.executable).with_name("qbo-pipeline")), "demo"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1700)
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    summary = json.loads(summary_path.read_text())

    assert summary["residual_diff_total"] == 0, (summary["residual_diff"], summary["residual_examples"])
    assert summary["duplicates_in_qbo"] == 0, summary["duplicates"]
    assert summary["dead_letters_open"] == 0, summary["dead_letters"]

    # Every entity is on both sides (contacts, vendors, deposits, credit memos, refund
    # receipts, purchase orders and payments two-way; invoices and items pushed).
    assert set(summary["counts"]) == set(REGISTRY)
    for entity, sides in summary["counts"].items():
        assert sides["jobsiteon"] > 0 and sides["qbo"] > 0, (entity, sides)

    # The planted cases: contacts already in QBO linked by email, the planted conflicts resolved.
    books = generate_books(7, SCALE)
    assert summary["links_by_email_per_entity"]["customers"] == len(books.scenarios["email_matches"])
    assert summary["conflicts_resolved"] >= 3, summary["conflict_examples"]

    live = {change["change"]: change for change in summary["live_sync"]}
    assert set(live) == LIVE_CHANGES
    assert all(change["landed"] and change["seconds"] > 0 for change in live.values()), live

    # Everything was stopped on exit: the services' ports are free again.
    for port in (emulator, receiver, dagster):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
