"""Step 4: the initial sync, launched with `qbo-pipeline sync` (a run in the Dagster
instance the UI shows), then the dead letters it left, with their hints."""
from __future__ import annotations

import time

from qbo_pipeline.demo import console
from qbo_pipeline.demo.commands import run_cli
from qbo_pipeline.demo.config import DemoConfig
from qbo_pipeline.state import StateStore


def run_initial_sync(config: DemoConfig) -> float:
    console.info("a full run: mirrors of both sides, match (id map, email, name, number), diff, apply, checks")
    started = time.monotonic()
    run_cli(config, ["sync", "--workspace", config.workspace_id], log_name="sync-initial")
    took = time.monotonic() - started
    console.info(f"initial sync took {took:.1f}s")
    return took


def show_dead_letters(state: StateStore, workspace_id: str, *, limit: int = 40) -> list[dict]:
    from qbo_pipeline.ops.errors import list_errors

    letters = list_errors(state, workspace_id)
    if not letters:
        console.info("no open dead letters")
        return letters
    console.info(f"{len(letters)} open dead letter(s):")
    for letter in sorted(letters, key=lambda d: d["id"])[:limit]:
        console.info(f"#{letter['id']} {letter['entity']} {letter['record']} [{letter['category']}] "
                     f"{_short(letter['message'])}", indent=2)
        console.info(f"hint: {letter['hint']}", indent=3)
    if len(letters) > limit:
        console.info(f"... and {len(letters) - limit} more (qbo-pipeline errors --workspace {workspace_id})", indent=2)
    return letters


def _short(text: str, width: int = 220) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
