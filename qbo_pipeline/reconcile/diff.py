"""Diff: for the pairs the fast pass could not clear, which fields differ and which side
changed since the last sync.

Input pairs: linked pairs whose equality hash differs, and the links just found by a match
key. For each: the normalized values of both sides (frames.comparable_frame), a boolean per
compared field, both sides' liveness, and the change flags:

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

from qbo_pipeline.reconcile.frames import Context, comparable_frame, fingerprints
from qbo_pipeline.reconcile.match import MatchResult


@dataclass
class DiffResult:
    pairs: pd.DataFrame  # jpos, qpos, mpos, match_key, j_alive, q_alive, j_changed, q_changed, j_newer
    changed: pd.DataFrame  # one bool column per compared column (+ lines)
    jobsiteon: pd.DataFrame  # normalized compared values, aligned with pairs
    qbo: pd.DataFrame
    jobsiteon_rows: pd.DataFrame  # the raw rows, aligned with pairs
    qbo_rows: pd.DataFrame

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


def _qbo_moved(ctx: Context, qpos: np.ndarray, mpos: np.ndarray) -> np.ndarray:
    links = ctx.id_map
    has_link = mpos >= 0
    take = np.where(has_link, mpos, 0)
    token = ctx.qbo["qbo_sync_token"].to_numpy(object)[qpos] if "qbo_sync_token" in ctx.qbo else np.full(len(qpos), None)
    updated = _times(ctx.qbo, "qbo_updated_at", qpos)
    recorded = links["qbo_version"].to_numpy(object)[take] if len(links) else np.full(len(qpos), None)
    recorded_at = _times(links, "qbo_version_at", take) if len(links) else None
    moved = np.ones(len(qpos), dtype=bool)
    for i in range(len(qpos)):
        if not has_link[i]:
            continue
        rec, cur = recorded[i], token[i]
        if rec is not None and not (isinstance(rec, float) and np.isnan(rec)):
            rec = str(rec)
            if "T" in rec and "-" in rec and updated is not None:  # a LastUpdatedTime was stored
                when = pd.Timestamp(rec)
                when = when.tz_localize("UTC") if when.tzinfo is None else when
                moved[i] = pd.isna(updated[i]) or updated[i] > when
            else:
                moved[i] = cur is None or str(cur) != rec
        elif recorded_at is not None and not pd.isna(recorded_at[i]) and updated is not None:
            moved[i] = pd.isna(updated[i]) or updated[i] > recorded_at[i]
    return moved


def _times(frame: pd.DataFrame, column: str, positions: np.ndarray) -> pd.DatetimeIndex | None:
    """Timestamps of some rows as a UTC DatetimeIndex (a positional take on the datetime
    array: converting a whole 1M-row tz-aware column to objects would take a second)."""
    if column not in frame.columns:
        return None
    series = frame[column]
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series, utc=True, errors="coerce")
    return pd.DatetimeIndex(series.array.take(positions))


def _jobsiteon_moved(ctx: Context, jpos: np.ndarray, mpos: np.ndarray) -> np.ndarray:
    has_link = mpos >= 0
    if not has_link.any():
        return np.ones(len(jpos), dtype=bool)
    updated = _times(ctx.jobsiteon, "updated_at", jpos)
    recorded = _times(ctx.id_map, "jobsiteon_at", np.where(has_link, mpos, 0))
    unknown = recorded.isna() | updated.isna()
    later = np.asarray(updated > recorded)
    return ~has_link | np.asarray(unknown) | later


def diff(ctx: Context, m: MatchResult) -> DiffResult:
    pairs = detail_pairs(m)
    jpos, qpos, mpos = (pairs[c].to_numpy(np.int64) for c in ("jpos", "qpos", "mpos"))
    j_rows = ctx.jobsiteon.iloc[jpos].reset_index(drop=True)
    q_rows = ctx.qbo.iloc[qpos].reset_index(drop=True)
    jc = comparable_frame(ctx, j_rows, "jobsiteon")
    qc = comparable_frame(ctx, q_rows, "qbo")
    changed = pd.DataFrame(
        {c: [a != b for a, b in zip(jc[c], qc[c])] for c in ctx.compared_columns}, dtype=bool
    ) if len(pairs) else pd.DataFrame({c: pd.Series(dtype=bool) for c in ctx.compared_columns})
    j_alive = ctx.alive("jobsiteon")[jpos]
    q_alive = ctx.alive("qbo")[qpos]
    j_changed = _jobsiteon_moved(ctx, jpos, mpos)
    q_changed = _qbo_moved(ctx, qpos, mpos)
    if len(pairs) and ctx.id_map["hash"].notna().any():
        recorded = ctx.id_map["hash"].to_numpy(object)[np.where(mpos >= 0, mpos, 0)]
        known = (mpos >= 0) & pd.notna(recorded)
        j_same = np.asarray(fingerprints(jc, j_alive), dtype=object) == recorded
        q_same = np.asarray(fingerprints(qc, q_alive), dtype=object) == recorded
        j_changed &= ~(known & j_same)
        q_changed &= ~(known & q_same)
    j_updated = _times(ctx.jobsiteon, "updated_at", jpos)
    q_updated = _times(ctx.qbo, "qbo_updated_at", qpos)
    if q_updated is None:
        q_updated = pd.DatetimeIndex([pd.NaT] * len(qpos), tz="UTC")
    # Ties and unknown times go to JobsiteOn: the system of record for what it pushes.
    j_newer = np.asarray(q_updated.isna() | (~j_updated.isna() & (j_updated >= q_updated)))
    pairs = pairs.assign(
        j_alive=j_alive, q_alive=q_alive, j_changed=j_changed, q_changed=q_changed, j_newer=j_newer
    )
    return DiffResult(pairs=pairs, changed=changed, jobsiteon=jc, qbo=qc,
                      jobsiteon_rows=j_rows, qbo_rows=q_rows)
