"""Distributed ingestion on Spark: the same per-file functions as the DuckDB loader, run on executors.

The driver only lists the landing folder (names, sizes, mtimes) and decides which files may have
changed; it never holds a data row. Each such file becomes one row of a small DataFrame spread
one file per partition, and `mapInArrow` runs `_process_file` for it in an executor's Python
worker: read the bytes, sha256, decode, map headers (PII columns are never selected, exactly as in
ingestion/readers.py), parse and validate (ingestion/validate.py), and run the export's Great
Expectations suite on the accepted rows (ingestion/quality.py). The executors emit one Arrow
"envelope" stream per file: accepted rows, rejected rows, one file row (hash, counts, the file-level
rejection if any, which process did the work) and one row of GX results.

That stream is written once to a staging folder in the lake, so that a lost executor only means a
retried task (Spark recomputes the partition; nothing has been written to the tables yet), and
splitting it into tables does not parse the files again. Then, per export, the landing-date
partitions touched by changed files are rewritten (dynamic partition overwrite) with the rows of
the other files of those dates plus the new rows: a changed file's previous contribution is
replaced, and a crash half-way leaves rows that the next run's rewrite of the same dates drops
(those files are not marked ingested until audit.ingested_files is written, last).

Catalog layout (Parquet tables, Hive metastore in the lake): raw.{orders,follows,live_traffic,
accounts} with the columns and types of the DuckDB raw tables; timestamps are TIMESTAMP_NTZ, i.e.
Asia/Shanghai wall-clock time as on DuckDB (no zone conversion anywhere). Daily raw tables and
audit.rejected_rows are partitioned by landing date, so their partition column comes last in
Spark's column order; names and types are the DuckDB ones.

No Dagster here; pyspark is imported by the functions that need it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from .contract import DAILY_EXPORTS, EXPORTS, ROSTER_EXPORT, get_export
from .errors import FileRejected
from .gates import RejectShareViolation, reason_kind
from .load import FileResult, must_read, verified_sha256
from .mapping import MerchantMapping, load_mapping
from .readers import landing_date_of, read_bytes, read_headers, read_strings, relative_posix
from .validate import raw_schema, validate_frame

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from .quality import DQResult

_SHANGHAI = dt.timezone(dt.timedelta(hours=8))

# --------------------------------------------------------------------------- the per-file adapter


def parse_file(data: bytes, path: Path, export: str, source_file: str,
               landing_date: dt.date | None, mapping: MerchantMapping | None = None
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted, rejected) of one landing file's bytes; raises FileRejected.

    The one place the Spark engine calls the project's per-file reading and validation, so an
    extra argument of those functions (a merchant's header mapping, .xlsx) is added here only.
    """
    strings = read_strings(data, path, get_export(export), source_file, mapping)
    return validate_frame(strings, get_export(export), source_file=source_file, landing_date=landing_date,
                          mapping=mapping)


# --------------------------------------------------------------------------- the envelope schema

_POLARS_TO_ARROW = {
    pl.String: pa.string(),
    pl.Int64: pa.int64(),
    pl.Date: pa.date32(),
}


def _arrow_type(dtype: pl.DataType) -> pa.DataType:
    if isinstance(dtype, pl.Decimal):
        return pa.decimal128(dtype.precision, dtype.scale)
    if isinstance(dtype, pl.Datetime):
        return pa.timestamp("us")
    return _POLARS_TO_ARROW[dtype.base_type()]


def _union_raw_columns() -> dict[str, pl.DataType]:
    """Every raw column of every export; a name has one type across exports (checked here)."""
    out: dict[str, pl.DataType] = {}
    for export in EXPORTS:
        for name, dtype in raw_schema(get_export(export)).items():
            if name in out and out[name] != dtype:
                raise TypeError(f"raw column {name!r} is {out[name]} in one export and {dtype} in another")
            out[name] = dtype
    return out


_RAW_UNION = _union_raw_columns()

#: Envelope columns besides the raw ones. `_kind` says which part of a file a row is:
#: 'accepted' (raw columns), 'rejected' (`_source_file`, `_landing_date`, `_row_number`,
#: `_reasons`, `_raw_record`), 'file' (one per processed file) or 'dq' (its GX results as JSON).
_META: dict[str, pa.DataType] = {
    "_kind": pa.string(),
    "_export": pa.string(),
    "_file": pa.string(),
    "_reasons": pa.list_(pa.string()),
    "_raw_record": pa.string(),
    "_sha256": pa.string(),
    "_status": pa.string(),  # 'changed' | 'unchanged' | 'rejected'
    "_error": pa.string(),
    "_rows_accepted": pa.int64(),
    "_rows_rejected": pa.int64(),
    "_seconds": pa.float64(),
    "_worker": pa.string(),  # host, pid of the Python worker, Spark task attempt
    "_dq": pa.string(),
    "_mapping_digest": pa.string(),  # MerchantMapping.digest of the entries that apply ('' if none)
    "_headers": pa.string(),  # the file's header row (JSON) when the digest needed it
}

ENVELOPE = pa.schema([pa.field(n, t) for n, t in _META.items()]
                     + [pa.field(n, _arrow_type(t)) for n, t in _RAW_UNION.items() if n not in _META])


def _spark_type_ddl(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "string"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamp_ntz"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_list(t):
        return f"array<{_spark_type_ddl(t.value_type)}>"
    if pa.types.is_boolean(t):
        return "boolean"
    raise TypeError(t)


def _ddl(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {_spark_type_ddl(f.type)}" for f in schema)


def _envelope_part(frame: pl.DataFrame | None, constants: dict[str, Any]) -> pa.RecordBatch:
    """`frame` + constant columns, padded with nulls to the envelope, as one Arrow batch
    (one row of constants when `frame` is None)."""
    n = 1 if frame is None else frame.height
    arrays = []
    for f in ENVELOPE:
        if frame is not None and f.name in frame.columns:
            arr = frame.get_column(f.name).to_arrow()
            arrays.append(arr.cast(f.type) if arr.type != f.type else arr)
        elif f.name in constants:
            arrays.append(pa.array([constants[f.name]] * n, type=f.type))
        else:
            arrays.append(pa.nulls(n, type=f.type))
    return pa.RecordBatch.from_arrays([a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays],
                                      schema=ENVELOPE)


# --------------------------------------------------------------------------- executor side

#: Rows per Arrow batch handed back to Spark: bounds the executor's memory for one file's output.
_BATCH_ROWS = 100_000


def _worker_id() -> str:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    attempt = ctx.taskAttemptId() if ctx is not None else -1
    return f"{socket.gethostname()} pid={os.getpid()} task={attempt}"


def _process_file(job: dict, run_gx: bool, mapping: MerchantMapping | None = None) -> Iterator[pa.RecordBatch]:
    started = time.perf_counter()
    export, source_file = job["export"], job["source_file"]
    base = {"_export": export, "_file": source_file}
    file_row = {**base, "_kind": "file", "_worker": _worker_id()}
    try:
        path = Path(job["path"])
        landing_date = landing_date_of(path, export, source_file)
        data, sha256 = read_bytes(path)
        file_row["_sha256"] = sha256
        digest = ""
        if mapping is not None and mapping.applies_to(export):
            # As the DuckDB loader: only exports that mapping.yml names pay for the header row.
            headers = read_headers(data, path, source_file)
            digest = mapping.digest(get_export(export), headers)
            file_row["_headers"] = json.dumps(headers, ensure_ascii=False)
        file_row["_mapping_digest"] = digest
        if not must_read(job["previous_sha256"], job["previous_digest"], sha256, digest):
            file_row["_status"] = "unchanged"
        else:
            accepted, rejected = parse_file(data, path, export, source_file, landing_date, mapping)
            del data
            file_row.update(_status="changed", _rows_accepted=accepted.height, _rows_rejected=rejected.height)
            for offset in range(0, accepted.height, _BATCH_ROWS):
                yield _envelope_part(accepted.slice(offset, _BATCH_ROWS), {**base, "_kind": "accepted"})
            if rejected.height:
                yield _envelope_part(
                    rejected.select(pl.col("source_file").alias("_source_file"),
                                    pl.col("landing_date").alias("_landing_date"),
                                    pl.col("row_number").alias("_row_number"),
                                    pl.col("reasons").alias("_reasons"),
                                    pl.col("raw_record").alias("_raw_record")),
                    {**base, "_kind": "rejected"})
            if run_gx and accepted.height:
                from . import quality  # GX is imported once per Python worker, on the executor

                results = quality.validate_batch(export, accepted, landing_date=landing_date)
                yield _envelope_part(pl.DataFrame({"_dq": [json.dumps([r.__dict__ for r in results])]}),
                                     {**base, "_kind": "dq"})
    except FileRejected as e:
        file_row.update(_status="rejected", _error=e.problem)
    except OSError as e:  # vanished or unreadable on this executor: name the file, not the worker
        file_row.update(_status="rejected", _error=f"unreadable: {e.strerror or e}")
    file_row["_seconds"] = time.perf_counter() - started
    yield _envelope_part(None, file_row)


def _executor_function(run_gx: bool, mapping: MerchantMapping | None = None):
    """The mapInArrow function: one file per input row (one file per partition, see below)."""

    def process(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for job in batch.to_pylist():
                yield from _process_file(job, run_gx, mapping)

    return process


# --------------------------------------------------------------------------- catalog


def _table_schema(export: str) -> pa.Schema:
    return pa.schema([pa.field(n, _arrow_type(t)) for n, t in raw_schema(get_export(export)).items()])


REJECTED_SCHEMA = pa.schema([("export", pa.string()), ("source_file", pa.string()), ("row_number", pa.int64()),
                             ("reasons", pa.list_(pa.string())), ("raw_record", pa.string()),
                             ("landing_date", pa.date32())])
# gate_verdict and mapping_digest (and the fingerprints' headers) mean what they mean on DuckDB
# (ingestion/load.py DDL): 'pending' until this run's gates judged the file, then 'passed' or
# 'failed'; only 'passed' files with the same content and mapping digest are skipped.
INGESTED_FILES_SCHEMA = pa.schema([("path", pa.string()), ("export", pa.string()), ("landing_date", pa.date32()),
                                   ("sha256", pa.string()), ("rows_read", pa.int64()),
                                   ("rows_accepted", pa.int64()), ("rows_rejected", pa.int64()),
                                   ("ingested_at", pa.timestamp("us")), ("status", pa.string()),
                                   ("gate_verdict", pa.string()), ("mapping_digest", pa.string())])
FINGERPRINTS_SCHEMA = pa.schema([("path", pa.string()), ("size_bytes", pa.int64()), ("mtime_ns", pa.int64()),
                                 ("sha256", pa.string()), ("headers", pa.string())])
DQ_SCHEMA = pa.schema([("run_id", pa.string()), ("suite", pa.string()), ("expectation", pa.string()),
                       ("column_name", pa.string()), ("severity", pa.string()), ("success", pa.bool_()),
                       ("observed_value", pa.string()), ("checked_at", pa.timestamp("us"))])

#: table -> (schema, partition column or None)
TABLES: dict[str, tuple[pa.Schema, str | None]] = {
    **{f"raw.{e}": (_table_schema(e), "_landing_date") for e in DAILY_EXPORTS},
    f"raw.{ROSTER_EXPORT}": (_table_schema(ROSTER_EXPORT), None),
    "audit.rejected_rows": (REJECTED_SCHEMA, "landing_date"),
    "audit.ingested_files": (INGESTED_FILES_SCHEMA, None),
    "audit.file_fingerprints": (FINGERPRINTS_SCHEMA, None),
    "audit.dq_results": (DQ_SCHEMA, None),
}


def _ordered(schema: pa.Schema, partition: str | None) -> list[str]:
    """Spark's column order of a partitioned table: the partition column last."""
    names = [f.name for f in schema if f.name != partition]
    return names + ([partition] if partition else [])


def ensure_catalog(spark: SparkSession) -> None:
    """Create the raw and audit databases and tables (Parquet) if they do not exist."""
    spark.sql("create database if not exists raw")
    spark.sql("create database if not exists audit")
    for table, (schema, partition) in TABLES.items():
        part = f" partitioned by (`{partition}`)" if partition else ""
        # The partition column is declared among the columns; Spark moves it last.
        spark.sql(f"create table if not exists {table} ({_ddl(schema)}) using parquet{part}")
    # Lakes created before gate verdicts and mapping digests existed: add the columns. Their rows
    # read NULL, taken as 'passed' (see _verdict), as the DuckDB migration's default does.
    for table in ("audit.ingested_files", "audit.file_fingerprints"):
        schema, _ = TABLES[table]
        have = set(spark.table(table).columns)
        missing = [f for f in schema if f.name not in have]
        if missing:
            spark.sql(f"alter table {table} add columns ({_ddl(pa.schema(missing))})")


def _verdict(row: dict) -> str:
    return row.get("gate_verdict") or "passed"


# --------------------------------------------------------------------------- driver side


@dataclass
class SparkIngestResult:
    results: list[FileResult] = field(default_factory=list)
    rejected_files: list[FileRejected] = field(default_factory=list)
    #: GX results per export of the files loaded this run.
    dq: dict[str, list[DQResult]] = field(default_factory=dict)
    #: source_file -> "host pid=N task=M" of the Python worker that processed it.
    workers: dict[str, str] = field(default_factory=dict)
    #: wall seconds per phase: plan (driver), executors (parse+validate+GX), write (tables).
    phases: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def changed(self) -> list[FileResult]:
        return [r for r in self.results if r.status != "unchanged"]


def _now_local() -> dt.datetime:
    return dt.datetime.now(_SHANGHAI).replace(tzinfo=None)


def _collect_table(spark: SparkSession, table: str) -> list[dict]:
    return [r.asDict() for r in spark.table(table).collect()]


def _overwrite_small(spark: SparkSession, table: str, rows: list[dict]) -> None:
    """Replace a small audit table (one row per file) with rows computed on the driver."""
    schema, partition = TABLES[table]
    _local_df(spark, rows, schema).select(*_ordered(schema, partition)).write.insertInto(table, overwrite=True)


def _replace_partitions(spark: SparkSession, table: str, staged: DataFrame, files: list[str],
                        partitions: set, staging: str) -> None:
    """Rewrite the partitions `partitions` of `table`: its rows of other files plus `staged`.

    Written to `staging` first: Spark cannot overwrite a table it is reading in the same job.
    An unpartitioned table (the roster) is replaced as a whole.
    """
    from pyspark.sql import functions as F

    schema, partition = TABLES[table]
    columns = _ordered(schema, partition)
    file_col = "source_file" if table == "audit.rejected_rows" else "_source_file"
    if partition is None:
        keep = spark.table(table).limit(0)
    else:
        cond = F.col(partition).isin([p for p in partitions if p is not None])
        if None in partitions:
            cond = cond | F.col(partition).isNull()
        keep = spark.table(table).where(cond & ~F.col(file_col).isin(files))
    merged = keep.select(*columns).unionByName(staged.select(*columns))
    merged.write.mode("overwrite").parquet(staging)
    spark.read.parquet(staging).select(*columns).write.insertInto(table, overwrite=True)


def ingest_on_spark(spark: SparkSession, landing_root: Path, jobs: Iterable[tuple[Path, str]], *,
                    staging_root: Path, run_id: str, run_gx: bool = True,
                    awaiting_gates: bool = False) -> SparkIngestResult:
    """Load (path, export) files into the raw/audit Parquet tables, parsing on the executors.

    Same outcome as ingestion.load.ingest_files on DuckDB: unchanged files (same sha256) are not
    read again (untouched ones are not even opened: size+mtime fingerprints), a changed file
    replaces its previous rows, a rejected file writes nothing and does not stop the others.
    `staging_root` is a folder in the lake for this run's intermediate Parquet (removed at the end).
    Which files are read again is ingestion.load.must_read, as on DuckDB: new content, no passing
    gate verdict, or changed mapping.yml entries for the file. awaiting_gates: as on DuckDB, the
    loaded files stay 'pending' until the caller records their verdicts (record_verdicts).
    """
    from pyspark.sql import functions as F

    started = time.perf_counter()
    root = Path(landing_root)
    jobs = [(Path(p), e) for p, e in jobs]
    for _, export in jobs:
        get_export(export)
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    # The Hive metastore cannot parse a partition filter on a column named `_landing_date`
    # ("no viable alternative at character '_'") and retries it for ~16 s before Spark falls back;
    # Spark prunes the (one per landing date) partitions itself instead.
    spark.conf.set("spark.sql.hive.metastorePartitionPruning", "false")
    # mapping.yml is validated on the driver before any file is read, then shipped to the
    # executors inside the mapInArrow closure (a plain picklable value).
    mapping = load_mapping(root)
    ensure_catalog(spark)
    out = SparkIngestResult()

    known = {r["path"]: r for r in _collect_table(spark, "audit.ingested_files")}
    fingerprints = {r["path"]: r for r in _collect_table(spark, "audit.file_fingerprints")}
    tasks: list[dict] = []
    unchanged: dict[str, FileResult] = {}
    stats: dict[str, tuple[int, int]] = {}
    for path, export in jobs:
        source_file = relative_posix(path, root)
        stat = path.stat()
        stats[source_file] = (stat.st_size, stat.st_mtime_ns)
        prev, fp = known.get(source_file), fingerprints.get(source_file)
        previous_sha = verified_sha256(prev["sha256"], _verdict(prev)) if prev else None
        previous_digest = (prev.get("mapping_digest") or "") if prev else ""
        if prev is not None and fp is not None and fp["sha256"] == prev["sha256"] \
                and (fp["size_bytes"], fp["mtime_ns"]) == stats[source_file]:
            # Untouched since hashed: the digest comes from its recorded headers, the file stays
            # closed; without recorded headers (a mapping entry for its export is new) an executor
            # reads its header row.
            if not mapping.applies_to(export):
                digest = ""
            elif fp.get("headers") is not None:
                digest = mapping.digest(get_export(export), json.loads(fp["headers"]))
            else:
                digest = None
            if digest is not None and not must_read(previous_sha, previous_digest, fp["sha256"], digest):
                unchanged[source_file] = _unchanged_result(prev)
                continue
        # The executors need the path as they see it: absolute (a shared mount on a cluster).
        tasks.append({"path": str(path.resolve()), "export": export, "source_file": source_file,
                      "previous_sha256": previous_sha, "previous_digest": previous_digest})

    file_rows: list[dict] = []
    staging = Path(staging_root) / f"ingest-{run_id}"
    out.phases["plan"] = time.perf_counter() - started
    if tasks:
        task_schema = ("path string, export string, source_file string, previous_sha256 string, "
                       "previous_digest string")
        # One file per partition, so one task per file: files are spread over every executor.
        files_df = spark.sparkContext.parallelize(tasks, len(tasks)).map(
            lambda d: (d["path"], d["export"], d["source_file"], d["previous_sha256"],
                       d["previous_digest"])).toDF(task_schema)
        envelope = files_df.mapInArrow(_executor_function(run_gx, mapping), _ddl(ENVELOPE))
        envelope.write.mode("overwrite").parquet(str(staging / "envelope"))
        staged = spark.read.parquet(str(staging / "envelope"))
        file_rows = [r.asDict() for r in staged.where(F.col("_kind").isin("file", "dq"))
                     .select("_kind", "_export", "_file", "_sha256", "_status", "_error", "_rows_accepted",
                             "_rows_rejected", "_seconds", "_worker", "_dq", "_mapping_digest",
                             "_headers").collect()]

    out.phases["executors"] = time.perf_counter() - started - out.phases["plan"]
    now = _now_local()
    changed: dict[str, list[dict]] = {}
    dq_rows: list[dict] = []
    headers: dict[str, str | None] = {}
    for row in file_rows:
        if row["_kind"] == "dq":
            results = [_dq_result(d) for d in json.loads(row["_dq"])]
            out.dq.setdefault(row["_export"], []).extend(results)
            dq_rows.extend({"run_id": run_id, **d, "checked_at": now} for d in json.loads(row["_dq"]))
            continue
        out.workers[row["_file"]] = row["_worker"]
        headers[row["_file"]] = row["_headers"]
        if row["_status"] == "rejected":
            out.rejected_files.append(FileRejected(row["_file"], row["_error"]))
        elif row["_status"] == "unchanged":
            unchanged[row["_file"]] = _unchanged_result(known[row["_file"]])
        else:
            changed.setdefault(row["_export"], []).append(row)

    new_known = dict(known)
    results: dict[str, FileResult] = dict(unchanged)
    roster_files: set[str] = set()
    if changed:
        for export, rows in changed.items():
            files = [r["_file"] for r in rows]
            spec = get_export(export)
            if export == ROSTER_EXPORT:
                had_roster = any(k["export"] == ROSTER_EXPORT for k in known.values())
                files = sorted({*files, *(p for p, k in known.items() if k["export"] == ROSTER_EXPORT)})
                roster_files = set(files)
                for p in [p for p, k in new_known.items() if k["export"] == ROSTER_EXPORT]:
                    del new_known[p]
                dates: set = {None}
            else:
                dates = {landing_date_of(Path(f), export, f) for f in files}
            accepted = staged.where((F.col("_kind") == "accepted") & (F.col("_export") == export))
            _replace_partitions(spark, spec.raw_table, accepted, files, dates, str(staging / f"raw_{export}"))
            for r in rows:
                was_there = had_roster if export == ROSTER_EXPORT else r["_file"] in known
                result = FileResult(r["_file"], export, landing_date_of(Path(r["_file"]), export, r["_file"])
                                    if export != ROSTER_EXPORT else None,
                                    "replaced" if was_there else "loaded", r["_sha256"],
                                    r["_rows_accepted"] + r["_rows_rejected"], r["_rows_accepted"],
                                    r["_rows_rejected"], seconds=r["_seconds"])
                results[r["_file"]] = result
                new_known[result.path] = {"path": result.path, "export": export, "landing_date": result.landing_date,
                                          "sha256": result.sha256, "rows_read": result.rows_read,
                                          "rows_accepted": result.rows_accepted,
                                          "rows_rejected": result.rows_rejected, "ingested_at": now,
                                          "status": result.status,
                                          "gate_verdict": "pending" if awaiting_gates else "passed",
                                          "mapping_digest": r["_mapping_digest"] or ""}
        # Rejected rows of every changed export in one rewrite (each rewrite is two Spark jobs).
        all_files = sorted({f for rows in changed.values() for f in (r["_file"] for r in rows)} | roster_files)
        all_dates = {None} if roster_files else set()
        all_dates |= {landing_date_of(Path(f), e, f) for e, rows in changed.items() if e != ROSTER_EXPORT
                      for f in (r["_file"] for r in rows)}
        rejected = staged.where(F.col("_kind") == "rejected").select(
            F.col("_export").alias("export"), F.col("_source_file").alias("source_file"),
            F.col("_row_number").alias("row_number"), F.col("_reasons").alias("reasons"),
            F.col("_raw_record").alias("raw_record"), F.col("_landing_date").alias("landing_date"))
        _replace_partitions(spark, "audit.rejected_rows", rejected, all_files, all_dates,
                            str(staging / "rejected"))
        if dq_rows:
            _local_df(spark, dq_rows, DQ_SCHEMA).write.insertInto("audit.dq_results")
    # Last: only now are this run's files ingested (see the module docstring on crashes).
    if changed:
        _overwrite_small(spark, "audit.ingested_files", list(new_known.values()))
    touched = {r.path for r in results.values()}
    if touched:
        fps = {p: fp for p, fp in fingerprints.items() if p in new_known}
        for path in touched:
            size, mtime = stats.get(path, (None, None))
            if size is not None:
                fps[path] = {"path": path, "size_bytes": size, "mtime_ns": mtime, "sha256": results[path].sha256,
                             "headers": headers.get(path, (fingerprints.get(path) or {}).get("headers"))}
        if fps != fingerprints:
            _overwrite_small(spark, "audit.file_fingerprints", list(fps.values()))
    order = {relative_posix(p, root): i for i, (p, _) in enumerate(jobs)}
    out.results = sorted(results.values(), key=lambda r: order.get(r.path, len(order)))
    out.rejected_files.sort(key=lambda e: order.get(e.path, len(order)))
    _remove_tree(staging)
    out.seconds = time.perf_counter() - started
    out.phases["write"] = out.seconds - out.phases["plan"] - out.phases.get("executors", 0.0)
    return out


def _local_df(spark: SparkSession, rows: list[dict], schema: pa.Schema) -> DataFrame:
    return spark.createDataFrame(pa.Table.from_pylist(rows, schema=schema))


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _unchanged_result(prev: dict) -> FileResult:
    return FileResult(prev["path"], prev["export"], prev["landing_date"], "unchanged", prev["sha256"],
                      prev["rows_read"], prev["rows_accepted"], prev["rows_rejected"])


def _dq_result(d: dict) -> DQResult:
    from .quality import DQResult

    return DQResult(**d)


# --------------------------------------------------------------------------- gates


def record_verdicts(spark: SparkSession, *, passed: Iterable[str] = (), failed: Iterable[str] = ()) -> None:
    """ingestion.gates.record_verdicts on Spark: the gate verdict of landing files; 'failed' wins.

    A file not 'passed' is read, validated and gated again by the next run (ingestion.load.must_read)."""
    failed = set(failed)
    passed = set(passed) - failed
    if not passed and not failed:
        return
    rows = _collect_table(spark, "audit.ingested_files")
    changed = False
    for r in rows:
        verdict = "failed" if r["path"] in failed else "passed" if r["path"] in passed else None
        if verdict is not None and r.get("gate_verdict") != verdict:
            r["gate_verdict"], changed = verdict, True
    if changed:
        _overwrite_small(spark, "audit.ingested_files", rows)


def unverified_files(spark: SparkSession) -> list[tuple[str, str]]:
    """ingestion.gates.unverified_files on Spark: (path, verdict) of files whose gates have not passed."""
    return sorted((r["path"], _verdict(r)) for r in _collect_table(spark, "audit.ingested_files")
                  if _verdict(r) != "passed")


def reject_share_violations(spark: SparkSession, export: str, max_share: float, *,
                            top: int = 3) -> list[RejectShareViolation]:
    """ingestion.gates.reject_share_violations computed on Spark over the audit tables."""
    from pyspark.sql import functions as F

    files = spark.table("audit.ingested_files").where((F.col("export") == export) & F.col("landing_date").isNotNull())
    per_date = (files.groupBy("landing_date")
                .agg(F.sum("rows_read").alias("read"), F.sum("rows_rejected").alias("rejected"),
                     F.sort_array(F.collect_list("path")).alias("files"))
                .where((F.col("read") > 0) & (F.col("rejected") > F.lit(max_share) * F.col("read")))
                .orderBy("landing_date").collect())
    if not per_date:
        return []
    dates = [r["landing_date"] for r in per_date]
    reasons = (spark.table("audit.rejected_rows")
               .where((F.col("export") == export) & F.col("landing_date").isin(dates))
               .select("landing_date", F.explode("reasons").alias("reason"))
               .groupBy("landing_date", "reason").count().collect())
    violations = []
    for r in per_date:
        counts: dict[str, int] = {}
        for x in reasons:
            if x["landing_date"] == r["landing_date"]:
                counts[reason_kind(x["reason"])] = counts.get(reason_kind(x["reason"]), 0) + x["count"]
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        violations.append(RejectShareViolation(export, r["landing_date"], int(r["read"]), int(r["rejected"]),
                                               list(r["files"]), ranked))
    return violations
