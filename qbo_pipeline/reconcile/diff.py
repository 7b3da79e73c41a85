"""Diff: for the pairs the fast pass could not clear, which fields differ and which side
changed since the last sync.

Input pairs: linked pairs whose equality hash differs, and the links just found by a match
key. Per pair and compared column: the fast values of both sides (taken from the arrays the
id join hashed) are compared; only cells whose raw text differs are normalized
(normalize.comparable) — a changed record usually differs in one field, so the slow path
touches few values. Change flags:

- JobsiteOn changed  = updated_at > the id map's last synced JobsiteOn timestamp (or none
  recorded).
- QBO changed        = SyncToken != the recorded one (when the id map recorded only a
  LastUpdatedTime: LastUpdatedTime > recorded; nothing recorded: changed).
- A version that moved while the side's content hash still equals the id map's `hash` is
  not a change (QBO bumps SyncToken when a payment links an invoice, for instance).
- A pair linked just now has no shared history: both sides count as changed, and the most
  recent change wins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qbo_pipeline.entities import Kind
from qbo_pipeline.reconcile import normalize
from qbo_pipeline.reconcile.frames import RAW_KINDS, Context, fingerprints
from qbo_pipeline.reconcile.match import MatchResult


@dataclass
class DiffResult:
    pairs: pd.DataFrame  # jpos, qpos, mpos, match_key, j_alive, q_alive, j_changed, q_changed, j_newer
    changed: np.ndarray  # (pairs x compared columns) bool: the normalized values differ
    jobsiteon_fast: list[np.ndarray]  # per compared column, the pairs' fast values
    qbo_fast: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.pairs)


def detail_pairs(m: MatchResult) -> pd.DataFrame:
    linked = (m.mpos >= 0) & (m.jpos >= 0) & (m.qpos >= 0) & ~m.equal & ~m.duplicate
    existing = pd.DataFrame({
        "jpos": m.jpos[linked], "qpos": m.qpos[linked], "mpos": m.mpos[linked], "match_key": "id_map",
    })
    new = pd.DataFrame({
        "jpos": m.links["jpos"].to_numpy(np.int64), "qpos": m.links["qpos"].to_numpy(np.int64),
        "mpos": np.full(len(m.links), -1, dtype=np.int64), "match_key": m.links["match_key"].to_numpy(object),
    })
    return pd.concat([existing, new], ignore_index=True)


def times(frame: pd.DataFrame, column: str, positions: np.ndarray) -> pd.DatetimeIndex | None:
    """Timestamps of some rows as a UTC DatetimeIndex (a positional take on the datetime
    array: converting a whole 1M-row tz-aware column to objects would take a second)."""
    if column not in frame.columns:
        return None
    series = frame[column]
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series, utc=True, errors="coerce")
    return pd.DatetimeIndex(series.array.take(positions))


def _qbo_moved(ctx: Context, qpos: np.ndarray, mpos: np.ndarray) -> np.ndarray:
    links = ctx.id_map
    has_link = mpos >= 0
    moved = np.ones(len(qpos), dtype=bool)
    if not has_link.any():
        return moved
    take = np.where(has_link, mpos, 0)
    token = (ctx.qbo["qbo_sync_token"].to_numpy(object)[qpos] if "qbo_sync_token" in ctx.qbo
             else np.full(len(qpos), None))
    updated = times(ctx.qbo, "qbo_updated_at", qpos)
    recorded = links["qbo_version"].to_numpy(object)[take]
    recorded_at = times(links, "qbo_version_at", take)
    recorded_list = recorded.tolist()
    has_version = has_link & np.fromiter(
        (not normalize.is_missing(r) for r in recorded_list), dtype=bool, count=len(qpos))
    # the usual case first, in one pass: the same SyncToken str as recorded (not a time)
    same_token = np.fromiter(
        (type(c) is str and type(r) is str and c == r and not ("T" in r and "-" in r)
         for c, r in zip(token.tolist(), recorded_list)), dtype=bool, count=len(qpos))
    moved[has_version & same_token] = False
    for i in np.flatnonzero(has_version & ~same_token):
        rec, cur = str(recorded[i]), token[i]
        if "T" in rec and "-" in rec and updated is not None:  # a LastUpdatedTime was stored
            when = pd.Timestamp(rec)
            when = when.tz_localize("UTC") if when.tzinfo is None else when
            moved[i] = pd.isna(updated[i]) or updated[i] > when
        else:
            moved[i] = normalize.is_missing(cur) or str(cur) != rec
    by_time = has_link & ~has_version
    if recorded_at is not None and updated is not None and by_time.any():
        rows = np.flatnonzero(by_time & np.asarray(recorded_at.notna()))
        moved[rows] = np.asarray(updated[rows].isna() | (updated[rows] > recorded_at[rows]))
    return moved


def _jobsiteon_moved(ctx: Context, jpos: np.ndarray, mpos: np.ndarray) -> np.ndarray:
    has_link = mpos >= 0
    if not has_link.any():
        return np.ones(len(jpos), dtype=bool)
    updated = times(ctx.jobsiteon, "updated_at", jpos)
    recorded = times(ctx.id_map, "jobsiteon_at", np.where(has_link, mpos, 0))
    unknown = np.asarray(recorded.isna() | updated.isna())
    return ~has_link | unknown | np.asarray(updated > recorded)


def _changed(ctx: Context, j_fast: list[np.ndarray], q_fast: list[np.ndarray]) -> np.ndarray:
    n = len(j_fast[0]) if j_fast else 0
    kinds = [fm.kind for fm in ctx.compared_fields] + ([Kind.LINES] if ctx.spec.line_spec else [])
    out = np.zeros((n, len(kinds)), dtype=bool)
    for k, kind in enumerate(kinds):
        differs = np.asarray(j_fast[k] != q_fast[k], dtype=bool)
        if kind in RAW_KINDS:
            rows = np.flatnonzero(differs)
            if len(rows):
                fn = normalize.SCALAR[kind.value]
                differs[rows] = [fn(a) != fn(b) for a, b in zip(j_fast[k][rows], q_fast[k][rows])]
        out[:, k] = differs
    return out


def diff(ctx: Context, m: MatchResult) -> DiffResult:
    pairs = detail_pairs(m)
    jpos, qpos, mpos = (pairs[c].to_numpy(np.int64) for c in ("jpos", "qpos", "mpos"))
    j_fast = m.fast_values("jobsiteon", jpos)
    q_fast = m.fast_values("qbo", qpos)
    changed = _changed(ctx, j_fast, q_fast)
    j_alive = ctx.alive("jobsiteon")[jpos]
    q_alive = ctx.alive("qbo")[qpos]
    j_changed = _jobsiteon_moved(ctx, jpos, mpos)
    q_changed = _qbo_moved(ctx, qpos, mpos)
    recorded = ctx.id_map["hash"].to_numpy(object)[np.where(mpos >= 0, mpos, 0)] if len(ctx.id_map) else None
    known = (mpos >= 0) & pd.notna(recorded) if recorded is not None else np.zeros(len(pairs), bool)
    if known.any():
        # only a moved version can be taken back by an unchanged content hash
        for fast, alive, moved in ((j_fast, j_alive, j_changed), (q_fast, q_alive, q_changed)):
            rows = np.flatnonzero(known & moved)
            if len(rows):
                same = fingerprints([values[rows] for values in fast], alive[rows]) == recorded[rows]
                moved[rows[same]] = False
    j_updated = times(ctx.jobsiteon, "updated_at", jpos)
    q_updated = times(ctx.qbo, "qbo_updated_at", qpos)
    if q_updated is None:
        q_updated = pd.DatetimeIndex([pd.NaT] * len(qpos), tz="UTC")
    # Ties and unknown times go to JobsiteOn, the system of record for what it pushes.
    j_newer = np.asarray(q_updated.isna() | (~j_updated.isna() & (j_updated >= q_updated)))
    pairs = pairs.assign(
        j_alive=j_alive, q_alive=q_alive, j_changed=j_changed, q_changed=q_changed, j_newer=j_newer
    )
    return DiffResult(pairs=pairs, changed=changed, jobsiteon_fast=j_fast, qbo_fast=q_fast)
