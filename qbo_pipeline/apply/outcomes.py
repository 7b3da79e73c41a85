"""What applying a plan did, record by record, and where each outcome is written down:
the id map (links and versions), the sync log (every outcome) and the dead-letter queue
(permanent failures, and transient ones once retries are exhausted)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from qbo_pipeline.qbo.errors import QBOError
from qbo_pipeline.state import StateStore, SyncLogEntry

TRANSIENT_CATEGORIES = ("throttle", "server", "network")

# Hints for plan rows that need a human (the plan's reason says what exactly).
BLOCKED_HINTS = {
    "duplicate record": "rename or merge the duplicate (qbo-pipeline dedupe), then retry",
    "total mismatch": "align tax settings (tax-inclusive vs exclusive, tax codes) so both systems compute the same total, then retry",
    "waits for": "fix the referenced record's error first; this record is retried with it",
}


@dataclass
class Outcome:
    jobsiteon_id: str | None
    qbo_id: str | None
    action: str
    direction: str  # push | pull
    status: str  # ok | failed | dead_letter | retry
    category: str | None = None
    message: str | None = None


@dataclass
class ApplyReport:
    entity: str
    outcomes: list[Outcome] = field(default_factory=list)
    qbo_requests_items: int = 0
    jobsiteon_writes: int = 0
    links: int = 0
    transient: list[tuple[dict, QBOError]] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([o.__dict__ for o in self.outcomes],
                            columns=["jobsiteon_id", "qbo_id", "action", "direction", "status", "category", "message"])

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[f"{o.action}:{o.status}"] = counts.get(f"{o.action}:{o.status}", 0) + 1
        return counts

    @property
    def failed(self) -> int:
        return sum(o.status in ("failed", "dead_letter") for o in self.outcomes)


def direction_of(action: str, winner: str | None) -> str:
    if action.endswith("_qbo") or (action == "link" and winner == "jobsiteon"):
        return "push"
    return "pull"


def hint_for_reason(reason: str) -> tuple[str, str]:
    """(category, hint) for a blocked plan row."""
    text = (reason or "").lower()
    if text.startswith("duplicate record"):
        return "duplicate", BLOCKED_HINTS["duplicate record"]
    if text.startswith("total mismatch"):
        return "total_mismatch", BLOCKED_HINTS["total mismatch"]
    if text.startswith("waits for"):
        return "dependency", BLOCKED_HINTS["waits for"]
    return "validation", "fill in or correct the field named in the message; the next sync succeeds"


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class OutcomeRecorder:
    """Buffers sync-log lines and resolves dead letters of records that now succeeded."""

    def __init__(self, state: StateStore, workspace_id: str, entity: str) -> None:
        self.state = state
        self.workspace_id = workspace_id
        self.entity = entity
        self._log: list[SyncLogEntry] = []
        # Open letters of this entity by record id: a success closes them.
        self._open: dict[str, list[int]] = {}
        self._letters: dict[str, list] = {}
        self._recovered: set[str] = set()  # records whose dead letters this step resolved
        for letter in state.dead_letters.list_open(workspace_id, entity=entity):
            for record_id in letter.record_ids:
                self._open.setdefault(str(record_id), []).append(letter.id)
                self._letters.setdefault(str(record_id), []).append(letter)

    def held_by(self, row: dict):
        """The open dead letter that holds this write back, if any: the very same write
        already failed permanently and nothing changed since — repeating it would only fail
        again (and count as a write). A fix to the record changes the write; `qbo-pipeline
        retry` re-queues the letter; either releases it."""
        record = str(row.get("jobsiteon_id") or row.get("qbo_id"))
        for letter in self._letters.get(record, ()):
            if letter.category in TRANSIENT_CATEGORIES or letter.operation != row["action"]:
                continue
            if letter.requeued_at is not None and letter.requeued_at >= letter.last_seen:
                continue
            previous = (letter.payload or {}).get("values") if isinstance(letter.payload, dict) else None
            if _canonical_json(previous) == _canonical_json(row.get("values")):
                return letter
        return None

    def log(self, direction: str, status: str, details: str, record_id: str | None = None) -> None:
        self._log.append(SyncLogEntry(workspace_id=self.workspace_id, entity=self.entity, direction=direction,
                                      status=status, details=details, record_id=record_id))

    def succeeded(self, *record_ids: str | None) -> None:
        letters = {lid for rid in record_ids if rid for lid in self._open.pop(str(rid), [])}
        if letters:
            self._recovered.update(str(r) for r in record_ids if r)
            self.state.dead_letters.resolve(sorted(letters), "succeeded on a later sync")
            # A blocked pair fixed on this side alone (not linked to each other): its other
            # half gets examined again too.
            synced = {str(r) for r in record_ids if r}
            resolved = {l.id: l for rid in synced for l in self._letters.get(rid, ()) if l.id in letters}
            self.state.dead_letters.requeue_counterparts(resolved.values(), synced=synced)
            self.log("push", "info", f"dead letter(s) {sorted(letters)} resolved: the record synced",
                     record_id=next((r for r in record_ids if r), None))

    def agreed(self, *record_ids: str | None) -> None:
        """The pair now agrees without a write (the user fixed the blocked record: made an
        invoice tax-exclusive, renamed a duplicate): its "reconcile" letters are resolved."""
        if not self._open:  # called for every in-sync pair of a full run: usually nothing to do
            return
        held = [str(r) for r in record_ids if r and str(r) in self._open]
        letters = sorted({letter.id for rid in held for letter in self._letters[rid]
                          if letter.operation == "reconcile" and letter.id in self._open[rid]})
        if not letters:
            return
        for rid in held:
            self._open[rid] = [lid for lid in self._open[rid] if lid not in letters]
        self.state.dead_letters.resolve(letters, "in sync now: the record was fixed")
        self.log("push", "info", f"dead letter(s) {letters} resolved: the records agree now", record_id=held[0])

    def dead_letter(self, direction: str, operation: str, record_id: str, *, category: str, message: str,
                    hint: str | None, code: str | None = None, payload: Any = None) -> None:
        self.state.dead_letters.add(self.workspace_id, self.entity, direction, operation, record_id,
                                    category=category, message=message, code=code, hint=hint, payload=payload)
        self.log(direction, "error", f"{operation} failed ({category}): {message} — {hint or ''}".strip(), record_id)

    def requeue_dependents(self) -> int:
        """Records of other entities that were parked because they wait for a record this
        step just recovered go back into the inbox, so the next incremental run (not only the
        nightly) retries them."""
        if not self._recovered:
            return 0
        waiting = [
            letter for letter in self.state.dead_letters.list_open(self.workspace_id, category="dependency")
            if any(f" {record} " in f" {letter.message} ".replace(":", " ") for record in self._recovered)
        ]
        if waiting:
            self.state.dead_letters.requeue([letter.id for letter in waiting])
            self.log("push", "info", f"{len(waiting)} record(s) waiting for recovered {self.entity} re-queued")
        self._recovered.clear()
        return len(waiting)

    def flush(self) -> None:
        if self._log:
            self.state.sync_log.add_many(self._log)
            self._log = []
