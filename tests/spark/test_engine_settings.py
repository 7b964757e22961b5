"""Engine selection: settings, the lake's default place, and the Dagster engine resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.engines import EngineSettings, default_lake_for
from tests.conftest import cli_env, run_cli


def test_defaults_and_environment(monkeypatch, tmp_path):
    for name in ("DUALWHEEL_ENGINE", "DUALWHEEL_SPARK_MASTER", "DUALWHEEL_LAKE"):
        monkeypatch.delenv(name, raising=False)
    warehouse = tmp_path / "warehouse" / "dualwheel.duckdb"
    default = EngineSettings.from_env(warehouse)
    assert (default.engine, default.spark_master, default.lake) == ("duckdb", None, tmp_path / "warehouse" / "dualwheel.lake")
    assert default_lake_for(Path("warehouse/dualwheel.duckdb")) == Path("warehouse/dualwheel.lake")

    monkeypatch.setenv("DUALWHEEL_ENGINE", "Spark")
    monkeypatch.setenv("DUALWHEEL_SPARK_MASTER", "spark://10.0.0.5:7077")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUALWHEEL_LAKE", "lakes/a")
    env = EngineSettings.from_env(warehouse)
    assert env.is_spark and env.spark_master == "spark://10.0.0.5:7077"
    assert env.lake == tmp_path / "lakes" / "a"  # relative to the current directory
    # Flags win over the environment.
    flags = EngineSettings.from_env(warehouse, engine="duckdb", spark_master="local[2]", lake=str(tmp_path / "b"))
    assert (flags.engine, flags.spark_master, flags.lake) == ("duckdb", "local[2]", tmp_path / "b")

    monkeypatch.setenv("DUALWHEEL_ENGINE", "flink")
    with pytest.raises(ValueError, match="unknown engine 'flink'"):
        EngineSettings.from_env(warehouse)


def test_dagster_engine_resource_follows_the_environment(monkeypatch, tmp_path):
    from orchestration.defs.resources import EngineResource, resources
    from orchestration.settings import Settings

    monkeypatch.setenv("DUALWHEEL_WAREHOUSE", str(tmp_path / "dw.duckdb"))
    monkeypatch.setenv("DUALWHEEL_ENGINE", "spark")
    monkeypatch.delenv("DUALWHEEL_SPARK_MASTER", raising=False)
    monkeypatch.delenv("DUALWHEEL_LAKE", raising=False)
    resource = EngineResource.from_settings(Settings.from_env())
    assert resource.is_spark and resource.spark_master is None and resource.lake == str(tmp_path / "dw.lake")
    assert isinstance(resources().resources["engine"], EngineResource)


def test_unknown_engine_is_one_clear_line(tmp_path):
    proc = run_cli("build", "--landing", str(tmp_path), "--warehouse", str(tmp_path / "dw.duckdb"),
                   env=cli_env(tmp_path, DUALWHEEL_ENGINE="flink"), timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "dualwheel: error: unknown engine 'flink' (DUALWHEEL_ENGINE / --engine): expected one of duckdb, spark"]


@pytest.mark.slow
def test_dagster_ingestion_asset_runs_on_spark_when_the_resource_says_so(tmp_path):
    """The same asset (raw/orders, its blocking checks) materialized on Spark by Dagster."""
    import dagster as dg

    from orchestration.defs.ingestion.assets import orders
    from orchestration.defs.resources import EngineResource, WarehouseResource
    from orchestration.engines.spark import stop_spark_session
    from orchestration.partitions import sync_landing_dates
    from simulator.exports import generate

    landing = tmp_path / "landing"
    generate(landing, days=2, orders=200, seed=5, messy=True, progress=False)
    day = sorted(p.name for p in landing.iterdir() if p.is_dir())[0]
    warehouse = WarehouseResource(landing=str(landing), warehouse=str(tmp_path / "dw.duckdb"), max_reject_share=0.05)
    engine = EngineResource(engine="spark", spark_master="local[1]", lake=str(tmp_path / "lake"))
    try:
        instance = dg.DagsterInstance.ephemeral()
        sync_landing_dates(instance, [day])  # landing dates are dynamic partitions (what the CLI/sensor do)
        result = dg.materialize([orders], partition_key=day, resources={"warehouse": warehouse, "engine": engine},
                                instance=instance)
        assert result.success
        [materialization] = result.asset_materializations_for_node(orders.op.name)
        assert materialization.metadata["engine"].value == "spark"
        assert materialization.metadata["files_loaded"].value >= 1
        checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert {c.check_name: c.passed for c in checks} == {"orders_pass_great_expectations": True,
                                                            "orders_reject_share_within_threshold": True}
        assert not (tmp_path / "dw.work.duckdb").exists()  # nothing went to the DuckDB engine
    finally:
        stop_spark_session()
