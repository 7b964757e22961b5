"""The Dagster UI serves the whole lineage: started as a real webserver, queried over GraphQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_webserver_serves_assets_checks_and_schedule(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DUALWHEEL_LANDING": str(tmp_path / "landing"),
           "DUALWHEEL_WAREHOUSE": str(tmp_path / "wh" / "dualwheel.duckdb")}
    webserver = Path(sys.executable).with_name("dagster-webserver")
    proc = subprocess.Popen([str(webserver), "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.time() + 180
        nodes = None
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"webserver exited: {proc.stderr.read().decode()[-3000:]}")
            try:
                data = _graphql(port, "{ assetNodes { assetKey { path } groupName } }")
                nodes = data.get("data", {}).get("assetNodes")
                if nodes:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert nodes, "webserver did not answer within 180 s"
        keys = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
        assert keys["raw/orders"] == "ingestion"
        assert keys["staging/stg_orders"] == "staging"
        assert keys["intermediate/int_orders_counted"] == "intermediate"
        assert keys["marts/fct_dual_wheel_daily"] == "marts"
        assert "published_warehouse" in keys

        checks = _graphql(port, """{ assetNodeOrError(assetKey: {path: ["raw", "orders"]}) {
            ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } } }""")
        names = {c["name"]: c["blocking"] for c in
                 checks["data"]["assetNodeOrError"]["assetChecksOrError"]["checks"]}
        assert names["orders_pass_great_expectations"] is True
        assert names["orders_reject_share_within_threshold"] is True
        assert names["landing_is_fresh"] is False

        repos = _graphql(port, """{ repositoriesOrError { ... on RepositoryConnection { nodes {
            schedules { name cronSchedule executionTimezone } sensors { name } } } } }""")
        repo = repos["data"]["repositoriesOrError"]["nodes"][0]
        assert {"name": "nightly_refresh_schedule", "cronSchedule": "30 2 * * *",
                "executionTimezone": "Asia/Shanghai"} in repo["schedules"]
        assert {"name": "new_landing_date_sensor"} in repo["sensors"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
