"""Match: which JobsiteOn record is which QBO record.

1. Through the id map. One DuckDB query joins id map, JobsiteOn frame and QBO frame on their
   ids (FULL OUTER, so records missing on either side and orphaned links show up) and, in
   the same pass, compares a hash of each side's compared values (`frames.fast_columns`) —
   scanning each 1M-row side once is the expensive part, so equality rides along.
2. For records not in the id map, the spec's match keys in order (email, then name for
   contacts; DocNumber for documents). A key of scope "all" is searched over every live
   record of the other side, so a record whose twin is already linked to someone else is
   caught as a duplicate; scope "unlinked" only pairs unlinked records. Exactly one
   candidate that has exactly one candidate back -> a new link. Anything else (two
   candidates, a candidate already linked elsewhere, a name match whose emails differ) ->
   blocked with a "duplicate record" reason: no create happens for it, so a duplicate
   cannot be made.
Soft-deleted/archived/voided records (and JobsiteOn rows that do not sync, e.g. draft
invoices) take no part in key matching.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from qbo_pipeline.entities import MatchKey
from qbo_pipeline.reconcile import normalize
from qbo_pipeline.reconcile.frames import Context, fast_columns


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
    j_linked_row: np.ndarray = field(repr=False)  # JobsiteOn position -> join row (-1)
    q_linked_row: np.ndarray = field(repr=False)
    fast_j: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # frames.fast_columns
    fast_q: dict[str, np.ndarray] = field(repr=False, default_factory=dict)


def connect() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        config={"threads": max(1, os.cpu_count() or 1), "preserve_insertion_order": False}
    )


def syncable(ctx: Context) -> np.ndarray:
    """JobsiteOn rows that take part in the sync at all (draft invoices do not)."""
    frame, rule = ctx.jobsiteon, ctx.spec.sync_statuses
    if rule is None or rule[0] not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return frame[rule[0]].isin(rule[1]).to_numpy()


def _hash_sql(columns: list[str]) -> str:
    parts = [f"CAST({c} AS VARCHAR)" for c in columns] + ["alive"]
    return f"hash({', '.join(parts)})"


def id_join(ctx: Context, con: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, ...]:
    j_cols = fast_columns(ctx, ctx.jobsiteon, "jobsiteon")
    q_cols = fast_columns(ctx, ctx.qbo, "qbo")
    j_view = pd.DataFrame(
        {"k": ctx.jobsiteon["id"].to_numpy(), "pos": np.arange(len(ctx.jobsiteon)),
         "alive": ctx.alive("jobsiteon"), **j_cols},
        copy=False,
    )
    q_view = pd.DataFrame(
        {"k": ctx.qbo["qbo_id"].to_numpy(), "pos": np.arange(len(ctx.qbo)),
         "alive": ctx.alive("qbo"), **q_cols},
        copy=False,
    )
    m_view = pd.DataFrame(
        {"j": ctx.id_map["jobsiteon_id"].to_numpy(), "q": ctx.id_map["qbo_id"].to_numpy(),
         "pos": np.arange(len(ctx.id_map))},
        copy=False,
    )
    con.register("j_view", j_view)
    con.register("q_view", q_view)
    con.register("m_view", m_view)
    h = _hash_sql(list(j_cols))
    result = con.execute(
        f"""
        WITH j AS (SELECT CAST(k AS VARCHAR) AS k, pos, {h} AS h FROM j_view),
             q AS (SELECT CAST(k AS VARCHAR) AS k, pos, {h} AS h FROM q_view),
             m AS (SELECT CAST(j AS VARCHAR) AS j, CAST(q AS VARCHAR) AS q, pos FROM m_view)
        SELECT coalesce(m.pos, -1) AS mp, coalesce(j.pos, -1) AS jp, coalesce(q.pos, -1) AS qp,
               coalesce(j.h = q.h, false) AS eq
        FROM m FULL JOIN j ON j.k = m.j FULL JOIN q ON q.k = m.q
        """
    ).fetchnumpy()
    for name in ("j_view", "q_view", "m_view"):
        con.unregister(name)
    return (
        np.asarray(result["mp"], dtype=np.int64), np.asarray(result["jp"], dtype=np.int64),
        np.asarray(result["qp"], dtype=np.int64), np.asarray(result["eq"], dtype=bool),
        j_cols, q_cols,
    )


def _duplicates(positions: np.ndarray, size: int) -> np.ndarray:
    valid = positions >= 0
    if size == 0 or not valid.any():
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
    own = con is None
    con = con or connect()
    try:
        mp, jp, qp, eq, fast_j, fast_q = id_join(ctx, con)
        n_j, n_q = len(ctx.jobsiteon), len(ctx.qbo)
        duplicate = (
            _duplicates(mp, len(ctx.id_map)) | _duplicates(jp, n_j) | _duplicates(qp, n_q)
        )
        rows = np.arange(len(mp))
        j_linked_row = _row_index(jp, rows[(mp >= 0) & (jp >= 0)], n_j)
        q_linked_row = _row_index(qp, rows[(mp >= 0) & (qp >= 0)], n_q)
        unlinked = (mp < 0) & ~duplicate
        j_only = jp[unlinked & (jp >= 0)]
        q_only = qp[unlinked & (qp >= 0)]
        j_active = ctx.alive("jobsiteon") & syncable(ctx)
        q_active = ctx.alive("qbo")
        keys = _KeyMatcher(ctx, con, j_active, q_active, j_linked_row, q_linked_row, mp)
        links, blocked = keys.run(
            j_only[j_active[j_only]], q_only[q_active[q_only]]
        )
        matched_j = set(links["jpos"]) | set(blocked["jpos"][blocked["jpos"] >= 0])
        matched_q = set(links["qpos"]) | set(blocked["qpos"][blocked["qpos"] >= 0])
        j_unmatched = j_only[~np.isin(j_only, np.fromiter(matched_j, np.int64, len(matched_j)))]
        q_unmatched = q_only[~np.isin(q_only, np.fromiter(matched_q, np.int64, len(matched_q)))]
        return MatchResult(
            mpos=mp, jpos=jp, qpos=qp, equal=eq, duplicate=duplicate, links=links,
            blocked=blocked, j_unmatched=j_unmatched, q_unmatched=q_unmatched,
            j_linked_row=j_linked_row, q_linked_row=q_linked_row, fast_j=fast_j, fast_q=fast_q,
        )
    finally:
        if own:
            con.close()


_LINK_COLUMNS = {"jpos": np.int64, "qpos": np.int64, "match_key": object}
_BLOCK_COLUMNS = {"jpos": np.int64, "qpos": np.int64, "match_key": object, "reason": object}


def _frame(rows: list[dict], columns: dict[str, type]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return pd.DataFrame(rows, columns=list(columns)).astype({c: t for c, t in columns.items()})


class _KeyMatcher:
    """Pairs unlinked records by the spec's match keys (module docstring, step 2)."""

    def __init__(self, ctx, con, j_active, q_active, j_linked_row, q_linked_row, mp):
        self.ctx, self.con = ctx, con
        self.j_active, self.q_active = j_active, q_active
        self.j_linked_row, self.q_linked_row, self.mp = j_linked_row, q_linked_row, mp
        self.record = ctx.spec.name.rstrip("s")

    # -- keys per record ------------------------------------------------------------------

    def _values(self, side: str, positions: np.ndarray, column: str) -> list[object]:
        frame = self.ctx.jobsiteon if side == "jobsiteon" else self.ctx.qbo
        if column not in frame.columns:
            return [None] * len(positions)
        values = frame[column].to_numpy()[positions]
        refs = {r.column: r.entity for r in self.ctx.spec.references if not r.in_lines}
        if side == "qbo" and column in refs:
            ref = self.ctx.refs[refs[column]]
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

    def _all_positions(self, side: str) -> np.ndarray:
        return np.flatnonzero(self.j_active if side == "jobsiteon" else self.q_active)

    def _search_all(self, key: MatchKey, side: str, sources: np.ndarray) -> pd.DataFrame:
        """(source pos, candidate pos) for sources of `side` against every live record of
        the other side."""
        other = "qbo" if side == "jobsiteon" else "jobsiteon"
        empty = pd.DataFrame({"src": pd.Series(dtype=np.int64), "dst": pd.Series(dtype=np.int64)})
        if len(sources) == 0:
            return empty
        src = self._key_frame(side, sources, key)
        if src.empty:
            return empty
        sql = normalize.sql_prefilter(key.kinds[0], "v") if len(key.columns) == 1 else None
        if sql is None or key.columns[0] in {r.column for r in self.ctx.spec.references}:
            dst = self._key_frame(other, self._all_positions(other), key)
            pairs = src.merge(dst, on="key", suffixes=("_s", "_d"))
            return pd.DataFrame({"src": pairs["pos_s"].to_numpy(), "dst": pairs["pos_d"].to_numpy()})
        column = key.columns[0]
        frame_s = self.ctx.jobsiteon if side == "jobsiteon" else self.ctx.qbo
        frame_o = self.ctx.qbo if side == "jobsiteon" else self.ctx.jobsiteon
        if column not in frame_o.columns:
            return empty
        small = pd.DataFrame({"pos": sources, "v": frame_s[column].to_numpy()[sources]}, copy=False)
        alive = self.j_active if other == "jobsiteon" else self.q_active
        big = pd.DataFrame(
            {"pos": np.arange(len(frame_o)), "alive": alive, "v": frame_o[column].to_numpy()},
            copy=False,
        )
        self.con.register("key_small", small)
        self.con.register("key_big", big)
        try:
            found = self.con.execute(
                f"""
                WITH s AS (SELECT pos, {normalize.sql_prefilter(key.kinds[0], 'CAST(v AS VARCHAR)')} AS k
                           FROM key_small WHERE v IS NOT NULL)
                SELECT s.pos AS src, b.pos AS dst
                FROM key_big b JOIN s
                  ON {normalize.sql_prefilter(key.kinds[0], 'CAST(b.v AS VARCHAR)')} = s.k
                WHERE b.alive
                """
            ).fetchnumpy()
        finally:
            self.con.unregister("key_small")
            self.con.unregister("key_big")
        pairs = pd.DataFrame({"src": np.asarray(found["src"], dtype=np.int64),
                              "dst": np.asarray(found["dst"], dtype=np.int64)})
        if pairs.empty:
            return pairs
        fn = normalize.KEYS[key.kinds[0]]
        src_keys = dict(zip(src["pos"], src["key"]))
        dst_values = frame_o[column].to_numpy()[pairs["dst"].to_numpy()]
        confirmed = [src_keys.get(s) == fn(v) for s, v in zip(pairs["src"], dst_values)]
        return pairs[np.asarray(confirmed, dtype=bool)]

    def _candidates(self, key: MatchKey, j_src: np.ndarray, q_src: np.ndarray) -> pd.DataFrame:
        if key.scope == "unlinked":
            jk, qk = self._key_frame("jobsiteon", j_src, key), self._key_frame("qbo", q_src, key)
            pairs = jk.merge(qk, on="key", suffixes=("_j", "_q"))
            return pd.DataFrame({"jpos": pairs["pos_j"].to_numpy(), "qpos": pairs["pos_q"].to_numpy()})
        from_j = self._search_all(key, "jobsiteon", j_src)
        from_q = self._search_all(key, "qbo", q_src)
        pairs = pd.concat(
            [pd.DataFrame({"jpos": from_j["src"], "qpos": from_j["dst"]}),
             pd.DataFrame({"jpos": from_q["dst"], "qpos": from_q["src"]})],
            ignore_index=True,
        )
        return pairs.drop_duplicates().astype(np.int64)

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
        row = (self.j_linked_row if side == "jobsiteon" else self.q_linked_row)[pos]
        if row < 0:
            return None
        m = self.mp[row]
        column = "qbo_id" if side == "jobsiteon" else "jobsiteon_id"
        return str(self.ctx.id_map[column].iat[m])

    def run(self, j_src: np.ndarray, q_src: np.ndarray):
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
            by_j = pairs.groupby("jpos")["qpos"].agg(lambda s: sorted(set(s))).to_dict()
            by_q = pairs.groupby("qpos")["jpos"].agg(lambda s: sorted(set(s))).to_dict()
            done_j: set[int] = set()
            done_q: set[int] = set()
            for j in sorted(j_left & set(by_j)):
                qs = by_j[j]
                q = qs[0]
                if len(qs) == 1 and q in q_left and by_q.get(q) == [j]:
                    problem = self._guard_conflict(key, j, q)
                    if problem is None:
                        links.append({"jpos": j, "qpos": q, "match_key": key.name})
                    else:
                        reason = (f"duplicate record: {self._label('jobsiteon', j)} and {self._label('qbo', q)} "
                                  f"match by {key.name} but {problem}; merge or rename one of them, then retry")
                        blocked.append({"jpos": j, "qpos": q, "match_key": key.name, "reason": reason})
                        blocked.append({"jpos": -1, "qpos": q, "match_key": key.name, "reason": reason})
                    done_j.add(j)
                    done_q.add(q)
                    continue
                blocked.append({
                    "jpos": j, "qpos": q if len(qs) == 1 else -1, "match_key": key.name,
                    "reason": self._ambiguity("jobsiteon", j, qs, by_q, key),
                })
                done_j.add(j)
            for q in sorted(q_left & set(by_q) - done_q):
                js = by_q[q]
                blocked.append({
                    "jpos": -1, "qpos": q, "match_key": key.name,
                    "reason": self._ambiguity("qbo", q, js, by_j, key),
                })
                done_q.add(q)
            j_left -= done_j
            q_left -= done_q
        return _frame(links, _LINK_COLUMNS), _frame(blocked, _BLOCK_COLUMNS)

    def _ambiguity(self, side: str, pos: int, candidates: list[int], back: dict, key: MatchKey) -> str:
        other = "qbo" if side == "jobsiteon" else "jobsiteon"
        me = self._label(side, pos)
        if len(candidates) > 1:
            names = ", ".join(self._label(other, c).split(" ")[-1] for c in candidates[:5])
            return (f"duplicate record: {me} matches {len(candidates)} {other} records by {key.name} "
                    f"({names}); merge the duplicates or make the {key.name} unique, then retry")
        twin = candidates[0]
        linked = self._linked_to(other, twin)
        if linked is not None:
            return (f"duplicate record: {me} matches {self._label(other, twin)} by {key.name}, which is "
                    f"already linked to {linked}; merge the duplicates, then retry")
        rivals = back.get(twin, [])
        return (f"duplicate record: {me} and {len(rivals) - 1} other record(s) match "
                f"{self._label(other, twin)} by {key.name}; merge the duplicates, then retry")
