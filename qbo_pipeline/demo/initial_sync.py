"""Step 4: the initial sync, launched with `qbo-pipeline sync` (a run in the Dagster
instance the UI shows), then the dead letters it left, with their hints."""
from __future__ import annotations

import time
from collections import Counter

from qbo_pipeline.demo import console
from qbo_pipeline.demo.commands import run_cli
from qbo_pipeline.demo.config import DemoConfig
from qbo_pipeline.state import StateStore

SHOWN = 30


def run_initial_sync(config: DemoConfig) -> float:
    console.info("a full run: mirrors of both sides, match (id map, email, name, number), diff, apply, checks")
    started = time.monotonic()
    run_cli(config, ["sync", "--workspace", config.workspace_id], log_name="sync-initial")
    took = time.monotonic() - started
    console.info(f"initial sync took {took:.1f}s")
    return took


def show_dead_letters(state: StateStore, workspace_id: str) -> list[dict]:
    """Prints each open letter with its hint; letters that only wait for another record
    (category dependency) are counted per entity, their hint shown once."""
    from qbo_pipeline.ops.errors import list_errors

    letters = sorted(list_errors(state, workspace_id), key=lambda d: d["id"])
    if not letters:
        console.info("no open dead letters")
        return letters
    console.info(f"{len(letters)} open dead letter(s) (qbo-pipeline errors --workspace {workspace_id}):")
    own = [d for d in letters if d["category"] != "dependency"]
    for letter in own[:SHOWN]:
        console.info(f"#{letter['id']} {letter['entity']} {letter['record']} [{letter['category']}] "
                     f"{_short(letter['message'])}", indent=2)
        console.info(f"hint: {letter['hint']}", indent=3)
    if len(own) > SHOWN:
        console.info(f"... and {len(own) - SHOWN} more", indent=2)
    waiting = [d for d in letters if d["category"] == "dependency"]
    if waiting:
        per_entity = ", ".join(f"{n} {e}" for e, n in Counter(d["entity"] for d in waiting).items())
        console.info(f"{len(waiting)} more wait for a record above ({per_entity}) [dependency]", indent=2)
        console.info(f"hint: {waiting[0]['hint']}", indent=3)
    return letters


def _short(text: str, width: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
