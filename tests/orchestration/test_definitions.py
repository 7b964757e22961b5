"""The one Dagster code location loads and holds what the issues promise.

The asset-spec snapshot (asset_specs.json beside this file) makes every change to the graph —
a renamed asset, a new dependency, a dropped check — show up in review. Refresh it with
`UPDATE_SNAPSHOTS=1 make test` after a deliberate change.
"""

import json
import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import defs as load_defs
from orchestration.definitions import defs_for_cli

SNAPSHOT = Path(__file__).with_name("asset_specs.json")
MARTS = ["fct_gmv_by_source_daily", "fct_dual_wheel_daily", "fct_cohort_repurchase",
         "fct_cohort_retention_monthly", "fct_account_matrix_daily", "fct_live_session", "dim_accounts",
         "fct_fan_cohort"]


@pytest.fixture(scope="module")
def repo():
    return load_defs().get_repository_def()


def test_the_cli_executes_the_code_location_s_definitions(repo):
    cli = defs_for_cli()
    cli_repo = cli.get_repository_def()
    assert _spec_snapshot(cli_repo) == _spec_snapshot(repo)
    assert sorted(j.name for j in cli_repo.get_all_jobs()) == sorted(j.name for j in repo.get_all_jobs())
    assert sorted(s.name for s in cli_repo.schedule_defs) == sorted(s.name for s in repo.schedule_defs)
    assert sorted(s.name for s in cli_repo.sensor_defs) == sorted(s.name for s in repo.sensor_defs)
    assert sorted(cli.resources) == sorted(load_defs().resources)
    assert cli_repo.name == repo.name  # the UI origin stamped on CLI runs names it


def _spec_snapshot(repo) -> dict:
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitioned": node.partitions_def is not None,
        }
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    return {"assets": assets, "checks": checks}


def test_asset_specs_match_snapshot(repo):
    current = _spec_snapshot(repo)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=1, ensure_ascii=False) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_layer_is_present_and_grouped(repo):
    keys = {k.to_user_string(): repo.asset_graph.get(k) for k in repo.asset_graph.get_all_asset_keys()}
    for export in ("orders", "follows", "live_traffic"):
        node = keys[f"raw/{export}"]
        assert node.group_name == "ingestion"
        # the landing dates present, not a calendar (issue 14: "51% filled" after a full build)
        assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
        assert node.partitions_def.name == "landing_dates"
    assert keys["raw/accounts"].partitions_def is None
    for mart in MARTS:
        assert keys[f"marts/{mart}"].group_name == "marts"
    assert {n.group_name for k, n in keys.items() if k.startswith("staging/")} == {"staging"}
    assert {n.group_name for k, n in keys.items() if k.startswith("intermediate/")} == {"intermediate"}
    # Lineage runs from the export files to the published file without a gap.
    assert dg.AssetKey(["raw", "orders"]) in repo.asset_graph.get(dg.AssetKey(["staging", "stg_orders"])).parent_keys
    assert {f"marts/{m}" for m in MARTS} <= {k.to_user_string() for k in keys["published_warehouse"].parent_keys}


def test_gates_are_blocking_checks(repo):
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in repo.asset_graph.asset_check_keys}
    for export in ("orders", "follows", "live_traffic"):
        assert f"raw/{export}:{export}_pass_great_expectations" in checks
        assert f"raw/{export}:{export}_reject_share_within_threshold" in checks
    assert "raw/accounts:accounts_pass_great_expectations" in checks
    assert "raw/orders:landing_is_fresh" in checks
    # dbt tests surface as checks on the models they test
    assert any(c.startswith("marts/fct_dual_wheel_daily:") for c in checks)


def test_jobs_schedule_and_sensor(repo):
    assert {"refresh_job", "ingest_job"} <= {j.name for j in repo.get_all_jobs()}
    schedule = repo.get_schedule_def("nightly_refresh_schedule")
    assert schedule.cron_schedule == "30 2 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.job_name == "refresh_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = repo.get_sensor_def("new_landing_date_sensor")
    assert sensor.job_name == "refresh_job"


@pytest.fixture
def landing(tmp_path, monkeypatch):
    root = tmp_path / "landing"
    for day in ("2026-06-15", "2026-06-16", "2026-06-17"):
        (root / day).mkdir(parents=True)
        (root / day / "orders.csv").write_text("order_id\n")
    monkeypatch.setenv("DUALWHEEL_LANDING", str(root))
    return root


def test_schedule_requests_the_dates_not_ingested_yet(repo, landing):
    schedule = repo.get_schedule_def("nightly_refresh_schedule")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 6, 18, 2, 30))
        request = schedule.evaluate_tick(context).run_requests[0]
        assert request.tags["dagster/asset_partition_range_start"] == "2026-06-15"
        assert request.tags["dagster/asset_partition_range_end"] == "2026-06-17"


def test_sensor_fires_once_per_new_landing_date(repo, landing):
    sensor = repo.get_sensor_def("new_landing_date_sensor")
    with dg.instance_for_test() as instance:
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor="2026-06-15"))
        assert [r.tags["dagster/asset_partition_range_start"] for r in first.run_requests] == ["2026-06-16"]
        assert first.cursor == "2026-06-17"
        again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor="2026-06-17"))
        assert again.run_requests == [] and again.skip_message


def test_dagster_home_allows_one_run_at_a_time(tmp_path, monkeypatch):
    """Every run writes the same working DuckDB file (one writer): queued runs must wait."""
    from orchestration.cli import _prepare_dagster_home

    _prepare_dagster_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_landing_dates_are_partitions_in_date_order_even_when_one_arrives_late():
    from orchestration.partitions import LANDING_DATES, sync_landing_dates

    with dg.instance_for_test() as instance:
        assert sync_landing_dates(instance, ["2026-06-15", "2026-06-17"]) == ["2026-06-15", "2026-06-17"]
        assert sync_landing_dates(instance, ["2026-06-15", "2026-06-17"]) == []
        # a late export for an older date: range tags select by position, so order must hold
        assert sync_landing_dates(instance, ["2026-06-16", "2026-06-18"]) == ["2026-06-16", "2026-06-18"]
        assert instance.get_dynamic_partitions(LANDING_DATES) == ["2026-06-15", "2026-06-16", "2026-06-17", "2026-06-18"]


def test_landing_dates_sensor_registers_the_landing_folders(repo, landing):
    sensor = repo.get_sensor_def("landing_dates_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance:
        sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert instance.get_dynamic_partitions("landing_dates") == ["2026-06-15", "2026-06-16", "2026-06-17"]


def test_every_dbt_test_is_a_described_check(repo):
    manifest = json.loads((Path(__file__).resolve().parents[2] / "dbt_project" / "target" / "manifest.json").read_text())
    tests = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    graph = repo.asset_graph
    checks = {k.name: graph.get_check_spec(k) for k in graph.asset_check_keys}
    assert tests <= set(checks), sorted(tests - set(checks))  # singular ones included (meta.dagster.ref)
    for name in tests:
        description = checks[name].description
        assert description and "\n" not in description and len(description) < 400, (name, description)
    assert checks["assert_dual_wheel_reconciles_to_counted_orders"].asset_key == dg.AssetKey(["marts", "fct_dual_wheel_daily"])
    assert checks["accounts_are_all_mapped"].description.endswith("(warns, blocks nothing)")
    # source tests are checks on the raw/* asset they test, relationships to the seed included
    source_tests = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "test"
                    and any(d.startswith("source.") for d in n["depends_on"]["nodes"])}
    assert len(source_tests) == 17
    for name, node in source_tests.items():
        [source] = [d for d in node["depends_on"]["nodes"] if d.startswith("source.")]
        assert checks[name].asset_key == dg.AssetKey(source.split(".")[-2:]), name
    relationships = checks["source_relationships_raw_orders_traffic_source__traffic_source__ref_traffic_sources_"]
    assert relationships.description == "every `traffic_source` exists in traffic_sources.traffic_source"
    assert dg.AssetKey(["seeds", "traffic_sources"]) in {d.asset_key for d in relationships.additional_deps}


def _step_checks(job: dg.JobDefinition) -> dict[str, set[str]]:
    """The check names each op of `job` evaluates."""
    from dagster._core.definitions.dependency import NodeHandle

    found: dict[str, set[str]] = {}
    for node in job.graph.nodes:
        assets_def = job.asset_layer.get_assets_def_for_node(NodeHandle(node.name, None))
        if assets_def is not None and assets_def.check_keys:
            found[node.name] = {key.name for key in assets_def.check_keys}
    return found


def test_dbt_source_tests_run_with_dbt_never_with_ingestion(repo):
    """The 17 source tests are checks on raw/*, evaluated by the dbt step: the CLI's ingest_job
    has no dbt step, transform_job and refresh_job evaluate them. A UI materialization or backfill
    of raw/* gets the dbt step anyway (Dagster adds every check of a selected asset); that step then
    does not start dbt (run for real in test_operations.py)."""
    assert "dbt_models" not in _step_checks(repo.get_job("ingest_job"))
    for job in ("transform_job", "refresh_job"):
        dbt_step = _step_checks(repo.get_job(job))["dbt_models"]
        assert sum(name.startswith("source_") for name in dbt_step) == 17, job
    raw = {dg.AssetKey(["raw", e]) for e in ("orders", "follows", "live_traffic")}
    ui_subset = repo.get_implicit_global_asset_job_def().get_subset(asset_selection=raw)
    assert {n.name for n in ui_subset.graph.node_defs} >= {"dbt_models", "raw__orders"}
    assert all(name.startswith("source_") for name in _step_checks(ui_subset)["dbt_models"])


def test_model_pages_show_prose_and_grain_with_sql_apart(repo):
    for key in repo.asset_graph.get_all_asset_keys():
        if key.path[0] not in ("staging", "intermediate", "marts"):
            continue
        node = repo.asset_graph.get(key)
        assert "```" not in (node.description or ""), key
        if key.path[0] in ("intermediate", "marts") or key.path[-1].startswith("stg_"):
            assert node.metadata.get("grain"), key
            assert "sql" in node.metadata, key


def test_freshness_can_be_judged_as_of_the_data_horizon(monkeypatch):
    from orchestration.defs.ingestion.assets import freshness_now

    monkeypatch.setenv("DUALWHEEL_AS_OF", "2026-06-30T02:30:00")
    assert freshness_now() == (datetime(2026, 6, 30, 2, 30), "2026-06-30T02:30:00")
    monkeypatch.setenv("DUALWHEEL_AS_OF", "yesterday")
    with pytest.raises(ValueError, match="DUALWHEEL_AS_OF"):
        freshness_now()


def test_run_launcher_tells_a_live_process_from_a_dead_one():
    import subprocess
    import sys
    import time

    from orchestration.deploy.run_launcher import process_is_alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_is_alive(child.pid, since=time.time())
        # the same number, "reported" before the process started: another process reused it
        if Path("/proc/self/stat").exists():
            assert not process_is_alive(child.pid, since=time.time() - 3600)
    finally:
        child.kill()
    # killed but not yet reaped (a zombie) already counts as dead on Linux
    time.sleep(0.5)
    if Path("/proc/self/stat").exists():
        assert not process_is_alive(child.pid)
    child.wait()
    assert not process_is_alive(child.pid)
