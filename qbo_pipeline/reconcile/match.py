"""Match: which JobsiteOn record is which QBO record.

1. Through the id map. One DuckDB query joins id map, JobsiteOn frame and QBO frame on their
   ids (FULL OUTER, so records missing on either side and orphaned links show up). Scanning
   each 1M-row side is the expensive part, so the same pass also hashes each side's compared
   values (`frames.fast_columns`; equal hashes = in sync) and the match keys that can be
   searched over a whole table (email, DocNumber: `normalize.sql_key_hash`).
2. For records not in the id map, the spec's match keys in order (email, then name for
   contacts; DocNumber for documents). A key of scope "all" is searched over every live
   record of the other side — with the key hashes from step 1, in numpy — so a record whose
   twin is already linked to someone else is caught as a duplicate; every candidate is
   confirmed with the exact Python key. Scope "unlinked" only pairs unlinked records.
   Exactly one candidate that has exactly one candidate back -> a new link. Anything else
   (two candidates, a candidate already linked elsewhere, a name match whose emails differ)
   -> blocked with a "duplicate record" reason: no create happens for it, so a duplicate
   cannot be made.
Soft-deleted/archived/voided records (and JobsiteOn rows that do not sync, e.g. draft
invoices) take no part in key matching.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from qbo_pipeline.entities import MatchKey
from qbo_pipeline.reconcile import normalize
from qbo_pipeline.reconcile.frames import Context, fast_columns, fast_names, row_hash_sql


@dataclass
class MatchResult:
    # One entry per row of the id join (every link, every unlinked record of either side).
    mpos: np.ndarray
    jpos: np.ndarray
    qpos: np.ndarray
    equal: np.ndarray  # compared values hash equal (meaningful where both sides exist)
    duplicate: np.ndarray  # an id occurs twice (id map or frame): the row cannot be trusted
    links: pd.DataFrame  # new links: jpos, qpos, match_key
    blocked: pd.DataFrame  # jpos, qpos, match_key, reason
    j_unmatched: np.ndarray  # JobsiteOn positions with no twin
    q_unmatched: np.ndarray
    fast_j: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # frames.fast_columns
    fast_q: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    ctx: Context | None = field(repr=False, default=None)

    def fast_values(self, side: str, positions: np.ndarray) -> list[np.ndarray]:
        """The fast values of some records, one array per compared column."""
        fast = self.fast_j if side == "jobsiteon" else self.fast_q
        return [fast[name][positions] for name in fast_names(self.ctx)]


_local = threading.local()


def connect() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection (opening one costs ~15 ms; a connection
    must not be shared between threads, so each thread keeps its own)."""
    con = getattr(_local, "con", None)
    if con is None:
        # pandas_analyze_sample=0: object columns are read as VARCHAR without sampling them
        # first (~8 ms a frame); the id join casts every column to VARCHAR anyway.
        # build_side_probe_side off: the id join's hash tables are built on the two sides as
        # written and the id map streams through both probes; the optimizer would otherwise
        # build on the first join's 1M-row result (~10 % slower).
        config = {
            "threads": max(1, os.cpu_count() or 1), "preserve_insertion_order": False,
            "pandas_analyze_sample": 0, "disabled_optimizers": "build_side_probe_side",
        }
        try:
            con = duckdb.connect(config=config)
        except duckdb.Error:  # a DuckDB release without that optimizer's name: only slower
            con = duckdb.connect(config={k: v for k, v in config.items() if k != "disabled_optimizers"})
        _local.con = con
    return con


def syncable(ctx: Context) -> np.ndarray:
    """JobsiteOn rows that take part in the sync at all (draft invoices do not)."""
    frame, rule = ctx.jobsiteon, ctx.spec.sync_statuses
    if rule is None or rule[0] not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return frame[rule[0]].isin(rule[1]).to_numpy()


def hashed_keys(ctx: Context) -> list[MatchKey]:
    """Match keys searched over whole tables that have an SQL form (hashed in the id join)."""
    return [
        key for key in ctx.spec.match_keys
        if key.scope == "all" and len(key.columns) == 1
        and normalize.sql_prefilter(key.kinds[0], "v") is not None
        and key.columns[0] not in {r.column for r in ctx.spec.references}
    ]


@dataclass
class _Join:
    mp: np.ndarray
    jp: np.ndarray
    qp: np.ndarray
    eq: np.ndarray
    fast_j: dict[str, np.ndarray]
    fast_q: dict[str, np.ndarray]
    key_j: dict[str, np.ndarray]  # key name -> key hash per position (0 = no key)
    key_q: dict[str, np.ndarray]


def _key_columns(ctx: Context, keys: list[MatchKey]) -> list[str]:
    """Per hashed key, the view column holding its raw values: the compared column itself
    when the key is a compared text field (DuckDB then converts those strings once)."""
    compared = {fm.column: f"c{i}" for i, fm in enumerate(ctx.compared_fields)
                if fm.kind.value in ("text", "email", "phone", "enum")}
    return [compared.get(key.columns[0], f"key{i}") for i, key in enumerate(keys)]


def _side_view(ctx: Context, side: str, fast: dict[str, np.ndarray], keys: list[MatchKey]):
    frame = ctx.jobsiteon if side == "jobsiteon" else ctx.qbo
    id_column = "id" if side == "jobsiteon" else "qbo_id"
    data = {"k": frame[id_column].to_numpy(), "pos": np.arange(len(frame)),
            "alive": ctx.alive(side), **fast}
    for key, name in zip(keys, _key_columns(ctx, keys)):
        if name not in data:
            column = key.columns[0]
            data[name] = (frame[column].to_numpy() if column in frame.columns
                          else np.full(len(frame), None, dtype=object))
    return pd.DataFrame(data, copy=False)


def id_join(ctx: Context, con: duckdb.DuckDBPyConnection) -> _Join:
    """The id join, the content hashes and the whole-table key hashes in one DuckDB query
    (module docstring, step 1)."""
    keys = hashed_keys(ctx)
    j_cols = fast_columns(ctx, ctx.jobsiteon, "jobsiteon")
    q_cols = fast_columns(ctx, ctx.qbo, "qbo")
    con.register("j_view", _side_view(ctx, "jobsiteon", j_cols, keys))
    con.register("q_view", _side_view(ctx, "qbo", q_cols, keys))
    con.register("m_view", pd.DataFrame(
        {"j": ctx.id_map["jobsiteon_id"].to_numpy(), "q": ctx.id_map["qbo_id"].to_numpy(),
         "pos": np.arange(len(ctx.id_map))},
        copy=False,
    ))
    row_hash = row_hash_sql(list(j_cols))
    key_sql = "".join(
        f", {normalize.sql_key_hash(key.kinds[0], f'CAST({column} AS VARCHAR)')} AS key{i}"
        for i, (key, column) in enumerate(zip(keys, _key_columns(ctx, keys)))
    )
    key_out = "".join(f", coalesce(j.key{i}, 0::UBIGINT) AS jk{i}, coalesce(q.key{i}, 0::UBIGINT) AS qk{i}"
                      for i in range(len(keys)))
    try:
        # con.sql(): a relation materializes its result in parallel; con.execute() streams
        # it, so the final join pipeline would run on one thread (~0.2 s of 0.7 s at 1M rows)
        result = con.sql(
            f"""
            WITH j AS (SELECT CAST(k AS VARCHAR) AS k, pos, {row_hash} AS h{key_sql} FROM j_view),
                 q AS (SELECT CAST(k AS VARCHAR) AS k, pos, {row_hash} AS h{key_sql} FROM q_view),
                 m AS (SELECT CAST(j AS VARCHAR) AS j, CAST(q AS VARCHAR) AS q, pos FROM m_view)
            SELECT coalesce(m.pos, -1) AS mp, coalesce(j.pos, -1) AS jp, coalesce(q.pos, -1) AS qp,
                   coalesce(j.h = q.h, false) AS eq{key_out}
            FROM m FULL JOIN j ON j.k = m.j FULL JOIN q ON q.k = m.q
            """
        ).fetchnumpy()
    finally:
        for name in ("j_view", "q_view", "m_view"):
            con.unregister(name)
    mp = np.asarray(result["mp"], dtype=np.int64)
    jp = np.asarray(result["jp"], dtype=np.int64)
    qp = np.asarray(result["qp"], dtype=np.int64)
    n_j, n_q = len(ctx.jobsiteon), len(ctx.qbo)
    no_key = np.uint64(con.execute("SELECT hash(NULL::VARCHAR)").fetchone()[0]) if keys else None

    def key_hashes(positions: np.ndarray, values, size: int) -> np.ndarray:
        hashes = np.array(values, dtype=np.uint64)
        hashes[hashes == no_key] = 0
        return _scatter(positions, hashes, size)

    key_j = {key.name: key_hashes(jp, result[f"jk{i}"], n_j) for i, key in enumerate(keys)}
    key_q = {key.name: key_hashes(qp, result[f"qk{i}"], n_q) for i, key in enumerate(keys)}
    return _Join(mp, jp, qp, np.asarray(result["eq"], dtype=bool), j_cols, q_cols, key_j, key_q)


def _scatter(positions: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """values placed at their positions; rows without one (-1) land in a spare last slot,
    which costs less than masking a million rows."""
    out = np.zeros(size + 1, dtype=values.dtype)
    out[positions] = values
    return out[:size]


_LOW_BITS = np.uint64((1 << 20) - 1)


def _members(hashes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """hashes ∈ wanted, for a million hashes and a few thousand wanted ones: a table over
    the low 20 bits of the wanted hashes rules out nearly every hash at the cost of one
    lookup; only the rest goes to a hash-table membership test (np.isin would sort)."""
    table = np.zeros(1 << 20, dtype=bool)
    table[(wanted & _LOW_BITS).astype(np.intp)] = True
    maybe = np.flatnonzero(table[(hashes & _LOW_BITS).astype(np.intp)])
    out = np.zeros(len(hashes), dtype=bool)
    out[maybe] = pd.Series(hashes[maybe], copy=False).isin(wanted).to_numpy()
    return out


def _duplicates(positions: np.ndarray, size: int) -> np.ndarray:
    """Per join row: its position occurs in more than one row. The FULL joins give every
    position at least one row, so there is none to find when the count of rows equals size."""
    valid = positions >= 0
    if size == 0 or np.count_nonzero(valid) <= size:
        return np.zeros(len(positions), dtype=bool)
    counts = np.bincount(positions[valid], minlength=size)
    out = np.zeros(len(positions), dtype=bool)
    out[valid] = counts[positions[valid]] > 1
    return out


def _row_index(positions: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    index = np.full(size, -1, dtype=np.int64)
    index[positions[rows]] = rows
    return index


def match(ctx: Context, con: duckdb.DuckDBPyConnection | None = None) -> MatchResult:
    joined = id_join(ctx, con or connect())
    mp, jp, qp = joined.mp, joined.jp, joined.qp
    n_j, n_q = len(ctx.jobsiteon), len(ctx.qbo)
    duplicate = _duplicates(mp, len(ctx.id_map)) | _duplicates(jp, n_j) | _duplicates(qp, n_q)
    unlinked = (mp < 0) & ~duplicate
    j_only = jp[unlinked & (jp >= 0)]
    q_only = qp[unlinked & (qp >= 0)]
    j_active = ctx.alive("jobsiteon") & syncable(ctx)
    q_active = ctx.alive("qbo")
    matcher = _KeyMatcher(ctx, joined, j_active, q_active)
    links, blocked = matcher.run(j_only[j_active[j_only]], q_only[q_active[q_only]])
    done_j = np.concatenate([links["jpos"].to_numpy(np.int64), blocked["jpos"].to_numpy(np.int64)])
    done_q = np.concatenate([links["qpos"].to_numpy(np.int64), blocked["qpos"].to_numpy(np.int64)])
    return MatchResult(
        mpos=mp, jpos=jp, qpos=qp, equal=joined.eq, duplicate=duplicate, links=links,
        blocked=blocked, j_unmatched=j_only[~np.isin(j_only, done_j)],
        q_unmatched=q_only[~np.isin(q_only, done_q)], fast_j=joined.fast_j, fast_q=joined.fast_q,
        ctx=ctx,
    )


_LINK_COLUMNS = {"jpos": np.int64, "qpos": np.int64, "match_key": object}
_BLOCK_COLUMNS = {"jpos": np.int64, "qpos": np.int64, "match_key": object, "reason": object}


def _frame(rows: list[dict], columns: dict[str, type]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return pd.DataFrame(rows, columns=list(columns)).astype(columns)


def _pairs(jpos, qpos) -> pd.DataFrame:
    return pd.DataFrame({"jpos": np.asarray(jpos, dtype=np.int64), "qpos": np.asarray(qpos, dtype=np.int64)})


class _KeyMatcher:
    """Pairs unlinked records by the spec's match keys (module docstring, step 2)."""

    def __init__(self, ctx: Context, joined: _Join, j_active, q_active):
        self.ctx, self.joined = ctx, joined
        self.j_active, self.q_active = j_active, q_active
        self._linked_rows: dict[str, np.ndarray] = {}
        self.ref_columns = {r.column: r.entity for r in ctx.spec.references if not r.in_lines}

    # -- keys per record ------------------------------------------------------------------

    def _values(self, side: str, positions: np.ndarray, column: str) -> list[object]:
        frame = self.ctx.jobsiteon if side == "jobsiteon" else self.ctx.qbo
        if column not in frame.columns:
            return [None] * len(positions)
        values = frame[column].to_numpy()[positions]
        if side == "qbo" and column in self.ref_columns:
            ref = self.ctx.refs[self.ref_columns[column]]
            return [ref.jobsiteon_id(v) for v in values]
        return list(values)

    def _keys(self, side: str, positions: np.ndarray, key: MatchKey) -> list[str | None]:
        columns = [self._values(side, positions, c) for c in key.columns]
        if len(key.columns) == 1:
            fn = normalize.KEYS[key.kinds[0]]
            return [fn(v) for v in columns[0]]
        return [normalize.composite_key(key.kinds, vals) for vals in zip(*columns)]

    def _key_frame(self, side: str, positions: np.ndarray, key: MatchKey) -> pd.DataFrame:
        frame = pd.DataFrame({"pos": positions, "key": self._keys(side, positions, key)})
        return frame[frame["key"].notna()]

    # -- candidates -----------------------------------------------------------------------

    def _confirmed(self, key: MatchKey, pairs: pd.DataFrame) -> pd.DataFrame:
        """Keeps the candidate pairs whose exact Python keys agree (hash prefilter hits)."""
        if pairs.empty:
            return pairs
        jk = self._keys("jobsiteon", pairs["jpos"].to_numpy(), key)
        qk = self._keys("qbo", pairs["qpos"].to_numpy(), key)
        keep = np.array([a is not None and a == b for a, b in zip(jk, qk)], dtype=bool)
        return pairs[keep]

    def _hashed_candidates(self, key: MatchKey, j_src: np.ndarray, q_src: np.ndarray) -> pd.DataFrame:
        key_j, key_q = self.joined.key_j[key.name], self.joined.key_q[key.name]
        wanted = np.concatenate([key_j[j_src], key_q[q_src]])
        wanted = np.unique(wanted[wanted != 0])
        if len(wanted) == 0:
            return _pairs([], [])
        j_hits = np.flatnonzero(self.j_active & _members(key_j, wanted))
        q_hits = np.flatnonzero(self.q_active & _members(key_q, wanted))
        left = pd.DataFrame({"h": key_j[j_hits], "jpos": j_hits})
        right = pd.DataFrame({"h": key_q[q_hits], "qpos": q_hits})
        pairs = left.merge(right, on="h")[["jpos", "qpos"]]
        # only pairs that involve a record being matched
        involved = pairs["jpos"].isin(j_src) | pairs["qpos"].isin(q_src)
        return self._confirmed(key, pairs[involved].astype(np.int64))

    def _exact_candidates(self, key: MatchKey, j_side, q_side, j_src, q_src) -> pd.DataFrame:
        jk, qk = self._key_frame("jobsiteon", j_side, key), self._key_frame("qbo", q_side, key)
        pairs = jk.merge(qk, on="key", suffixes=("_j", "_q"))
        pairs = _pairs(pairs["pos_j"], pairs["pos_q"])
        involved = pairs["jpos"].isin(j_src) | pairs["qpos"].isin(q_src)
        return pairs[involved]

    def _candidates(self, key: MatchKey, j_src: np.ndarray, q_src: np.ndarray) -> pd.DataFrame:
        if key.name in self.joined.key_j:
            # whole tables through the SQL key hashes, plus the exact Python key among the
            # unlinked records themselves (so the SQL form's Unicode caveat never hides a link)
            pairs = pd.concat([self._hashed_candidates(key, j_src, q_src),
                               self._exact_candidates(key, j_src, q_src, j_src, q_src)], ignore_index=True)
            return pairs.drop_duplicates().astype(np.int64)
        if key.scope == "unlinked":
            return self._exact_candidates(key, j_src, q_src, j_src, q_src)
        # no SQL form (names of items, composite keys): exact keys over the live records
        return self._exact_candidates(key, np.flatnonzero(self.j_active), np.flatnonzero(self.q_active),
                                      j_src, q_src)

    # -- resolution -----------------------------------------------------------------------

    def _guard_conflict(self, key: MatchKey, j: int, q: int) -> str | None:
        for column, kind in key.guard:
            jv = normalize.match_key(kind, self._values("jobsiteon", np.array([j]), column)[0])
            qv = normalize.match_key(kind, self._values("qbo", np.array([q]), column)[0])
            if jv and qv and jv != qv:
                return f"{column} differs ({jv} vs {qv})"
        return None

    def _label(self, side: str, pos: int) -> str:
        if side == "jobsiteon":
            return f"JobsiteOn {self.ctx.spec.jobsiteon_table} {self.ctx.jobsiteon['id'].iat[pos]}"
        return f"QBO {self.ctx.spec.qbo_entity} {self.ctx.qbo['qbo_id'].iat[pos]}"

    def _linked_to(self, side: str, pos: int) -> str | None:
        """For a record that is already linked: the id of its twin."""
        if side not in self._linked_rows:  # built on first use: only a rare reason needs it
            mp = self.joined.mp
            positions = self.joined.jp if side == "jobsiteon" else self.joined.qp
            size = len(self.ctx.jobsiteon if side == "jobsiteon" else self.ctx.qbo)
            self._linked_rows[side] = _row_index(positions, np.flatnonzero((mp >= 0) & (positions >= 0)), size)
        row = self._linked_rows[side][pos]
        if row < 0:
            return None
        m = self.joined.mp[row]
        column = "qbo_id" if side == "jobsiteon" else "jobsiteon_id"
        return str(self.ctx.id_map[column].iat[m])

    def run(self, j_src: np.ndarray, q_src: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        links: list[dict] = []
        blocked: list[dict] = []
        j_left, q_left = set(map(int, j_src)), set(map(int, q_src))
        for key in self.ctx.spec.match_keys:
            if key.name == "id_map" or not (j_left or q_left):
                continue
            pairs = self._candidates(
                key, np.array(sorted(j_left), dtype=np.int64), np.array(sorted(q_left), dtype=np.int64)
            )
            if pairs.empty:
                continue
            by_j: dict[int, list[int]] = {}
            by_q: dict[int, list[int]] = {}
            for j, q in zip(pairs["jpos"].tolist(), pairs["qpos"].tolist()):
                by_j.setdefault(j, []).append(q)
                by_q.setdefault(q, []).append(j)
            by_j = {k: sorted(set(v)) for k, v in by_j.items()}
            by_q = {k: sorted(set(v)) for k, v in by_q.items()}
            done_j: set[int] = set()
            done_q: set[int] = set()
            for j in sorted(j_left & set(by_j)):
                qs = by_j[j]
                q = qs[0]
                done_j.add(j)
                if len(qs) == 1 and q in q_left and by_q.get(q) == [j]:
                    done_q.add(q)
                    problem = self._guard_conflict(key, j, q)
                    if problem is None:
                        links.append({"jpos": j, "qpos": q, "match_key": key.name})
                        continue
                    reason = (f"duplicate record: {self._label('jobsiteon', j)} and {self._label('qbo', q)} "
                              f"match by {key.name} but {problem}; merge or rename one of them, then retry")
                    blocked.append({"jpos": j, "qpos": q, "match_key": key.name, "reason": reason})
                    continue
                blocked.append({
                    "jpos": j, "qpos": q if len(qs) == 1 else -1, "match_key": key.name,
                    "reason": self._ambiguity("jobsiteon", j, qs, by_q, key),
                })
            for q in sorted((q_left & set(by_q)) - done_q):
                blocked.append({
                    "jpos": -1, "qpos": q, "match_key": key.name,
                    "reason": self._ambiguity("qbo", q, by_q[q], by_j, key),
                })
                done_q.add(q)
            j_left -= done_j
            q_left -= done_q
        return _frame(links, _LINK_COLUMNS), _frame(blocked, _BLOCK_COLUMNS)

    def _ambiguity(self, side: str, pos: int, candidates: list[int], back: dict, key: MatchKey) -> str:
        other = "qbo" if side == "jobsiteon" else "jobsiteon"
        me = self._label(side, pos)
        if len(candidates) > 1:
            ids = ", ".join(self._label(other, c).rsplit(" ", 1)[-1] for c in candidates[:5])
            return (f"duplicate record: {me} matches {len(candidates)} {other} records by {key.name} "
                    f"({ids}); merge the duplicates or make the {key.name} unique, then retry")
        twin = candidates[0]
        linked = self._linked_to(other, twin)
        if linked is not None:
            return (f"duplicate record: {me} matches {self._label(other, twin)} by {key.name}, which is "
                    f"already linked to {linked}; merge the duplicates, then retry")
        rivals = back.get(twin, [])
        return (f"duplicate record: {me} and {max(len(rivals) - 1, 1)} other record(s) match "
                f"{self._label(other, twin)} by {key.name}; merge the duplicates, then retry")
