"""dbt started ahead during ingestion (orchestration/dbt_prestart.py): the same build, less waiting.

Real dbt, DuckDB and Dagster: a build through the prestarted dbt must give the same Dagster events
as plain dbt, a dbt failure the same error, the client must fall back to plain dbt when no server
listens, and a server nobody uses must go away.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from orchestration import dbt_prestart
from orchestration.defs.resources import VenvDbtCliResource
from orchestration.settings import DBT_PROJECT_DIR, VENV_DBT, dbt_target_for
from tests.conftest import DUALWHEEL, PROJECT_ROOT, add_616_sale, cli_env, run_cli
from tests.orchestration.test_interrupts import _add_bad_day
from tests.orchestration.test_operations import _alive


def _dbt_step_events(home: Path) -> dict:
    """What the dbt step of the last transform run reported, without times, ids and paths."""
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        run = instance.get_runs(filters=dg.RunsFilter(job_name="transform_job"), limit=1)[0]
        materializations, checks, kinds = {}, {}, []
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None or entry.step_key != "dbt_models":
                continue
            kinds.append(event.event_type_value)
            if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                m = event.step_materialization_data.materialization
                materializations[m.asset_key.to_user_string()] = {
                    k: getattr(v, "value", v) for k, v in m.metadata.items()
                    if k in ("dagster/row_count", "grain", "unique_id", "date_range")}
            elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                c = event.event_specific_data
                checks[f"{c.asset_key.to_user_string()}:{c.check_name}"] = (c.passed, str(c.severity))
        return {"status": run.status, "materializations": materializations, "checks": checks,
                "kinds": sorted(set(kinds)), "counts": {k: kinds.count(k) for k in set(kinds)}}
    finally:
        instance.dispose()


def _servers_of(pid: int) -> list[int]:
    """Live prestarted-dbt servers the process `pid` started (their command line names it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"orchestration.dbt_prestart" in cmdline and str(pid).encode() in cmdline and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def test_build_through_prestarted_dbt_gives_the_same_events_as_plain_dbt(built_clean, small_clean_landing, tmp_path):
    # built_clean is the session's one `dualwheel build` (prestart on by default); the same landing
    # built again with plain dbt.
    shutil.copytree(small_clean_landing, tmp_path / "landing")
    add_616_sale(tmp_path / "landing")
    plain_warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    run_cli("build", "--landing", str(tmp_path / "landing"), "--warehouse", str(plain_warehouse), "-q",
            env=cli_env(tmp_path, DUALWHEEL_DBT_PRESTART="0"), check=True)

    prestarted = _dbt_step_events(built_clean.base / "dagster_home")
    plain = _dbt_step_events(tmp_path / "dagster_home")
    assert prestarted["status"] == plain["status"] == dg.DagsterRunStatus.SUCCESS
    assert len(prestarted["materializations"]) > 20 and len(prestarted["checks"]) > 100
    assert prestarted["materializations"] == plain["materializations"]
    assert prestarted["checks"] == plain["checks"]
    assert prestarted["counts"] == plain["counts"]
    # The prestarted build really ran on the warm-up's parse: on a fresh warehouse plain dbt
    # re-parses (the copied partial parse was made for another profile).
    log = (dbt_target_for(built_clean.base / "wh" / "dualwheel.duckdb") / "dbt.log").read_text()
    assert "Nothing changed, skipping partial parsing" in log


def _invoke(dbt: VenvDbtCliResource, args: list[str], target: Path) -> dict:
    invocation = dbt.cli(args, target_path=target, raise_on_error=False)
    events = list(invocation.stream_raw_events())
    error = invocation.get_error()
    return {"returncode": invocation.process.returncode,
            "events": [(e.raw_event["info"]["code"], e.raw_event["info"]["level"]) for e in events
                       if e.raw_event["info"]["code"] not in ("A001", "Z048", "I024")],  # version, timing, "Unable to do partial parsing"
            "error_messages": list(invocation._error_messages),
            # the same text but for the executable, the target folder and timings
            "error": re.sub(r"\d+\.\d+s\b", "<t>s", str(error.description).replace(dbt.dbt_executable, "<dbt>")
                            .replace(str(target), "<target>")) if error else None}


def test_a_dbt_failure_is_the_same_through_the_prestarted_dbt_and_later_clients_fall_back(tmp_path, monkeypatch):
    # An empty working database: stg_orders fails (no raw.orders), its downstream is skipped.
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    work_db = tmp_path / "wh" / "dualwheel.work.duckdb"
    work_db.parent.mkdir(parents=True)
    monkeypatch.setenv("DUALWHEEL_DB_PATH", str(work_db))  # as dbt_models sets it
    args = ["build", "--select", "stg_orders+", "--exclude-resource-type", "unit_test"]
    dbt = VenvDbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR),
                             dbt_executable=str(VENV_DBT))
    plain = _invoke(dbt, args, tmp_path / "plain-target")

    server = dbt_prestart.start(warehouse, work_db)
    try:
        client = dbt_prestart.take(warehouse)
        assert client is not None and dbt_prestart.take(warehouse) is None  # one invocation only
        through_client = dbt.model_copy(update={"dbt_executable": str(client)})
        prestarted = _invoke(through_client, args, dbt_target_for(warehouse))
        assert server.process.wait(timeout=60) == 0  # served once, gone
        # The server is gone: the same client now runs plain dbt, with the same outcome.
        fallback = _invoke(through_client, args, tmp_path / "fallback-target")
    finally:
        dbt_prestart.stop(warehouse)
    assert not server.folder.exists()

    assert plain["returncode"] == 1 and plain["error_messages"]
    assert "raw.orders" in "".join(plain["error_messages"]) or "orders" in "".join(plain["error_messages"])
    for other in (prestarted, fallback):
        assert other["returncode"] == plain["returncode"]
        assert other["events"] == plain["events"]
        assert other["error"] == plain["error"] and "failed with exit code `1`" in plain["error"]


def test_client_runs_plain_dbt_when_no_server_listens(tmp_path):
    # In a folder whose name has a blank, as a venv under "My Projects" would be.
    (tmp_path / "my folder").mkdir()
    client = dbt_prestart.write_client(tmp_path / "my folder" / "dbt", tmp_path / "none.sock")
    proc = subprocess.run([str(client), "--version"], capture_output=True, text=True, timeout=120)
    plain = subprocess.run([str(VENV_DBT), "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == plain.returncode == 0
    assert proc.stdout == plain.stdout and "duckdb" in proc.stdout


def test_an_unused_server_goes_away(tmp_path):
    # Its parent ends without stopping it (killed, or os._exit): the server notices and exits.
    script = ("import os, sys; from pathlib import Path; from orchestration import dbt_prestart; "
              "p = dbt_prestart.start(Path(sys.argv[1]), Path(sys.argv[2])); print(p.process.pid, p.folder, flush=True); "
              "os._exit(0)")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "wh" / "a.duckdb"),
                           str(tmp_path / "wh" / "a.work.duckdb")], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60, check=True)
    orphan, folder = proc.stdout.split()
    assert _wait_gone(int(orphan)), "the server outlived the process that started it"
    assert not Path(folder).exists()  # its socket, client and log

    # stop(): what cmd_build does when the build ends without a dbt step.
    warehouse = tmp_path / "wh" / "b.duckdb"
    server = dbt_prestart.start(warehouse, warehouse.with_name("b.work.duckdb"))
    dbt_prestart.stop(warehouse)
    assert server.process.poll() is not None and not server.folder.exists()
    assert dbt_prestart.take(warehouse) is None


def _wait_gone(pid: int, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.5)
    return False


def test_a_build_failing_its_gate_stops_the_server_it_started(built_copy):
    _add_bad_day(built_copy / "landing")
    build = subprocess.Popen([str(DUALWHEEL), "build", "--landing", str(built_copy / "landing"), "--warehouse",
                              str(built_copy / "wh" / "dualwheel.duckdb"), "-q"], env=cli_env(built_copy),
                             cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    saw_server = False
    while build.poll() is None:
        saw_server = saw_server or bool(_servers_of(build.pid))
        time.sleep(0.2)
    out, err = build.communicate()
    assert build.returncode == 1 and "reject" in (out + err).lower(), out + err
    assert saw_server  # it was started, during ingestion
    assert not _servers_of(build.pid)


def test_ctrl_c_to_the_client_stops_dbt_in_the_server(tmp_path):
    # dagster-dbt interrupts dbt with SIGINT: the client forwards it, dbt stops its query and
    # exits 2 as plain dbt does, and the server is gone.
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    work_db = warehouse.with_name("dualwheel.work.duckdb")
    work_db.parent.mkdir(parents=True)
    server = dbt_prestart.start(warehouse, work_db)
    try:
        env = {**os.environ, "DUALWHEEL_DB_PATH": str(work_db), "DBT_TARGET_PATH": str(dbt_target_for(warehouse)),
               "DBT_LOG_PATH": str(dbt_target_for(warehouse)), "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
               "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
        client = subprocess.Popen([str(dbt_prestart.take(warehouse)), "show", "--inline",
                                   "select sum(hash(i)) from range(1000000000000) t(i)"],  # hours
                                  env=env, cwd=DBT_PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        for line in client.stdout:
            if "Found" in line:  # parsed; the query starts now
                break
        time.sleep(2)
        client.send_signal(signal.SIGINT)
        client.stdout.read()
        assert client.wait(timeout=60) == 2
        assert server.process.wait(timeout=60) == 0
    finally:
        dbt_prestart.stop(warehouse)
