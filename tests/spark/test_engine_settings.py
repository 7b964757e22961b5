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
def test_dagster_runs_the_whole_job_on_spark_when_the_resource_says_so(tmp_path):
    """The same assets (raw/*, dbt_models, published_warehouse, their blocking checks) materialized
    on Spark by Dagster in one run, as refresh_job runs them: marts published, every check passed
    and recorded in the published audit.check_results."""
    import sys

    import dagster as dg
    import duckdb

    from orchestration.defs.ingestion.assets import accounts, follows, live_traffic, orders
    from orchestration.defs.resources import EngineResource, VenvDbtCliResource, WarehouseResource
    from orchestration.defs.warehouse.dbt_models import dbt_models
    from orchestration.defs.warehouse.publish import published_warehouse
    from orchestration.engines.spark import stop_spark_session
    from orchestration.partitions import sync_landing_dates
    from orchestration.settings import DBT_PROJECT_DIR
    from simulator.exports import generate

    landing = tmp_path / "landing"
    generate(landing, days=2, orders=200, seed=5, messy=True, progress=False)
    day = sorted(p.name for p in landing.iterdir() if p.is_dir())[0]
    published = tmp_path / "dw.duckdb"
    warehouse = WarehouseResource(landing=str(landing), warehouse=str(published), max_reject_share=0.05)
    engine = EngineResource(engine="spark", spark_master="local[1]", lake=str(tmp_path / "lake"))
    dbt = VenvDbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR),
                             dbt_executable=str(Path(sys.executable).with_name("dbt")))
    try:
        instance = dg.DagsterInstance.ephemeral()
        sync_landing_dates(instance, [day])  # landing dates are dynamic partitions (what the CLI/sensor do)
        result = dg.materialize([orders, follows, live_traffic, accounts, dbt_models, published_warehouse],
                                partition_key=day, instance=instance,
                                resources={"warehouse": warehouse, "engine": engine, "dbt": dbt})
        assert result.success
        [materialization] = result.asset_materializations_for_node(orders.op.name)
        assert materialization.metadata["engine"].value == "spark"
        assert materialization.metadata["files_loaded"].value >= 1
        checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        by_name = {c.check_name: c for c in checks}
        assert by_name["orders_pass_great_expectations"].passed
        assert by_name["orders_reject_share_within_threshold"].passed
        assert by_name["accounts_pass_great_expectations"].passed
        assert len(checks) > 50  # the dbt tests, reported as checks by dbt_models on Spark
        failed = [c.check_name for c in checks if not c.passed and c.severity != dg.AssetCheckSeverity.WARN]
        assert failed == []
        [publish] = result.asset_materializations_for_node(published_warehouse.op.name)
        assert publish.metadata["checks_failed"].value == 0
        assert publish.metadata["checks_passed"].value == sum(c.passed for c in checks)
        with duckdb.connect(str(published), read_only=True) as con:
            marts = {t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()}
            daily_rows = con.execute("select count(*) from marts.fct_dual_wheel_daily").fetchall()[0][0]
            recorded = con.execute("select count(*), count(*) filter (where passed) from audit.check_results").fetchall()
            verdicts = {v for (v,) in con.execute("select distinct gate_verdict from audit.ingested_files").fetchall()}
        assert {"fct_dual_wheel_daily", "fct_gmv_by_source_daily", "dim_accounts"} <= marts and daily_rows > 0
        assert recorded == [(len(checks), sum(c.passed for c in checks))]
        assert verdicts == {"passed"}
        assert not (tmp_path / "dw.work.duckdb").exists()  # nothing went to the DuckDB engine
    finally:
        stop_spark_session()
