"""Inputs of a reconciliation, brought to one shape: the id map under one set of column
names, reference translation tables, and per side the columns that are compared.

`fast_columns` gives each compared column in the form the 1M-row equality pass hashes (in
DuckDB): text kinds are the raw strings, untouched (no per-row Python); other kinds are
their normalized form as text (normalize.comparable). Raw-equal implies normalized-equal,
so a record that hashes equal is in sync; the rest go to the detailed path, which
normalizes only the cells that differ (diff.py). A hash over the same values is the content
hash stored in the id map (`fingerprints`).

QBO references are translated into JobsiteOn ids through the id map; an unmapped QBO id
becomes "qbo:<id>", which equals no JobsiteOn id.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qbo_pipeline.entities import EntitySpec, Kind, WorkspaceSettings, get_spec
from qbo_pipeline.reconcile import normalize

UNMAPPED = "qbo:"

# The id map as the state store returns it (qbo_pipeline/state/id_map.py) or as described in
# the sync design; both spellings are accepted.
ID_MAP_ALIASES = {
    "last_synced_qbo_version": "qbo_version",
    "qbo_sync_token": "qbo_version",
    "qbo_updated_at": "qbo_version_at",
    "last_synced_jobsiteon_at": "jobsiteon_at",
    "jobsiteon_updated_at": "jobsiteon_at",
    "content_hash": "hash",
}
ID_MAP_COLUMNS = ("jobsiteon_id", "qbo_id", "qbo_version", "qbo_version_at", "jobsiteon_at", "hash")


def _entity_names(spec: EntitySpec) -> set[str]:
    return {spec.name, spec.jobsiteon_table, spec.qbo_entity}


def normalize_id_map(id_map: pd.DataFrame | None, spec: EntitySpec) -> pd.DataFrame:
    """The links of `spec` with columns ID_MAP_COLUMNS (missing ones are null). A frame with
    an `entity` column may hold every entity; rows of other entities are dropped."""
    if id_map is None or len(id_map) == 0:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in ID_MAP_COLUMNS})
    frame = id_map
    if "entity" in frame.columns:
        frame = frame[frame["entity"].isin(_entity_names(spec))]
    n = len(frame)
    # positions are what the engine uses; re-index (a copy) only when the labels are not 0..n-1
    renumber = not frame.index.equals(pd.RangeIndex(n))
    columns: dict[str, object] = {}
    for name in frame.columns:
        target = ID_MAP_ALIASES.get(name, name)
        if target in ID_MAP_COLUMNS and target not in columns:
            columns[target] = frame[name].reset_index(drop=True) if renumber else frame[name]
    for name in ID_MAP_COLUMNS:
        if name not in columns:
            columns[name] = pd.Series(np.full(n, None, dtype=object))
    for name in ("qbo_version_at", "jobsiteon_at"):
        if not isinstance(columns[name].dtype, pd.DatetimeTZDtype):
            columns[name] = pd.to_datetime(columns[name], utc=True, errors="coerce", format="ISO8601")
    out = pd.DataFrame({name: columns[name] for name in ID_MAP_COLUMNS}, copy=False)
    return out


@dataclass
class RefMap:
    entity: str
    to_jobsiteon: pd.Series  # index qbo_id -> jobsiteon_id
    to_qbo: pd.Series  # index jobsiteon_id -> qbo_id
    pullable: bool  # records of that entity are created in JobsiteOn from QBO
    _scalar: dict[str, str] | None = None

    def jobsiteon_id(self, qbo_id: object) -> str | None:
        if normalize.is_missing(qbo_id):
            return None
        if self._scalar is None:
            self._scalar = dict(zip(self.to_jobsiteon.index, self.to_jobsiteon.to_numpy()))
        return self._scalar.get(str(qbo_id), UNMAPPED + str(qbo_id))

    def has_qbo(self, jobsiteon_id: object) -> bool:
        return normalize.is_missing(jobsiteon_id) or str(jobsiteon_id) in self.to_qbo.index


def build_ref_maps(
    spec: EntitySpec, id_map: pd.DataFrame | None, ref_id_maps: Mapping[str, pd.DataFrame] | None
) -> dict[str, RefMap]:
    out: dict[str, RefMap] = {}
    for entity in spec.referenced_entities:
        ref_spec = get_spec(entity)
        frame = None
        for key, value in (ref_id_maps or {}).items():
            if key in _entity_names(ref_spec):
                frame = value
        if frame is None and id_map is not None and "entity" in id_map.columns:
            frame = id_map
        links = normalize_id_map(frame, ref_spec)
        j_ids = links["jobsiteon_id"].astype(str).to_numpy()
        q_ids = links["qbo_id"].astype(str).to_numpy()
        out[ref_spec.name] = RefMap(
            entity=ref_spec.name,
            to_jobsiteon=pd.Series(j_ids, index=q_ids, dtype=object),
            to_qbo=pd.Series(q_ids, index=j_ids, dtype=object),
            pullable=bool(ref_spec.pull_creates),
        )
    return out


@dataclass
class Context:
    """Everything a reconciliation of one entity reads."""

    spec: EntitySpec
    jobsiteon: pd.DataFrame
    qbo: pd.DataFrame
    id_map: pd.DataFrame
    refs: dict[str, RefMap]
    settings: WorkspaceSettings
    qbo_complete: bool = True
    jobsiteon_complete: bool = True
    _alive: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def compared_fields(self) -> tuple:
        """The spec's compared fields that this company can hold. A US QBO company has no
        tax-inclusive pricing (GlobalTaxCalculation is "not applicable to US companies":
        accepted and ignored), so there the flag is JobsiteOn's alone; its effect on the
        total still shows, as a blocked "total mismatch"."""
        fields = self.spec.compared_fields
        if self.settings.send_global_tax_calculation:
            return fields
        return tuple(fm for fm in fields if fm.derive != "tax_inclusive")

    @property
    def compared_columns(self) -> list[str]:
        columns = [fm.column for fm in self.compared_fields]
        return columns + (["lines"] if self.spec.line_spec else [])

    def alive(self, side: str) -> np.ndarray:
        """Per row of that side: the record is live (not deleted/archived/voided)."""
        if side not in self._alive:
            self._alive[side] = _alive(self.spec, self.jobsiteon if side == "jobsiteon" else self.qbo, side)
        return self._alive[side]


def _alive(spec: EntitySpec, frame: pd.DataFrame, side: str) -> np.ndarray:
    n = len(frame)
    if side == "qbo":
        if "qbo_active" not in frame.columns:
            return np.ones(n, dtype=bool)
        return frame["qbo_active"].fillna(False).to_numpy(dtype=bool)
    alive = np.ones(n, dtype=bool)
    if "deleted_at" in frame.columns:
        alive &= frame["deleted_at"].isna().to_numpy()
    if spec.archived_column and spec.archived_column in frame.columns:
        alive &= ~frame[spec.archived_column].fillna(False).to_numpy(dtype=bool)
    if spec.void_status and spec.void_status[0] in frame.columns:
        column, value = spec.void_status
        alive &= (frame[column] != value).to_numpy()
    return alive


def make_context(
    spec: EntitySpec | str,
    jobsiteon: pd.DataFrame,
    qbo: pd.DataFrame,
    id_map: pd.DataFrame | None,
    *,
    ref_id_maps: Mapping[str, pd.DataFrame] | None = None,
    settings: object = None,
    qbo_complete: bool = True,
    jobsiteon_complete: bool = True,
) -> Context:
    spec = get_spec(spec)
    missing_j = {"id", "updated_at"} - set(jobsiteon.columns)
    missing_q = {"qbo_id"} - set(qbo.columns)
    if missing_j or missing_q:
        raise ValueError(
            f"{spec.name}: the JobsiteOn frame lacks {sorted(missing_j)} / the QBO frame lacks "
            f"{sorted(missing_q)}; pass JobsiteOnStore.read_frame() and entities.qbo_to_frame() output"
        )
    return Context(
        spec=spec,
        jobsiteon=jobsiteon,
        qbo=qbo,
        id_map=normalize_id_map(id_map, spec),
        refs=build_ref_maps(spec, id_map, ref_id_maps),
        settings=WorkspaceSettings.coerce(settings),
        qbo_complete=qbo_complete,
        jobsiteon_complete=jobsiteon_complete,
    )


# -- compared values -------------------------------------------------------------------------

# kinds whose fast values are the frame's own objects, untouched
RAW_KINDS = (Kind.TEXT, Kind.EMAIL, Kind.PHONE, Kind.ENUM)


def _line_translators(ctx: Context, side: str) -> dict[str, object] | None:
    if side != "qbo" or ctx.spec.line_spec is None:
        return None
    return {
        ref.column: ctx.refs[ref.entity].jobsiteon_id
        for ref in ctx.spec.references if ref.in_lines
    }


def _line_kinds(spec: EntitySpec) -> list[tuple[str, str]]:
    return [(fm.column, fm.kind.value) for fm in spec.line_spec.compared]


def _translated_refs(ctx: Context, column: str, entity: str, values: pd.Series) -> np.ndarray:
    ref = ctx.refs[entity]
    text = values.astype(object).where(values.notna(), None)
    mapped = text.map(ref.to_jobsiteon)
    unmapped = mapped.isna() & text.notna()
    out = mapped.astype(object).where(~unmapped, UNMAPPED + text.astype(str))
    return out.where(text.notna(), None).to_numpy(dtype=object)


def _field_values(ctx: Context, frame: pd.DataFrame, side: str, column: str) -> pd.Series:
    if column in frame.columns:
        return frame[column]
    return pd.Series(np.full(len(frame), None, dtype=object), index=frame.index)


def fast_names(ctx: Context) -> list[str]:
    """The keys of fast_columns(), aligned with ctx.compared_columns."""
    names = [f"c{index}" for index, _ in enumerate(ctx.compared_fields)]
    return names + (["c_lines"] if ctx.spec.line_spec is not None else [])


def fast_columns(ctx: Context, frame: pd.DataFrame, side: str) -> dict[str, np.ndarray]:
    """Column name -> array for the DuckDB equality hash (module docstring)."""
    out: dict[str, np.ndarray] = {}
    for index, fm in enumerate(ctx.compared_fields):
        values = _field_values(ctx, frame, side, fm.column)
        name = f"c{index}"
        if fm.kind in RAW_KINDS:
            out[name] = values.to_numpy(dtype=object)
        elif fm.kind is Kind.REF and side == "qbo":
            out[name] = _translated_refs(ctx, fm.column, fm.ref, values)
        elif fm.kind is Kind.REF:
            out[name] = values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
        else:
            kind = fm.kind.value
            out[name] = np.array(
                [None if v is None else str(v) for v in normalize.comparable_values(kind, values)],
                dtype=object,
            )
    if ctx.spec.line_spec is not None:
        translate = _line_translators(ctx, side)
        kinds = _line_kinds(ctx.spec)
        lines = _field_values(ctx, frame, side, "lines")
        out["c_lines"] = np.array(
            [repr(normalize.comparable_lines(v, kinds, translate)) for v in lines], dtype=object
        )
    return out


def raw_fast_columns(ctx: Context, fast: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Of some records' fast values (fast_names order), those that are the frame's own
    objects (RAW_KINDS), by column: callers reuse them instead of gathering the same
    scattered strings from the 1M-row frame again."""
    return {fm.column: fast[k] for k, fm in enumerate(ctx.compared_fields) if fm.kind in RAW_KINDS}


def canonical_values(ctx: Context, row: Mapping[str, object], side: str, columns) -> dict[str, object]:
    """A row's canonical values for `columns`, QBO references translated to JobsiteOn ids (the
    id space of the plan's `values`/`loser_values`)."""
    out: dict[str, object] = {}
    refs = {r.column: r for r in ctx.spec.references}
    for column in columns:
        value = row.get(column)
        if side == "qbo" and column in refs and not refs[column].in_lines:
            value = ctx.refs[refs[column].entity].jobsiteon_id(value)
        elif side == "qbo" and column == "lines" and value is not None:
            value = [_translate_line(ctx, line) for line in value]
        elif normalize.is_missing(value):
            value = None
        out[column] = value
    return out


def _translate_line(ctx: Context, line: Mapping[str, object]) -> dict[str, object]:
    out = {k: v for k, v in line.items() if k != "qbo_line_id"}
    for ref in ctx.spec.references:
        if ref.in_lines:
            out[ref.column] = ctx.refs[ref.entity].jobsiteon_id(line.get(ref.column))
    return out


def row_hash_sql(names: list[str]) -> str:
    """DuckDB's hash over a row's fast values and liveness: the id join's equality test."""
    parts = [f"CAST({name} AS VARCHAR)" for name in names] + ["alive"]
    return f"hash({', '.join(parts)})"


_MIX = np.uint64(0x9E3779B97F4A7C15)


def fingerprints(columns: list[np.ndarray], alive: np.ndarray) -> np.ndarray:
    """The content hash the id map stores, per row: a 64-bit hash over the row's compared
    values in fast form (fast_columns order: raw text, normalized everything else, QBO
    references as JobsiteOn ids) plus liveness. pandas' SipHash with its fixed key, so it
    is stable across processes. Raw text makes it conservative: it is only compared with a
    later hash of one side, to tell "unchanged since the last sync"."""
    n = len(alive)
    acc = np.full(n, 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in list(columns) + [np.asarray(alive, dtype=bool)]:
            acc = (acc * _MIX) ^ pd.util.hash_array(np.asarray(column), categorize=False)
    return acc.astype(str).astype(object)  # the 64-bit hash as decimal text


__all__ = [
    "Context", "RefMap", "UNMAPPED", "make_context", "normalize_id_map", "fast_columns", "fast_names",
    "canonical_values", "fingerprints", "raw_fast_columns", "row_hash_sql", "RAW_KINDS",
]
