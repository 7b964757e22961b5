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

SNAPSHOT = Path(__file__).with_name("asset_specs.json")
MARTS = ["fct_gmv_by_source_daily", "fct_dual_wheel_daily", "fct_cohort_repurchase",
         "fct_cohort_retention_monthly", "fct_account_matrix_daily", "fct_live_session", "dim_accounts",
         "fct_fan_cohort"]


@pytest.fixture(scope="module")
def repo():
    return load_defs().get_repository_def()


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
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.partitions_def.timezone == "Asia/Shanghai"
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
