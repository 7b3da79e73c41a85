"""Plan: what to do with each record, as a DataFrame.

`reconcile(spec, jobsiteon, qbo, id_map)` runs match -> diff -> plan and returns one row per
record (a record that needs writes on both sides gets one row per side, in execution order;
a total mismatch adds a blocked row next to any update). Columns:

  entity        registry name
  jobsiteon_id  JobsiteOn id (None for a QBO-only record)
  qbo_id        QBO id (None for a JobsiteOn-only record)
  status        in_sync | update | conflict | missing | deleted | blocked
  action        none | create_qbo | update_qbo | create_jobsiteon | update_jobsiteon | link |
                deactivate_qbo | reactivate_qbo | delete_qbo | void_flag_jobsiteon |
                delete_jobsiteon | skip
  fields        tuple of the canonical columns the action writes (() = the whole record)
  winner        "jobsiteon" | "qbo": whose values are written (None when nothing is)
  loser_values  {column: value} overwritten on the losing side — for the sync log
  reason        why (always set unless in_sync)
  match_key     id_map | email | name | doc_number | payment | deposit (None: unmatched)
  values        {column: value} to write, references as JobsiteOn ids (row_to_qbo
                translates them for QBO); for creates the whole record (+ lines)
  sync_hash     the content hash (frames.fingerprint) to store in the id map after applying
  total_delta   JobsiteOn total - QBO TotalAmt (Decimal) on "total mismatch" rows

Actions:
  create_qbo / create_jobsiteon   the twin is missing: create it, then link both in the id map
  update_qbo / update_jobsiteon   write `values` (fields) to that side
  link                            a match key found the twin: record it in the id map, then
                                  write `fields` (if any) towards the loser given by `winner`
  deactivate_qbo / reactivate_qbo name lists: Active=false/true (+ `fields` changed with it)
  delete_qbo                      documents: spec.qbo_remove — "void" for invoices and
                                  payments (QBO keeps a voided record), "delete" otherwise
  void_flag_jobsiteon             an invoice voided/deleted in QBO: set status 'void' in
                                  JobsiteOn; never delete it
  delete_jobsiteon                soft-delete in JobsiteOn (deleted_at)
  skip / none                     nothing to do: `skip` = deliberately not synced (direction,
                                  draft, pending); `none` = in sync, or blocked (needs a human)

Rules (decisions on the ambiguous cases are marked *):
- Linked through the id map first; unlinked records by match key (match.py); a key hit is
  a `link` (+ field updates), never a create. Two candidates -> blocked "duplicate record".
- Per differing field: only one side changed since the last sync -> that side wins; both
  changed -> `conflict`, resolved by the field's override or the entity's policy (most
  recent change wins; *a tie goes to JobsiteOn*); neither changed (drift) or a fresh link ->
  most recent wins. The loser's values go to `loser_values`.
- Direction: a field that may only be pushed keeps JobsiteOn's value. *An invoice edited in
  QBO is overwritten with JobsiteOn's version* (spec.qbo_edit_policy "overwrite"; "flag"
  blocks it instead), loser values recorded. A pull-only field (invoice amount_paid, balance,
  status; credit memo remaining_credit) takes QBO's value when QBO changed; *when only
  JobsiteOn changed it (a payment recorded in JobsiteOn that has not reached QBO yet) the
  row is `skip` "pending" — QBO's new balance is pulled once the payment is pushed*.
  QBO-only invoices (and items) are `skip`: they are never pulled.
- Payments recorded in QBO are created in JobsiteOn (origin 'qbo'); JobsiteOn's store then
  recomputes the invoice's amount_paid/balance/status, and the invoice's pull fields carry
  QBO's Balance as well. A payment pushed from JobsiteOn is linked, so it never echoes back.
- Lifecycle: a record soft-deleted/archived/voided on one side only:
  * name lists: resolved like a field (most recent wins): JobsiteOn wins -> deactivate_qbo /
    reactivate_qbo; QBO wins -> items: update_jobsiteon `archived`; contacts/vendors:
    `delete_jobsiteon` (soft delete; spec.qbo_inactive_policy "archive") or `skip` with a
    reason ("flag"); a reactivated QBO record restores the JobsiteOn one (deleted_at=None).
  * documents: a JobsiteOn delete/void always propagates (delete_qbo); a QBO void/delete
    always propagates: invoices -> void_flag_jobsiteon, others -> delete_jobsiteon.
  * both sides gone -> in_sync.
- Totals: `total` is compared, never written. If JobsiteOn's total differs from QBO's
  TotalAmt (integer cents) while nothing will be pushed -> blocked "total mismatch" with its
  delta and whether QBO's rounding of the same lines explains it.
- References: a write whose reference is not linked yet -> blocked "waits for ..." (plan
  an entity after its references were applied — topological_order()); a QBO record that
  refers to something never pulled (a payment of a QBO-only invoice) -> skip.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import pandas as pd

from qbo_pipeline.entities import Conflict, EntitySpec, Kind
from qbo_pipeline.reconcile import money, normalize
from qbo_pipeline.reconcile.diff import DiffResult, diff
from qbo_pipeline.reconcile.frames import (
    UNMAPPED, Context, canonical_values, comparable_frame, fingerprint, fingerprints, make_context,
)
from qbo_pipeline.reconcile.match import MatchResult, connect, match, syncable

STATUSES = ("in_sync", "update", "conflict", "missing", "deleted", "blocked")
ACTIONS = (
    "none", "create_qbo", "update_qbo", "create_jobsiteon", "update_jobsiteon", "link",
    "deactivate_qbo", "reactivate_qbo", "delete_qbo", "void_flag_jobsiteon", "delete_jobsiteon",
    "skip",
)
WINNERS = ("jobsiteon", "qbo")
COLUMNS = (
    "entity", "jobsiteon_id", "qbo_id", "status", "action", "fields", "winner", "loser_values",
    "reason", "match_key", "values", "sync_hash", "total_delta",
)
_STATUS = pd.CategoricalDtype(STATUSES)
_ACTION = pd.CategoricalDtype(ACTIONS)
_WINNER = pd.CategoricalDtype(WINNERS)

_NONE, _J, _Q, _PENDING, _FLAG = 0, 1, 2, 3, 4


def reconcile(
    spec: EntitySpec | str,
    jobsiteon: pd.DataFrame,
    qbo: pd.DataFrame,
    id_map: pd.DataFrame | None,
    *,
    ref_id_maps: Mapping[str, pd.DataFrame] | None = None,
    settings: object = None,
    qbo_complete: bool = True,
    jobsiteon_complete: bool = True,
) -> pd.DataFrame:
    """match -> diff -> plan for one entity of one workspace (module docstring).

    `id_map`: this entity's links (state IdMapRepository.frame), or every entity's links with
    an `entity` column. `ref_id_maps`: links of referenced entities by name, when `id_map`
    holds only this entity's. `*_complete=False` for partial (incremental) frames: links
    whose record is absent from a partial frame are then left alone instead of being treated
    as deleted."""
    ctx = make_context(
        spec, jobsiteon, qbo, id_map, ref_id_maps=ref_id_maps, settings=settings,
        qbo_complete=qbo_complete, jobsiteon_complete=jobsiteon_complete,
    )
    con = connect()
    try:
        matched = match(ctx, con)
    finally:
        con.close()
    return build_plan(ctx, matched, diff(ctx, matched))


def _model_key_categories(spec: EntitySpec) -> pd.CategoricalDtype:
    return pd.CategoricalDtype([k.name for k in spec.match_keys])


def _empty_tuple_array(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out.fill(())
    return out


def build_plan(ctx: Context, m: MatchResult, d: DiffResult) -> pd.DataFrame:
    rows = _Rows(ctx, m, d)
    rows.detail()
    rows.orphans()
    rows.unmatched()
    rows.blocked()
    small = rows.frame()
    in_sync = _in_sync_frame(ctx, m)
    if len(small) == 0:
        return in_sync
    if len(in_sync) == 0:
        return small
    return _stack(small, in_sync)


def _stack(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Row-wise concatenation column by column: pd.concat inspects every value of all-None
    object columns (~1 s per million rows), this does not."""
    data = {}
    for name in COLUMNS:
        a, b = first[name], second[name]
        if isinstance(a.dtype, pd.CategoricalDtype):
            codes = np.concatenate([a.cat.codes.to_numpy(), b.cat.codes.to_numpy()])
            data[name] = pd.Categorical.from_codes(codes, dtype=a.dtype)
        else:
            data[name] = np.concatenate([a.to_numpy(dtype=object), b.to_numpy(dtype=object)])
    return pd.DataFrame(data, copy=False)


def _typed(frame_columns: dict[str, object], ctx: Context) -> pd.DataFrame:
    frame = pd.DataFrame(frame_columns, copy=False)
    frame["status"] = frame["status"].astype(_STATUS)
    frame["action"] = frame["action"].astype(_ACTION)
    frame["winner"] = frame["winner"].astype(_WINNER)
    frame["match_key"] = frame["match_key"].astype(_model_key_categories(ctx.spec))
    return frame[list(COLUMNS)]


def _in_sync_frame(ctx: Context, m: MatchResult) -> pd.DataFrame:
    """Every linked pair whose hashes are equal: built straight from the id map columns."""
    rows = (m.mpos >= 0) & (m.jpos >= 0) & (m.qpos >= 0) & m.equal & ~m.duplicate
    mask = np.zeros(len(ctx.id_map), dtype=bool)
    mask[m.mpos[rows]] = True
    n = int(mask.sum())
    none = np.full(n, None, dtype=object)
    columns = {
        "entity": np.full(n, ctx.spec.name, dtype=object),
        "jobsiteon_id": ctx.id_map["jobsiteon_id"].to_numpy()[mask],
        "qbo_id": ctx.id_map["qbo_id"].to_numpy()[mask],
        "status": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), dtype=_STATUS),
        "action": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), dtype=_ACTION),
        "fields": _empty_tuple_array(n),
        "winner": pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), dtype=_WINNER),
        "loser_values": none,
        "reason": none,
        "match_key": pd.Categorical.from_codes(
            np.zeros(n, dtype=np.int8), dtype=_model_key_categories(ctx.spec)
        ),
        "values": none,
        "sync_hash": none,
        "total_delta": none,
    }
    return pd.DataFrame(columns, copy=False)[list(COLUMNS)]


class _Rows:
    """Collects the plan rows of every record the fast pass did not clear."""

    def __init__(self, ctx: Context, m: MatchResult, d: DiffResult) -> None:
        self.ctx, self.m, self.d, self.spec = ctx, m, d, ctx.spec
        self.out: list[tuple] = []
        self.columns = ctx.compared_columns
        self.fields = {fm.column: fm for fm in self.spec.fields}
        self.refs = {r.column: r for r in self.spec.references if not r.in_lines}
        self.line_refs = [r for r in self.spec.references if r.in_lines]
        self.j_ids = ctx.jobsiteon["id"].to_numpy()
        self.q_ids = ctx.qbo["qbo_id"].to_numpy()
        self.syncable = syncable(ctx)

    # -- output -----------------------------------------------------------------------------

    def add(self, jid, qid, status, action, *, fields=(), winner=None, loser=None, reason=None,
            key=None, values=None, sync_hash=None, delta=None) -> None:
        self.out.append((self.spec.name, jid, qid, status, action, tuple(fields), winner, loser,
                         reason, key, values, sync_hash, delta))

    def frame(self) -> pd.DataFrame:
        if not self.out:
            return _typed({c: pd.Series(dtype=object) for c in COLUMNS}, self.ctx)
        columns = list(zip(*self.out))
        data = {}
        for name, values in zip(COLUMNS, columns):
            array = np.empty(len(values), dtype=object)
            array[:] = values
            data[name] = array
        return _typed(data, self.ctx)

    # -- helpers ----------------------------------------------------------------------------

    def jrow(self, pos: int) -> dict:
        return self.ctx.jobsiteon.iloc[pos].to_dict()

    def _fm(self, column: str):
        return self.fields.get(column)

    def can_push(self, column: str) -> bool:
        return self.spec.can_push(self._fm(column))

    def can_pull(self, column: str) -> bool:
        return self.spec.can_pull(self._fm(column))

    def push_problem(self, jrow: Mapping, columns) -> str | None:
        """A JobsiteOn reference that has no QBO twin yet (blocks a push)."""
        for column in columns:
            if column in self.refs:
                ref = self.refs[column]
                value = jrow.get(column)
                if not self.ctx.refs[ref.entity].has_qbo(value):
                    return (f"waits for {ref.entity} {value}: it is not linked to QBO yet; "
                            f"sync {ref.entity} first (or fix {column})")
            if column == "lines":
                for ref in self.line_refs:
                    for line in jrow.get("lines") or []:
                        value = line.get(ref.column)
                        if not self.ctx.refs[ref.entity].has_qbo(value):
                            return (f"waits for {ref.entity} {value} (a line's {ref.column}): it is not "
                                    f"linked to QBO yet; sync {ref.entity} first")
        return None

    def pull_problem(self, values: Mapping) -> tuple[str, str] | None:
        """A QBO reference with no JobsiteOn twin: (action, reason)."""
        def check(column, entity, value):
            if isinstance(value, str) and value.startswith(UNMAPPED):
                qid = value[len(UNMAPPED):]
                if self.ctx.refs[entity].pullable:
                    return ("none", f"waits for QBO {entity} {qid}: it is not linked to JobsiteOn yet; "
                                    f"sync {entity} first")
                return ("skip", f"refers to QBO {entity} {qid}, which is not synced to JobsiteOn "
                                f"({entity} are push-only)")
            return None
        for column, value in values.items():
            if column in self.refs:
                found = check(column, self.refs[column].entity, value)
                if found:
                    return found
            if column == "lines":
                for ref in self.line_refs:
                    for line in value or []:
                        found = check(ref.column, ref.entity, line.get(ref.column))
                        if found:
                            return found
        return None

    def jobsiteon_values(self, jrow: Mapping, columns) -> dict:
        return {c: (None if normalize.is_missing(jrow.get(c)) else jrow.get(c)) for c in columns}

    def qbo_values(self, qrow: Mapping, columns) -> dict:
        return canonical_values(self.ctx, qrow, "qbo", columns)

    def whole_record_columns(self) -> list[str]:
        columns = [fm.column for fm in self.spec.fields]
        return columns + (["lines"] if self.spec.line_spec else [])

    def restore_values(self, jrow: Mapping) -> tuple[tuple, dict]:
        values: dict = {}
        if self.spec.archived_column:
            values[self.spec.archived_column] = False
        if not normalize.is_missing(jrow.get("deleted_at")):
            values["deleted_at"] = None
        return tuple(values), values

    # -- linked and freshly matched pairs ---------------------------------------------------

    def _winners(self) -> np.ndarray:
        d = self.d
        n, cols = len(d), self.columns
        if n == 0:
            return np.zeros((0, len(cols)), dtype=np.int8)
        changed = d.changed[cols].to_numpy(dtype=bool)
        jc = d.pairs["j_changed"].to_numpy(bool)[:, None]
        qc = d.pairs["q_changed"].to_numpy(bool)[:, None]
        jn = d.pairs["j_newer"].to_numpy(bool)[:, None]
        override = np.array([
            (self._fm(c).conflict if self._fm(c) and self._fm(c).conflict else self.spec.conflict_policy).value
            for c in cols
        ])[None, :]
        push = np.array([self.can_push(c) for c in cols])[None, :]
        pull = np.array([self.can_pull(c) for c in cols])[None, :]
        check = np.array([bool(self._fm(c) and self._fm(c).check) for c in cols])[None, :]
        by_policy = np.where(override == Conflict.JOBSITEON.value, _J,
                             np.where(override == Conflict.QBO.value, _Q, np.where(jn, _J, _Q)))
        two_way = np.where(jc & ~qc, _J, np.where(qc & ~jc, _Q, by_policy))
        flag = self.spec.qbo_edit_policy == "flag"
        push_only = np.where(qc & ~jc & flag, _FLAG, _J)
        pull_only = np.where(qc, _Q, _PENDING)
        winners = np.select(
            [push & pull, push & ~pull, ~push & pull], [two_way, push_only, pull_only], _NONE
        )
        winners = np.where(check, _NONE, winners)
        return np.where(changed, winners, _NONE).astype(np.int8)

    def detail(self) -> None:
        d = self.d
        if len(d) == 0:
            return
        winners = self._winners()
        cols = np.array(self.columns, dtype=object)
        check_cols = [i for i, c in enumerate(self.columns) if self._fm(c) and self._fm(c).check]
        changed = d.changed[self.columns].to_numpy(dtype=bool)
        pairs = d.pairs
        jc_all = pairs["j_changed"].to_numpy(bool)
        qc_all = pairs["q_changed"].to_numpy(bool)
        jn_all = pairs["j_newer"].to_numpy(bool)
        j_alive = pairs["j_alive"].to_numpy(bool)
        q_alive = pairs["q_alive"].to_numpy(bool)
        jcmp = d.jobsiteon.itertuples(index=False, name=None)
        qcmp = d.qbo.itertuples(index=False, name=None)
        j_records = d.jobsiteon_rows.to_dict("records")
        q_records = d.qbo_rows.to_dict("records")
        for i, (jpos, qpos, mpos, key, jv, qv, jrow, qrow) in enumerate(zip(
            pairs["jpos"].to_numpy(), pairs["qpos"].to_numpy(), pairs["mpos"].to_numpy(),
            pairs["match_key"].to_numpy(), jcmp, qcmp, j_records, q_records,
        )):
            jid, qid = self.j_ids[jpos], self.q_ids[qpos]
            new_link = mpos < 0
            if not self.syncable[jpos]:
                rule = self.spec.sync_statuses
                self.add(jid, qid, "update", "skip", key=key,
                         reason=f"{self.spec.jobsiteon_table} with {rule[0]} "
                                f"{self.ctx.jobsiteon[rule[0]].iat[jpos]!r} do not sync")
                continue
            if not j_alive[i] or not q_alive[i]:
                self.lifecycle(jid, qid, key, jrow, qrow, j_alive[i], q_alive[i],
                               jc_all[i], qc_all[i], jn_all[i], jv, qv)
                continue
            row_w = winners[i]
            push_idx = np.flatnonzero(row_w == _J)
            pull_idx = np.flatnonzero(row_w == _Q)
            pending = cols[row_w == _PENDING]
            flagged = cols[row_w == _FLAG]
            both = bool(jc_all[i] and qc_all[i]) and not new_link
            status = "conflict" if both and (len(push_idx) or len(pull_idx)) else "update"
            emitted = False
            merged = list(jv)
            for k in pull_idx:
                merged[k] = qv[k]
            sync_hash = fingerprint(tuple(merged) + (True,))
            if len(push_idx):
                fields = tuple(cols[push_idx])
                problem = self.push_problem(jrow, fields)
                if problem:
                    self.add(jid, qid, "blocked", "none", fields=fields, key=key, reason=problem)
                else:
                    edited_in_qbo = (qc_all[i] and not jc_all[i]
                                     and not any(self.can_pull(f) for f in fields))
                    reason = self._reason("jobsiteon", fields, both, new_link, key, edited_in_qbo)
                    self.add(jid, qid, status, "link" if new_link else "update_qbo", fields=fields,
                             winner="jobsiteon", loser=self.qbo_values(qrow, fields), reason=reason,
                             key=key, values=self.jobsiteon_values(jrow, fields), sync_hash=sync_hash)
                emitted = True
            if len(pull_idx):
                fields = tuple(cols[pull_idx])
                values = self.qbo_values(qrow, fields)
                problem = self.pull_problem(values)
                if problem:
                    action, reason = problem
                    self.add(jid, qid, "blocked" if action == "none" else status, action,
                             fields=fields, key=key, reason=reason)
                else:
                    action = "link" if new_link and not emitted else "update_jobsiteon"
                    reason = self._reason("qbo", fields, both, new_link, key, False)
                    self.add(jid, qid, status, action, fields=fields, winner="qbo",
                             loser=self.jobsiteon_values(jrow, fields), reason=reason, key=key,
                             values=values, sync_hash=sync_hash)
                emitted = True
            if len(flagged):
                self.add(jid, qid, "blocked", "none", fields=tuple(flagged), key=key,
                         reason=f"edited in QBO, but {self.spec.name} are push-only and the policy is to "
                                f"flag: review {', '.join(flagged)} in QBO or re-save the record in JobsiteOn")
                emitted = True
            if check_cols and not len(push_idx):
                for k in check_cols:
                    if changed[i, k]:
                        reason, delta = self._total_mismatch(jrow, qrow)
                        self.add(jid, qid, "blocked", "none", fields=(cols[k],), key=key,
                                 reason=reason, delta=delta,
                                 values={cols[k]: jrow.get(cols[k])}, loser={cols[k]: qrow.get(cols[k])})
                        emitted = True
            if len(pending) and not emitted:
                self.add(jid, qid, "update", "skip", fields=tuple(pending), key=key,
                         reason=f"pending: {', '.join(pending)} changed in JobsiteOn only; they are "
                                f"QBO's to set and follow once the change reaches QBO (e.g. the payment is pushed)")
                emitted = True
            if not emitted:
                if new_link:
                    self.add(jid, qid, "update", "link", key=key, sync_hash=sync_hash,
                             reason=f"matched by {key}; no field differs")
                else:
                    self.add(jid, qid, "in_sync", "none", key=key)

    def _reason(self, winner: str, fields, both: bool, new_link: bool, key, edited_in_qbo: bool) -> str:
        side = "JobsiteOn" if winner == "jobsiteon" else "QBO"
        listed = ", ".join(fields)
        if new_link:
            return f"matched by {key}; {listed} differ: {side}'s values kept (most recent change)"
        if edited_in_qbo:
            return (f"edited in QBO, but {self.spec.name} are push-only: JobsiteOn's {listed} "
                    "written back to QBO (QBO's values recorded)")
        if both:
            return f"conflict: both sides changed {listed}; {side}'s version kept (policy)"
        return f"{listed} changed in {side}"

    def _total_mismatch(self, jrow: Mapping, qrow: Mapping) -> tuple[str, Decimal]:
        j_cents = money.cents(jrow.get("total")) or 0
        q_cents = money.cents(qrow.get("total")) or 0
        delta = j_cents - q_cents
        reason = (f"total mismatch: JobsiteOn total {money.from_cents(j_cents)} vs QBO TotalAmt "
                  f"{money.from_cents(q_cents)} (delta {money.format_delta(delta)})")
        rate = self.ctx.settings.tax_rate
        lines = jrow.get("lines")
        if rate is not None and isinstance(lines, list):
            price = "unit_cost" if self.spec.name == "purchase_orders" else "unit_price"
            expected = money.document_totals(
                lines, rate, bool(jrow.get("tax_inclusive")), price_key=price
            ).total
            if money.cents(expected) == q_cents:
                reason += (f"; QBO's rounding of the same lines gives {expected}, so JobsiteOn computes "
                           "tax/rounding differently — align tax settings (tax-inclusive vs exclusive, tax codes)")
            else:
                reason += (f"; the lines computed QBO's way give {expected} — the tax rate or tax codes "
                           "differ between the systems: align tax settings")
        else:
            reason += "; align tax settings (tax-inclusive vs exclusive, tax codes)"
        return reason, money.from_cents(delta)

    # -- lifecycle (deleted / archived / voided on one side) ---------------------------------

    def lifecycle(self, jid, qid, key, jrow, qrow, j_alive, q_alive, jc, qc, jn, jv, qv) -> None:
        """One side is deleted/archived/voided (key matching only pairs live records, so
        this is always an existing link)."""
        spec = self.spec
        if not j_alive and not q_alive:
            self.add(jid, qid, "in_sync", "none", key=key)
            return
        if spec.is_name_list:
            winner = _J if (jc and not qc) else _Q if (qc and not jc) else (_J if jn else _Q)
            if not spec.push_updates:
                winner = _Q
            if not spec.pull_updates:
                winner = _J
            self._name_list_lifecycle(jid, qid, key, winner, j_alive, jrow, jv, qv)
            return
        if not j_alive:
            self.add(jid, qid, "deleted", "delete_qbo", winner="jobsiteon", key=key,
                     reason=f"deleted or voided in JobsiteOn: {spec.qbo_remove} the QBO {spec.qbo_entity}",
                     sync_hash=fingerprint(tuple(jv) + (False,)))
            return
        self._qbo_gone(jid, qid, key, jrow, "voided" if qrow.get("qbo_status") == "voided" else "deleted")

    def _qbo_gone(self, jid, qid, key, jrow, how: str) -> None:
        spec = self.spec
        if spec.void_status:
            column, value = spec.void_status
            self.add(jid, qid, "deleted", "void_flag_jobsiteon", fields=(column,), winner="qbo",
                     loser={column: jrow.get(column)}, key=key, values={column: value},
                     reason=f"{how} in QBO: flagged {value!r} in JobsiteOn, not deleted")
        elif spec.pull_updates:
            self.add(jid, qid, "deleted", "delete_jobsiteon", winner="qbo", key=key,
                     reason=f"{how} in QBO: soft-deleted in JobsiteOn")
        else:
            self.add(jid, qid, "blocked", "none", key=key,
                     reason=f"record not found: {how} in QBO; re-create it (unlink) or delete it in JobsiteOn")

    def _name_list_lifecycle(self, jid, qid, key, winner, j_alive, jrow, jv, qv) -> None:
        spec = self.spec
        if winner == _J:
            fields = tuple(c for k, c in enumerate(self.columns)
                           if j_alive and jv[k] != qv[k] and self.can_push(c))
            self.add(jid, qid, "deleted", "reactivate_qbo" if j_alive else "deactivate_qbo",
                     fields=fields, winner="jobsiteon", loser={"active": not j_alive}, key=key,
                     values={"active": bool(j_alive), **self.jobsiteon_values(jrow, fields)},
                     reason=("restored in JobsiteOn: reactivate in QBO" if j_alive
                             else "deleted/archived in JobsiteOn: deactivate in QBO"),
                     sync_hash=fingerprint(tuple(jv) + (bool(j_alive),)) if jv else None)
            return
        if not j_alive:  # QBO reactivated it
            fields, values = self.restore_values(jrow)
            self.add(jid, qid, "deleted", "update_jobsiteon", fields=fields, winner="qbo",
                     loser={"active": False}, key=key, values=values,
                     reason="reactivated in QBO: restored in JobsiteOn",
                     sync_hash=fingerprint(tuple(qv) + (True,)) if qv else None)
            return
        if spec.archived_column:
            column = spec.archived_column
            self.add(jid, qid, "deleted", "update_jobsiteon", fields=(column,), winner="qbo",
                     loser={column: False}, key=key, values={column: True},
                     reason="made inactive in QBO: archived in JobsiteOn",
                     sync_hash=fingerprint(tuple(jv) + (False,)) if jv else None)
        elif spec.qbo_inactive_policy == "archive":
            self.add(jid, qid, "deleted", "delete_jobsiteon", winner="qbo", key=key,
                     loser={"active": True},
                     reason="made inactive (deleted) in QBO: soft-deleted in JobsiteOn",
                     sync_hash=fingerprint(tuple(jv) + (False,)) if jv else None)
        else:
            self.add(jid, qid, "deleted", "skip", key=key,
                     reason="inactive in QBO; policy 'flag': the JobsiteOn record is kept — "
                            "reactivate it in QBO or delete it in JobsiteOn")

    # -- links whose record is gone from a frame ---------------------------------------------

    def orphans(self) -> None:
        m, ctx, spec = self.m, self.ctx, self.spec
        rows = np.flatnonzero((m.mpos >= 0) & ((m.jpos < 0) | (m.qpos < 0)) & ~m.duplicate)
        ids_j = ctx.id_map["jobsiteon_id"].to_numpy()
        ids_q = ctx.id_map["qbo_id"].to_numpy()
        for r in rows:
            mpos, jpos, qpos = m.mpos[r], m.jpos[r], m.qpos[r]
            jid, qid = ids_j[mpos], ids_q[mpos]
            if jpos < 0 and not ctx.jobsiteon_complete or qpos < 0 and not ctx.qbo_complete:
                continue  # a partial frame says nothing about the missing side
            if jpos < 0 and qpos < 0:
                self.add(jid, qid, "deleted", "skip", key="id_map",
                         reason="stale id map entry: the record is gone on both sides; unlink it")
                continue
            if jpos < 0:
                if not ctx.alive("qbo")[qpos]:
                    self.add(jid, qid, "deleted", "skip", key="id_map",
                             reason="deleted in JobsiteOn and inactive in QBO; unlink it")
                elif spec.is_name_list:
                    self.add(jid, qid, "deleted", "deactivate_qbo", winner="jobsiteon", key="id_map",
                             values={"active": False},
                             reason="deleted in JobsiteOn (record gone): deactivate in QBO")
                else:
                    self.add(jid, qid, "deleted", "delete_qbo", winner="jobsiteon", key="id_map",
                             reason=f"deleted in JobsiteOn (record gone): {spec.qbo_remove} the QBO "
                                    f"{spec.qbo_entity}")
                continue
            if not ctx.alive("jobsiteon")[jpos]:
                self.add(jid, qid, "deleted", "skip", key="id_map",
                         reason="gone from QBO and deleted in JobsiteOn; unlink it")
                continue
            jrow = self.jrow(jpos)
            if spec.is_name_list:
                self._name_list_lifecycle(jid, qid, "id_map", _Q, True, jrow, (), ())
            else:
                self._qbo_gone(jid, qid, "id_map", jrow, "deleted")

    # -- records without a twin -----------------------------------------------------------------

    def unmatched(self) -> None:
        ctx, spec = self.ctx, self.spec
        j_pos = self.m.j_unmatched
        if len(j_pos):
            j_rows = ctx.jobsiteon.iloc[j_pos].reset_index(drop=True)
            j_alive = ctx.alive("jobsiteon")[j_pos]
            hashes = fingerprints(comparable_frame(ctx, j_rows, "jobsiteon"), j_alive)
            columns = ["id"] + self.whole_record_columns()
            records = j_rows.reindex(columns=columns).to_dict("records")
            for pos, alive, record, h in zip(j_pos, j_alive, records, hashes):
                jid = self.j_ids[pos]
                if not self.syncable[pos]:
                    rule = spec.sync_statuses
                    self.add(jid, None, "missing", "skip",
                             reason=f"{spec.jobsiteon_table} with {rule[0]} {record.get(rule[0])!r} do not sync")
                elif not alive:
                    self.add(jid, None, "deleted", "skip",
                             reason="deleted/archived/voided in JobsiteOn before it was ever synced")
                elif not spec.push_creates:
                    self.add(jid, None, "missing", "skip",
                             reason=f"JobsiteOn-only {spec.name} are not pushed to QBO")
                else:
                    problem = self.push_problem(record, list(self.refs) + ["lines"])
                    if problem:
                        self.add(jid, None, "blocked", "none", reason=problem)
                    else:
                        values = {c: (None if normalize.is_missing(v) else v) for c, v in record.items()}
                        self.add(jid, None, "missing", "create_qbo", winner="jobsiteon", values=values,
                                 sync_hash=h, reason=f"not in QBO: create the {spec.qbo_entity}")
        q_pos = self.m.q_unmatched
        if len(q_pos):
            q_rows = ctx.qbo.iloc[q_pos].reset_index(drop=True)
            q_alive = ctx.alive("qbo")[q_pos]
            hashes = fingerprints(comparable_frame(ctx, q_rows, "qbo"), q_alive)
            columns = self.whole_record_columns()
            records = q_rows.to_dict("records")
            defaults = dict(spec.jobsiteon_defaults)
            for pos, alive, record, h in zip(q_pos, q_alive, records, hashes):
                qid = self.q_ids[pos]
                if not alive:
                    self.add(None, qid, "deleted", "skip", reason=f"{record.get('qbo_status')} in QBO; not imported")
                elif not spec.pull_creates:
                    self.add(None, qid, "missing", "skip",
                             reason=f"QBO-only {spec.name} are not pulled ({spec.name} are push-only)")
                else:
                    values = self.qbo_values(record, columns)
                    problem = self.pull_problem(values)
                    if problem:
                        action, reason = problem
                        self.add(None, qid, "blocked" if action == "none" else "missing", action, reason=reason)
                    else:
                        values.update(defaults)
                        self.add(None, qid, "missing", "create_jobsiteon", winner="qbo", values=values,
                                 sync_hash=h, reason=f"not in JobsiteOn: create the {spec.jobsiteon_table} record")

    # -- blocked by matching or by duplicate ids --------------------------------------------------

    def blocked(self) -> None:
        for jpos, qpos, key, reason in self.m.blocked.itertuples(index=False, name=None):
            jid = self.j_ids[jpos] if jpos >= 0 else None
            qid = self.q_ids[qpos] if qpos >= 0 else None
            self.add(jid, qid, "blocked", "none", key=key, reason=reason)
        m = self.m
        for r in np.flatnonzero(m.duplicate):
            jid = self.j_ids[m.jpos[r]] if m.jpos[r] >= 0 else None
            qid = self.q_ids[m.qpos[r]] if m.qpos[r] >= 0 else None
            if m.mpos[r] >= 0:
                jid = jid or self.ctx.id_map["jobsiteon_id"].iat[m.mpos[r]]
                qid = qid or self.ctx.id_map["qbo_id"].iat[m.mpos[r]]
            self.add(jid, qid, "blocked", "none", key="id_map" if m.mpos[r] >= 0 else None,
                     reason="duplicate record: an id occurs twice in the id map or a frame "
                            f"({jid} / {qid}); remove the duplicate link or record, then retry")


# -- reporting ---------------------------------------------------------------------------------

def summarize(plan: pd.DataFrame) -> dict:
    """Counts per action and status, mapping completeness (records linked through the id map
    / records that sync, skips excluded) and the residual."""
    actions = {k: int(v) for k, v in plan["action"].value_counts().items() if v}
    statuses = {k: int(v) for k, v in plan["status"].value_counts().items() if v}
    considered = plan[plan["action"].astype(object) != "skip"]
    records = _record_count(considered)
    linked = _record_count(considered[(considered["match_key"].astype(object) == "id_map")
                                      & considered["jobsiteon_id"].notna() & considered["qbo_id"].notna()])
    return {
        "records": _record_count(plan),
        "actions": actions,
        "statuses": statuses,
        "linked": linked,
        "mapping_completeness": round(linked / records, 6) if records else 1.0,
        "residual": residual(plan),
    }


def _record_count(plan: pd.DataFrame) -> int:
    if len(plan) == 0:
        return 0
    keys = plan[["jobsiteon_id", "qbo_id"]].astype(object).fillna("")
    return int(len(keys.drop_duplicates()))


def residual(plan: pd.DataFrame) -> int:
    """Records that are neither in sync nor deliberately skipped (blocked ones count)."""
    open_rows = plan[(plan["status"].astype(object) != "in_sync") & (plan["action"].astype(object) != "skip")]
    return _record_count(open_rows)


def markdown_preview(plan: pd.DataFrame, limit: int = 20) -> str:
    """A markdown table of the first `limit` rows that are not in sync, for asset metadata."""
    rows = plan[plan["status"].astype(object) != "in_sync"]
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
