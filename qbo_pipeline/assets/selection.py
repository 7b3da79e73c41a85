"""Which assets an incremental run needs: only the entities its inbox events name.

An incremental run of the whole sync graph is ~40 steps, most of them for entities with
nothing in scope (each still costs Dagster's per-step overhead: events in the run storage,
the IO manager's pickles). The inbox sensor therefore requests the run with an asset
selection: the inbox batch and the operations assets, plus mirror, diff and sync of each
entity named by a pending event. Mirrors and diffs of other entities would read nothing
and sync steps would write nothing, so the result is the same.

The run's `inbox_batch` only keeps the events its selection covers (`covered_by`): an
event of another entity that arrived after the sensor's tick goes back to the pool, where
its newer inbox id makes the next tick request a run for it."""
from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from qbo_pipeline.entities import REGISTRY, EntitySpec, RegistryError, get_spec

INBOX_BATCH = dg.AssetKey(["ops", "inbox_batch"])
# Every incremental run: claim, close the batch, and keep the ops views current.
OPERATIONS_KEYS = (
    INBOX_BATCH,
    dg.AssetKey(["ops", "inbox_processed"]),
    dg.AssetKey(["ops", "dead_letters"]),
    dg.AssetKey(["ops", "sync_health"]),
)

_SPEC_BY_QBO = {spec.qbo_entity.lower(): spec for spec in REGISTRY.values()}


def spec_for_event_entity(entity: str) -> EntitySpec | None:
    """Events name entities as QBO does (webhooks, CDC: "Customer"), as JobsiteOn does
    (the change feed: "contacts") or by registry name (re-queued dead letters). None: an
    entity the sync does not cover (e.g. Account)."""
    try:
        return get_spec(entity)
    except RegistryError:
        return _SPEC_BY_QBO.get(entity.lower())


def sync_key(spec: EntitySpec) -> dg.AssetKey:
    return dg.AssetKey(["sync", spec.name])


def entity_keys(spec: EntitySpec) -> list[dg.AssetKey]:
    return [
        dg.AssetKey(["qbo", spec.name]),
        dg.AssetKey(["jobsiteon", spec.jobsiteon_table]),
        dg.AssetKey(["reconcile", f"{spec.name}_diff"]),
        sync_key(spec),
    ]


def synced_entities(event_entities: Iterable[str]) -> list[str]:
    """The registry entities events of these names are synced as, sorted."""
    return sorted({spec.name for spec in map(spec_for_event_entity, event_entities) if spec is not None})


def incremental_selection(event_entities: Iterable[str]) -> list[dg.AssetKey]:
    """The assets an incremental run over events of these entities needs, in a stable order."""
    specs = {spec.name: spec for spec in map(spec_for_event_entity, event_entities) if spec is not None}
    keys = list(OPERATIONS_KEYS)
    for name in REGISTRY:  # registry order: stable run requests for equal entity sets
        if name in specs:
            keys += entity_keys(specs[name])
    return keys


def covered_by(selection: Iterable[dg.AssetKey] | None, entity: str) -> bool:
    """Whether a run with this asset selection (None or empty: the whole job) syncs events
    of `entity`. Events of entities the sync does not cover are covered by every run: it
    marks them processed without work, as a full run would."""
    if not selection:  # run.asset_selection of a whole-job run (materialize, execute_in_process) is frozenset()
        return True
    spec = spec_for_event_entity(entity)
    return spec is None or sync_key(spec) in set(selection)
