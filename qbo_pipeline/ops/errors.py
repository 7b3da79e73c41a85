"""The dead-letter queue as the ops team handles it: list, retry, resolve by hand.

Life of a dead letter
---------------------
1. The sync step fails a record for good (or runs out of retries):
   `state.dead_letters.add(ws, entity, direction, operation, record_ids, category=, message=,
   hint=)` — entity is the registry name (customers, invoices, ...); record ids are JobsiteOn
   ids for push letters and QBO ids for pull letters. A repeat bumps `attempts`.
2. `retry_dead_letters` → `state.dead_letters.requeue(ids)`: one inbox event per record
   (push → source "jobsiteon", pull → source "cdc"; entity, record id and operation as in the
   letter; payload {"requeued_dead_letter_id": id}) in one transaction, plus a sync-log line.
   The inbox sensor then starts an incremental run for the workspace, which re-reads the
   record and syncs it. The letter stays open until that succeeds.
3. On success the sync step closes the record's open letters and says so in the sync log:
   `resolve_succeeded(state, ws, entity, direction, operation, record_ids, conn=)` below
   (= `state.dead_letters.resolve_matching` + a sync-log line, optionally inside the step's
   transaction), or by record id whatever the operation: `list_open(ws, entity=)` +
   `resolve(ids, note)` + a log line (qbo_pipeline.apply.outcomes.OutcomeRecorder.succeeded).
   A new failure bumps attempts instead.
4. Or a person closes it: `resolve_dead_letters(state, ids, note)` (`qbo-pipeline errors
   resolve ID --note ...`), also logged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy.engine import Connection as SAConnection

from qbo_pipeline.state import DeadLetter, StateStore, SyncLogEntry
from qbo_pipeline.state.dead_letters import requeued_records

# Product wording of the categories (help center) and their fixes, for letters without a hint.
CATEGORY_HINTS: dict[str, str] = {
    "auth": "reconnect (qbo-pipeline connect --workspace W); sync resumes by itself",
    "duplicate": "rename or merge the duplicate (qbo-pipeline dedupe), then retry",
    "not_found": "re-create it, or unlink so the next sync creates a fresh copy",
    "throttle": "resolves by itself; no action",
    "validation": "fill in the field; the next sync succeeds",
    "total_mismatch": "align tax settings (tax-inclusive vs exclusive, tax codes), then retry",
    "stale": "the record changed meanwhile; retry re-reads it",
    "server": "QuickBooks had a temporary problem; retry",
    "network": "QuickBooks could not be reached; retry",
    "dependency": "fix the referenced record's error first; this record is retried with it",
}
DIRECTION_WORDS = {"push": "push to QBO", "pull": "pull from QBO"}
ALL_OPEN_LIMIT = 1_000_000


@dataclass
class RetryResult:
    letters: list[DeadLetter] = field(default_factory=list)
    events: int = 0
    skipped: list[int] = field(default_factory=list)  # ids that were unknown or already resolved

    @property
    def queued(self) -> int:
        return len(self.letters)


def letter_dict(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as the ops views show it (JSON-ready)."""
    return {
        "id": letter.id,
        "workspace_id": letter.workspace_id,
        "entity": letter.entity,
        "direction": letter.direction,
        "operation": letter.operation,
        "record": letter.record_key,
        "record_ids": list(letter.record_ids),
        "category": letter.category,
        "code": letter.code,
        "attempts": letter.attempts,
        "first_seen": letter.first_seen.isoformat(),
        "last_seen": letter.last_seen.isoformat(),
        "requeued_at": letter.requeued_at.isoformat() if letter.requeued_at else None,
        "message": letter.message,
        "hint": letter.hint or CATEGORY_HINTS.get(letter.category, "see the message; then retry"),
    }


def list_errors(
    state: StateStore,
    workspace_id: str | None = None,
    *,
    category: str | None = None,
    entity: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Open dead letters, most recently seen first, as `letter_dict`s."""
    letters = state.dead_letters.list_open(workspace_id, category=category, entity=entity, limit=limit)
    return [letter_dict(letter) for letter in letters]


def retry_dead_letters(
    state: StateStore,
    ids: Iterable[int] = (),
    *,
    all_open: bool = False,
    workspace_id: str | None = None,
) -> RetryResult:
    """Re-queues letters (by id, or every open one — of one workspace if given) into the
    inbox so the next incremental run retries their records; one sync-log line per letter."""
    requested = list(dict.fromkeys(int(i) for i in ids))
    wanted = list(requested)
    if all_open:
        wanted += [d.id for d in state.dead_letters.list_open(workspace_id, limit=ALL_OPEN_LIMIT)]
        wanted = list(dict.fromkeys(wanted))
    elif workspace_id is not None:
        letters_by_id = {i: state.dead_letters.get(i) for i in wanted}
        wanted = [i for i in wanted if letters_by_id[i] is not None and letters_by_id[i].workspace_id == workspace_id]
    letters = state.dead_letters.requeue(wanted)
    state.sync_log.add_many(
        SyncLogEntry(
            workspace_id=d.workspace_id,
            entity=d.entity,
            direction=d.direction,
            status="info",
            details=(
                f"retry requested for dead letter #{d.id} ({d.operation} {d.record_key}, "
                f"{d.category}, {d.attempts} attempt(s)): queued for the next incremental run"
            ),
            record_id=d.record_ids[0] if len(d.record_ids) == 1 else None,
        )
        for d in letters
    )
    queued = {d.id for d in letters}
    return RetryResult(
        letters=letters,
        events=sum(len(requeued_records(d)) for d in letters),
        skipped=[i for i in requested if i not in queued],
    )


def resolve_succeeded(
    state: StateStore,
    workspace_id: str,
    entity: str,
    direction: str,
    operation: str,
    record_ids: str | list[str],
    *,
    conn: SAConnection | None = None,
) -> int:
    """For the sync step after a record synced: closes its open letter for this operation
    (if any) and logs that it is resolved. Returns how many letters were closed."""
    closed = state.dead_letters.resolve_matching(
        workspace_id, entity, direction, operation, record_ids, "succeeded on retry", conn=conn
    )
    if closed:
        ids = [record_ids] if isinstance(record_ids, str) else list(record_ids)
        state.sync_log.add(
            workspace_id, entity, direction, "info",
            f"resolved: {operation} of {', '.join(ids)} succeeded, the dead letter is closed",
            record_id=ids[0] if len(ids) == 1 else None, conn=conn,
        )
    return closed


def resolve_dead_letters(state: StateStore, ids: Iterable[int], note: str) -> list[DeadLetter]:
    """Closes open letters by hand (the fix happened outside the sync); returns the letters
    closed and writes a sync-log line for each."""
    note = (note or "").strip()
    if not note:
        raise ValueError("say why the dead letter is resolved (--note), e.g. 'merged in QBO by hand'")
    letters = [state.dead_letters.get(int(i)) for i in ids]
    open_letters = [d for d in letters if d is not None and d.resolved_at is None]
    # One at a time: resolve() only counts letters still open, so a letter closed
    # concurrently (e.g. by a successful sync) is not reported as closed by hand.
    done = [d for d in open_letters if state.dead_letters.resolve([d.id], f"manual: {note}")]
    state.sync_log.add_many(
        SyncLogEntry(
            workspace_id=d.workspace_id,
            entity=d.entity,
            direction=d.direction,
            status="info",
            details=f"dead letter #{d.id} ({d.operation} {d.record_key}, {d.category}) resolved by hand: {note}",
            record_id=d.record_ids[0] if len(d.record_ids) == 1 else None,
        )
        for d in done
    )
    return done
