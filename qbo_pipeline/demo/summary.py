"""Step 7: the summary, computed from the systems themselves: record counts per side, links
made by email and conflicts resolved (sync log), open dead letters, the residual diff of a
reconciliation over full mirrors of both sides, and name/number collisions in QBO."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from qbo_pipeline.demo import console
from qbo_pipeline.demo.mirrors import Mirrors, open_rows, plans, read_mirrors
from qbo_pipeline.entities import REGISTRY
from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.state import StateStore

NAME_LISTS = {"customers": "DisplayName", "vendors": "DisplayName", "items": "Name"}
NUMBERED = ("invoices", "credit_memos", "refund_receipts", "purchase_orders")
LOG_LIMIT = 1_000_000


def _name_key(name) -> str:
    return " ".join(str(name or "").split()).casefold()


def _live_jobsiteon(name: str, frame: pd.DataFrame) -> int:
    alive = frame["deleted_at"].isna()
    if "archived" in frame.columns:
        alive &= ~frame["archived"].astype(bool)
    if name == "invoices":
        alive &= frame["status"] != "void"
    return int(alive.sum())


def counts(mirrors: Mirrors) -> dict[str, dict[str, int]]:
    """Live records per entity and side (not deleted, archived, inactive or voided)."""
    return {
        name: {"jobsiteon": _live_jobsiteon(name, mirrors.jobsiteon[name]),
               "qbo": int((mirrors.qbo[name]["qbo_status"] == "active").sum()) if len(mirrors.qbo[name]) else 0}
        for name in REGISTRY
    }


def duplicates_in_qbo(mirrors: Mirrors) -> dict[str, list[str]]:
    """Collisions among active QBO records: DisplayName across customers and vendors (QBO's
    names are unique across both lists), item Names, DocNumbers per document type; case
    and spacing ignored, as QBO's uniqueness check does."""
    found: dict[str, list[str]] = {}
    names: Counter = Counter()
    shown: dict[str, str] = {}
    for entity in ("customers", "vendors"):
        for raw in _active_raw(mirrors, entity):
            key = _name_key(raw.get("DisplayName"))
            names[key] += 1
            shown.setdefault(key, raw.get("DisplayName"))
    found["display_name"] = sorted(shown[k] for k, n in names.items() if k and n > 1)
    items = Counter(_name_key(r.get("Name")) for r in _active_raw(mirrors, "items"))
    found["item_name"] = sorted(k for k, n in items.items() if k and n > 1)
    for entity in NUMBERED:
        numbers = Counter(str(r.get("DocNumber")).strip() for r in _active_raw(mirrors, entity) if r.get("DocNumber"))
        found[f"{entity}_doc_number"] = sorted(k for k, n in numbers.items() if n > 1)
    return found


def _active_raw(mirrors: Mirrors, entity: str) -> list[dict]:
    frame = mirrors.qbo[entity]
    if not len(frame):
        return []
    return [raw for raw, status in zip(frame["qbo_raw"], frame["qbo_status"]) if status == "active"]


def sync_log_facts(state: StateStore, workspace_id: str) -> dict:
    log = state.sync_log.recent(workspace_id, limit=LOG_LIMIT)
    details = log["details"].fillna("")
    email = details.str.startswith("linked by email")
    conflicts = log[details.str.contains("conflict resolved", regex=False)].sort_values("id")
    return {
        "links_by_email": int(email.sum()),
        "links_by_email_per_entity": {str(k): int(v) for k, v in log[email]["entity"].value_counts().items()},
        "conflicts_resolved": int(len(conflicts)),
        "conflict_examples": [f"{e}: {d}" for e, d in zip(conflicts["entity"], conflicts["details"])][:5],
    }


def build_summary(state: StateStore, jobsiteon: JobsiteOnStore, workspace_id: str, live: list, extra: dict) -> dict:
    from qbo_pipeline.ops.errors import list_errors
    from qbo_pipeline.reconcile import residual

    mirrors = read_mirrors(state, jobsiteon, workspace_id)
    entity_plans = plans(state, mirrors, workspace_id)
    per_entity = {name: residual(plan) for name, plan in entity_plans.items()}
    residual_rows = []
    for name, plan in entity_plans.items():
        rows = open_rows(plan)
        residual_rows += [f"{name} {r.jobsiteon_id or '-'} / QBO {r.qbo_id or '-'}: {r.status} {r.action} — {r.reason}"
                          for r in rows.head(5).itertuples()]
    duplicates = duplicates_in_qbo(mirrors)
    letters = list_errors(state, workspace_id)
    facts = sync_log_facts(state, workspace_id)
    return {
        "workspace_id": workspace_id,
        "counts": counts(mirrors),
        "links_by_email": facts["links_by_email"],
        "links_by_email_per_entity": facts["links_by_email_per_entity"],
        "conflicts_resolved": facts["conflicts_resolved"],
        "conflict_examples": facts["conflict_examples"],
        "dead_letters_open": len(letters),
        "dead_letters": [{k: d[k] for k in ("id", "entity", "record", "category", "message", "hint")} for d in letters],
        "residual_diff_total": sum(per_entity.values()),
        "residual_diff": per_entity,
        "residual_examples": residual_rows[:20],
        "duplicates_in_qbo": sum(len(v) for v in duplicates.values()),
        "duplicates": {k: v for k, v in duplicates.items() if v},
        "live_sync": [c.to_dict() for c in live],
        **extra,
    }


def print_summary(summary: dict) -> None:
    console.info(f"{'entity':18} {'JobsiteOn':>10} {'QBO':>8}   residual")
    for name, sides in summary["counts"].items():
        console.info(f"{name:18} {sides['jobsiteon']:>10,} {sides['qbo']:>8,}   {summary['residual_diff'][name]}")
    per_entity = ", ".join(f"{n} {e}" for e, n in summary["links_by_email_per_entity"].items())
    console.info(f"links made by email:   {summary['links_by_email']}" + (f" ({per_entity})" if per_entity else ""))
    console.info(f"conflicts resolved:    {summary['conflicts_resolved']} (most recent change wins; loser values in the sync log)")
    for example in summary["conflict_examples"][:3]:
        console.info(f"- {example[:200]}", indent=2)
    console.info(f"open dead letters:     {summary['dead_letters_open']}")
    for letter in summary["dead_letters"][:10]:
        console.info(f"#{letter['id']} {letter['entity']} {letter['record']} [{letter['category']}]: {letter['hint']}",
                     indent=2)
    console.info(f"residual diff:         {summary['residual_diff_total']} record(s) not in sync (full mirrors of both sides)")
    for row in summary["residual_examples"][:10]:
        console.info(f"- {row[:220]}", indent=2)
    console.info(f"duplicates in QBO:     {summary['duplicates_in_qbo']}"
                 + (f" {summary['duplicates']}" if summary["duplicates"] else ""))
    if summary["live_sync"]:
        landed = [c for c in summary["live_sync"] if c["landed"]]
        console.info(f"live changes landed:   {len(landed)}/{len(summary['live_sync'])}"
                     + (f" (median {sorted(c['seconds'] for c in landed)[len(landed) // 2]}s)" if landed else ""))


def verdict(summary: dict) -> list[str]:
    """Why the demo failed; empty when it succeeded."""
    problems = []
    if summary["residual_diff_total"]:
        problems.append(f"residual diff is {summary['residual_diff_total']}, not 0: {summary['residual_diff']}")
    if summary["duplicates_in_qbo"]:
        problems.append(f"{summary['duplicates_in_qbo']} duplicate(s) in QBO: {summary['duplicates']}")
    missing = [c["change"] for c in summary["live_sync"] if not c["landed"]]
    if missing:
        problems.append(f"live change(s) did not arrive: {', '.join(missing)}")
    return problems


def write_summary(summary: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
