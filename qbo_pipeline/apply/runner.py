"""The plan runner: splits plan rows by side, applies them in chunks, records outcomes."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import pandas as pd

from qbo_pipeline.apply.outcomes import (
    TRANSIENT_CATEGORIES, ApplyReport, Outcome, OutcomeRecorder, direction_of, hint_for_reason,
)
from qbo_pipeline.entities import EntitySpec, RegistryError, WorkspaceSettings, id_map_lookup_from_frames, row_to_qbo
from qbo_pipeline.qbo import BatchOperation
from qbo_pipeline.qbo.errors import QBOError

QBO_ACTIONS = ("create_qbo", "update_qbo", "deactivate_qbo", "reactivate_qbo", "delete_qbo")
JOBSITEON_ACTIONS = ("create_jobsiteon", "update_jobsiteon", "void_flag_jobsiteon", "delete_jobsiteon")
JOBSITEON_CHUNK = 500
ID_NAMESPACE = uuid.UUID("6f1d3c2e-8a59-4a8e-9d0c-2c1b5b1f7a10")


class TransientFailures(Exception):
    """Some writes failed transiently (throttle, 5xx, network); the step should be retried."""

    def __init__(self, count: int, sample: str) -> None:
        super().__init__(f"{count} write(s) failed transiently (e.g. {sample}); retrying the step")
        self.count = count


@dataclass
class ApplyContext:
    workspace_id: str
    spec: EntitySpec
    client: Any  # QBOClient
    jobsiteon: Any  # JobsiteOnStore
    state: Any  # StateStore
    settings: WorkspaceSettings
    final_attempt: bool = True
    log: Callable[[str], None] = lambda message: None


def apply_plan(ctx: ApplyContext, plan: pd.DataFrame, qbo_frame: pd.DataFrame) -> ApplyReport:
    spec = ctx.spec
    report = ApplyReport(spec.name)
    recorder = OutcomeRecorder(ctx.state, ctx.workspace_id, spec.name)
    raw_by_qbo_id = dict(zip(qbo_frame["qbo_id"].astype(str), qbo_frame["qbo_raw"])) if len(qbo_frame) else {}
    links_now = ctx.state.id_map.frame(ctx.workspace_id, spec.name)
    linked_jobsiteon = set(links_now["jobsiteon_id"].astype(str))
    linked_qbo = set(links_now["qbo_id"].astype(str))

    qbo_rows, jobsiteon_rows, link_rows = [], [], []
    # Missing values of categorical/float columns come out as NaN; the writers want None.
    for row in plan.astype(object).where(plan.notna(), None).to_dict("records"):
        action = str(row["action"])
        row["action"] = action
        if str(row["status"]) == "blocked":
            _dead_letter_blocked(recorder, report, row)
        elif str(row["status"]) == "in_sync":
            recorder.agreed(row.get("jobsiteon_id"), row.get("qbo_id"))
        elif (letter := recorder.held_by(row)) is not None:
            report.add(Outcome(row.get("jobsiteon_id"), row.get("qbo_id"), action, direction_of(action, row.get("winner")),
                               "held", letter.category, f"dead letter {letter.id} is open: fix the record or retry it"))
        elif action in QBO_ACTIONS or (action == "link" and row.get("fields") and row.get("winner") == "jobsiteon"):
            # A step retry re-runs the same plan: creates that already landed are linked now.
            if action == "create_qbo" and str(row["jobsiteon_id"]) in linked_jobsiteon:
                continue
            qbo_rows.append(row)
        elif action in JOBSITEON_ACTIONS or (action == "link" and row.get("fields") and row.get("winner") == "qbo"):
            if action == "create_jobsiteon" and str(row["qbo_id"]) in linked_qbo:
                continue
            jobsiteon_rows.append(row)
        elif action == "link":
            link_rows.append(row)

    _apply_links(ctx, link_rows, raw_by_qbo_id, report, recorder)
    _apply_jobsiteon(ctx, jobsiteon_rows, raw_by_qbo_id, report, recorder)
    _apply_qbo(ctx, qbo_rows, raw_by_qbo_id, report, recorder)
    recorder.requeue_dependents()
    recorder.flush()

    if report.transient:
        if not ctx.final_attempt:
            _, error = report.transient[0]
            raise TransientFailures(len(report.transient), str(error))
        for row, error in report.transient:
            record = row.get("jobsiteon_id") or row.get("qbo_id")
            recorder.dead_letter(
                direction_of(row["action"], row.get("winner")), row["action"], str(record),
                category=error.category.value, code=error.code,
                message=f"{error} (still failing after every retry)", hint=error.hint, payload=_payload(row),
            )
            report.add(Outcome(row.get("jobsiteon_id"), row.get("qbo_id"), row["action"], "push", "dead_letter",
                               error.category.value, str(error)))
        recorder.flush()
    return report


# -- id map ----------------------------------------------------------------------------------

def _qbo_version(raw: dict | None) -> dict:
    if not raw:
        return {}
    meta = raw.get("MetaData") or {}
    updated = meta.get("LastUpdatedTime")
    return {
        "qbo_sync_token": None if raw.get("SyncToken") is None else str(raw.get("SyncToken")),
        "qbo_updated_at": pd.Timestamp(updated).tz_convert("UTC").to_pydatetime() if updated else None,
    }


def _link(jobsiteon_id, qbo_id, raw: dict | None, sync_hash, jobsiteon_updated_at=None) -> dict:
    link = {"jobsiteon_id": str(jobsiteon_id), "qbo_id": str(qbo_id), **_qbo_version(raw)}
    if sync_hash:
        link["content_hash"] = sync_hash
    if jobsiteon_updated_at is not None:
        link["jobsiteon_updated_at"] = jobsiteon_updated_at
    return {k: v for k, v in link.items() if v is not None}


def _jobsiteon_versions(ctx: ApplyContext, ids: list[str]) -> dict[str, datetime]:
    if not ids:
        return {}
    frame = ctx.jobsiteon.read_frame(ctx.workspace_id, ctx.spec.jobsiteon_table, ids=ids)
    return {str(i): (u.to_pydatetime() if hasattr(u, "to_pydatetime") else u)
            for i, u in zip(frame["id"], frame["updated_at"])}


def _apply_links(ctx, rows, raw_by_qbo_id, report, recorder) -> None:
    if not rows:
        return
    versions = _jobsiteon_versions(ctx, [str(r["jobsiteon_id"]) for r in rows])
    links = [_link(r["jobsiteon_id"], r["qbo_id"], raw_by_qbo_id.get(str(r["qbo_id"])), r.get("sync_hash"),
                   versions.get(str(r["jobsiteon_id"]))) for r in rows]
    report.links += ctx.state.id_map.upsert(ctx.workspace_id, ctx.spec.name, links)
    for r in rows:
        recorder.log("pull", "info", f"linked by {r.get('match_key')}: JobsiteOn {r['jobsiteon_id']} = QBO {r['qbo_id']}",
                     str(r["jobsiteon_id"]))
        recorder.succeeded(r["jobsiteon_id"], r["qbo_id"])
        report.add(Outcome(r["jobsiteon_id"], r["qbo_id"], "link", "pull", "ok"))


def _dead_letter_blocked(recorder: OutcomeRecorder, report: ApplyReport, row: dict) -> None:
    reason = row.get("reason") or "blocked"
    category, hint = hint_for_reason(reason)
    record = row.get("jobsiteon_id") or row.get("qbo_id")
    direction = "push" if row.get("jobsiteon_id") else "pull"
    recorder.dead_letter(direction, "reconcile", str(record), category=category, message=reason, hint=hint,
                         payload=_payload(row))
    report.add(Outcome(row.get("jobsiteon_id"), row.get("qbo_id"), "blocked", direction, "dead_letter", category, reason))


# -- JobsiteOn side ----------------------------------------------------------------------------

def _jobsiteon_id_for(ctx: ApplyContext, qbo_id: str) -> str:
    """Deterministic, so re-applying a create after a crash upserts the same record."""
    from qbo_pipeline.jobsiteon.specs import get_spec as jobsiteon_spec

    digest = uuid.uuid5(ID_NAMESPACE, f"{ctx.workspace_id}:{ctx.spec.name}:{qbo_id}").hex
    return f"{jobsiteon_spec(ctx.spec.jobsiteon_table).id_prefix}_{digest}"


def _apply_jobsiteon(ctx, rows, raw_by_qbo_id, report, recorder) -> None:
    for start in range(0, len(rows), JOBSITEON_CHUNK):
        chunk = rows[start:start + JOBSITEON_CHUNK]
        upserts, deletes, pairs = [], [], []
        for row in chunk:
            action = row["action"]
            jobsiteon_id = row.get("jobsiteon_id")
            if action == "create_jobsiteon":
                jobsiteon_id = _jobsiteon_id_for(ctx, str(row["qbo_id"]))
            values = dict(row.get("values") or {})
            if action == "void_flag_jobsiteon":
                values = {**values, "status": "void"}
            if action == "delete_jobsiteon":
                deletes.append(str(jobsiteon_id))
            else:
                values.pop("id", None)
                upserts.append({"id": str(jobsiteon_id), **values})
            pairs.append((row, str(jobsiteon_id)))
        try:
            ctx.jobsiteon.apply(ctx.workspace_id, ctx.spec.jobsiteon_table, upserts, deletes, origin="integration")
        except Exception as exc:  # noqa: BLE001 - a rejected chunk is retried row by row
            if len(chunk) > 1:
                for row in chunk:
                    _apply_jobsiteon(ctx, [row], raw_by_qbo_id, report, recorder)
                continue
            row, jobsiteon_id = pairs[0]
            recorder.dead_letter("pull", row["action"], str(row.get("qbo_id") or jobsiteon_id),
                                 category="validation", message=f"JobsiteOn rejected the record: {exc}",
                                 hint="fill in the field; the next sync succeeds", payload=_payload(row))
            report.add(Outcome(jobsiteon_id, row.get("qbo_id"), row["action"], "pull", "dead_letter", "validation", str(exc)))
            continue
        report.jobsiteon_writes += len(chunk)
        versions = _jobsiteon_versions(ctx, [j for _, j in pairs])
        links = [
            _link(j, row["qbo_id"], raw_by_qbo_id.get(str(row["qbo_id"])), row.get("sync_hash"), versions.get(j))
            for row, j in pairs if row.get("qbo_id") and row["action"] != "delete_jobsiteon"
        ]
        report.links += ctx.state.id_map.upsert(ctx.workspace_id, ctx.spec.name, links) if links else 0
        for row, j in pairs:
            fields = ", ".join(row.get("fields") or ()) or "record"
            loser = row.get("loser_values")
            status = "warning" if loser else "info"
            detail = _describe(row, f"{row['action']} {fields} from QBO {row.get('qbo_id')}")
            if loser:
                detail += f"; conflict resolved ({row.get('reason') or 'most recent change wins'}), JobsiteOn's version {loser} replaced"
            recorder.log("pull", status, detail, j)
            recorder.succeeded(j, row.get("qbo_id"))
            report.add(Outcome(j, row.get("qbo_id"), row["action"], "pull", "ok"))
        recorder.flush()


# -- QBO side ------------------------------------------------------------------------------------

def _ref_lookup(ctx: ApplyContext):
    names = {ctx.spec.name, *ctx.spec.referenced_entities}
    frames = {name: ctx.state.id_map.frame(ctx.workspace_id, name) for name in names}
    return id_map_lookup_from_frames(frames)


def _qbo_operation(ctx: ApplyContext, row: dict, raw: dict | None, lookup) -> BatchOperation | None:
    spec, action = ctx.spec, row["action"]
    values = dict(row.get("values") or {})
    entity = spec.qbo_entity
    if action == "create_qbo":
        return BatchOperation.create(entity, row_to_qbo(spec, values, id_map_lookup=lookup, settings=ctx.settings), key=row)
    if raw is None:
        raise RegistryError(f"QBO {entity} {row.get('qbo_id')} is not in this run's QBO mirror; the next full sync retries it")
    fields = tuple(row.get("fields") or ())
    body = row_to_qbo(spec, values, id_map_lookup=lookup, settings=ctx.settings, existing=raw, fields=fields) if fields else {
        "Id": raw["Id"], "SyncToken": raw["SyncToken"], "sparse": True}
    if action == "deactivate_qbo":
        body["Active"] = False
    elif action == "reactivate_qbo":
        body["Active"] = True
    elif action == "delete_qbo":
        if spec.qbo_remove == "void":
            return None  # voids are not batchable: done one by one below
        return BatchOperation.delete(entity, raw["Id"], raw["SyncToken"], key=row)
    return BatchOperation.update(entity, body, sparse=True, key=row)


def _apply_qbo(ctx, rows, raw_by_qbo_id, report, recorder) -> None:
    if not rows:
        return
    lookup = _ref_lookup(ctx)
    operations, voids = [], []
    for row in rows:
        raw = raw_by_qbo_id.get(str(row.get("qbo_id"))) if row.get("qbo_id") else None
        try:
            operation = _qbo_operation(ctx, row, raw, lookup)
        except RegistryError as exc:
            record = str(row.get("jobsiteon_id") or row.get("qbo_id"))
            recorder.dead_letter("push", row["action"], record, category="validation", message=str(exc),
                                 hint="map the missing reference or setting, then retry", payload=_payload(row))
            report.add(Outcome(row.get("jobsiteon_id"), row.get("qbo_id"), row["action"], "push", "dead_letter",
                               "validation", str(exc)))
            continue
        if operation is None:
            voids.append((row, raw))
        else:
            operations.append(operation)

    for start in range(0, len(operations), 30):
        chunk = operations[start:start + 30]
        try:
            outcomes = ctx.client.batch(chunk)
        except QBOError as error:
            if error.category.value in TRANSIENT_CATEGORIES or error.retryable:
                report.transient.extend((op.key, error) for op in chunk)
                continue
            raise
        report.qbo_requests_items += len(chunk)
        _record_qbo_outcomes(ctx, [(o.key, o.entity, o.error) for o in outcomes], report, recorder)
        ctx.log(f"{ctx.spec.name}: {min(start + 30, len(operations))}/{len(operations)} QBO writes sent")

    for row, raw in voids:
        try:
            entity = ctx.client.void(ctx.spec.qbo_entity, raw["Id"], raw["SyncToken"])
            _record_qbo_outcomes(ctx, [(row, entity, None)], report, recorder)
        except QBOError as error:
            if error.retryable:
                report.transient.append((row, error))
            else:
                _record_qbo_outcomes(ctx, [(row, None, error)], report, recorder)


def _record_qbo_outcomes(ctx, results, report, recorder) -> None:
    links = []
    for row, entity, error in results:
        record = str(row.get("jobsiteon_id") or row.get("qbo_id"))
        if error is not None:
            if error.retryable:
                report.transient.append((row, error))
                continue
            recorder.dead_letter("push", row["action"], record, category=error.category.value, code=error.code,
                                 message=str(error), hint=error.hint, payload=_payload(row))
            report.add(Outcome(row.get("jobsiteon_id"), row.get("qbo_id"), row["action"], "push", "dead_letter",
                               error.category.value, str(error)))
            continue
        raw = entity.to_dict() if hasattr(entity, "to_dict") else dict(entity or {})
        qbo_id = str(raw.get("Id") or row.get("qbo_id"))
        if row.get("jobsiteon_id"):
            links.append(_link(row["jobsiteon_id"], qbo_id, raw, row.get("sync_hash")))
        fields = ", ".join(row.get("fields") or ()) or "record"
        loser = row.get("loser_values")
        detail = _describe(row, f"{row['action']} {fields} -> QBO {ctx.spec.qbo_entity} {qbo_id}")
        if loser:
            detail += f"; conflict resolved ({row.get('reason') or 'most recent change wins'}), QBO's version {loser} replaced"
        recorder.log("push", "warning" if loser else "info", detail, record)
        recorder.succeeded(row.get("jobsiteon_id"), qbo_id)
        report.add(Outcome(row.get("jobsiteon_id"), qbo_id, row["action"], "push", "ok"))
    if links:
        report.links += ctx.state.id_map.upsert(ctx.workspace_id, ctx.spec.name, links)
    recorder.flush()


def _describe(row: dict, what: str) -> str:
    if row["action"] == "link":
        return f"linked by {row.get('match_key')}: JobsiteOn {row.get('jobsiteon_id')} = QBO {row.get('qbo_id')}; {what}"
    return what


def _payload(row: dict) -> dict:
    keep = ("entity", "jobsiteon_id", "qbo_id", "status", "action", "fields", "winner", "reason", "values", "total_delta")
    return {k: row.get(k) for k in keep}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
