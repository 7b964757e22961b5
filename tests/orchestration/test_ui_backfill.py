"""A backfill over landing-date partitions, launched the way the UI launches it (GraphQL
`launchPartitionBackfill` against `dagster dev`, whose daemon runs the backfill)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT
from tests.orchestration.test_webserver import _free_port

pytestmark = pytest.mark.slow


def _gql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_backfill_of_landing_dates_from_the_ui_is_one_run_and_loads_those_dates(tmp_path, small_clean_landing):
    landing = tmp_path / "landing"
    shutil.copytree(small_clean_landing, landing)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "orchestration" / "deploy" / "dagster.yaml", home / "dagster.yaml")
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DUALWHEEL_LANDING": str(landing),
           "DUALWHEEL_WAREHOUSE": str(warehouse)}
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen([str(dagster), "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if _gql(port, "{ version }").get("data"):
                    break
            except OSError:
                time.sleep(1)
        dates = [f"2026-01-{d:02d}" for d in range(1, 8)]
        # The partitions are the landing dates, registered by landing_dates_sensor (on by default)
        # at the daemon's first tick: the launch dialog offers them from then on.
        while time.time() < deadline:
            node = _gql(port, """{ assetNodeOrError(assetKey: {path: ["raw", "orders"]}) {
                ... on AssetNode { partitionKeys } } }""")["data"]["assetNodeOrError"]
            if set(dates) <= set(node["partitionKeys"]):
                break
            time.sleep(2)
        assert set(dates) <= set(node["partitionKeys"]), node
        launched = _gql(port, """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                        {"p": {"assetSelection": [{"path": ["raw", e]} for e in ("orders", "follows", "live_traffic")],
                               "partitionNames": dates, "fromFailure": False}})
        backfill_id = launched["data"]["launchPartitionBackfill"]["backfillId"]
        status = None
        while time.time() < deadline + 240:
            backfill = _gql(port, """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                ... on PartitionBackfill { status runs(limit: 10) { runId status } } } }""", {"id": backfill_id})
            status = backfill["data"]["partitionBackfillOrError"]
            if status["status"] not in ("REQUESTED", "IN_PROGRESS"):
                break
            time.sleep(2)
        assert status["status"] == "COMPLETED_SUCCESS", status
        assert [r["status"] for r in status["runs"]] == ["SUCCESS"]  # single-run backfill policy
        # Dagster puts every check of raw/* into the run, the dbt source tests' too (their step is
        # dbt_models): that step must not start dbt (on this fresh warehouse dbt failed the run).
        events = _gql(port, """query($id: ID!) { logsForRun(runId: $id, limit: 5000) { ... on EventConnection {
            events { __typename ... on MessageEvent { message }
                ... on AssetCheckEvaluationEvent { evaluation { checkName } } } } } }""",
                      {"id": status["runs"][0]["runId"]})["data"]["logsForRun"]["events"]
        messages = [e.get("message") or "" for e in events]
        assert any(m.startswith("dbt not started: this run materializes ingestion assets only") for m in messages)
        assert not any("Running dbt command" in m for m in messages)  # dagster-dbt's line when it starts dbt
        evaluated = {e["evaluation"]["checkName"] for e in events if e["__typename"] == "AssetCheckEvaluationEvent"}
        assert evaluated and not any(name.startswith("source_") for name in evaluated), evaluated
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    with duckdb.connect(str(warehouse.with_name("dualwheel.work.duckdb")), read_only=True) as con:
        loaded = con.execute("select min(_landing_date)::varchar, max(_landing_date)::varchar, "
                             "count(distinct _landing_date) from raw.orders").fetchall()[0]
    assert loaded == ("2026-01-01", "2026-01-07", 7)
