"""The same dbt project on both engines: one messy simulated landing, loaded once by the DuckDB
ingestion, built by dbt on DuckDB and by dbt-spark (`method: session`) on a local Spark, and every
table of the `marts` schema must come out identical (money exact, ratios within 1e-9).

The raw + audit tables reach the Spark catalog as Parquet copies of the DuckDB ones (this test's
fixture; the engine's own distributed ingestion is tested elsewhere), so any difference below is
the dbt project's, not ingestion's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.spark_session import get_spark
from tests.dbt._dbt_runner import DBT_PROJECT, invoke_dbt

pytestmark = pytest.mark.slow

#: Every table dbt reads that ingestion writes (docs/architecture.md "Raw tables").
INGESTED_TABLES = [("raw", "orders"), ("raw", "follows"), ("raw", "live_traffic"), ("raw", "accounts"),
                   ("audit", "ingested_files"), ("audit", "rejected_rows")]
RATIO_TOLERANCE = 1e-9


@dataclass
class BothEngines:
    duckdb_file: Path
    spark: object  # SparkSession
    duckdb_result: object  # dbtRunnerResult
    spark_result: object
    seconds: dict[str, float]


def copy_ingested_tables_to_spark(con: duckdb.DuckDBPyConnection, spark, staging: Path) -> None:
    """raw.* and audit.* of a DuckDB working file -> managed Parquet tables in the Spark catalog."""
    staging.mkdir(parents=True, exist_ok=True)
    for schema, table in INGESTED_TABLES:
        parquet = staging / f"{schema}.{table}.parquet"
        con.execute(f"copy {schema}.{table} to '{parquet}' (format parquet)")
        spark.sql(f"create database if not exists {schema}")
        spark.sql(f"drop table if exists {schema}.{table}")
        spark.read.parquet(str(parquet)).write.format("parquet").saveAsTable(f"{schema}.{table}")


def invoke_dbt_on_spark(args: list[str], work_dir: Path):
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke([
        *args, "--target", "spark",
        "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
        "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"), "--quiet",
    ])


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory) -> BothEngines:
    from ingestion.load import ingest_all
    from simulator.exports import generate

    work = tmp_path_factory.mktemp("dbt_on_spark")
    landing = work / "landing"
    generate(landing, days=30, orders=3_000, seed=11, messy=True, progress=False)
    db_file = work / "work.duckdb"
    with duckdb.connect(str(db_file)) as con:
        ingest_all(con, landing)

    seconds = {}
    started = time.perf_counter()
    duckdb_result = invoke_dbt(["build"], db_file, work / "duckdb")
    seconds["dbt build on DuckDB"] = time.perf_counter() - started

    started = time.perf_counter()
    spark = get_spark(work / "lake")
    seconds["Spark session start"] = time.perf_counter() - started
    with duckdb.connect(str(db_file), read_only=True) as con:
        copy_ingested_tables_to_spark(con, spark, work / "parquet")
    started = time.perf_counter()
    # Unit tests stay DuckDB-only: dbt-spark renders their fixture rows with the contracts'
    # `varchar` casts, which Spark 4 rejects without a length (README "Running on Spark").
    spark_result = invoke_dbt_on_spark(["build", "--exclude", "resource_type:unit_test"], work / "spark")
    seconds["dbt build on Spark"] = time.perf_counter() - started
    print("; ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return BothEngines(db_file, spark, duckdb_result, spark_result, seconds)


def _failures(result) -> list[str]:
    if result.exception is not None:
        return [repr(result.exception)]
    return [f"{r.node.name}: {r.status} {r.message}" for r in result.result
            if str(r.status) not in ("success", "pass", "warn")]


def test_dbt_builds_and_tests_every_model_on_spark(both_engines):
    assert both_engines.duckdb_result.success, _failures(both_engines.duckdb_result)
    assert both_engines.spark_result.success, _failures(both_engines.spark_result)
    statuses = {r.node.resource_type: set() for r in both_engines.spark_result.result}
    for r in both_engines.spark_result.result:
        statuses[r.node.resource_type].add(str(r.status))
    # the data tests ran on Spark (as checks), not only the models
    assert statuses["test"] <= {"pass", "warn"} and "pass" in statuses["test"]
    data_tests = [r for r in both_engines.spark_result.result if r.node.resource_type == "test"]
    assert len(data_tests) >= 100


def _spark_table_location(spark, schema: str, table: str) -> str:
    rows = spark.sql(f"describe table extended {schema}.{table}").collect()
    return next(r.data_type for r in rows if r.col_name == "Location")


def _sort_key(row: tuple, exact_columns: list[int]) -> tuple:
    return tuple((row[i] is None, str(row[i])) for i in exact_columns)


def test_every_mart_is_identical_on_both_engines(both_engines):
    if not (both_engines.duckdb_result.success and both_engines.spark_result.success):
        pytest.skip("a build failed (see test_dbt_builds_and_tests_every_model_on_spark)")
    spark = both_engines.spark
    spark_marts = sorted(r.tableName for r in spark.sql("show tables in marts").collect() if not r.isTemporary)
    with duckdb.connect(str(both_engines.duckdb_file), read_only=True) as con:
        duck_marts = sorted(r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall())
        assert spark_marts == duck_marts
        assert len(duck_marts) >= 7  # the contract's marts (eight once fct_fan_cohort lands)

        for table in duck_marts:
            location = _spark_table_location(spark, "marts", table)
            # DuckDB reads Spark's Parquet files directly, as publishing does.
            spark_rel = con.sql(f"select * from read_parquet('{location.removeprefix('file:')}/*.parquet')")
            duck_rel = con.sql(f"select * from marts.{table}")
            assert spark_rel.columns == duck_rel.columns, table
            assert [str(t) for t in spark_rel.types] == [str(t) for t in duck_rel.types], table

            floats = [i for i, t in enumerate(duck_rel.types) if str(t) in ("DOUBLE", "FLOAT")]
            exact = [i for i in range(len(duck_rel.columns)) if i not in floats]
            duck_rows = sorted(duck_rel.fetchall(), key=lambda r: _sort_key(r, exact))
            spark_rows = sorted(spark_rel.fetchall(), key=lambda r: _sort_key(r, exact))
            assert len(spark_rows) == len(duck_rows), f"{table}: {len(spark_rows)} rows on Spark, {len(duck_rows)} on DuckDB"
            assert duck_rows, f"{table} is empty: the comparison would prove nothing"
            for duck_row, spark_row in zip(duck_rows, spark_rows):
                for i, name in enumerate(duck_rel.columns):
                    d, s = duck_row[i], spark_row[i]
                    if i in floats and d is not None and s is not None:
                        assert math.isclose(d, s, rel_tol=RATIO_TOLERANCE, abs_tol=RATIO_TOLERANCE), \
                            f"{table}.{name}: {d!r} (DuckDB) vs {s!r} (Spark) in {duck_row}"
                    else:
                        assert d == s and type(d) is type(s), \
                            f"{table}.{name}: {d!r} (DuckDB) vs {s!r} (Spark) in {duck_row}"
                        if isinstance(d, Decimal):
                            assert d.as_tuple().exponent == s.as_tuple().exponent == -2, f"{table}.{name}"
