"""Merge duplicate customers, vendors or items — in QBO and in JobsiteOn — and undo a merge.

    plan = plan_dedupe(client, state, workspace_id, "customer")      # reads only (dry run)
    results = apply_dedupe(client, state, jobsiteon, plan)           # merges, one per duplicate
    undo_merge(client, state, jobsiteon, results[0].merge_id)        # puts one merge back

A merge of duplicate D into survivor S, step by step (each step is recorded in the undo
record first, see dedupe_log.py; re-running after a crash resumes with the same requestids):
  1. QBO: every reference to D re-pointed to S (dedupe_qbo.repoint; invoices and credit
     memos before payments, because a payment's invoices must belong to its customer).
  2. JobsiteOn: D's linked record's references re-pointed to S's linked record, D's record
     soft-deleted, D's id-map link removed (dedupe_jobsiteon).
  3. QBO: D deactivated; customers and vendors renamed "<name> (merged)" so the name is free.
     Last, so an interrupted merge is found again by the next run.
  4. Sync log: one line naming the merge id and the undo command.
Undo reverses 3, 1 and 2, touching only references that still hold the merged value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qbo_pipeline.jobsiteon.store import JobsiteOnStore
from qbo_pipeline.ops import dedupe_jobsiteon as js
from qbo_pipeline.ops import dedupe_log as log
from qbo_pipeline.ops.dedupe_plan import (
    KINDS,
    DedupeError,
    DedupePlan,
    MergeGroup,
    Member,
    RefChange,
    kind_spec,
    plan_dedupe,
)
from qbo_pipeline.ops.dedupe_qbo import APPLIED, deactivate_duplicate, repoint, restore_duplicate
from qbo_pipeline.jobsiteon.specs import StoreError
from qbo_pipeline.qbo import QBOClient, QBOError
from qbo_pipeline.state import StateError, StateStore

__all__ = [
    "KINDS",
    "DedupeError",
    "DedupePlan",
    "MergeGroup",
    "MergeResult",
    "UndoResult",
    "apply_dedupe",
    "load_merge",
    "plan_dedupe",
    "undo_merge",
]


@dataclass
class MergeResult:
    merge_id: str | None
    survivor: Member
    duplicate: Member
    status: str  # merged | skipped
    qbo_writes: int = 0
    qbo_references: int = 0
    jobsiteon_references: int = 0
    resumed: bool = False
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "merge_id": self.merge_id,
            "survivor": self.survivor.qbo_id,
            "duplicate": self.duplicate.qbo_id,
            "status": self.status,
            "qbo_writes": self.qbo_writes,
            "qbo_references": self.qbo_references,
            "jobsiteon_references": self.jobsiteon_references,
            "resumed": self.resumed,
            "problems": self.problems,
        }


@dataclass
class UndoResult:
    merge_id: str
    qbo_writes: int
    qbo_references: int
    jobsiteon_references: int
    problems: list[str]


def load_merge(state: StateStore, merge_id: str) -> dict[str, Any]:
    """The undo record of a merge (see dedupe_log)."""
    return log.load(state, merge_id)


def apply_dedupe(
    client: QBOClient,
    state: StateStore,
    jobsiteon: JobsiteOnStore | None,
    plan: DedupePlan,
    *,
    progress: bool = False,
) -> list[MergeResult]:
    """Carries out `plan`: one merge per unblocked duplicate. Stops at the first failure
    with a DedupeError naming the merge (running the same command again resumes it)."""
    if plan.realm_id != client.realm_id:
        raise DedupeError(f"the plan is for realm {plan.realm_id}, the client for {client.realm_id}; plan again")
    results: list[MergeResult] = []
    for group in plan.groups:
        for duplicate in group.duplicates:
            if duplicate.qbo_id in group.blocked:
                results.append(MergeResult(None, group.survivor, duplicate, "skipped",
                                           problems=[group.blocked[duplicate.qbo_id]]))
                continue
            results.append(_merge(client, state, jobsiteon, plan, group, duplicate, progress))
    return results


def _merge(
    client: QBOClient,
    state: StateStore,
    jobsiteon: JobsiteOnStore | None,
    plan: DedupePlan,
    group: MergeGroup,
    duplicate: Member,
    progress: bool,
) -> MergeResult:
    spec = plan.spec
    survivor = group.survivor
    workspace_id = plan.workspace_id
    if duplicate.jobsiteon_id and not survivor.jobsiteon_id:
        # The plan prefers linked survivors, so the id map changed since it was made.
        raise DedupeError(
            f"{spec.qbo_entity} {duplicate.label()} is linked to JobsiteOn but the survivor {survivor.label()} "
            "is not (the id map changed since the plan); run the dedupe again to re-plan"
        )
    record, resumed = log.open_merge(state, {
        "workspace_id": workspace_id,
        "realm_id": client.realm_id,
        "entity": plan.kind,
        "reason": group.reason,
        "survivor": {"qbo_id": survivor.qbo_id, "name": survivor.name, "jobsiteon_id": survivor.jobsiteon_id},
        "duplicate": {"qbo_id": duplicate.qbo_id, "name": duplicate.name, "jobsiteon_id": duplicate.jobsiteon_id},
    })
    merge_id = record["merge_id"]
    dup_jobsiteon = record["duplicate"].get("jobsiteon_id") or duplicate.jobsiteon_id
    if dup_jobsiteon and jobsiteon is None:
        raise DedupeError(
            f"{spec.qbo_entity} {duplicate.label()} is linked to JobsiteOn {spec.jobsiteon_entity} {dup_jobsiteon}, "
            "so the merge must also merge the JobsiteOn side; pass the JobsiteOn store (JOBSITEON_DATABASE_URL)"
        )
    result = MergeResult(merge_id, survivor, duplicate, "merged", resumed=resumed)
    try:
        # 1. QBO references (recorded before they are written).
        changes = group.references.get(duplicate.qbo_id, [])
        known = {RefChange.from_dict(c).key: c for c in record["qbo_changes"]}
        for change in changes:
            known.setdefault(change.key, {**change.to_dict(), "status": "planned"})
        record["qbo_changes"] = list(known.values())
        log.save(state, record)
        report = repoint(client, changes, tag=f"{merge_id}:merge", progress=progress)
        for entry in record["qbo_changes"]:
            entry["status"] = report.status.get(RefChange.from_dict(entry).key, entry["status"])
        record["problems"] += report.problems
        result.qbo_writes += report.writes
        result.qbo_references = report.count(APPLIED)
        log.save(state, record)

        # 2. JobsiteOn side and id map.
        if dup_jobsiteon and survivor.jobsiteon_id and jobsiteon is not None:
            made = js.repoint_jobsiteon(jobsiteon, workspace_id, plan.kind, dup_jobsiteon, survivor.jobsiteon_id)
            record["jobsiteon_changes"] += made
            result.jobsiteon_references = len(made)
            log.save(state, record)
            if "jobsiteon_deleted" not in record:
                record["jobsiteon_deleted"] = js.soft_delete(jobsiteon, workspace_id, spec, dup_jobsiteon)
                log.save(state, record)
        if "id_map_removed" not in record or record["id_map_removed"] is None:
            record["id_map_removed"] = js.unlink(state, workspace_id, spec, duplicate.qbo_id)
            log.save(state, record)

        # 3. Deactivate (and rename) the duplicate in QBO — last.
        record["deactivation"] = {"pending": True, "name_before": duplicate.name}
        log.save(state, record)
        record["deactivation"] = deactivate_duplicate(client, spec, duplicate.qbo_id, tag=f"{merge_id}:merge")
        result.qbo_writes += 1 if record["deactivation"]["changed"] else 0
        log.close(state, record)
    except (QBOError, StateError, StoreError) as exc:
        record["problems"].append(f"stopped: {exc}")
        log.save(state, record)
        raise DedupeError(
            f"merge {merge_id} of {spec.qbo_entity} {duplicate.label()} into {survivor.label()} stopped: {exc}. "
            f"Fix the cause and run the same dedupe --apply again to resume, or undo it with: "
            f"qbo-pipeline dedupe --undo {merge_id}"
        ) from exc

    result.problems = list(record["problems"])
    after = record["deactivation"].get("name_after")
    state.sync_log.add(
        workspace_id, spec.registry, "push", "info",
        f"merged duplicate {spec.qbo_entity} {duplicate.label()} into {survivor.label()} (merge {merge_id}; "
        f"survivor is {group.reason}): {result.qbo_references} QBO reference(s) and "
        f"{result.jobsiteon_references} JobsiteOn reference(s) re-pointed, duplicate deactivated"
        + (f" and renamed {after!r}" if after and after != duplicate.name else "")
        + f". Undo: qbo-pipeline dedupe --undo {merge_id}",
        record_id=dup_jobsiteon or duplicate.qbo_id,
    )
    return result


def undo_merge(
    client: QBOClient,
    state: StateStore,
    jobsiteon: JobsiteOnStore | None,
    merge_id: str,
    *,
    progress: bool = False,
) -> UndoResult:
    """Restores a merge: the duplicate active under its old name, every reference that still
    points at the survivor because of the merge back to the duplicate, the JobsiteOn record
    and the id-map link. Safe to run again after an interruption."""
    record = log.load(state, merge_id)
    if record.get("state") == "undone":
        raise DedupeError(f"merge {merge_id} was already undone at {record.get('undone_at')}")
    if record.get("realm_id") != client.realm_id:
        raise DedupeError(f"merge {merge_id} happened in realm {record.get('realm_id')}, not {client.realm_id}")
    spec = kind_spec(record["entity"])
    workspace_id = record["workspace_id"]
    tag = f"{merge_id}:undo"
    problems: list[str] = []
    record["state"] = "undoing"
    log.save(state, record)
    log.forget_open(state, record)  # an interrupted merge that is undone is not resumed

    # The duplicate must be active again before anything may point at it.
    writes = 0
    deactivation = record.get("deactivation") or {}
    if deactivation.get("changed") or deactivation.get("pending"):
        saved = {"active_before": True, **deactivation}
        wrote, problem = restore_duplicate(client, spec, record["duplicate"]["qbo_id"], saved, tag=tag)
        problems += [problem] if problem else []
        writes += int(wrote)

    changes = [RefChange.from_dict(c).reversed() for c in record.get("qbo_changes", [])]
    report = repoint(client, changes, tag=tag, progress=progress)
    writes += report.writes
    problems += report.problems

    jobsiteon_refs = 0
    if jobsiteon is not None:
        deleted = record.get("jobsiteon_deleted")
        if deleted:
            js.restore_deleted(jobsiteon, workspace_id, deleted)
        problems += js.revert_jobsiteon(jobsiteon, workspace_id, record.get("jobsiteon_changes", []))
        jobsiteon_refs = len(record.get("jobsiteon_changes", []))
    elif record.get("jobsiteon_changes") or record.get("jobsiteon_deleted"):
        raise DedupeError(f"merge {merge_id} changed JobsiteOn records; pass the JobsiteOn store to undo it")
    if record.get("id_map_removed"):
        problem = js.relink(state, workspace_id, spec, record["id_map_removed"])
        problems += [problem] if problem else []

    record["state"] = "undone"
    record["undone_at"] = log.now_iso()
    record["undo_problems"] = problems
    log.save(state, record)
    duplicate, survivor = record["duplicate"], record["survivor"]
    state.sync_log.add(
        workspace_id, spec.registry, "push", "warning" if problems else "info",
        f"undid merge {merge_id}: {spec.qbo_entity} {duplicate['qbo_id']} {duplicate['name']!r} restored with "
        f"{report.count(APPLIED)} QBO reference(s) moved back from {survivor['qbo_id']} {survivor['name']!r}"
        + (f"; {len(problems)} problem(s): " + "; ".join(problems) if problems else ""),
        record_id=duplicate.get("jobsiteon_id") or duplicate["qbo_id"],
    )
    return UndoResult(merge_id, writes, report.count(APPLIED), jobsiteon_refs, problems)

