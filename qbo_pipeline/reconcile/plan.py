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
  sync_hash     the content hash (frames.fingerprints) to store in the id map after applying
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
  row is `skip` "pending" — QBO's new balance is pulled once the payment is pushed*. *While
  a record is pushed, the fields QBO recomputes from it (balance, status, remaining_credit)
  wait for the next run; amount_paid, which only payments move, is pulled at once.*
  QBO-only invoices (and items) are `skip`: they are never pulled.
- Payments recorded in QBO are created in JobsiteOn (origin 'qbo'); JobsiteOn's store then
  recomputes the invoice's amount_paid/balance/status, and the invoice's pull fields carry
  QBO's Balance as well. A payment pushed from JobsiteOn is linked, so it never echoes back.
- Lifecycle: a record soft-deleted/archived/voided on one side only:
  * name lists: resolved like a field (most recent wins): JobsiteOn wins -> deactivate_qbo /
    reactivate_qbo; QBO wins -> items: update_jobsiteon `archived`; contacts/vendors:
    `delete_jobsiteon` (soft delete; spec.qbo_inactive_policy "archive") or `skip` with a
    reason ("flag"); a QBO record reactivated or edited after JobsiteOn deleted it wins
    when more recent: the JobsiteOn record is restored (deleted_at=None) with QBO's values.
    A record gone on one side keeps its other differences until it is back.
  * documents: a JobsiteOn delete/void always propagates (delete_qbo); a QBO void/delete
    always propagates: invoices -> void_flag_jobsiteon, others -> delete_jobsiteon. A link
    whose record is gone from a complete frame counts as deleted on that side.
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

from qbo_pipeline.entities import Conflict, EntitySpec
from qbo_pipeline.reconcile import money, normalize
from qbo_pipeline.reconcile.diff import DiffResult, diff
from qbo_pipeline.reconcile.frames import (
    UNMAPPED, Context, canonical_values, fingerprints, make_context, raw_fast_columns,
)
from qbo_pipeline.reconcile.match import MatchResult, connect, match, syncable
from qbo_pipeline.reconcile.report import markdown_preview, residual, summarize  # noqa: F401 - re-exported

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
_CATEGORIES = {"status": STATUSES, "action": ACTIONS, "winner": WINNERS}

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

    `jobsiteon`: JobsiteOnStore.read_frame(); `qbo`: entities.qbo_to_frame(); `id_map`: this
    entity's links (state IdMapRepository.frame), or every entity's links with an `entity`
    column. `ref_id_maps`: links of the referenced entities by name, when `id_map` holds only
    this entity's. `settings`: the workspace settings (tax rate for explanations).
    `*_complete=False` for partial (incremental) frames: a link whose record is absent from a
    partial frame is then left alone instead of being treated as deleted."""
    ctx = make_context(
        spec, jobsiteon, qbo, id_map, ref_id_maps=ref_id_maps, settings=settings,
        qbo_complete=qbo_complete, jobsiteon_complete=jobsiteon_complete,
    )
    matched = match(ctx, connect())
    return build_plan(ctx, matched, diff(ctx, matched))


def build_plan(ctx: Context, m: MatchResult, d: DiffResult) -> pd.DataFrame:
    rows = _Rows(ctx, m, d)
    rows.detail()
    rows.orphans()
    rows.unmatched()
    rows.blocked()
    return _assemble(ctx, m, rows.out)


def _assemble(ctx: Context, m: MatchResult, small: dict[str, list]) -> pd.DataFrame:
    """The plan frame: the rows built one by one (`small`: plan column -> values), then
    every linked pair the fast pass found equal — taken straight from the id map's columns,
    one array per plan column (no per-row Python for the in-sync million)."""
    in_sync = (m.mpos >= 0) & (m.jpos >= 0) & (m.qpos >= 0) & m.equal & ~m.duplicate
    mask = np.zeros(len(ctx.id_map), dtype=bool)
    mask[m.mpos[in_sync]] = True
    head_n, bulk = len(small["entity"]), int(mask.sum())
    total = head_n + bulk
    key_names = [k.name for k in ctx.spec.match_keys]
    data: dict[str, object] = {}
    for name, values in small.items():
        head = np.fromiter(values, dtype=object, count=head_n)  # tuples stay elements
        if name in _CATEGORIES or name == "match_key":
            categories = key_names if name == "match_key" else _CATEGORIES[name]
            codes = np.full(total, 0 if name != "winner" else -1, dtype=np.int8)
            codes[:head_n] = pd.Index(categories, dtype=object).get_indexer(head)
            data[name] = pd.Categorical.from_codes(codes, categories=categories)
            continue
        column = np.empty(total, dtype=object)  # numpy fills object arrays with None
        if name in ("jobsiteon_id", "qbo_id"):
            np.compress(mask, ctx.id_map[name].to_numpy(), out=column[head_n:])
        elif name == "entity":
            column.fill(ctx.spec.name)  # one shared str (np.full would make a million copies)
        elif name == "fields":
            column.fill(())
        column[:head_n] = head
        # dtype=object explicitly: pandas would otherwise scan each object column for dates
        data[name] = pd.Series(column, dtype=object, copy=False)
    return pd.DataFrame(data, copy=False)


class _Columns:
    """Lazily taken columns of some rows of a frame (no whole-frame conversions)."""

    def __init__(self, frame: pd.DataFrame, positions: np.ndarray,
                 taken: Mapping[str, np.ndarray] | None = None) -> None:
        self.frame, self.positions = frame, positions
        self.cache: dict[str, object] = dict(taken or {})  # columns already taken at positions
        self.cleaned: dict[str, np.ndarray] = {}

    def __getitem__(self, column: str):
        if column not in self.cache:
            if column not in self.frame.columns:
                self.cache[column] = np.full(len(self.positions), None, dtype=object)
            else:
                series = self.frame[column]
                if isinstance(series.dtype, pd.DatetimeTZDtype):
                    self.cache[column] = series.array.take(self.positions)
                else:
                    self.cache[column] = series.to_numpy()[self.positions]
        return self.cache[column]

    def row(self, i: int) -> _RowView:
        return _RowView(self, i)

    def clean(self, column: str) -> np.ndarray:
        """The column as objects with missing markers (NaN, NaT) turned into None."""
        found = self.cleaned.get(column)
        if found is None:
            values = np.asarray(self[column], dtype=object)
            missing = np.flatnonzero(pd.isna(values))
            if len(missing):
                values = values.copy()
                values[missing] = None
            found = self.cleaned[column] = values
        return found


class _RowView:
    """dict-like access to row i of a _Columns."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: _Columns, i: int) -> None:
        self.columns, self.i = columns, i

    def get(self, column: str, default=None):
        value = self.columns[column][self.i]
        return default if value is None else value


def _clean(value):
    return None if normalize.is_missing(value) else value


def _row_lists(winners: np.ndarray, names: np.ndarray, codes) -> list[tuple[tuple, ...]]:
    """Per row of a (rows x columns) winners matrix, per code in `codes`, the tuple of the
    column names with that code. Rows share the tuples of their pattern: there are a
    handful of patterns, whatever the number of rows."""
    if winners.size == 0:
        return [((),) * len(codes)] * winners.shape[0]
    if winners.shape[1] <= 21:  # a row as one int64, 3 bits a column: a plain sort, not axis=0's
        packed = winners.astype(np.int64) @ (8 ** np.arange(winners.shape[1], dtype=np.int64))
        _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        patterns = winners[first]
    else:
        patterns, inverse = np.unique(winners, axis=0, return_inverse=True)
    found = [tuple(tuple(names[row == code]) for code in codes) for row in patterns]
    return [found[i] for i in inverse.reshape(-1).tolist()]


class _Rows:
    """Collects the plan rows of every record the fast pass did not clear."""

    def __init__(self, ctx: Context, m: MatchResult, d: DiffResult) -> None:
        self.ctx, self.m, self.d, self.spec = ctx, m, d, ctx.spec
        # column-wise: tens of thousands of row tuples would outlive the young GC generations
        # and set off a full collection of the process (~50 ms) during every large plan
        self.out: dict[str, list] = {name: [] for name in COLUMNS}
        self._append = [column.append for column in self.out.values()]
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
        (entity_, jid_, qid_, status_, action_, fields_, winner_, loser_, reason_, key_, values_,
         hash_, delta_) = self._append
        entity_(self.spec.name), jid_(jid), qid_(qid), status_(status), action_(action)
        fields_(tuple(fields)), winner_(winner), loser_(loser), reason_(reason), key_(key)
        values_(values), hash_(sync_hash), delta_(delta)

    # -- helpers ----------------------------------------------------------------------------

    def _fm(self, column: str):
        return self.fields.get(column)

    def can_push(self, column: str) -> bool:
        return self.spec.can_push(self._fm(column))

    def can_pull(self, column: str) -> bool:
        return self.spec.can_pull(self._fm(column))

    def push_problem(self, jrow, columns) -> str | None:
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
                            return (f"waits for {ref.entity} {value} (a line's {ref.column}): it is "
                                    f"not linked to QBO yet; sync {ref.entity} first")
        return None

    def pull_problem(self, values: Mapping) -> tuple[str, str] | None:
        """A QBO reference with no JobsiteOn twin: (action, reason)."""
        def check(entity, value):
            if isinstance(value, str) and value.startswith(UNMAPPED):
                qid = value[len(UNMAPPED):]
                if self.ctx.refs[entity].pullable:
                    return ("none", f"waits for QBO {entity} {qid}: it is not linked to JobsiteOn "
                                    f"yet; sync {entity} first")
                return ("skip", f"refers to QBO {entity} {qid}, which is not synced to JobsiteOn "
                                f"({entity} are push-only)")
            return None
        for column, value in values.items():
            if column in self.refs:
                found = check(self.refs[column].entity, value)
                if found:
                    return found
            if column == "lines":
                for ref in self.line_refs:
                    for line in value or []:
                        found = check(ref.entity, line.get(ref.column))
                        if found:
                            return found
        return None

    @staticmethod
    def jobsiteon_values(jrow, columns) -> dict:
        return {c: _clean(jrow.get(c)) for c in columns}

    def qbo_values(self, qrow, columns) -> dict:
        return canonical_values(self.ctx, qrow, "qbo", columns)

    @staticmethod
    def _jvals(cols: dict[str, np.ndarray], i: int, columns) -> dict:
        return {c: cols[c][i] for c in columns}

    def _qvals(self, cols: dict[str, np.ndarray], i: int, columns) -> dict:
        """QBO values in the JobsiteOn id space (cols: translated by _qbo_arrays)."""
        return {c: cols[c][i] for c in columns}

    def _qbo_arrays(self, qcols: _Columns, columns) -> dict[str, np.ndarray]:
        """Cleaned QBO columns with references (lines included) translated to JobsiteOn ids."""
        out = {}
        for c in columns:
            values = qcols.clean(c)
            if c in self.refs:
                ref = self.ctx.refs[self.refs[c].entity]
                values = np.array([ref.jobsiteon_id(v) for v in values], dtype=object)
            elif c == "lines":
                values = np.array([
                    None if v is None else canonical_values(self.ctx, {"lines": v}, "qbo", ["lines"])["lines"]
                    for v in values], dtype=object)
            out[c] = values
        return out

    def whole_record_columns(self) -> list[str]:
        columns = [fm.column for fm in self.spec.fields]
        return columns + (["lines"] if self.spec.line_spec else [])

    def restore_values(self, jrow) -> tuple[tuple, dict]:
        values: dict = {}
        if self.spec.archived_column:
            values[self.spec.archived_column] = False
        if not normalize.is_missing(jrow.get("deleted_at")):
            values["deleted_at"] = None
        return tuple(values), values

    # -- linked and freshly matched pairs ---------------------------------------------------

    def _winners(self) -> np.ndarray:
        """Per pair and compared column: _J, _Q, _PENDING (pull-only, QBO did not change),
        _FLAG (push-only edited in QBO, policy flag) or _NONE (equal / not synced)."""
        d, cols = self.d, self.columns
        if len(d) == 0:
            return np.zeros((0, len(cols)), dtype=np.int8)
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
        winners = np.where(d.changed, winners, _NONE)
        # QBO recomputes some fields (balance, status) from what is pushed: while a record is
        # pushed they wait for the next run (amount_paid, set by payments, does not), and
        # while its total does not match (blocked "total mismatch") they follow a total
        # JobsiteOn does not share, so they wait for the fix.
        recomputed = np.array([bool(self._fm(c) and self._fm(c).recomputed) for c in cols])[None, :]
        waiting = ((winners == _J).any(axis=1) | (d.changed & check).any(axis=1))[:, None]
        winners = np.where(waiting & recomputed & (winners == _Q), _PENDING, winners)
        return winners.astype(np.int8)

    def _lifecycle_winner(self, jc, qc, jn) -> np.ndarray:
        winner = np.where(jc & ~qc, _J, np.where(qc & ~jc, _Q, np.where(jn, _J, _Q)))
        if not self.spec.push_updates:
            winner[:] = _Q
        if not self.spec.pull_updates:
            winner[:] = _J
        return winner

    def detail(self) -> None:
        d, spec = self.d, self.spec
        n = len(d)
        if n == 0:
            return
        pairs = d.pairs
        jpos_all = pairs["jpos"].to_numpy(np.int64)
        qpos_all = pairs["qpos"].to_numpy(np.int64)
        jc_all = pairs["j_changed"].to_numpy(bool)
        qc_all = pairs["q_changed"].to_numpy(bool)
        jn_all = pairs["j_newer"].to_numpy(bool)
        j_alive = pairs["j_alive"].to_numpy(bool)
        q_alive = pairs["q_alive"].to_numpy(bool)
        winners = self._winners()
        both_alive = j_alive & q_alive
        life = self._lifecycle_winner(jc_all, qc_all, jn_all)
        if spec.is_name_list:
            final_alive = np.where(both_alive, True, np.where(life == _J, j_alive, q_alive))
        else:
            final_alive = both_alive
        pulled = (winners == _Q) & both_alive[:, None]
        if spec.is_name_list:  # a restore from QBO takes QBO's differing values along
            restore = ~both_alive & (life == _Q) & ~j_alive & q_alive
            pullable_cols = np.array([self.can_pull(c) for c in self.columns])[None, :]
            pulled |= restore[:, None] & d.changed & pullable_cols
        # the content hash of JobsiteOn's record after this plan (pulled values included)
        merged = [np.where(pulled[:, k], d.qbo_fast[k], d.jobsiteon_fast[k]) for k in range(len(self.columns))]
        sync_hashes = fingerprints(merged, final_alive)
        cols = np.array(self.columns, dtype=object)
        check_cols = [i for i, c in enumerate(self.columns) if self._fm(c) and self._fm(c).check]
        row_lists = _row_lists(winners, cols, (_J, _Q, _PENDING, _FLAG))
        jcols = _Columns(self.ctx.jobsiteon, jpos_all, raw_fast_columns(self.ctx, d.jobsiteon_fast))
        qcols = _Columns(self.ctx.qbo, qpos_all, raw_fast_columns(self.ctx, d.qbo_fast))
        jclean = {c: jcols.clean(c) for c in self.columns}
        qclean = self._qbo_arrays(qcols, self.columns)
        pullable = {c: self.can_pull(c) for c in self.columns}
        # Python lists: indexing numpy arrays row by row costs more than the rows' own work
        jc_all, qc_all, both_alive, sync_hashes = (
            a.tolist() for a in (jc_all, qc_all, both_alive, sync_hashes))
        rows = zip(list(self.j_ids[jpos_all]), list(self.q_ids[qpos_all]),
                   list(pairs["match_key"].to_numpy()), (pairs["mpos"].to_numpy() < 0).tolist(),
                   self.syncable[jpos_all].tolist())
        for i, (jid, qid, key, new_link, syncable) in enumerate(rows):
            if not syncable:
                rule = spec.sync_statuses
                self.add(jid, qid, "update", "skip", key=key,
                         reason=f"{spec.jobsiteon_table} with {rule[0]} {jcols[rule[0]][i]!r} do not sync")
                continue
            if not both_alive[i]:
                self.lifecycle(jid, qid, key, jcols.row(i), qcols.row(i), j_alive[i], q_alive[i],
                               life[i], d.changed[i], sync_hashes[i])
                continue
            push, pull, pending, flagged = row_lists[i]
            both = bool(jc_all[i] and qc_all[i]) and not new_link
            status = "conflict" if both and (push or pull) else "update"
            sync_hash = sync_hashes[i]
            emitted = False
            if push:
                problem = self.push_problem(jcols.row(i), push) if self.refs or self.line_refs else None
                if problem:
                    self.add(jid, qid, "blocked", "none", fields=push, key=key, reason=problem)
                else:
                    edited_in_qbo = (qc_all[i] and not jc_all[i]
                                     and not any(pullable[f] for f in push))
                    reason = self._reason("jobsiteon", push, both, new_link, key, edited_in_qbo)
                    self.add(jid, qid, status, "link" if new_link else "update_qbo", fields=push,
                             winner="jobsiteon", loser=self._qvals(qclean, i, push), reason=reason,
                             key=key, values=self._jvals(jclean, i, push), sync_hash=sync_hash)
                emitted = True
            if pull:
                values = self._qvals(qclean, i, pull)
                problem = self.pull_problem(values) if self.refs or self.line_refs else None
                if problem:
                    action, reason = problem
                    self.add(jid, qid, "blocked" if action == "none" else status, action,
                             fields=pull, key=key, reason=reason)
                else:
                    action = "link" if new_link and not emitted else "update_jobsiteon"
                    reason = self._reason("qbo", pull, both, new_link, key, False)
                    self.add(jid, qid, status, action, fields=pull, winner="qbo",
                             loser=self._jvals(jclean, i, pull), reason=reason, key=key,
                             values=values, sync_hash=sync_hash)
                emitted = True
            if flagged:
                self.add(jid, qid, "blocked", "none", fields=flagged, key=key,
                         reason=f"edited in QBO, but {spec.name} are push-only and the policy is to flag: "
                                f"review {', '.join(flagged)} in QBO or re-save the record in JobsiteOn")
                emitted = True
            if check_cols and not push:
                for k in check_cols:
                    if d.changed[i, k]:
                        column = cols[k]
                        reason, delta = self._total_mismatch(jcols.row(i), qcols.row(i))
                        self.add(jid, qid, "blocked", "none", fields=(column,), key=key,
                                 reason=reason, delta=delta, values=self._jvals(jclean, i, [column]),
                                 loser=self._qvals(qclean, i, [column]))
                        emitted = True
            if pending and not emitted:
                self.add(jid, qid, "update", "skip", fields=pending, key=key,
                         reason=f"pending: {', '.join(pending)} changed in JobsiteOn only; QBO sets them "
                                "and they follow once the change reaches QBO (e.g. the payment is pushed)")
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

    def _total_mismatch(self, jrow, qrow) -> tuple[str, Decimal]:
        j_cents = money.cents(jrow.get("total")) or 0
        q_cents = money.cents(qrow.get("total")) or 0
        delta = j_cents - q_cents
        reason = (f"total mismatch: JobsiteOn total {money.from_cents(j_cents)} vs QBO TotalAmt "
                  f"{money.from_cents(q_cents)} (delta {money.format_delta(delta)})")
        rate = self.ctx.settings.tax_rate
        lines = jrow.get("lines")
        if rate is not None and isinstance(lines, list):
            price = "unit_cost" if self.spec.name == "purchase_orders" else "unit_price"
            if jrow.get("tax_inclusive") and not self.ctx.settings.send_global_tax_calculation:
                on_top = money.document_totals(lines, rate, False, price_key=price).total
                if money.cents(on_top) == q_cents:
                    return (reason + "; QBO added the tax on top of the prices: a US QBO company has no "
                            "tax-inclusive pricing — make the document tax-exclusive in JobsiteOn"), \
                        money.from_cents(delta)
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

    def lifecycle(self, jid, qid, key, jrow, qrow, j_alive, q_alive, winner, changed, sync_hash) -> None:
        """One side is deleted/archived/voided (key matching only pairs live records, so
        this is always an existing link)."""
        spec = self.spec
        if not j_alive and not q_alive:
            self.add(jid, qid, "in_sync", "none", key=key)
            return
        if spec.is_name_list:
            self._name_list_lifecycle(jid, qid, key, winner, j_alive, jrow, changed, sync_hash, qrow)
            return
        if not j_alive:
            self.add(jid, qid, "deleted", "delete_qbo", winner="jobsiteon", key=key,
                     reason=f"deleted or voided in JobsiteOn: {spec.qbo_remove} the QBO {spec.qbo_entity}",
                     sync_hash=sync_hash)
            return
        self._qbo_gone(jid, qid, key, jrow, "voided" if qrow.get("qbo_status") == "voided" else "deleted")

    def _qbo_gone(self, jid, qid, key, jrow, how: str) -> None:
        spec = self.spec
        if spec.void_status:
            column, value = spec.void_status
            self.add(jid, qid, "deleted", "void_flag_jobsiteon", fields=(column,), winner="qbo",
                     loser={column: _clean(jrow.get(column))}, key=key, values={column: value},
                     reason=f"{how} in QBO: flagged {value!r} in JobsiteOn, not deleted")
        elif spec.pull_updates:
            self.add(jid, qid, "deleted", "delete_jobsiteon", winner="qbo", key=key,
                     reason=f"{how} in QBO: soft-deleted in JobsiteOn")
        else:
            self.add(jid, qid, "blocked", "none", key=key,
                     reason=f"record not found: {how} in QBO; re-create it (unlink) or delete it in JobsiteOn")

    def _name_list_lifecycle(self, jid, qid, key, winner, j_alive, jrow, changed, sync_hash,
                             qrow=None) -> None:
        spec = self.spec
        if winner == _J:
            fields = ()
            if j_alive and changed is not None:
                fields = tuple(c for k, c in enumerate(self.columns) if changed[k] and self.can_push(c))
            self.add(jid, qid, "deleted", "reactivate_qbo" if j_alive else "deactivate_qbo",
                     fields=fields, winner="jobsiteon", loser={"active": not j_alive}, key=key,
                     values={"active": bool(j_alive), **self.jobsiteon_values(jrow, fields)},
                     reason=("restored in JobsiteOn: reactivate in QBO" if j_alive
                             else "deleted/archived in JobsiteOn: deactivate in QBO"),
                     sync_hash=sync_hash)
            return
        if not j_alive:  # QBO reactivated (or edited) it, after JobsiteOn deleted it: restore
            fields, values = self.restore_values(jrow)
            pulled = ()
            if changed is not None and qrow is not None:
                pulled = tuple(c for k, c in enumerate(self.columns) if changed[k] and self.can_pull(c))
                values.update(self.qbo_values(qrow, pulled))
            self.add(jid, qid, "deleted", "update_jobsiteon", fields=fields + pulled, winner="qbo",
                     loser={"active": False, **self.jobsiteon_values(jrow, pulled)}, key=key, values=values,
                     reason="reactivated in QBO: restored in JobsiteOn", sync_hash=sync_hash)
            return
        if spec.archived_column:
            column = spec.archived_column
            self.add(jid, qid, "deleted", "update_jobsiteon", fields=(column,), winner="qbo",
                     loser={column: False}, key=key, values={column: True},
                     reason="made inactive in QBO: archived in JobsiteOn", sync_hash=sync_hash)
        elif spec.qbo_inactive_policy == "archive":
            self.add(jid, qid, "deleted", "delete_jobsiteon", winner="qbo", key=key,
                     loser={"active": True}, sync_hash=sync_hash,
                     reason="made inactive (deleted) in QBO: soft-deleted in JobsiteOn")
        else:
            self.add(jid, qid, "deleted", "skip", key=key,
                     reason="inactive in QBO; policy 'flag': the JobsiteOn record is kept — "
                            "reactivate it in QBO or delete it in JobsiteOn")

    # -- links whose record is gone from a frame ---------------------------------------------

    def orphans(self) -> None:
        m, ctx, spec = self.m, self.ctx, self.spec
        rows = np.flatnonzero((m.mpos >= 0) & ((m.jpos < 0) | (m.qpos < 0)) & ~m.duplicate)
        if not len(rows):
            return
        ids_j = ctx.id_map["jobsiteon_id"].to_numpy()
        ids_q = ctx.id_map["qbo_id"].to_numpy()
        j_alive, q_alive = ctx.alive("jobsiteon"), ctx.alive("qbo")
        for r in rows:
            mpos, jpos, qpos = m.mpos[r], m.jpos[r], m.qpos[r]
            jid, qid = ids_j[mpos], ids_q[mpos]
            if (jpos < 0 and not ctx.jobsiteon_complete) or (qpos < 0 and not ctx.qbo_complete):
                continue  # a partial frame says nothing about the missing side
            if jpos < 0 and qpos < 0:
                self.add(jid, qid, "deleted", "skip", key="id_map",
                         reason="stale id map entry: the record is gone on both sides; unlink it")
            elif jpos < 0 and not q_alive[qpos]:
                self.add(jid, qid, "deleted", "skip", key="id_map",
                         reason="deleted in JobsiteOn and inactive in QBO; unlink it")
            elif jpos < 0 and spec.is_name_list:
                self.add(jid, qid, "deleted", "deactivate_qbo", winner="jobsiteon", key="id_map",
                         values={"active": False},
                         reason="deleted in JobsiteOn (record gone): deactivate in QBO")
            elif jpos < 0:
                self.add(jid, qid, "deleted", "delete_qbo", winner="jobsiteon", key="id_map",
                         reason=f"deleted in JobsiteOn (record gone): {spec.qbo_remove} the QBO "
                                f"{spec.qbo_entity}")
            elif not j_alive[jpos]:
                self.add(jid, qid, "deleted", "skip", key="id_map",
                         reason="gone from QBO and deleted in JobsiteOn; unlink it")
            else:
                jrow = _Columns(ctx.jobsiteon, np.array([jpos])).row(0)
                if spec.is_name_list:
                    self._name_list_lifecycle(jid, qid, "id_map", _Q, True, jrow, None, None)
                else:
                    self._qbo_gone(jid, qid, "id_map", jrow, "deleted")

    # -- records without a twin -----------------------------------------------------------------

    def _unmatched_columns(self, side: str, positions: np.ndarray) -> tuple[_Columns, np.ndarray]:
        """Records without a twin: their columns and the content hash a create records."""
        fast = self.m.fast_values(side, positions)
        frame = self.ctx.jobsiteon if side == "jobsiteon" else self.ctx.qbo
        columns = _Columns(frame, positions, raw_fast_columns(self.ctx, fast))
        return columns, fingerprints(fast, np.ones(len(positions), dtype=bool))

    def unmatched(self) -> None:
        ctx, spec, m = self.ctx, self.spec, self.m
        columns = self.whole_record_columns()
        j_pos = m.j_unmatched
        if len(j_pos):
            j_alive = ctx.alive("jobsiteon")[j_pos]
            jcols, hashes = self._unmatched_columns("jobsiteon", j_pos)
            record_columns = ["id"] + columns
            records = zip(*[jcols.clean(c).tolist() for c in record_columns])
            j_alive, hashes = j_alive.tolist(), hashes.tolist()
            create = f"not in QBO: create the {spec.qbo_entity}"
            rows = zip(list(self.j_ids[j_pos]), self.syncable[j_pos].tolist(), records)
            for i, (jid, syncable, record) in enumerate(rows):
                if not syncable:
                    rule = spec.sync_statuses
                    self.add(jid, None, "missing", "skip",
                             reason=f"{spec.jobsiteon_table} with {rule[0]} {jcols[rule[0]][i]!r} do not sync")
                elif not j_alive[i]:
                    self.add(jid, None, "deleted", "skip",
                             reason="deleted/archived/voided in JobsiteOn before it was ever synced")
                elif not spec.push_creates:
                    self.add(jid, None, "missing", "skip",
                             reason=f"JobsiteOn-only {spec.name} are not pushed to QBO")
                else:
                    values = dict(zip(record_columns, record))
                    problem = self.push_problem(values, list(self.refs) + ["lines"]) if (
                        self.refs or self.line_refs) else None
                    if problem:
                        self.add(jid, None, "blocked", "none", reason=problem)
                    else:
                        self.add(jid, None, "missing", "create_qbo", winner="jobsiteon", values=values,
                                 sync_hash=hashes[i], reason=create)
        q_pos = m.q_unmatched
        if len(q_pos):
            q_alive = ctx.alive("qbo")[q_pos]
            qcols, hashes = self._unmatched_columns("qbo", q_pos)
            defaults = dict(spec.jobsiteon_defaults)
            arrays = self._qbo_arrays(qcols, columns)
            records = zip(*[arrays[c].tolist() for c in columns])
            q_alive, hashes = q_alive.tolist(), hashes.tolist()
            create = f"not in JobsiteOn: create the {spec.jobsiteon_table} record"
            for i, (qid, record) in enumerate(zip(list(self.q_ids[q_pos]), records)):
                if not q_alive[i]:
                    self.add(None, qid, "deleted", "skip",
                             reason=f"{qcols['qbo_status'][i]} in QBO; not imported")
                elif not spec.pull_creates:
                    self.add(None, qid, "missing", "skip",
                             reason=f"QBO-only {spec.name} are not pulled ({spec.name} are push-only)")
                else:
                    values = dict(zip(columns, record))
                    problem = self.pull_problem(values) if (self.refs or self.line_refs) else None
                    if problem:
                        action, reason = problem
                        self.add(None, qid, "blocked" if action == "none" else "missing", action, reason=reason)
                    else:
                        values.update(defaults)
                        self.add(None, qid, "missing", "create_jobsiteon", winner="qbo", values=values,
                                 sync_hash=hashes[i], reason=create)

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
