"""Reading a plan: counts, mapping completeness, the residual, a markdown preview (asset
metadata and the sync checks)."""
from __future__ import annotations

import pandas as pd


def _record_keys(plan: pd.DataFrame) -> pd.Series:
    return plan["jobsiteon_id"].astype(object).fillna("") + "\x1f" + plan["qbo_id"].astype(object).fillna("")


def _record_count(plan: pd.DataFrame) -> int:
    """Distinct records (a record may have a row per side). An in-sync record has exactly
    one row, so only the other rows need de-duplicating — cheap on a 1M-row plan."""
    if len(plan) == 0:
        return 0
    in_sync = (plan["status"].astype(object) == "in_sync").to_numpy()
    rest = plan[~in_sync]
    return int(in_sync.sum()) + (int(_record_keys(rest).nunique()) if len(rest) else 0)


def residual(plan: pd.DataFrame) -> int:
    """Records that are neither in sync nor deliberately skipped (blocked ones count)."""
    status = plan["status"].astype(object).to_numpy()
    action = plan["action"].astype(object).to_numpy()
    return _record_count(plan[(status != "in_sync") & (action != "skip")])


def summarize(plan: pd.DataFrame) -> dict:
    """Counts per action and status, mapping completeness (records linked through the id map
    / records that sync, skips excluded) and the residual."""
    actions = {str(k): int(v) for k, v in plan["action"].value_counts().items() if v}
    statuses = {str(k): int(v) for k, v in plan["status"].value_counts().items() if v}
    action = plan["action"].astype(object).to_numpy()
    considered = plan[action != "skip"]
    records = _record_count(considered)
    linked_rows = considered[(considered["match_key"].astype(object) == "id_map").to_numpy()
                             & considered["jobsiteon_id"].notna().to_numpy()
                             & considered["qbo_id"].notna().to_numpy()]
    linked = _record_count(linked_rows)
    return {
        "records": _record_count(plan),
        "actions": actions,
        "statuses": statuses,
        "linked": linked,
        "mapping_completeness": round(linked / records, 6) if records else 1.0,
        "residual": residual(plan),
    }


def markdown_preview(plan: pd.DataFrame, limit: int = 20) -> str:
    """A markdown table of the first `limit` rows that are not in sync, for asset metadata."""
    rows = plan[plan["status"].astype(object).to_numpy() != "in_sync"]
    summary = summarize(plan)
    head = (f"**{summary['records']} records**, residual {summary['residual']}, mapping completeness "
            f"{summary['mapping_completeness']:.1%}; actions: "
            + ", ".join(f"{k} {v}" for k, v in sorted(summary["actions"].items())))
    if rows.empty:
        return head + "\n\nEverything is in sync."
    lines = [head, "", "| status | action | JobsiteOn id | QBO id | fields | reason |",
             "|---|---|---|---|---|---|"]
    for row in rows.head(limit).itertuples(index=False):
        fields = ", ".join(row.fields) if row.fields else ""
        reason = (row.reason or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {row.status} | {row.action} | {row.jobsiteon_id or ''} | {row.qbo_id or ''} "
                     f"| {fields} | {reason} |")
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more.")
    return "\n".join(lines)
