"""Plain-text views of the ops data (CLI output, Dagster asset descriptions)."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from qbo_pipeline.ops.errors import DIRECTION_WORDS


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "") -> str:
    """Left-aligned columns, two spaces apart."""
    text_rows = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += [indent + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in text_rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


# ------------------------------------------------------------------ health

def format_health(health: dict[str, Any]) -> str:
    company = health.get("company") or "no company"
    realm = f" (realm {health['realm_id']})" if health.get("realm_id") else ""
    lines = [f"{health['workspace_id']}  {health['status'].upper()}  {company}{realm}, connection {health['connection']}"]
    inbox = health["inbox"]
    oldest = f" (oldest received {inbox['oldest_received_at']})" if inbox["oldest_received_at"] else ""
    letters = health["dead_letters"]
    by_category = ", ".join(f"{c} {n}" for c, n in letters["by_category"].items())
    nightly = health.get("last_nightly")
    details = [
        ("inbox", f"{inbox['pending']} pending{oldest}"),
        ("dead letters", f"{letters['open']} open" + (f": {by_category}" if by_category else "")),
        ("last nightly", _nightly_text(nightly)),
    ]
    details += [("why", reason) for reason in health["reasons"]]
    lines += [f"  {label:<13} {text}" for label, text in details]
    rows = []
    for entity, mapping in health["mapping"].items():
        rows.append((entity, health["last_success"].get(entity) or "never", _mapping_text(mapping)))
    lines += ["", table(("ENTITY", "LAST SUCCESS", "MAPPED"), rows, indent="  ")]
    return "\n".join(lines)


def _nightly_text(nightly: dict[str, Any] | None) -> str:
    if nightly is None:
        return "never ran"
    parts = [f"status {nightly.get('status')}"]
    if nightly.get("finished_at"):
        parts.insert(0, f"finished {nightly['finished_at']}")
    if nightly.get("residual_total") is not None:
        parts.append(f"residual diff {nightly['residual_total']}")
    if nightly.get("writes") is not None:
        parts.append(f"{nightly['writes']} writes")
    return ", ".join(parts)


def _mapping_text(mapping: dict[str, Any]) -> str:
    if mapping["records"] is None:
        return f"{mapping['links']} links"
    if mapping["records"] == 0:
        return f"{mapping['links']} links, no records"
    return f"{mapping['links']} of {mapping['records']} ({mapping['percent']:.1f}%)"


def format_health_summary(healths: list[dict[str, Any]]) -> str:
    """One line per workspace (for `qbo-pipeline status` without --workspace)."""
    if not healths:
        return "no workspace is connected; connect one with: qbo-pipeline connect --workspace W"
    rows = [
        (h["workspace_id"], h["status"].upper(), h.get("company"), h["inbox"]["pending"], h["dead_letters"]["open"],
         _nightly_text(h.get("last_nightly")))
        for h in healths
    ]
    blocks = [table(("WORKSPACE", "STATUS", "COMPANY", "INBOX", "ERRORS", "LAST NIGHTLY"), rows)]
    blocks += [format_health(h) for h in healths]
    return "\n\n".join(blocks)


# ------------------------------------------------------------------ dead letters

def format_errors(letters: list[dict[str, Any]]) -> str:
    if not letters:
        return "no open errors"
    blocks = []
    for d in letters:
        head = (f"#{d['id']}  {d['workspace_id']}  {d['entity']} {d['operation']} ({DIRECTION_WORDS.get(d['direction'], d['direction'])})"
                f"  record {d['record']}  [{d['category']}]  attempts {d['attempts']}  last seen {d['last_seen'][:19]}")
        code = f" (code {d['code']})" if d.get("code") else ""
        blocks.append("\n".join([
            head,
            f"    cause: {d['message']}{code}",
            f"    fix:   {d['hint']} — then: qbo-pipeline retry {d['id']}",
        ]))
    return "\n".join(blocks) + f"\n\n{len(letters)} open error(s)"


# ------------------------------------------------------------------ dedupe

def format_plan(plan: Any) -> str:
    """The dry-run plan of `ops.dedupe.plan_dedupe`."""
    spec = plan.spec
    scanned = ", ".join(f"{n} {e}" for e, n in plan.scanned.items())
    if not plan.groups:
        return f"no duplicate {spec.kind}s in workspace {plan.workspace_id} (realm {plan.realm_id}); scanned {scanned}"
    lines = [f"Duplicate {spec.kind}s in workspace {plan.workspace_id} (realm {plan.realm_id}): "
             f"{len(plan.groups)} group(s), {plan.merges} merge(s), {plan.reference_count} reference(s) to re-point"]
    for number, group in enumerate(plan.groups, start=1):
        lines.append("")
        lines.append(f"group {number} — matched on {', '.join(group.matched_on)}")
        s = group.survivor
        lines.append(f"  keep   {s.qbo_id:>6}  {s.name!r}{_linked(spec, s)} — {group.reason}")
        for dup in group.duplicates:
            refs = group.references.get(dup.qbo_id, [])
            blocked = group.blocked.get(dup.qbo_id)
            verb = "SKIP " if blocked else "merge"
            lines.append(f"  {verb}  {dup.qbo_id:>6}  {dup.name!r}{_linked(spec, dup)} — {_ref_summary(refs)}")
            if blocked:
                lines.append(f"           not merged: {blocked}")
            for change in refs[:20]:
                lines.append(f"           {change.describe()}")
            if len(refs) > 20:
                lines.append(f"           ... and {len(refs) - 20} more")
    lines.append("")
    lines.append(f"scanned {scanned}")
    return "\n".join(lines)


def _linked(spec: Any, member: Any) -> str:
    return f" [JobsiteOn {spec.jobsiteon_entity} {member.jobsiteon_id}]" if member.jobsiteon_id else ""


def _ref_summary(refs: list[Any]) -> str:
    if not refs:
        return "no references"
    counts: dict[str, int] = {}
    for change in refs:
        counts[change.qbo_entity] = counts.get(change.qbo_entity, 0) + 1
    return ", ".join(f"{n} {entity}" for entity, n in counts.items()) + " reference(s)"


def format_merge_results(results: list[Any]) -> str:
    if not results:
        return "nothing to merge"
    lines = []
    for r in results:
        if r.status == "skipped":
            lines.append(f"skipped {r.duplicate.label()}: {'; '.join(r.problems)}")
            continue
        resumed = " (resumed)" if r.resumed else ""
        lines.append(
            f"merge {r.merge_id}{resumed}: {r.duplicate.label()} -> {r.survivor.label()}: "
            f"{r.qbo_references} QBO and {r.jobsiteon_references} JobsiteOn reference(s) re-pointed, "
            f"{r.qbo_writes} QBO write(s). Undo: qbo-pipeline dedupe --undo {r.merge_id}"
        )
        lines += [f"    note: {p}" for p in r.problems]
    return "\n".join(lines)
