"""The deployed configuration resolves as intended, without starting a daemon: the Dagster
instance from deploy/dagster.postgres.yaml (on a scratch Postgres database) and from the
repo's dagster.yaml, and the code location `qbo_pipeline.definitions`."""
from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from qbo_pipeline.entities import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE_TAG = "qbo_pipeline/workspace"


def _instance(home: Path, config: Path, monkeypatch, env: dict[str, str] | None = None) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(config, home / "dagster.yaml")
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    return dg.DagsterInstance.from_config(str(home))


def _assert_queue(instance: dg.DagsterInstance, *, max_runs: int, pool_limit: int) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator

    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    config = instance.get_concurrency_config()
    queue = config.run_queue_config
    assert queue.max_concurrent_runs == max_runs
    # One run per workspace at a time, whatever the workspace.
    assert queue.tag_concurrency_limits == [
        {"key": WORKSPACE_TAG, "limit": 1, "value": {"applyLimitPerUniqueValue": True}}]
    # Every pool (the QBO-calling steps declare "qbo_api") gets this many slots.
    assert config.pool_config.default_pool_limit == pool_limit
    # A webhook must not wait 5 s (the default) for the queue (dagster-notes.md).
    assert instance.run_coordinator.dequeue_interval_seconds == 1


@pytest.mark.postgres
def test_the_production_instance_resolves_on_postgres(tmp_path, monkeypatch, pg_server):
    from conftest import create_scratch_database, drop_database

    url = sa.engine.make_url(create_scratch_database("dagster_config"))
    try:
        instance = _instance(tmp_path / "home", ROOT / "deploy" / "dagster.postgres.yaml", monkeypatch, {
            "DAGSTER_PG_USERNAME": url.username, "DAGSTER_PG_PASSWORD": url.password or "",
            "DAGSTER_PG_HOST": url.host, "DAGSTER_PG_PORT": str(url.port), "DAGSTER_PG_DB": url.database,
        })
        try:
            from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
            _assert_queue(instance, max_runs=16, pool_limit=8)
            # The storage works (psycopg2 through the pinned scheme), not just parses.
            instance.add_dynamic_partitions("workspaces", ["ws-config-check"])
            assert instance.get_dynamic_partitions("workspaces") == ["ws-config-check"]
            assert not instance.is_ephemeral and instance.get_ref().settings["telemetry"] == {"enabled": False}
            settings = yaml.safe_load((ROOT / "deploy" / "dagster.postgres.yaml").read_text())
            assert settings["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
            assert settings["sensors"] == {"use_threads": True, "num_workers": 8}
        finally:
            instance.dispose()
    finally:
        drop_database(url.render_as_string(hide_password=False))


def test_the_repo_instance_config_resolves_with_sqlite_storage(tmp_path, monkeypatch):
    instance = _instance(tmp_path / "home", ROOT / "dagster.yaml", monkeypatch)
    try:
        from dagster._core.storage.runs import SqliteRunStorage

        assert isinstance(instance.run_storage, SqliteRunStorage)
        _assert_queue(instance, max_runs=4, pool_limit=4)
    finally:
        instance.dispose()


def _expected_asset_keys() -> set[str]:
    keys = {"ops/inbox_batch", "ops/inbox_processed", "ops/dead_letters", "ops/sync_health", "qbo/cdc_sweep"}
    for spec in REGISTRY.values():
        keys |= {f"qbo/{spec.name}", f"jobsiteon/{spec.jobsiteon_table}", f"reconcile/{spec.name}_diff",
                 f"sync/{spec.name}"}
    return keys


def test_the_code_location_loads_and_every_definition_is_there():
    from qbo_pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    assert {k.to_user_string() for k in repository.asset_graph.get_all_asset_keys()} == _expected_asset_keys()
    assert len(REGISTRY) == 9

    assert {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")} == {
        "full_sync", "incremental_sync", "cdc_sweep"}
    for name in ("full_sync", "incremental_sync", "cdc_sweep"):
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "in_process", name  # ~2 s per step otherwise
        assert job.partitions_def is not None and job.partitions_def.name == "workspaces", name
    sync_keys = {k.to_user_string() for k in defs.resolve_job_def("incremental_sync").asset_layer.executable_asset_keys}
    assert sync_keys == _expected_asset_keys() - {"qbo/cdc_sweep"}

    sensors = {s.name: s for s in repository.sensor_defs}
    assert set(sensors) == {"inbox_sensor", "cdc_sweep_sensor", "connections_sensor", "sync_failure_sensor"}
    # The sensor daemon loops every 5 s; a 5 s interval would often fire every 10 s.
    assert sensors["inbox_sensor"].minimum_interval_seconds <= 4
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    assert sensors["inbox_sensor"].job_name == "incremental_sync"
    assert sensors["cdc_sweep_sensor"].job_name == "cdc_sweep"
    assert [s.name for s in repository.schedule_defs] == ["nightly_reconciliation"]
    assert repository.schedule_defs[0].job_name == "full_sync"

    # Steps that call QBO share the qbo_api pool (its limit is the instance's default_limit).
    pools = {key.to_user_string(): assets_def.node_def.pool for key, assets_def in repository.assets_defs_by_key.items()}
    assert {key for key, pool in pools.items() if pool == "qbo_api"} == (
        {f"qbo/{name}" for name in REGISTRY} | {f"sync/{name}" for name in REGISTRY} | {"qbo/cdc_sweep"})
