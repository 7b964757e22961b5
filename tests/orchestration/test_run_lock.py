"""One run at a time per warehouse, and a Dagster home that survives two processes starting at once.

Real processes throughout: a second `dualwheel build` while another process holds the warehouse,
two first builds started together, two processes creating one fresh Dagster home together.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import DUALWHEEL, PROJECT_ROOT, cli_env, run_cli

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from orchestration.settings import warehouse_lock
    with warehouse_lock(Path(sys.argv[1]), what="dualwheel build (test holder)"):
        print("held", flush=True)
        time.sleep(600)
""")


def _holder(warehouse: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse)], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_dagster_home_is_beside_the_warehouse_unless_dagster_home_is_set(monkeypatch, tmp_path):
    from orchestration.settings import dagster_home_for

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert dagster_home_for(Path("warehouse/dualwheel.duckdb")) == Path("warehouse/dualwheel.dagster")
    assert dagster_home_for(tmp_path / "a" / "shop.duckdb") == tmp_path / "a" / "shop.dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    assert dagster_home_for(tmp_path / "a" / "shop.duckdb") == tmp_path / "elsewhere"


def test_a_second_run_fails_at_once_naming_the_first_with_no_wait(tmp_path, small_clean_landing):
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    holder = _holder(warehouse)
    try:
        result = run_cli("build", "--no-wait", "--landing", str(small_clean_landing), "--warehouse", str(warehouse),
                         env=cli_env(tmp_path), timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (f"dualwheel: error: {warehouse}: another dualwheel run is using this warehouse "
                        f"(pid {holder.pid}, dualwheel build (test holder), since "
                        + lines[0].split(", since ")[1]), result.stderr
    assert len(lines) == 2 and lines[1].startswith("hint: "), result.stderr
    assert not warehouse.exists() and not (tmp_path / "dagster_home").exists()  # nothing touched


def test_a_waiting_run_says_whom_it_waits_for_and_stops_cleanly_on_ctrl_c(tmp_path, small_clean_landing):
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    holder = _holder(warehouse)
    try:
        proc = subprocess.Popen([str(DUALWHEEL), "build", "--landing", str(small_clean_landing),
                                 "--warehouse", str(warehouse), "-q"], env=cli_env(tmp_path), cwd=PROJECT_ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        # The waiting line is the first thing on stderr; read it before interrupting.
        first = proc.stderr.readline()
        assert first.startswith(f"waiting for the other run on {warehouse} to finish (pid {holder.pid},"), first
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 130, out + err
    assert err.strip().splitlines() == ["dualwheel: interrupted (SIGINT); the published warehouse is unchanged"]


def test_the_lock_dies_with_its_process(tmp_path):
    """flock: a SIGKILLed holder leaves no stale lock behind."""
    from orchestration.settings import warehouse_lock

    warehouse = tmp_path / "dualwheel.duckdb"
    holder = _holder(warehouse)
    holder.kill()
    holder.wait()
    with warehouse_lock(warehouse, wait=False):
        with warehouse_lock(warehouse, wait=False):  # re-entrant in one process
            pass


OPEN_HOME = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from orchestration import cli
    home = Path(os.environ["DAGSTER_HOME"])
    cli._prepare_dagster_home(home)
    while time.time() < float(sys.argv[1]):  # start together
        time.sleep(0.01)
    cli._open_dagster_instance(home)
    print("ok", flush=True)
""")


@pytest.mark.slow
def test_two_processes_creating_one_dagster_home_leave_it_usable(tmp_path):
    import dagster as dg

    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        start = str(time.time() + 8)
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_HOME, start], cwd=PROJECT_ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0 and out.strip() == "ok", err[-2000:]
        instance = dg.DagsterInstance.from_config(str(home))
        assert instance.get_runs() == []
        instance.dispose()


def test_a_damaged_dagster_home_is_named_in_one_line(tmp_path, small_clean_landing):
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    env = cli_env(tmp_path)
    home = Path(env["DAGSTER_HOME"])
    (home / "history").mkdir(parents=True)
    (home / "history" / "runs.db").write_bytes(b"this is not a database" * 100)
    result = run_cli("ingest", "--landing", str(small_clean_landing), "--warehouse", str(warehouse), "-q", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"dualwheel: error: {home}: the Dagster home (run history) cannot be opened"), lines
    assert lines[-1].startswith(f"hint: move it aside (`mv {home} {home}.broken`)"), lines
    assert len(lines) == 2, result.stderr


@pytest.mark.slow
def test_two_first_builds_at_once_both_succeed_one_after_the_other(tmp_path):
    """Fresh warehouse, Dagster home beside it (no DAGSTER_HOME): the second build waits.

    A 3-day landing: what is tested is the lock and the Dagster home, which the size of the data
    does not change (each build here runs every dbt model; on the shared 45-day landing a build
    took ~40 s, on 3 days ~30 s)."""
    from simulator.exports import generate

    landing = tmp_path / "landing"
    generate(landing, days=3, orders=300, seed=7, messy=False, progress=False)
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    env = {k: v for k, v in cli_env(tmp_path).items() if k != "DAGSTER_HOME"}
    args = [str(DUALWHEEL), "build", "--landing", str(landing), "--warehouse", str(warehouse), "-q"]
    procs = [subprocess.Popen(args, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=1200) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
        assert "Traceback" not in err and "leaked semaphore" not in err
    waited = [out for out, err in outputs if "waiting for the other run" in err]
    assert len(waited) == 1, outputs
    assert (tmp_path / "wh" / "dualwheel.dagster" / "dagster.yaml").exists()
    # The instance is healthy for later runs: the waiting build opened the Dagster home only after
    # the first had finished (the home is opened under the warehouse lock), so it is that later run
    # (a third build here proved nothing more and cost a full dbt run), and it found the files
    # already ingested by the first.
    assert "no new or changed export files" in waited[0], waited[0]


def test_a_dagster_run_from_the_ui_or_schedule_waits_for_the_warehouse(tmp_path, small_clean_landing):
    """The lock is taken by the warehouse resource too, so UI/schedule runs queue behind the CLI."""
    import threading

    import dagster as dg

    from orchestration.defs.ingestion.assets import accounts
    from orchestration.defs.resources import EngineResource, WarehouseResource

    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    resource = WarehouseResource(landing=str(small_clean_landing), warehouse=str(warehouse), max_reject_share=0.05)
    holder = _holder(warehouse)
    outcome = {}

    def run() -> None:
        outcome["result"] = dg.materialize([accounts], resources={"warehouse": resource, "engine": EngineResource()}, raise_on_error=False)

    worker = threading.Thread(target=run)
    try:
        worker.start()
        worker.join(8)
        assert worker.is_alive(), "the Dagster run did not wait for the run holding the warehouse"
        assert not warehouse.with_name("dualwheel.work.duckdb").exists()
    finally:
        holder.kill()
        holder.wait()
    worker.join(300)
    assert not worker.is_alive() and outcome["result"].success


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_warehouse_folder_is_named_not_blamed_on_the_input(tmp_path, small_clean_landing):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run_cli("build", "--landing", str(small_clean_landing), "--warehouse", str(folder / "w.duckdb"),
                         env=cli_env(tmp_path))
    finally:
        folder.chmod(0o755)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"dualwheel: error: cannot write in the warehouse folder {folder} (creating the run lock w.duckdb.lock): "
        "Permission denied"]
