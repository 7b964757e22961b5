"""Operating dualwheel in Dagster (issue 14), tested the way it failed in a browser.

One real sequence, because each step needs the state the previous one left:
1. `dualwheel build` is killed with SIGKILL mid-run: its run stays STARTED with no process.
2. `dualwheel ui` starts (webserver + daemon). With the one-run queue that dead run used to hold
   back every other run forever; run monitoring (poll interval 2 s here, 30 s in production) must
   mark it failed, so a backfill launched the way the UI launches it (GraphQL
   `launchPartitionBackfill`, run by the daemon) and a nightly-schedule tick (cron every minute
   here) both start and succeed without anyone terminating anything. The backfill of landing dates
   is one run (single-run backfill policy) over exactly those partitions, and it does not start
   dbt although Dagster gives it the dbt step for the source tests' checks on raw/* (on a fresh
   warehouse dbt failed it).
3. The CLI's run is listed on its job's page (the UI filters by the `.dagster/repository` tag)
   and carries the origin the Overview timeline groups by.
4. The landing-date partitions are the landing dates present; after the schedule's full refresh
   every one is materialized (100 %).
5. The asset page of a mart shows grain, row count, date range and preview.
6. A command-line build's check summary, the report and the UI's run pages give one count.
7. SIGTERM to `dualwheel ui` stops the webserver, the daemon and the code servers within seconds.

Cost: the landing is the first 10 days of the shared 45-day one (ingestion cost is per file: the
raw steps of the schedule's run took 52 s for 45 days, 28 s for 10, GX's import included, on
loaded cores), and the UI backfill shares this sequence's Dagster home and webserver instead of
starting its own (its own `dagster dev` took ~70 s of a 170 s test). With the old separate
backfill test this sequence took 452 + 174 s on loaded shared cores, now 413 s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from warehouse.report import headline_figures, table_names

from tests.conftest import DUALWHEEL, PROJECT_ROOT, cli_env
from tests.orchestration.test_webserver import _free_port

pytestmark = pytest.mark.slow

LOCATION = "orchestration.definitions"
REPOSITORY = "__repository__"


def _gql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert not body.get("errors"), body["errors"]
    return body["data"]


def _wait(what: str, seconds: float, probe):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _run_events(port: int, run_id: str) -> list[dict]:
    events, cursor = [], None
    while True:
        page = _gql(port, """query($id: ID!, $after: String) { logsForRun(runId: $id, afterCursor: $after) {
            ... on EventConnection { cursor hasMore events { __typename
                ... on MessageEvent { message level }
                ... on ObservationEvent { description }
                ... on MaterializationEvent { assetKey { path } partition }
                ... on AssetCheckEvaluationEvent { evaluation { checkName success severity } } } } } }""",
                    {"id": run_id, "after": cursor})["logsForRun"]
        events += page["events"]
        if not page["hasMore"]:
            return events
        cursor = page["cursor"]


def _observation_warnings(port: int, run_id: str) -> list[str]:
    """dagster-dbt's "Logging an `AssetObservation` instead of an `AssetCheckResult`" warnings
    (23 per run before), as log lines or as observation descriptions."""
    return [e.get("message") or e.get("description") for e in _run_events(port, run_id)
            if "instead of an `AssetCheckResult`" in (e.get("message") or "") + (e.get("description") or "")]


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process checks read /proc (Linux)")
def test_killed_build_never_stalls_ui_or_schedule_runs_and_ui_stops_cleanly(tmp_path, small_clean_landing):
    landing = tmp_path / "landing"
    landing.mkdir()
    days = sorted(p for p in small_clean_landing.iterdir() if p.is_dir())
    for path in small_clean_landing.iterdir():
        if path.is_file():
            shutil.copy2(path, landing / path.name)  # the roster (accounts.csv)
    for day in days[:10]:
        shutil.copytree(day, landing / day.name)
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    home = tmp_path / "wh" / "dualwheel.dagster"
    home.mkdir(parents=True)
    config = yaml.safe_load((PROJECT_ROOT / "orchestration" / "deploy" / "dagster.yaml").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 2  # keeps the test's waits short
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    env = cli_env(tmp_path, DAGSTER_HOME=str(home), DUALWHEEL_LANDING=str(landing),
                  DUALWHEEL_WAREHOUSE=str(warehouse), DUALWHEEL_NIGHTLY_CRON="* * * * *")

    # 1. A command-line build killed mid-run, the way the OOM killer or `kill -9` would.
    build = subprocess.Popen([str(DUALWHEEL), "build", "-q"], env=env, cwd=PROJECT_ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    instance = _instance(home)

    def started_run_with_pid():
        if build.poll() is not None:
            pytest.fail(f"the build ended before it could be killed: {build.stderr.read().decode()[-2000:]}")
        for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            if any("pid" in (r.dagster_event.engine_event_data.metadata or {})
                   for r in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)):
                return record.dagster_run
        return None

    dead = _wait("the build's run to start", 300, started_run_with_pid)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    time.sleep(1)
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.STARTED  # nobody ended it

    # 2. The UI: a UI backfill and a schedule tick must get past the dead run by themselves.
    port = _free_port()
    ui = subprocess.Popen([str(DUALWHEEL), "ui", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                          start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answers():
            if ui.poll() is not None:
                pytest.fail(f"dualwheel ui exited with {ui.returncode}")
            try:
                return _gql(port, "{ version }")
            except OSError:
                return None

        _wait("the webserver", 240, answers)
        # The landing dates are partitions (the killed build registered them; so does the
        # landing_dates sensor, tested in test_definitions.py): the launch dialog offers them.
        backfill_dates = [d.name for d in days[:7]]
        launched = _gql(port, """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                        {"p": {"assetSelection": [{"path": ["raw", e]} for e in ("orders", "follows", "live_traffic")],
                               "partitionNames": backfill_dates, "fromFailure": False}})
        assert launched["launchPartitionBackfill"]["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["launchPartitionBackfill"]["backfillId"]

        def status(run_id):
            return _gql(port, """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }""",
                        {"id": run_id})["runOrError"]["status"]

        def schedule_runs():
            return _gql(port, """{ runsOrError(filter: {tags: [{key: "dagster/schedule_name",
                value: "nightly_refresh_schedule"}]}) { ... on Runs { results { runId status } } } }""")[
                "runsOrError"]["results"]

        _wait("a schedule tick's run", 150, schedule_runs)
        # One tick is the proof; stop the every-minute cron so no further tick competes with the
        # command-line build below for the working database.
        schedule_id = _gql(port, """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) {
            ... on Schedule { id } } }""", {"s": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                                                 "scheduleName": "nightly_refresh_schedule"}})["scheduleOrError"]["id"]
        _gql(port, "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }", {"id": schedule_id})
        finished = ("SUCCESS", "FAILURE", "CANCELED")

        def backfill_done():
            backfill = _gql(port, """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                ... on PartitionBackfill { status runs(limit: 10) { runId status } } } }""",
                            {"id": backfill_id})["partitionBackfillOrError"]
            return backfill["status"] not in ("REQUESTED", "IN_PROGRESS") and backfill

        # The backfill's run and the schedule's queue behind each other, in either order (when the
        # schedule's comes first, the backfill finds those files ingested and skips them).
        backfill = _wait("the UI backfill to finish", 600, backfill_done)
        assert backfill["status"] == "COMPLETED_SUCCESS", backfill
        assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"]  # single-run backfill policy
        assert status(dead.run_id) == "FAILURE"
        failure = instance.get_run_record_by_id(dead.run_id)
        messages = [r.message for r in instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)]
        assert any("is gone" in m for m in messages), messages
        assert failure.end_time is not None
        backfill_events = _run_events(port, backfill["runs"][0]["runId"])
        assert sorted(e["partition"] for e in backfill_events if e["__typename"] == "MaterializationEvent"
                      and e["assetKey"]["path"] == ["raw", "orders"]) == backfill_dates
        # Dagster puts every check of raw/* into that run, the dbt source tests' too (their step is
        # dbt_models): the step must not start dbt.
        backfill_messages = [e.get("message") or "" for e in backfill_events]
        assert any(m.startswith("dbt not started: this run materializes ingestion assets only")
                   for m in backfill_messages)
        assert not any("Running dbt command" in m for m in backfill_messages)  # dagster-dbt's line when it starts dbt
        evaluated = {e["evaluation"]["checkName"] for e in backfill_events if e["__typename"] == "AssetCheckEvaluationEvent"}
        assert evaluated and not any(name.startswith("source_") for name in evaluated), evaluated

        runs = _wait("the schedule's runs to finish", 420,
                     lambda: (r := schedule_runs()) and all(x["status"] in finished for x in r) and r)
        assert {r["status"] for r in runs} == {"SUCCESS"}, runs
        scheduled = runs[-1]
        assert not _observation_warnings(port, scheduled["runId"])

        # 3. The CLI's run is on its job's page and on the timeline (which needs the origin).
        page = _gql(port, """query($f: RunsFilter!) { runsOrError(filter: $f) { ... on Runs { results {
            runId repositoryOrigin { repositoryName repositoryLocationName } } } } }""",
                    {"f": {"pipelineName": dead.job_name,
                           "tags": [{"key": ".dagster/repository", "value": f"{REPOSITORY}@{LOCATION}"}]}})
        listed = {r["runId"]: r["repositoryOrigin"] for r in page["runsOrError"]["results"]}
        assert listed[dead.run_id] == {"repositoryName": REPOSITORY, "repositoryLocationName": LOCATION}

        # 4. Partitions are the landing dates, all of them materialized by the schedule's refresh.
        health = _gql(port, """{ assetNodeOrError(assetKey: {path: ["raw", "orders"]}) { ... on AssetNode {
            partitionKeys assetPartitionStatuses { ... on DefaultPartitionStatuses {
                materializedPartitions failedPartitions } } } } }""")["assetNodeOrError"]
        dates = sorted(p.name for p in landing.iterdir() if p.is_dir())
        assert health["partitionKeys"] == dates
        assert sorted(health["assetPartitionStatuses"]["materializedPartitions"]) == dates

        # 5. The asset page: grain, row count, date range and preview in the latest
        #    materialization; the description is prose, the SQL has its own entry.
        mart = _gql(port, """{ assetNodeOrError(assetKey: {path: ["marts", "fct_dual_wheel_daily"]}) {
            ... on AssetNode { description metadataEntries { label }
                assetMaterializations(limit: 1) { metadataEntries { label } } } } }""")["assetNodeOrError"]
        assert "```" not in mart["description"] and "Grain:" in mart["description"]
        assert "sql" in {e["label"] for e in mart["metadataEntries"]}
        latest = {e["label"] for e in mart["assetMaterializations"][0]["metadataEntries"]}
        assert {"grain", "dagster/row_count", "date_range", "preview"} <= latest

        # 6. One count of checks: a command-line build's summary, the report's data-quality
        #    section and the UI's run pages agree on passed / warned / failed.
        cli = subprocess.run([str(DUALWHEEL), "build", "-q"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=600)
        assert cli.returncode == 0, cli.stderr
        summary = re.search(r"checks (\d+) passed, (\d+) warned, (\d+) failed", cli.stdout)
        assert summary, cli.stdout
        cli_counts = tuple(int(n) for n in summary.groups())
        with duckdb.connect(str(warehouse), read_only=True) as con:
            transform_run = con.sql("select run_id from audit.published_at").fetchall()[0][0]
            figures = headline_figures(con, table_names(con))
        ingest_run = instance.get_run_by_id(transform_run).tags["dualwheel/ingest_run_id"]
        report_counts = (figures["checks_passed"], figures["checks_warned"],
                         figures["checks_total"] - figures["checks_passed"] - figures["checks_warned"])
        ui_counts = [0, 0, 0]
        for run_id in (ingest_run, transform_run):
            for event in _run_events(port, run_id):
                if event["__typename"] == "AssetCheckEvaluationEvent":
                    evaluation = event["evaluation"]
                    ui_counts[0 if evaluation["success"] else 1 if evaluation["severity"] == "WARN" else 2] += 1
        assert cli_counts == report_counts == tuple(ui_counts), (cli_counts, report_counts, ui_counts)
        assert cli_counts[0] > 100  # GX suites, gates and every dbt test: one count, not three
        for run_id in (ingest_run, transform_run):
            assert not _observation_warnings(port, run_id)
        # dbt's 17 source tests are among them: checks on raw/*, evaluated in the transform run
        transform_events = _run_events(port, transform_run)
        source_checks = {e["evaluation"]["checkName"] for e in transform_events
                         if e["__typename"] == "AssetCheckEvaluationEvent"
                         and e["evaluation"]["checkName"].startswith("source_")}
        assert len(source_checks) == 17, sorted(source_checks)
        assert not [e for e in transform_events if "which is not selected" in (e.get("message") or "")]
    finally:
        # 7. SIGTERM to `dualwheel ui` stops the whole tree within seconds.
        tree = _descendants(ui.pid) | {ui.pid}
        ui.send_signal(signal.SIGTERM)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in tree):
            time.sleep(0.5)
        survivors = [p for p in tree if _alive(p)]
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
    assert ui.returncode == 0
    assert len(tree) >= 4, tree  # dualwheel, dagster dev, webserver, daemon (+ code servers)
    assert not survivors, f"still running after SIGTERM to dualwheel ui: {survivors}"
