"""The Spark engine decides what to read again exactly as the DuckDB loader does
(ingestion.load.must_read): gate verdicts and mapping digests in audit.ingested_files, on a local
Spark (one session for the module: ~10–25 s to start on 2 cores)."""

from __future__ import annotations

import pytest

from orchestration.engines.spark import landing_jobs
from tests.ingestion.conftest import row, write_rows
from tests.ingestion.test_merchant import DAY, MAPPING, merchant_orders

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from orchestration.engines import EngineSettings
    from orchestration.engines.spark import spark_session, stop_spark_session

    lake = tmp_path_factory.mktemp("spark-audit") / "lake"
    try:
        yield spark_session(EngineSettings(engine="spark", spark_master="local[1]", lake=lake)), lake
    finally:
        stop_spark_session()


def _ingest(spark, landing, lake, **kwargs):
    from ingestion.spark_ingest import ingest_on_spark

    result = ingest_on_spark(spark, landing, landing_jobs(landing), staging_root=lake / "_staging",
                             run_id="t", run_gx=False, **kwargs)
    assert not result.rejected_files, result.rejected_files
    return {r.path: r.status for r in result.results}


def test_mapping_change_and_failed_gate_reread_files_on_spark(spark, tmp_path):
    from ingestion.spark_ingest import record_verdicts, unverified_files

    spark, lake = spark
    landing = tmp_path / "landing"
    (landing / "mapping.yml").parent.mkdir(parents=True)
    (landing / "mapping.yml").write_text(MAPPING, encoding="utf-8")
    merchant_orders(landing)
    write_rows(landing / DAY / "orders_contract.csv", "orders", [row("orders", order_id="c1")])
    write_rows(landing / DAY / "follows.csv", "follows", [row("follows")])
    files = {f"{DAY}/orders.csv", f"{DAY}/orders_contract.csv", f"{DAY}/follows.csv"}

    assert _ingest(spark, landing, lake) == dict.fromkeys(files, "loaded")
    audit = {r.path: (r.gate_verdict, r.mapping_digest) for r in spark.table("audit.ingested_files").collect()}
    assert {p: v for p, (v, _) in audit.items()} == dict.fromkeys(files, "passed")
    assert audit[f"{DAY}/orders.csv"][1] and audit[f"{DAY}/follows.csv"][1] == ""  # 粉丝ID names no header there
    # Unchanged mapping and files: nothing is read again (decided on the driver, from fingerprints).
    assert _ingest(spark, landing, lake) == dict.fromkeys(files, "unchanged")

    # Another contract value for a status word: both orders files are re-read, their rows change;
    # the follows file is not (contract §6: a changed mapping re-reads every file it affects).
    (landing / "mapping.yml").write_text(MAPPING.replace("待发货: paid", "待发货: shipped"), encoding="utf-8")
    assert _ingest(spark, landing, lake) == {f"{DAY}/orders.csv": "replaced", f"{DAY}/orders_contract.csv": "replaced",
                                             f"{DAY}/follows.csv": "unchanged"}
    assert [r.status for r in spark.sql("select status from raw.orders where order_id = 'o3'").collect()] == ["shipped"]
    assert _ingest(spark, landing, lake) == dict.fromkeys(files, "unchanged")

    # A gate failed on a file (the same verdicts as ingestion.gates.record_verdicts): it is read and
    # gated again next run although neither it nor the mapping changed; a pending file likewise.
    write_rows(landing / "2026-06-17" / "orders.csv", "orders", [row("orders", order_id="n1")])
    new = "2026-06-17/orders.csv"
    assert _ingest(spark, landing, lake, awaiting_gates=True)[new] == "loaded"
    assert unverified_files(spark) == [(new, "pending")]
    record_verdicts(spark, passed=[new], failed=[f"{DAY}/follows.csv"])
    assert unverified_files(spark) == [(f"{DAY}/follows.csv", "failed")]
    statuses = _ingest(spark, landing, lake)
    assert statuses[f"{DAY}/follows.csv"] == "replaced" and statuses[new] == "unchanged"
    assert statuses[f"{DAY}/orders.csv"] == "unchanged"
    assert unverified_files(spark) == []


def test_a_lake_from_before_gate_verdicts_gains_the_columns(spark):
    """Lakes built before this change: the columns are added, their files count as passed (as the
    DuckDB migration's default says) and are not read again for it."""
    from ingestion.spark_ingest import ensure_catalog, unverified_files

    spark, _ = spark
    spark.sql("create database if not exists audit")
    spark.sql("drop table if exists audit.ingested_files")
    spark.sql("drop table if exists audit.file_fingerprints")
    spark.sql("create table audit.ingested_files (path string, export string, landing_date date, sha256 string, "
              "rows_read bigint, rows_accepted bigint, rows_rejected bigint, ingested_at timestamp_ntz, "
              "status string) using parquet")
    spark.sql("create table audit.file_fingerprints (path string, size_bytes bigint, mtime_ns bigint, "
              "sha256 string) using parquet")
    spark.sql("insert into audit.ingested_files values ('2026-06-16/orders.csv', 'orders', date'2026-06-16', 'abc', "
              "1, 1, 0, timestamp'2026-06-16 10:00:00', 'loaded')")
    ensure_catalog(spark)
    assert spark.table("audit.ingested_files").columns[-2:] == ["gate_verdict", "mapping_digest"]
    assert spark.table("audit.file_fingerprints").columns[-1] == "headers"
    assert unverified_files(spark) == []
