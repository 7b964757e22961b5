"""The same dbt project on both engines: one messy simulated landing, loaded once by the DuckDB
ingestion, built by dbt on DuckDB and by dbt-spark (`method: session`) on a local Spark, and every
table of the `marts` schema must come out identical (money exact, ratios within 1e-9).

The raw + audit tables reach the Spark catalog as Parquet copies of the DuckDB ones (this test's
fixture; the engine's own distributed ingestion is tested elsewhere), so any difference below is
the dbt project's, not ingestion's.
"""

from __future__ import annotations

import gc
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
class DbtOutcome:
    """What the tests need from a dbtRunnerResult. The result itself is not kept: it holds
    DuckDB objects that, alive at interpreter exit, make nanobind print leak warnings."""
    success: bool
    failures: list[str]
    statuses: dict[str, set[str]]  # resource type -> statuses seen
    counts: dict[str, int]  # resource type -> nodes

    @classmethod
    def of(cls, result) -> "DbtOutcome":
        if result.exception is not None:
            return cls(False, [repr(result.exception)], {}, {})
        statuses: dict[str, set[str]] = {}
        counts: dict[str, int] = {}
        failures = []
        for r in result.result:
            kind = str(r.node.resource_type)
            statuses.setdefault(kind, set()).add(str(r.status))
            counts[kind] = counts.get(kind, 0) + 1
            if str(r.status) not in ("success", "pass", "warn"):
                failures.append(f"{r.node.name}: {r.status} {r.message}")
        return cls(bool(result.success), failures, statuses, counts)


@dataclass
class BothEngines:
    duckdb_file: Path
    spark: object  # SparkSession
    duckdb: DbtOutcome
    on_spark: DbtOutcome
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
def both_engines(tmp_path_factory):
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
    duckdb_outcome = DbtOutcome.of(invoke_dbt(["build"], db_file, work / "duckdb"))
    seconds["dbt build on DuckDB"] = time.perf_counter() - started

    started = time.perf_counter()
    spark = get_spark(work / "lake")
    seconds["Spark session start"] = time.perf_counter() - started
    with duckdb.connect(str(db_file), read_only=True) as con:
        copy_ingested_tables_to_spark(con, spark, work / "parquet")
    started = time.perf_counter()
    # The whole build, unit tests included: they pass on Spark too.
    spark_outcome = DbtOutcome.of(invoke_dbt_on_spark(["build"], work / "spark"))
    seconds["dbt build on Spark"] = time.perf_counter() - started
    print("; ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    yield BothEngines(db_file, spark, duckdb_outcome, spark_outcome, seconds)
    gc.collect()


def test_dbt_builds_and_tests_every_model_on_spark(both_engines):
    assert both_engines.duckdb.success, both_engines.duckdb.failures
    assert both_engines.on_spark.success, both_engines.on_spark.failures
    # the data tests and unit tests ran on Spark, not only the models
    statuses = both_engines.on_spark.statuses
    assert statuses["test"] <= {"pass", "warn"} and "pass" in statuses["test"]
    assert statuses["unit_test"] == {"pass"}
    assert both_engines.on_spark.counts["test"] >= 100
    assert both_engines.on_spark.counts == both_engines.duckdb.counts  # the same nodes on both


def _spark_table_location(spark, schema: str, table: str) -> str:
    rows = spark.sql(f"describe table extended {schema}.{table}").collect()
    return next(r.data_type for r in rows if r.col_name == "Location")


def _sort_key(row: tuple, exact_columns: list[int]) -> tuple:
    return tuple((row[i] is None, str(row[i])) for i in exact_columns)


def mart_differences(duckdb_file: Path, spark, limit_per_table: int = 5) -> list[str]:
    """Every difference between the `marts` tables of a DuckDB file and of the Spark catalog
    (table sets, column names and types, row counts, values), at most `limit_per_table` each."""
    problems: list[str] = []
    spark_marts = sorted(r.tableName for r in spark.sql("show tables in marts").collect() if not r.isTemporary)
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        duck_marts = sorted(r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall())
        if spark_marts != duck_marts:
            problems.append(f"marts on Spark {spark_marts} != on DuckDB {duck_marts}")
        for table in sorted(set(duck_marts) & set(spark_marts)):
            location = _spark_table_location(spark, "marts", table).removeprefix("file:")
            # DuckDB reads Spark's Parquet files directly, as publishing does.
            spark_sql = f"select * from read_parquet('{location}/*.parquet')"
            duck_sql = f"select * from marts.{table}"
            # column types from DESCRIBE, as text: DuckDB 2.0's relation.types objects outlive
            # the interpreter (nanobind reports them as leaked at exit)
            spark_types = [tuple(r[:2]) for r in con.execute(f"describe {spark_sql}").fetchall()]
            duck_types = [tuple(r[:2]) for r in con.execute(f"describe {duck_sql}").fetchall()]
            if spark_types != duck_types:
                problems.append(f"{table}: columns on Spark {spark_types} != on DuckDB {duck_types}")
                continue
            columns = [name for name, _ in duck_types]
            floats = {i for i, (_, t) in enumerate(duck_types) if t in ("DOUBLE", "FLOAT")}
            exact = [i for i in range(len(columns)) if i not in floats]
            duck_rows = sorted(con.execute(duck_sql).fetchall(), key=lambda r: _sort_key(r, exact))
            spark_rows = sorted(con.execute(spark_sql).fetchall(), key=lambda r: _sort_key(r, exact))
            if not duck_rows:
                problems.append(f"{table} is empty on DuckDB: the comparison would prove nothing")
            if len(spark_rows) != len(duck_rows):
                problems.append(f"{table}: {len(spark_rows)} rows on Spark, {len(duck_rows)} on DuckDB")
                continue
            found = 0
            for duck_row, spark_row in zip(duck_rows, spark_rows):
                for i, name in enumerate(columns):
                    d, s = duck_row[i], spark_row[i]
                    if i in floats and d is not None and s is not None:
                        same = math.isclose(d, s, rel_tol=RATIO_TOLERANCE, abs_tol=RATIO_TOLERANCE)
                    else:  # money exactly, scale included: Decimal('1.5') == Decimal('1.50')
                        same = d == s and type(d) is type(s) and (
                            not isinstance(d, Decimal) or d.as_tuple().exponent == s.as_tuple().exponent)
                    if not same:
                        found += 1
                        if found <= limit_per_table:
                            problems.append(f"{table}.{name}: {d!r} on DuckDB, {s!r} on Spark, row {duck_row}")
            if found > limit_per_table:
                problems.append(f"{table}: {found - limit_per_table} more differing values")
    return problems


def test_every_mart_is_identical_on_both_engines(both_engines):
    if not (both_engines.duckdb.success and both_engines.on_spark.success):
        pytest.skip("a build failed (see test_dbt_builds_and_tests_every_model_on_spark)")
    problems = mart_differences(both_engines.duckdb_file, both_engines.spark)
    assert not problems, "\n".join(problems)
