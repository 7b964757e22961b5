"""The Spark engine on a real standalone cluster (tests/spark/conftest.py): executors, not the
driver, ingest a messy landing; the outcome equals the DuckDB engine's row for row and message for
message; reruns are idempotent; the CLI fails cleanly and publishes atomically."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from ingestion.load import ingest_files
from ingestion.spark_ingest import ingest_on_spark
from orchestration.engines.spark import landing_jobs
from tests.conftest import cli_env, run_cli, sha256_of
from tests.spark.conftest import free_port

pytestmark = pytest.mark.slow

BAD_FILE_NAME = "orders_no_gmv.csv"
# Exports of the second day gain a file the DuckDB engine rejects as a whole.
BAD_FILE = "order_id,buyer_id,account_id,traffic_source,quantity,status,updated_at\no1,b1,a1,follow,1,paid,2026-01-02 10:00:00\n"


@pytest.fixture(scope="module")
def messy_landing(tmp_path_factory) -> Path:
    """A small messy landing (GBK, BOM, Chinese headers, parquet, PII columns, bad rows)."""
    from simulator.exports import generate

    out = tmp_path_factory.mktemp("spark-landing") / "messy"
    generate(out, days=3, orders=600, seed=23, messy=True, progress=False)
    return out


def _with_bad_file(landing: Path, target: Path) -> Path:
    shutil.copytree(landing, target)
    day = sorted(p for p in target.iterdir() if p.is_dir())[1]
    (day / BAD_FILE_NAME).write_text(BAD_FILE)
    return target


def _raw_rows(rows) -> list[tuple]:
    return sorted((tuple(r) for r in rows), key=lambda r: tuple("" if v is None else str(v) for v in r))


def _duckdb_outcome(landing: Path):
    con = duckdb.connect()
    results, errors = ingest_files(con, landing_jobs(landing), landing)
    return con, results, errors


def test_executors_ingest_a_messy_landing_exactly_like_duckdb(spark_cluster, messy_landing, tmp_path):
    from orchestration.spark_session import get_spark

    landing = _with_bad_file(messy_landing, tmp_path / "landing")
    lake = tmp_path / "lake"
    spark = get_spark(lake, master=spark_cluster.url)
    try:
        first = ingest_on_spark(spark, landing, landing_jobs(landing), staging_root=lake / "_staging",
                                run_id="first", run_gx=True)

        # Executors did the reading: every file names a Python worker that is not this process,
        # and the files were spread over at least two of them (two one-core workers).
        pids = {int(re.search(r"pid=(\d+)", w).group(1)) for w in first.workers.values()}
        assert len(first.workers) == len(landing_jobs(landing))
        assert os.getpid() not in pids
        assert len(pids) >= 2, first.workers
        # Great Expectations ran on the executors for every export loaded.
        assert set(first.dq) == {"accounts", "orders", "follows", "live_traffic"}

        con, results, errors = _duckdb_outcome(landing)
        # The same file is rejected with the same message (file, reason).
        assert [str(e) for e in first.rejected_files] == [str(e) for e in errors]
        assert BAD_FILE_NAME in str(errors[0]) and "'gmv'" in str(errors[0])
        # Same rows read / accepted / rejected per file, so rows read = accepted + rejected.
        def counts(rs):
            return sorted((r.path, r.status, r.rows_read, r.rows_accepted, r.rows_rejected) for r in rs)
        assert counts(first.results) == counts(results)
        # Same raw rows (no PII column anywhere: the column lists are the DuckDB ones) and rejects.
        for export in ("accounts", "orders", "follows", "live_traffic"):
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = ? order by ordinal_position", [export]).fetchall()]
            assert sorted(spark.table(f"raw.{export}").columns) == sorted(columns)
            ours = spark.table(f"raw.{export}").select(*columns).collect()
            theirs = con.execute(f"select {', '.join(columns)} from raw.{export}").fetchall()
            assert _raw_rows(ours) == _raw_rows(theirs), export
        rejected_cols = "export, source_file, row_number, reasons, raw_record, landing_date"
        ours = [(*r[:3], list(r[3]), *r[4:]) for r in spark.sql(f"select {rejected_cols} from audit.rejected_rows").collect()]
        theirs = [(*r[:3], list(r[3]), *r[4:]) for r in con.execute(f"select {rejected_cols} from audit.rejected_rows").fetchall()]
        assert len(ours) > 0
        assert _raw_rows(ours) == _raw_rows(theirs)

        # Idempotent: nothing changed -> no loaded file is opened again, nothing is written; the
        # rejected file is attempted again (as on DuckDB: it was never ingested).
        before = spark.table("raw.orders").count()
        again = ingest_on_spark(spark, landing, landing_jobs(landing), staging_root=lake / "_staging",
                                run_id="again", run_gx=False)
        assert set(again.workers) == {e.path for e in errors} and again.changed == []
        assert {r.status for r in again.results} == {"unchanged"}
        assert spark.table("raw.orders").count() == before

        # A changed file replaces its previous rows (here: its last data row is gone).
        target = next(p for p, e in landing_jobs(landing) if e == "orders" and p.suffix == ".csv")
        lines = target.read_bytes().rstrip(b"\r\n").split(b"\n")
        target.write_bytes(b"\n".join(lines[:-1]) + b"\n")
        third = ingest_on_spark(spark, landing, landing_jobs(landing), staging_root=lake / "_staging",
                                run_id="third", run_gx=False)
        [replaced] = third.changed
        assert replaced.status == "replaced" and replaced.rows_read == next(
            r.rows_read for r in first.results if r.path == replaced.path) - 1
        con2, results2, _ = _duckdb_outcome(landing)
        assert spark.table("raw.orders").count() == con2.execute("select count(*) from raw.orders").fetchall()[0][0]
        assert not (lake / "_staging" / "ingest-third").exists()
    finally:
        spark.stop()  # frees the cluster's two cores for the next test


def test_unreachable_master_fails_fast_with_one_line(messy_landing, tmp_path):
    url = f"spark://127.0.0.1:{free_port()}"  # nothing listens there
    warehouse = tmp_path / "wh" / "dw.duckdb"
    proc = run_cli("build", "--engine", "spark", "--spark-master", url, "--landing", str(messy_landing),
                   "--warehouse", str(warehouse), env=cli_env(tmp_path), timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == f"dualwheel: error: Spark master {url} is unreachable (no answer within 5 s)", proc.stderr
    assert lines[-1].startswith("hint: ") and len(lines) == 2
    assert not warehouse.exists()


def test_cli_on_the_cluster_fails_cleanly_then_publishes_what_duckdb_publishes(spark_cluster, messy_landing, tmp_path):
    duck = tmp_path / "duck" / "dw.duckdb"
    run_cli("ingest", "--landing", str(messy_landing), "--warehouse", str(duck), "-q",
            env=cli_env(tmp_path), check=True)

    # A bad file fails the Spark run with the DuckDB engine's message; the published file stays as it was.
    landing = _with_bad_file(messy_landing, tmp_path / "landing")
    published = tmp_path / "spark" / "dw.duckdb"
    published.parent.mkdir()
    shutil.copy(duck, published)
    before = sha256_of(published)
    env = cli_env(tmp_path, DUALWHEEL_ENGINE="spark", DUALWHEEL_SPARK_MASTER=spark_cluster.url)
    failed = run_cli("ingest", "--landing", str(landing), "--warehouse", str(published), "-q", env=env, timeout=900)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    day = sorted(p.name for p in landing.iterdir() if p.is_dir())[1]
    assert f"{day}/{BAD_FILE_NAME}: required column 'gmv' (实付金额) missing" in failed.stderr
    assert failed.stderr.strip().splitlines()[-1].startswith("hint: ")
    assert sha256_of(published) == before

    # Without it the next run, a build on the cluster (ingestion and dbt on its executors), is green.
    # It publishes the marts and every check it evaluated in audit.check_results, as a DuckDB-engine
    # build does: the CLI's count is the table's count.
    (landing / day / BAD_FILE_NAME).unlink()
    built = run_cli("build", "--landing", str(landing), "--warehouse", str(published), "-q", env=env, timeout=1500)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (published.with_name("dw.lake") / "tables").is_dir()  # the default lake: beside the warehouse
    counted = re.search(r"build on Spark succeeded in \d+ s: checks (\d+) passed, (\d+) warned, (\d+) failed",
                        built.stdout)
    assert counted, built.stdout
    with duckdb.connect(str(published), read_only=True) as ours:
        checks = ours.execute("select asset_key, check_name, passed, severity from audit.check_results").fetchall()
        marts = {t for (t,) in ours.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()}
    passed = sum(1 for c in checks if c[2])
    warned = sum(1 for c in checks if not c[2] and c[3] == "WARN")
    failed = sum(1 for c in checks if not c[2] and c[3] != "WARN")
    assert (passed, warned, failed) == tuple(int(n) for n in counted.groups()) and failed == 0
    names = {(a, n) for a, n, _, _ in checks}
    assert {("raw/accounts", "accounts_pass_great_expectations"), ("raw/orders", "orders_pass_great_expectations"),
            ("raw/orders", "orders_reject_share_within_threshold"), ("raw/orders", "landing_is_fresh")} <= names
    assert sum(1 for a, _ in names if a.startswith("marts/")) >= 20  # the dbt tests, on their models
    assert {"fct_dual_wheel_daily", "fct_gmv_by_source_daily", "dim_accounts"} <= marts

    # An ingest then publishes the lake's raw tables (a build publishes marts and audit): the same
    # rows, types and file audit as the DuckDB engine's. Ingesting before the build instead read
    # the whole landing again on the cluster (53 s against 33 s for this run, which reads nothing).
    again = run_cli("ingest", "--landing", str(landing), "--warehouse", str(published), "-q", env=env, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    with duckdb.connect(str(published), read_only=True) as ours, duckdb.connect(str(duck), read_only=True) as theirs:
        for table in ("raw.accounts", "raw.orders", "raw.follows", "raw.live_traffic"):
            columns = [c for (c,) in theirs.execute(
                "select column_name from information_schema.columns where table_schema || '.' || table_name = ? "
                "order by ordinal_position", [table]).fetchall()]
            query = f"select {', '.join(columns)} from {table}"
            assert _raw_rows(ours.execute(query).fetchall()) == _raw_rows(theirs.execute(query).fetchall()), table
            assert ours.sql(f"describe {query}").fetchall() == theirs.sql(f"describe {query}").fetchall(), table
        query = ("select path, export, landing_date, sha256, rows_read, rows_accepted, rows_rejected, gate_verdict, "
                 "mapping_digest from audit.ingested_files")
        assert _raw_rows(ours.execute(query).fetchall()) == _raw_rows(theirs.execute(query).fetchall())


def test_a_worker_killed_mid_ingestion_loses_and_doubles_no_row(spark_cluster, messy_landing, tmp_path):
    """Last in this module: it leaves the session's cluster with one worker."""
    import signal
    import threading
    import time

    from orchestration.spark_session import get_spark

    lake = tmp_path / "lake"
    worker = spark_cluster.processes[-1]
    spark = get_spark(lake, master=spark_cluster.url)
    staging = lake / "_staging" / "ingest-killed"

    def kill_when_tasks_run() -> None:
        # The executors' stage writes its output under _temporary: tasks are running now.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not (staging / "envelope" / "_temporary").exists():
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_tasks_run, daemon=True)
    killer.start()
    try:
        result = ingest_on_spark(spark, messy_landing, landing_jobs(messy_landing), staging_root=lake / "_staging",
                                 run_id="killed", run_gx=False)
        killer.join(timeout=60)
        assert worker.poll() is not None  # the worker JVM really died during the run
        con, results, errors = _duckdb_outcome(messy_landing)
        assert result.rejected_files == [] and errors == []
        for export in ("accounts", "orders", "follows", "live_traffic"):
            table = spark.table(f"raw.{export}")
            expected = con.execute(f"select count(*) from raw.{export}").fetchall()[0][0]
            assert table.count() == expected, export  # nothing lost
            assert table.select("_source_file", "_row_number").distinct().count() == expected, export  # nothing doubled
    finally:
        spark.stop()
