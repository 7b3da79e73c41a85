"""Dedupe, QBO writes: re-point references, deactivate (and rename) the duplicate, and the
reverse of both for undo. QBO has no merge API, so a merge is these ordinary updates.

Every write is a sparse update carrying a deterministic requestid derived from the merge,
the record and its SyncToken at the time (`request_id_for`): a retry of the same request —
also from another process after a crash — is answered by QBO from its requestid memory
instead of being applied twice, while a later write to the same record (new SyncToken, e.g.
an undo) gets a new id. Before writing, each record is re-read and each change is checked
against the current value: already re-pointed → skipped, pointing elsewhere → reported as a
conflict and left alone. So re-running a merge or an undo is harmless.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable

from tqdm import tqdm

from qbo_pipeline.ops.dedupe_plan import (
    DedupeError,
    NameList,
    RefChange,
    changes_by_record,
    line_key,
    line_ref,
    ref_value,
)
from qbo_pipeline.qbo import QBOClient, QBODuplicateError, request_id_for

MERGED_SUFFIX = " (merged)"
DISPLAY_NAME_MAX = 500
APPLIED, ALREADY, CONFLICT, MISSING = "applied", "already", "conflict", "missing"


@dataclass
class RepointReport:
    status: dict[tuple, str] = field(default_factory=dict)  # RefChange.key -> applied|already|conflict|missing
    writes: int = 0
    problems: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for s in self.status.values() if s == status)


def repoint(
    client: QBOClient,
    changes: Iterable[RefChange],
    *,
    tag: str,
    progress: bool = False,
) -> RepointReport:
    """Applies `changes` (before -> after) record by record, in the order given. `tag`
    (the merge id plus "merge"/"undo") goes into the requestids."""
    report = RepointReport()
    grouped = changes_by_record(changes)
    fresh = _read_all(client, grouped)
    bar = tqdm(grouped.items(), desc="re-pointing references", unit=" records",
               disable=not progress or None, leave=False)
    for (entity, record_id), record_changes in bar:
        current = fresh.get((entity, record_id))
        if current is None:
            for change in record_changes:
                report.status[change.key] = MISSING
                report.problems.append(f"{change.describe()}: the {entity} no longer exists in QuickBooks; skipped")
            continue
        body, applied = _body(current, record_changes, report)
        if not applied:
            continue
        request_id = request_id_for("qbo-pipeline dedupe", client.realm_id, tag, entity, record_id, current.get("SyncToken"))
        client.update(entity, body, sparse=True, request_id=request_id)
        report.writes += 1
        for change in applied:
            report.status[change.key] = APPLIED
    return report


def _read_all(client: QBOClient, grouped: dict[tuple[str, str], list[RefChange]]) -> dict[tuple[str, str], dict]:
    ids_by_entity: dict[str, list[str]] = {}
    for entity, record_id in grouped:
        ids_by_entity.setdefault(entity, []).append(record_id)
    found: dict[tuple[str, str], dict] = {}
    for entity, ids in ids_by_entity.items():
        for record in client.get_by_ids(entity, ids):
            wire = record.to_wire()
            found[(entity, str(wire["Id"]))] = wire
    return found


def _body(current: dict[str, Any], changes: list[RefChange], report: RepointReport) -> tuple[dict, list[RefChange]]:
    """The sparse update body for the changes still to make, and those changes."""
    body: dict[str, Any] = {"Id": current["Id"], "SyncToken": current["SyncToken"]}
    lines = copy.deepcopy(current.get("Line") or [])
    lines_changed = False
    applied: list[RefChange] = []
    for change in changes:
        if change.line is None:
            holder, ref = body, current.get(change.path)
        else:
            line = _find_line(lines, change.line)
            ref = line_ref(line, change.path) if line is not None else None
            holder = None
        value = ref_value(ref)
        if value == change.after:
            report.status[change.key] = ALREADY
            continue
        if value != change.before:
            report.status[change.key] = CONFLICT
            report.problems.append(
                f"{change.describe()}: it now points at {value or 'nothing'}, changed since the plan; left alone"
            )
            continue
        if holder is not None:
            holder[change.path] = {"value": change.after}
        else:
            kept_type = ref.get("type")  # DepositLineDetail.Entity keeps its CUSTOMER/VENDOR type
            ref.clear()
            ref.update({"value": change.after, **({"type": kept_type} if kept_type else {})})
            lines_changed = True
        applied.append(change)
    if lines_changed:
        body["Line"] = lines
    return body, applied


def _find_line(lines: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    for index, line in enumerate(lines):
        if line_key(line, index) == key:
            return line
    return None


# ------------------------------------------------------------------ the duplicate itself

def merged_name(name: str, attempt: int = 1) -> str:
    suffix = MERGED_SUFFIX if attempt == 1 else f" (merged {attempt})"
    return name[: DISPLAY_NAME_MAX - len(suffix)] + suffix


def deactivate_duplicate(client: QBOClient, spec: NameList, qbo_id: str, *, tag: str, attempts: int = 5) -> dict[str, Any]:
    """Active=false (and, for customers/vendors, DisplayName + " (merged)" so the name is
    free again; " (merged 2)"... if that is taken). Returns what undo needs:
    {name_before, active_before, name_after, changed}."""
    current = client.read(spec.qbo_entity, qbo_id).to_wire()
    name_field = "DisplayName" if spec.rename_on_merge else "Name"
    name_before = current.get(name_field)
    if current.get("Active") is False:
        return {"name_before": name_before, "active_before": False, "name_after": name_before, "changed": False}
    body: dict[str, Any] = {"Id": current["Id"], "SyncToken": current["SyncToken"], "Active": False}
    new_name = name_before
    for attempt in range(1, attempts + 1):
        if spec.rename_on_merge and not str(name_before).endswith(MERGED_SUFFIX):
            new_name = merged_name(str(name_before), attempt)
            body["DisplayName"] = new_name
        request_id = request_id_for("qbo-pipeline dedupe", client.realm_id, tag, "deactivate",
                                    spec.qbo_entity, qbo_id, current["SyncToken"], new_name)
        try:
            updated = client.update(spec.qbo_entity, body, sparse=True, request_id=request_id).to_wire()
            break
        except QBODuplicateError:
            if not spec.rename_on_merge or attempt == attempts:
                raise
    return {"name_before": name_before, "active_before": True, "name_after": updated.get(name_field), "changed": True}


def restore_duplicate(
    client: QBOClient, spec: NameList, qbo_id: str, saved: dict[str, Any], *, tag: str
) -> tuple[bool, str | None]:
    """Undoes `deactivate_duplicate`: the previous active flag, and the previous name if the
    record still has a name the merge gave it. Returns (wrote, problem or None)."""
    current = client.read(spec.qbo_entity, qbo_id).to_wire()
    name_field = "DisplayName" if spec.rename_on_merge else "Name"
    body: dict[str, Any] = {"Id": current["Id"], "SyncToken": current["SyncToken"]}
    problem = None
    if current.get("Active") != saved.get("active_before", True):
        body["Active"] = saved.get("active_before", True)
    name_now, name_before = current.get(name_field), saved.get("name_before")
    if spec.rename_on_merge and name_before and name_now != name_before:
        ours = name_now == saved.get("name_after") or str(name_now).startswith(f"{name_before} (merged")
        if ours:
            body[name_field] = name_before
        else:
            problem = (f"{spec.qbo_entity} {qbo_id} was renamed to {name_now!r} after the merge; "
                       f"its name was left alone (it was {name_before!r})")
    if len(body) == 2:
        return False, problem
    request_id = request_id_for("qbo-pipeline dedupe", client.realm_id, tag, "restore",
                                spec.qbo_entity, qbo_id, current["SyncToken"])
    try:
        client.update(spec.qbo_entity, body, sparse=True, request_id=request_id)
    except QBODuplicateError:
        raise DedupeError(
            f"cannot restore {spec.qbo_entity} {qbo_id}'s name {name_before!r}: another record took it after "
            "the merge; rename that record in QuickBooks, then run the undo again"
        ) from None
    return True, problem
