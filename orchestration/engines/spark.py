"""The Spark engine: distributed ingestion, gates, dbt on Spark, publishing into the DuckDB file BI reads.

The steps mirror the DuckDB engine's Dagster assets and the CLI's `build`:
1. ingest (ingestion/spark_ingest.py: files are parsed and validated on the executors),
2. gates: a rejected file, a failed blocking Great Expectations expectation or a landing date over
   the reject-share threshold stops the run before dbt; the files concerned are marked so the next
   run checks them again (as on DuckDB),
3. `dbt build --target spark` in this process (dbt-spark `method: session` picks up the session),
4. publish: the marts and audit tables are read from their Parquet files into a fresh DuckDB file
   and swapped over the published one by warehouse/publish.py, exactly as the DuckDB engine does.
A failure in 1–3 leaves the published warehouse byte-identical.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ingestion.contract import DAILY_EXPORTS, ROSTER_EXPORT
from ingestion.errors import FileRejected, FilesRejected
from ingestion.readers import discover

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from ingestion.spark_ingest import SparkIngestResult
    from orchestration.engines import EngineSettings
    from orchestration.settings import Settings

log = logging.getLogger(__name__)

_SESSION: "SparkSession | None" = None
_SESSION_KEY: tuple | None = None


class GateFailed(RuntimeError):
    """A blocking gate failed; str() lists every failure, one per line."""


class DbtFailed(RuntimeError):
    """dbt on Spark failed (a model or an error-severity test)."""


def spark_session(engine: "EngineSettings") -> "SparkSession":
    """The process's SparkSession for this lake and master (created once: ~10–25 s on 2 cores).

    dbt-spark `method: session` uses the active session of this process, and the lake's embedded
    Derby metastore admits one JVM at a time, so every step of a run shares this one.
    """
    global _SESSION, _SESSION_KEY
    key = (str(engine.lake), engine.spark_master)
    if _SESSION is not None and _SESSION_KEY == key:
        return _SESSION
    if _SESSION is not None:
        _SESSION.stop()
    from orchestration.spark_session import get_spark

    engine.lake.mkdir(parents=True, exist_ok=True)
    # Python workers started by local executors inherit this: without it each prints pyspark's
    # "does not yet fully support pandas >= 3.0.0" FutureWarning into the command's output. The
    # second filter is for multiprocessing's resource tracker (started by dbt in this process):
    # the CLI ends with os._exit, and the tracker would print "leaked semaphore objects" after
    # the command's last line.
    os.environ.setdefault("PYTHONWARNINGS",
                          "ignore::FutureWarning,ignore::UserWarning:multiprocessing.resource_tracker")
    _SESSION = get_spark(engine.lake, master=engine.spark_master)
    _SESSION_KEY = key
    return _SESSION


def stop_spark_session() -> None:
    global _SESSION, _SESSION_KEY
    if _SESSION is not None:
        _SESSION.stop()
    _SESSION, _SESSION_KEY = None, None


def landing_jobs(landing: Path) -> list[tuple[Path, str]]:
    """(path, export) of the newest roster and every daily export file, in load order."""
    found = discover(landing)
    jobs: list[tuple[Path, str]] = []
    if found.roster is not None:
        jobs.append((found.roster, ROSTER_EXPORT))
    jobs.extend((p, e) for _, e, p in found.files())
    return jobs


@dataclass
class SparkRun:
    run_id: str
    ingest: "SparkIngestResult | None" = None
    stages: dict[str, float] = field(default_factory=dict)
    published: object | None = None
    #: Every check this run evaluated, as rows of audit.check_results without the run id:
    #: (asset_key, check_name, passed, severity 'ERROR' | 'WARN', description, evaluated_at).
    checks: list[tuple] = field(default_factory=list)

    def check(self, asset_key: str, name: str, passed: bool, description: str | None = None,
              severity: str = "ERROR") -> None:
        self.checks.append((asset_key, name, bool(passed), severity, None if passed else description,
                            datetime.now(timezone.utc)))

    def check_counts(self) -> dict[str, int]:
        """passed / warned / failed, counted as the DuckDB engine's CLI summary and report count."""
        return {"passed": sum(c[2] for c in self.checks),
                "warned": sum(1 for c in self.checks if not c[2] and c[3] == "WARN"),
                "failed": sum(1 for c in self.checks if not c[2] and c[3] != "WARN")}

    def describe_stages(self) -> str:
        return ", ".join(f"{k} {v:.1f} s" for k, v in self.stages.items())


def ingest(spark: "SparkSession", settings: "Settings", engine: "EngineSettings", run: SparkRun, *,
           jobs: list[tuple[Path, str]] | None = None, run_gx: bool = True) -> "SparkIngestResult":
    """Ingest the landing on Spark and apply the gates; raises FilesRejected or GateFailed."""
    from ingestion import quality
    from ingestion.spark_ingest import ingest_on_spark, record_verdicts, reject_share_violations

    started = time.perf_counter()
    result = ingest_on_spark(spark, settings.landing, landing_jobs(settings.landing) if jobs is None else jobs,
                             staging_root=engine.lake / "_staging", run_id=run.run_id, run_gx=run_gx,
                             awaiting_gates=True)
    run.ingest = result
    run.stages["ingest"] = time.perf_counter() - started
    if result.rejected_files:
        raise FilesRejected(result.rejected_files)
    failures: list[str] = []
    changed_by_export: dict[str, list[str]] = {}
    for r in result.changed:
        changed_by_export.setdefault(r.export, []).append(r.path)
    failed_files: list[str] = []
    # One check result per gate, named and described as the Dagster assets' checks (audit.check_results).
    for export in (ROSTER_EXPORT, *DAILY_EXPORTS):
        dq = result.dq.get(export, [])
        blocking = quality.blocking_failures(dq)
        if blocking:
            failed_files.extend(changed_by_export.get(export, []))
            failures.extend(f"{export}_pass_great_expectations: {f.expectation} ({f.column_name or 'table'}): "
                            f"observed {f.observed_value}" for f in blocking[:5])
        run.check(f"raw/{export}", f"{export}_pass_great_expectations", not blocking,
                  "; ".join(f"{f.expectation} ({f.column_name or 'table'}): observed {f.observed_value}"
                            for f in blocking[:5]) or None)
    for export in DAILY_EXPORTS:
        violations = reject_share_violations(spark, export, settings.max_reject_share)
        if violations:
            failed_files.extend(f for v in violations for f in v.files)
            failures.extend(f"{export}_reject_share_within_threshold: {v.describe(settings.max_reject_share)}"
                            for v in violations[:10])
        run.check(f"raw/{export}", f"{export}_reject_share_within_threshold", not violations,
                  "\n".join(v.describe(settings.max_reject_share) for v in violations[:10]) or None)
    # The files of this run are 'pending' until here; only 'passed' ones are skipped by later runs.
    record_verdicts(spark, passed=[r.path for r in result.changed], failed=failed_files)
    run.stages["gates"] = time.perf_counter() - started - run.stages["ingest"]
    if failures:
        raise GateFailed("\n".join(failures))
    return result


def run_dbt(spark: "SparkSession", run: SparkRun) -> None:
    """`dbt build --target spark` in this process, on the session above; raises on any failure."""
    from dbt.cli.main import dbtRunner

    from orchestration.settings import DBT_PROJECT_DIR

    started = time.perf_counter()
    target_path = DBT_PROJECT_DIR / "target" / "spark_run"
    res = dbtRunner().invoke(["--quiet", "build", "--exclude-resource-type", "unit_test", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                              str(DBT_PROJECT_DIR), "--target", "spark", "--target-path", str(target_path)])
    run.stages["dbt"] = time.perf_counter() - started
    if res.exception is not None:
        raise DbtFailed(f"dbt on Spark: {str(res.exception).strip().splitlines()[0]}")
    _record_dbt_checks(res, run)
    if not res.success:
        failed = [r for r in (res.result or []) if str(getattr(r, "status", "")) in ("error", "fail")]
        names = ", ".join(f"{r.node.name} ({r.status})" for r in failed[:10])
        raise DbtFailed(f"dbt on Spark failed: {names or 'see dbt_project/logs/dbt.log'}")


def _dagster_defs():
    """The Dagster definitions whose check names and keys a Spark run reports (imported only after
    dbt ran: ~5 s of imports on 2 cores; their beta/preview warnings are not the user's concern)."""
    import types
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from orchestration.defs.ingestion.assets import landing_is_fresh
        from orchestration.defs.warehouse.dbt_models import dbt_models
    return types.SimpleNamespace(landing_is_fresh=landing_is_fresh, dbt_models=dbt_models)


def _record_dbt_checks(res, run: SparkRun) -> None:
    """The dbt tests that the Dagster assets expose as checks, one row each, with the check names,
    asset keys and severities of dagster_spark.dbt_build (dbt's source tests are not checks there)."""
    checks = {key.name: key for key in _dagster_defs().dbt_models.check_keys}
    for r in res.result or []:
        status = str(r.status)
        if r.node.resource_type == "test" and r.node.name in checks:
            run.check(checks[r.node.name].asset_key.to_user_string(), r.node.name, status == "pass",
                      (r.message or f"dbt test {status}") if status != "pass" else None,
                      severity="WARN" if status == "warn" else "ERROR")


def record_freshness_check(settings: "Settings", run: SparkRun) -> None:
    """landing_is_fresh (warn only), evaluated as the DuckDB engine's transform run evaluates it."""
    from orchestration.defs.resources import WarehouseResource

    result = _dagster_defs().landing_is_fresh(warehouse=WarehouseResource.from_settings(settings))
    run.check("raw/orders", "landing_is_fresh", result.passed, result.description,
              severity=getattr(result.severity, "value", str(result.severity)))


# --------------------------------------------------------------------------- publishing


def write_check_results(con, run_id: str, checks: list[tuple]) -> None:
    """audit.check_results in the DuckDB file about to be published, laid out as
    orchestration/defs/warehouse/publish.py record_check_results writes it on the DuckDB engine."""
    con.execute("create schema if not exists audit")
    con.execute("""create or replace table audit.check_results (run_id varchar, asset_key varchar, check_name varchar,
                   passed boolean, severity varchar, description varchar, evaluated_at timestamptz)""")
    if checks:
        con.executemany("insert into audit.check_results values (?, ?, ?, ?, ?, ?, ?)",
                        [(run_id, *c) for c in checks])


def _location(spark: "SparkSession", table: str) -> Path:
    for row in spark.sql(f"describe table extended {table}").collect():
        if row["col_name"] == "Location":
            value = row["data_type"]
            return Path(value[len("file:"):] if value.startswith("file:") else value)
    raise RuntimeError(f"{table}: no location in the Spark catalog")


_DUCKDB_TYPES = {"string": "varchar", "bigint": "bigint", "int": "integer", "smallint": "smallint",
                 "tinyint": "tinyint", "double": "double", "float": "float", "boolean": "boolean",
                 "date": "date", "timestamp_ntz": "timestamp", "timestamp": "timestamp",
                 "array<string>": "varchar[]", "binary": "blob"}


#: Columns whose DuckDB type Spark has no word for (Spark keeps JSON as a string).
_DUCKDB_OVERRIDES = {("audit.rejected_rows", "raw_record"): "json"}


def _duckdb_type(spark_type: str) -> str:
    if spark_type.startswith("decimal"):
        return spark_type
    return _DUCKDB_TYPES[spark_type]


def lake_tables(spark: "SparkSession", schemas: tuple[str, ...]) -> dict[str, tuple[Path, list[tuple[str, str]]]]:
    """'schema.table' -> (Parquet folder, [(column, Spark type)]) of every table in `schemas`."""
    out = {}
    existing = {r["namespace"] for r in spark.sql("show databases").collect()}
    for schema in schemas:
        if schema not in existing:
            continue
        for t in spark.catalog.listTables(schema):
            if t.tableType == "VIEW" or t.isTemporary:
                continue
            name = f"{schema}.{t.name}"
            columns = [(f.name, f.dataType.simpleString()) for f in spark.table(name).schema.fields]
            out[name] = (_location(spark, name), columns)
    return out


def build_work_db(tables: dict[str, tuple[Path, list[tuple[str, str]]]], target: Path,
                  partitions: dict[str, str] | None = None) -> None:
    """A fresh DuckDB file holding `tables` read from their Parquet folders (DuckDB reads Parquet
    natively; nothing passes through Spark's driver).

    Spark TIMESTAMP (an instant) becomes Asia/Shanghai wall-clock TIMESTAMP, as everywhere in the
    warehouse; TIMESTAMP_NTZ is that already. Hive partition folders give their column back.
    """
    import duckdb

    target.unlink(missing_ok=True)
    Path(str(target) + ".wal").unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        # Parquet INT96 timestamps are naive UTC: read as UTC, then shown in Shanghai time.
        con.execute("set TimeZone = 'UTC'")
        for name, (folder, columns) in sorted(tables.items()):
            schema, table = name.split(".", 1)
            con.execute(f'create schema if not exists "{schema}"')
            files = sorted(folder.rglob("*.parquet"))
            if not files:
                cols = ", ".join(f'"{c}" {_DUCKDB_OVERRIDES.get((name, c)) or _duckdb_type(t)}' for c, t in columns)
                con.execute(f'create table "{schema}"."{table}" ({cols})')
                continue
            hive = [c for c, _ in columns if any(f"{c}=" in part for part in files[0].relative_to(folder).parts)]
            hive_types = "{" + ", ".join(f"'{c}': '{_duckdb_type(t)}'" for c, t in columns if c in hive) + "}"
            source = (f"read_parquet('{folder.as_posix()}/**/*.parquet', hive_partitioning = {bool(hive)}, "
                      f"union_by_name = true" + (f", hive_types = {hive_types}" if hive else "") + ")")
            select = []
            for c, t in columns:
                if t == "timestamp":
                    expr = f"timezone('Asia/Shanghai', \"{c}\"::timestamptz)"
                else:
                    expr = f'"{c}"::{_DUCKDB_OVERRIDES.get((name, c)) or _duckdb_type(t)}'
                select.append(f'{expr} as "{c}"')
            con.execute(f'create table "{schema}"."{table}" as select {", ".join(select)} from {source}')
        con.execute("checkpoint")
    finally:
        con.close()


def publish_from_lake(spark: "SparkSession", settings: "Settings", engine: "EngineSettings", run: SparkRun,
                      schemas: tuple[str, ...] = ("marts", "audit"), *, with_checks: bool = False,
                      on_work_db: "Callable[[object], object] | None" = None):
    """Marts + audit from the lake into the published DuckDB file, swapped atomically.

    with_checks: the run's checks (run.checks) become audit.check_results, as a DuckDB-engine
    build publishes them; on_work_db(con) runs on the new file before the swap (the Dagster
    asset records its run's checks there).
    """
    import duckdb

    from warehouse.publish import publish

    started = time.perf_counter()
    work = settings.warehouse.with_name(settings.warehouse.stem + ".spark-work.duckdb")
    try:
        build_work_db(lake_tables(spark, schemas), work)
        if with_checks or on_work_db is not None:
            with duckdb.connect(str(work)) as con:
                if with_checks:
                    write_check_results(con, run.run_id, run.checks)
                if on_work_db is not None:
                    on_work_db(con)
        run.published = publish(work, settings.warehouse, schemas=schemas, run_id=run.run_id)
    finally:
        work.unlink(missing_ok=True)
        Path(str(work) + ".wal").unlink(missing_ok=True)
    run.stages["publish"] = time.perf_counter() - started
    return run.published


def build(settings: "Settings", engine: "EngineSettings", *, with_dbt: bool = True,
          schemas: tuple[str, ...] = ("marts", "audit")) -> SparkRun:
    """The whole run on Spark: ingest, gates, dbt, publish. Raises on the first failure."""
    run = SparkRun(run_id=uuid.uuid4().hex)
    started = time.perf_counter()
    spark = spark_session(engine)
    run.stages["session"] = time.perf_counter() - started
    ingest(spark, settings, engine, run)
    if with_dbt:
        run_dbt(spark, run)
        record_freshness_check(settings, run)
    publish_from_lake(spark, settings, engine, run, schemas=schemas, with_checks=with_dbt)
    return run


__all__ = ["DbtFailed", "FileRejected", "GateFailed", "SparkRun", "build", "ingest", "landing_jobs", "lake_tables",
           "publish_from_lake", "record_freshness_check", "run_dbt", "spark_session", "stop_spark_session",
           "build_work_db", "write_check_results"]
