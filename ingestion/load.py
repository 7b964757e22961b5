"""raw/audit DDL and idempotent loading of landing files into the working DuckDB.

Each file is keyed by its path in audit.ingested_files: same sha256 and a recorded 'passed' gate
verdict -> nothing happens; new content, or no passing verdict (its run failed a gate or was
interrupted before the gates ran) -> the file is read, validated and gated again, its earlier raw
and rejected rows replaced. Changed files of one export are
validated and written together in chunks of ~1M rows, one transaction per chunk (a file is never
split across chunks), while a background thread reads and validates the next chunk. Loading goes
through Arrow (Polars -> pyarrow -> DuckDB), never row by row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, Union

import duckdb
import polars as pl

from .contract import DAILY_EXPORTS, ROSTER_EXPORT, get_export
from .errors import FileRejected, FilesRejected
from .mapping import MerchantMapping, load_mapping
from .readers import (
    as_date,
    discover,
    find_roster_files,
    landing_date_of,
    read_bytes,
    read_headers,
    read_strings,
    relative_posix,
    scan_day_folder,
)
from .validate import validate_frame

log = logging.getLogger(__name__)
T = TypeVar("T")

# Binding interface (docs/architecture.md): dbt sources are written against exactly these tables.
DDL = """
create schema if not exists raw;
create schema if not exists audit;
create table if not exists raw.accounts (account_id varchar not null, account_name varchar not null, brand varchar not null,
  role varchar not null, city varchar, parent_account_id varchar, opened_on date,
  _source_file varchar not null, _landing_date date, _row_number bigint not null);
create table if not exists raw.orders (order_id varchar not null, buyer_id varchar not null, account_id varchar not null,
  live_session_id varchar, traffic_source varchar not null, product_id varchar, category varchar,
  quantity bigint not null, gmv decimal(18,2) not null, refund_amount decimal(18,2) not null,
  status varchar not null, paid_at timestamp, updated_at timestamp not null,
  _source_file varchar not null, _landing_date date not null, _row_number bigint not null);
create table if not exists raw.follows (event_id varchar not null, user_id varchar not null, account_id varchar not null,
  action varchar not null, traffic_source varchar not null,
  live_session_id varchar, occurred_at timestamp not null,
  _source_file varchar not null, _landing_date date not null, _row_number bigint not null);
create table if not exists raw.live_traffic (live_session_id varchar not null, account_id varchar not null,
  started_at timestamp not null, ended_at timestamp, traffic_source varchar not null,
  viewers bigint not null, watch_seconds bigint not null,
  _source_file varchar not null, _landing_date date not null, _row_number bigint not null);
create table if not exists audit.ingested_files (path varchar primary key, export varchar not null, landing_date date,
  sha256 varchar not null, rows_read bigint not null, rows_accepted bigint not null,
  rows_rejected bigint not null, ingested_at timestamp not null, status varchar, gate_verdict varchar);
-- Migration for warehouses created before `status` existed (dbt's change detection reads it).
alter table audit.ingested_files add column if not exists status varchar;
-- gate_verdict: 'pending' from the load until this run's gates judged the file, then 'passed' or
-- 'failed' (ingestion.gates.record_verdicts). Only 'passed' files are skipped by later runs.
-- Files loaded before verdicts existed were published by runs whose gates passed: 'passed'.
alter table audit.ingested_files add column if not exists gate_verdict varchar default 'passed';
create table if not exists audit.rejected_rows (export varchar not null, source_file varchar not null,
  row_number bigint not null, reasons varchar[] not null, raw_record json not null,
  landing_date date);
-- Size and mtime of each file when its sha256 was taken: lets pending_landing_dates skip reading
-- a file that has not been touched (a nightly scan would otherwise hash ~1.1 GB at 10M orders).
create table if not exists audit.file_fingerprints (path varchar primary key, size_bytes bigint not null,
  mtime_ns bigint not null, sha256 varchar not null);
-- mapping.yml (contract §1): digest of the entries that applied to a file when it was loaded, and
-- the file's headers, so that a changed mapping re-reads exactly the files it affects (and a
-- nightly scan can tell without opening untouched files). '' / NULL: no entry applied.
alter table audit.ingested_files add column if not exists mapping_digest varchar;
alter table audit.file_fingerprints add column if not exists headers varchar;
create table if not exists audit.dq_results (run_id varchar, suite varchar, expectation varchar, column_name varchar,
  severity varchar, success boolean, observed_value varchar, checked_at timestamp);
"""

#: WAL size that triggers an automatic checkpoint while loading (DuckDB's default is 16 MB).
CHECKPOINT_THRESHOLD = "256MB"

_REJECTED_COLUMNS = "export, source_file, row_number, reasons, raw_record, landing_date"
_SHANGHAI = dt.timezone(dt.timedelta(hours=8))

Status = Literal["loaded", "replaced", "unchanged"]


@dataclass(frozen=True)
class FileResult:
    path: str  # relative to the landing root, POSIX separators (= _source_file)
    export: str
    landing_date: dt.date | None
    status: Status
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    seconds: float = 0.0


ProgressItem = Union[FileResult, FileRejected]
#: progress(done, total, item): called after each file with its result or its rejection.
Progress = Callable[[int, int, ProgressItem], None]


@dataclass
class IngestSummary:
    roster: FileResult | None = None
    files: list[FileResult] = field(default_factory=list)
    rejected_files: list[FileRejected] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def results(self) -> list[FileResult]:
        return ([self.roster] if self.roster else []) + self.files

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def rows_read(self) -> int:
        return sum(r.rows_read for r in self.results)

    @property
    def rows_accepted(self) -> int:
        return sum(r.rows_accepted for r in self.results)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.results)

    def __str__(self) -> str:
        return (
            f"{len(self.results)} files ({self.count('loaded')} loaded, {self.count('replaced')} "
            f"replaced, {self.count('unchanged')} unchanged, {len(self.rejected_files)} rejected); "
            f"rows read {self.rows_read}, accepted {self.rows_accepted}, "
            f"rejected {self.rows_rejected}; {self.seconds:.1f}s"
        )


# --------------------------------------------------------------------------- schema


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw.* and audit.* (docs/architecture.md) if they do not exist yet.

    Also raises the WAL auto-checkpoint threshold of this database instance from DuckDB's 16 MB to
    256 MB: when loading committed once per file, every ~4th orders file paid a ~200 ms
    checkpoint at 16 MB that rewrote the tables' last row groups (write+commit 48 -> 25 ms per
    file); with ~1M-row chunks it still saves rewriting row groups every few MB of WAL. The WAL
    is checkpointed when the connection closes, as before.
    """
    con.execute(DDL)
    con.execute(f"set checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")


def _now_local() -> dt.datetime:
    return dt.datetime.now(_SHANGHAI).replace(tzinfo=None)


# --------------------------------------------------------------------------- reading (background)

#: Data rows validated and inserted together. Per file, a 10M-order backfill paid one Polars
#: query and one DuckDB insert ~1,100 times (~40k rows per orders file, 146 per live_traffic
#: file): 64 ms to insert ten 40k-row orders files one by one vs 21 ms for the same rows as one
#: insert, and ~40 ms of fixed cost per file (benchmarks/results.md). ~1M rows keep a chunk's
#: string and typed frames at a few hundred MB.
CHUNK_ROWS = 1_000_000

#: Chunks read ahead by the background reader: it validates the next chunk (Polars) while the
#: main thread inserts the current one (DuckDB); both release the GIL, so the two cores overlap.
_LOOKAHEAD = 1


@dataclass
class _ReadFile:
    """One landing file read and parsed into contract strings (`strings` None: unchanged)."""

    path: Path
    export: str
    source_file: str
    landing_date: dt.date | None
    sha256: str
    size_bytes: int
    mtime_ns: int
    #: (sha256, rows_read, rows_accepted, rows_rejected) from audit.ingested_files, if ingested before.
    previous: tuple | None
    strings: pl.DataFrame | None
    seconds: float
    #: MerchantMapping.digest of the entries that apply to this file ('' when none).
    mapping_digest: str = ""
    #: the file's header row when it was needed for the digest (JSON in audit.file_fingerprints).
    headers: list[str] | None = None


@dataclass
class _Chunk:
    """Changed files of one export, validated together; written in one transaction."""

    export: str
    files: list[_ReadFile]
    accepted: pl.DataFrame
    rejected: pl.DataFrame


#: on_batch(export, accepted): called with the accepted rows of every chunk just before it is
#: written; the orchestrator runs Great Expectations here. It runs on the writing thread: GX is
#: mostly Python that would hold the GIL in the reader thread (read, parse, validate), which was
#: the busier one (9.2 s vs 4.9 s of writing for 4.3M order rows). Since the validator's fast
#: paths the two are close: 1.9 s of reading vs 1.6 s of writing for 1.6M rows (profile_ingest.py,
#: 33 days, without GX).
BatchHook = Callable[[str, pl.DataFrame], None]


#: Stands in for the sha256 of a file whose gates have not passed, so that it reads as changed.
UNVERIFIED_SHA = "gate-verdict-pending"


def verified_sha256(sha256: str, gate_verdict: str | None) -> str:
    """The ingested hash a file is compared with: its own once its gates passed, else one that
    never matches (both engines' loaders read audit.ingested_files through this)."""
    return sha256 if gate_verdict == "passed" else UNVERIFIED_SHA


def must_read(previous_sha256: str | None, previous_digest: str | None, sha256: str, digest: str) -> bool:
    """Whether a landing file is read, validated and gated (again); one decision for both engines
    (the Spark engine calls it on its executors, ingestion/spark_ingest.py).

    previous_sha256: its audit.ingested_files hash through verified_sha256 (None: never ingested);
    previous_digest: its recorded mapping_digest; sha256, digest: the file's content hash and
    MerchantMapping.digest now. New content, no passing gate verdict, or a change of the
    mapping.yml entries that apply to it (contract §6) -> read it.
    """
    return previous_sha256 is None or previous_sha256 != sha256 or (previous_digest or "") != digest


def _known_files(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """path -> (sha256, rows_read, rows_accepted, rows_rejected, mapping_digest or '')."""
    # A file without a passing verdict is loaded again, whatever its content: a run interrupted
    # between writing its rows and recording its gates (or one whose gate failed) must not let
    # the next run skip them.
    rows = con.execute(
        "select path, sha256, gate_verdict, rows_read, rows_accepted, rows_rejected, coalesce(mapping_digest, '') "
        "from audit.ingested_files"
    ).fetchall()
    return {path: (verified_sha256(sha256, verdict), *rest) for path, sha256, verdict, *rest in rows}


def _read_file(path: Path, export: str, root: Path, known: dict[str, tuple],
               mapping: MerchantMapping | None = None) -> _ReadFile:
    start = time.perf_counter()
    spec = get_export(export)
    source_file = relative_posix(path, root)
    landing_date = landing_date_of(path, export, source_file)
    # stat before reading: if the file changes in between, its newer mtime makes the next scan hash it.
    stat = path.stat()
    data, sha256 = read_bytes(path)
    previous = known.get(source_file)
    headers, digest = None, ""
    if mapping is not None and mapping.applies_to(export):
        # Only exports that mapping.yml names pay for reading the header row here.
        headers = read_headers(data, path, source_file)
        digest = mapping.digest(spec, headers)
    strings = None
    if must_read(previous and previous[0], previous[4] if previous else "", sha256, digest):
        strings = read_strings(data, path, spec, source_file, mapping).with_columns(
            pl.lit(source_file, dtype=pl.String).alias("_source_file"),
            pl.lit(landing_date, dtype=pl.Date).alias("_landing_date"),
        )
    return _ReadFile(path, export, source_file, landing_date, sha256, stat.st_size, stat.st_mtime_ns,
                     previous, strings, time.perf_counter() - start, digest, headers)


def _contiguous(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` as one piece per column.

    A chunk concatenates ~25 files' frames, and the validator's fast paths keep their pieces:
    handed over as ~25 small Arrow batches they cost DuckDB 1.65-1.77 µs CPU per order row to
    write, one batch 1.42-1.50 µs including this copy (~0.1 µs; profile_ingest.py --phase-cpu,
    1.33M rows, min of 3). The reader thread makes the copy: the writing thread also runs Great
    Expectations (see BatchHook). (One DuckDB thread per insert saved as much CPU but made
    ingestion ~10 % slower in wall time on 2 idle cores, so DuckDB keeps its threads.)
    """
    return frame.rechunk() if frame.height and max(frame.n_chunks("all")) > 1 else frame


def _validate_chunk(export: str, files: list[_ReadFile], mapping: MerchantMapping | None = None) -> _Chunk:
    strings = pl.concat([f.strings for f in files], how="vertical")
    accepted, rejected = validate_frame(strings, get_export(export), mapping=mapping)
    return _Chunk(export, files, _contiguous(accepted), _contiguous(rejected))


def _read_and_validate(
    jobs: list[tuple[Path, str]], root: Path, known: dict[str, tuple], chunk_rows: int,
    mapping: MerchantMapping | None = None,
) -> Iterator[_ReadFile | FileRejected | _Chunk]:
    """Unchanged files and rejected files as they come; changed files in chunks per export."""
    pending: dict[str, list[_ReadFile]] = {}
    rows: dict[str, int] = {}
    for path, export in jobs:
        try:
            read = _read_file(Path(path), export, root, known, mapping)
        except FileRejected as e:
            yield e
            continue
        if read.strings is None:
            yield read
            continue
        pending.setdefault(export, []).append(read)
        rows[export] = rows.get(export, 0) + read.strings.height
        if rows[export] >= chunk_rows:
            yield _validate_chunk(export, pending.pop(export), mapping)
            rows[export] = 0
    for export, files in pending.items():
        yield _validate_chunk(export, files, mapping)


def _in_background(items: Iterator[T], lookahead: int) -> Iterator[T]:
    """Produce `items` in a daemon thread, at most `lookahead` ahead; its errors re-raise here.

    Closing the consumer (an error while writing) stops the producer before the next item.
    """
    out: queue.Queue = queue.Queue(maxsize=lookahead)
    stop = threading.Event()

    def put(message) -> bool:
        while not stop.is_set():
            try:
                out.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(("error", e))

    worker = threading.Thread(target=produce, name="dualwheel-ingest-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = out.get()
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.05)
        worker.join()


# --------------------------------------------------------------------------- writing


def _insert_frame(
    con: duckdb.DuckDBPyConnection, view: str, table: str, columns: str, frame
) -> bool:
    if frame.height == 0:
        return False
    # Polars' own string layout (Arrow string views), which DuckDB scans as it is: the default
    # conversion to Arrow's large_utf8 copied every string of the chunk first (1.15-1.37 -> 1.05-1.08
    # µs of CPU per order row written, half the page faults; 1.19M rows, file-backed database).
    con.register(view, frame.to_arrow(compat_level=pl.CompatLevel.newest()))  # contiguous already
    con.execute(f"insert into {table} ({columns}) select {columns} from {view}")
    return True


def _per_file(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if frame.height == 0:
        return {}
    return dict(frame.group_by(column).len().iter_rows())


def _write_chunk(con: duckdb.DuckDBPyConnection, chunk: _Chunk, verdict: str = "passed") -> list[FileResult]:
    """One transaction: replace the chunk's files' earlier rows, insert its rows, record its files.

    A replaced file's earlier raw and rejected rows are deleted; the roster (`accounts`) replaces
    the whole export, older roster files included. The audit row's status ('loaded' | 'replaced')
    feeds dbt's change detection, which rebuilds everything after a 'replaced' file whose earlier
    rows (and their dates) are gone from raw.*.
    """
    spec = get_export(chunk.export)
    columns = ", ".join(spec.raw_columns)
    accepted = _per_file(chunk.accepted, "_source_file")
    rejected = _per_file(chunk.rejected, "source_file")
    replaced = [f.source_file for f in chunk.files if f.previous is not None]
    views = ("__dualwheel_accepted", "__dualwheel_rejected", "__dualwheel_files")
    now = _now_local()
    con.begin()
    try:
        if chunk.export == ROSTER_EXPORT:
            had_roster = con.execute("select count(*) from audit.ingested_files where export = ?",
                                     [ROSTER_EXPORT]).fetchall()[0][0] > 0
            con.execute(f"delete from {spec.raw_table}")
            con.execute("delete from audit.rejected_rows where export = ?", [ROSTER_EXPORT])
            con.execute("delete from audit.ingested_files where export = ?", [ROSTER_EXPORT])
        elif replaced:
            con.execute(f"delete from {spec.raw_table} where _source_file in (select unnest(?::varchar[]))",
                        [replaced])
            con.execute("delete from audit.rejected_rows where source_file in (select unnest(?::varchar[]))",
                        [replaced])
        _insert_frame(con, views[0], spec.raw_table, columns, chunk.accepted)
        _insert_frame(con, views[1], "audit.rejected_rows", _REJECTED_COLUMNS, chunk.rejected)
        results = []
        for f in chunk.files:
            n_ok, n_bad = accepted.get(f.source_file, 0), rejected.get(f.source_file, 0)
            was_there = had_roster if chunk.export == ROSTER_EXPORT else f.previous is not None
            results.append(FileResult(f.source_file, f.export, f.landing_date,
                                      "replaced" if was_there else "loaded", f.sha256,
                                      n_ok + n_bad, n_ok, n_bad, seconds=f.seconds))
        files = pl.DataFrame(
            {
                "path": [r.path for r in results],
                "export": [r.export for r in results],
                "landing_date": [r.landing_date for r in results],
                "sha256": [r.sha256 for r in results],
                "rows_read": [r.rows_read for r in results],
                "rows_accepted": [r.rows_accepted for r in results],
                "rows_rejected": [r.rows_rejected for r in results],
                "ingested_at": [now] * len(results),
                "status": [r.status for r in results],
                "gate_verdict": [verdict] * len(results),
                "size_bytes": [f.size_bytes for f in chunk.files],
                "mtime_ns": [f.mtime_ns for f in chunk.files],
                "mapping_digest": [f.mapping_digest for f in chunk.files],
                "headers": [None if f.headers is None else json.dumps(f.headers, ensure_ascii=False)
                            for f in chunk.files],
            },
            schema_overrides={"landing_date": pl.Date, "ingested_at": pl.Datetime("us"),
                              "rows_read": pl.Int64, "rows_accepted": pl.Int64, "rows_rejected": pl.Int64,
                              "size_bytes": pl.Int64, "mtime_ns": pl.Int64,
                              "mapping_digest": pl.String, "headers": pl.String},
        )
        con.register(views[2], files.to_arrow())
        con.execute(
            f"insert or replace into audit.ingested_files (path, export, landing_date, sha256, rows_read, "
            f"rows_accepted, rows_rejected, ingested_at, status, mapping_digest, gate_verdict) select path, export, "
            f"landing_date, sha256, rows_read, rows_accepted, rows_rejected, ingested_at, status, mapping_digest, "
            f"gate_verdict from {views[2]}")
        # Only once the file is really loaded: a crash before commit leaves no fingerprint behind.
        con.execute(f"insert or replace into audit.file_fingerprints (path, size_bytes, mtime_ns, sha256, headers) "
                    f"select path, size_bytes, mtime_ns, sha256, headers from {views[2]}")
        con.commit()
    except BaseException:
        # A failed commit (disk full, read-only folder) has already ended the transaction, and
        # rollback() would then raise "cannot rollback - no transaction is active" instead of the
        # real cause.
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
    finally:
        # After commit/rollback: inside an aborted transaction unregister itself fails and would
        # mask the original error.
        for view in views:
            with contextlib.suppress(duckdb.Error):
                con.unregister(view)
    return results


def _record_fingerprints(con: duckdb.DuckDBPyConnection, unchanged: list[_ReadFile]) -> None:
    """Fingerprints of unchanged files that were read (touched, same content): cheap next time."""
    if unchanged:
        con.executemany("insert or replace into audit.file_fingerprints (path, size_bytes, mtime_ns, sha256, headers) "
                        "values (?, ?, ?, ?, ?)",
                        [(f.source_file, f.size_bytes, f.mtime_ns, f.sha256,
                          None if f.headers is None else json.dumps(f.headers, ensure_ascii=False))
                         for f in unchanged])


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    jobs: Iterable[tuple[Path, str]],
    landing_root: Path,
    *,
    progress: Progress | None = None,
    on_batch: BatchHook | None = None,
    chunk_rows: int = CHUNK_ROWS,
    awaiting_gates: bool = False,
) -> tuple[list[FileResult], list[FileRejected]]:
    """Load (path, export) files idempotently; returns (results, rejected files).

    Same sha256 as ingested -> 'unchanged', nothing written. New or changed content -> the file's
    rows are validated and written together with other changed files of its export (up to
    `chunk_rows` data rows per transaction, see CHUNK_ROWS); a changed file's earlier raw and
    rejected rows are replaced in the same transaction. A rejected file (FileRejected: unreadable,
    missing column, ...) writes nothing and does not stop the others. An error while writing rolls
    back that chunk's files, which stay pending for the next run.

    awaiting_gates: the caller runs gates on what was loaded (the orchestrator's blocking checks)
    and records each file's verdict with ingestion.gates.record_verdicts. Until then the files are
    'pending' and every later call loads them again, so an interruption between the write and the
    verdict can never let a file skip its gates. Without it the load itself is the verdict.
    """
    jobs = [(Path(p), e) for p, e in jobs]
    for _, export in jobs:
        get_export(export)  # fail fast on a typo, before any I/O
    root = Path(landing_root)
    # mapping.yml is validated before any file is read (contract §6); a bad one raises
    # MappingError ("mapping.yml: <key>: <problem>"), which stops the run like any rejected file.
    mapping = load_mapping(root)
    ensure_schema(con)
    known = _known_files(con)
    results: list[FileResult] = []
    errors: list[FileRejected] = []
    unchanged: list[_ReadFile] = []
    done = 0

    def report(item: ProgressItem) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(jobs), item)

    items = _in_background(_read_and_validate(jobs, root, known, chunk_rows, mapping), _LOOKAHEAD)
    try:
        for item in items:
            if isinstance(item, FileRejected):
                log.error("rejected %s", item)
                errors.append(item)
                report(item)
            elif isinstance(item, _ReadFile):
                unchanged.append(item)
                result = FileResult(item.source_file, item.export, item.landing_date, "unchanged",
                                    item.sha256, *item.previous[1:4], seconds=item.seconds)
                results.append(result)
                report(result)
            else:
                if on_batch is not None:
                    on_batch(item.export, item.accepted)
                for result in _write_chunk(con, item, "pending" if awaiting_gates else "passed"):
                    log.debug("ingested %s", result)
                    results.append(result)
                    report(result)
    finally:
        items.close()
    _record_fingerprints(con, unchanged)
    # Chunks are written per export as they fill up; results come back in the order of `jobs`.
    position = {relative_posix(p, root): i for i, (p, _) in enumerate(jobs)}
    results.sort(key=lambda r: position.get(r.path, len(position)))
    return results, errors


def ingest_file(
    con: duckdb.DuckDBPyConnection, path: Path, export: str, *, landing_root: Path
) -> FileResult:
    """Load one landing file idempotently; raises FileRejected without touching the database."""
    results, errors = ingest_files(con, [(Path(path), export)], landing_root)
    if errors:
        raise errors[0]
    return results[0]


# --------------------------------------------------------------------------- many files


def pending_landing_dates(con: duckdb.DuckDBPyConnection | None, landing_root: Path) -> list[dt.date]:
    """Landing dates with a daily-export file that is new or whose content changed since it was
    ingested (by sha256, as ingest_file decides), in date order.

    Lets a run plan only the dates it will load: a nightly run over a 365-day landing then covers
    one date instead of 365 (Dagster plans every asset of every partition in a run's range, about
    0.5 s per partition measured at 10M orders). Only files that are new or touched since they
    were hashed (size or mtime differ, audit.file_fingerprints) are read.
    """
    root = Path(landing_root)
    mapping = load_mapping(root)  # a bad mapping.yml fails here, before any file is read
    known: dict[str, tuple] = {}
    if con is not None:
        tables = {t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'audit'").fetchall()}
        if "ingested_files" in tables:
            columns = {(t, c) for t, c in con.execute(
                "select table_name, column_name from information_schema.columns where table_schema = 'audit'"
            ).fetchall()}
            headers_sql = "headers" if ("file_fingerprints", "headers") in columns else "null"
            digest_sql = ("coalesce(mapping_digest, '')" if ("ingested_files", "mapping_digest") in columns
                          else "''")
            fingerprints = {} if "file_fingerprints" not in tables else {
                path: rest for path, *rest in con.execute(
                    f"select path, size_bytes, mtime_ns, sha256, {headers_sql} from audit.file_fingerprints"
                ).fetchall()}
            # No passing gate verdict (failed, or the run was interrupted first): pending again.
            verified = ("case when coalesce(gate_verdict, 'passed') = 'passed' then sha256 end"
                        if ("ingested_files", "gate_verdict") in columns else "sha256")
            known = {path: (sha, *fingerprints.get(path, (None, None, None, None)), digest)
                     for path, sha, digest in con.execute(
                         f"select path, {verified}, {digest_sql} from audit.ingested_files").fetchall()}

    def changed(path: Path, export: str) -> bool:
        name = relative_posix(path, root)
        entry = known.get(name)
        if entry is None:
            return True
        sha, size, mtime, fingerprint_sha, headers, digest = entry
        if sha is None:
            return True
        stat = path.stat()
        data = None
        # Untouched since it was hashed, and that hash is still the ingested one (a failed gate
        # overwrites the ingested hash, so such files are read again): no need to read it.
        if not ((stat.st_size, stat.st_mtime_ns) == (size, mtime) and fingerprint_sha == sha):
            data, current_sha = read_bytes(path)
            if current_sha != sha:
                return True
        if not digest and not mapping.applies_to(export):
            return False
        # Same content: only a change of the mapping.yml entries that apply to it re-reads it.
        if headers is not None:
            file_headers = json.loads(headers)
        else:
            if data is None:
                data = read_bytes(path)[0]
            try:
                file_headers = read_headers(data, path, name)
            except FileRejected:
                return True
        return mapping.digest(get_export(export), file_headers) != digest

    pending = []
    for day, per_export in discover(root).dates.items():
        if any(changed(p, e) for e, paths in per_export.items() for p in paths):
            pending.append(day)
    return pending


def ingest_landing_date(
    con: duckdb.DuckDBPyConnection,
    landing_root: Path,
    date: dt.date | str,
    exports: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> list[FileResult]:
    """Ingest every file of one day folder (a missing folder is an empty day).

    Raises FilesRejected (a FileRejected) after loading the other files if any file was rejected.
    """
    exports = tuple(DAILY_EXPORTS if exports is None else exports)
    for e in exports:
        if e not in DAILY_EXPORTS:
            raise ValueError(f"{e!r} is not a daily export; expected one of {DAILY_EXPORTS}")
    root = Path(landing_root)
    folder = root / as_date(date).isoformat()
    if not folder.is_dir():
        return []
    ensure_schema(con)
    per_export = scan_day_folder(folder, exports)
    jobs = [(p, e) for e in exports for p in per_export.get(e, ())]
    results, errors = ingest_files(con, jobs, root, progress=progress)
    if errors:
        raise FilesRejected(errors, IngestSummary(files=results, rejected_files=errors))
    return results


def ingest_roster(
    con: duckdb.DuckDBPyConnection, landing_root: Path, *, on_batch: BatchHook | None = None,
    awaiting_gates: bool = False,
) -> FileResult | None:
    """Load the newest roster (the name sorting last); None when the landing has no roster."""
    files = find_roster_files(Path(landing_root))
    if not files:
        return None
    results, errors = ingest_files(con, [(files[-1], ROSTER_EXPORT)], landing_root, on_batch=on_batch,
                                   awaiting_gates=awaiting_gates)
    if errors:
        raise errors[0]
    return results[0]


def ingest_all(
    con: duckdb.DuckDBPyConnection,
    landing_root: Path,
    dates: Iterable[dt.date | str] | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """The roster plus every landing date (or only `dates`).

    Every file is attempted; if any was rejected, FilesRejected is raised at the end with the
    summary of what was loaded attached (`.summary`).
    """
    start = time.perf_counter()
    root = Path(landing_root)
    landing = discover(root)
    ensure_schema(con)
    jobs: list[tuple[Path, str]] = []
    if landing.roster is not None:
        jobs.append((landing.roster, ROSTER_EXPORT))
    jobs.extend((p, e) for _, e, p in landing.files(None if dates is None else list(dates)))
    results, errors = ingest_files(con, jobs, root, progress=progress)
    summary = IngestSummary(rejected_files=errors)
    for r in results:
        if r.export == ROSTER_EXPORT:
            summary.roster = r
        else:
            summary.files.append(r)
    summary.seconds = time.perf_counter() - start
    log.info("ingest: %s", summary)
    if errors:
        raise FilesRejected(errors, summary)
    return summary


# --------------------------------------------------------------------------- forgetting a file


@dataclass(frozen=True)
class Forgotten:
    path: str
    export: str
    landing_date: dt.date | None
    raw_rows: int
    rejected_rows: int


def forget_file(con: duckdb.DuckDBPyConnection, path: str) -> Forgotten:
    """Remove everything one ingested file contributed: its raw rows, its rejected rows, its
    audit and fingerprint rows; in one transaction. Raises KeyError if it was never ingested.

    The dbt watermark is dropped too, so the next dbt run recomputes every date: dbt's change
    detection finds the dates and keys to rebuild from the raw rows of files ingested since the
    watermark (int_changed_files), and a forgotten file has no rows left to point at the dates
    it fed; a 'replaced' file is handled the same way for the same reason (int_refresh_scope).
    """
    ensure_schema(con)
    found = con.execute("select export, landing_date from audit.ingested_files where path = ?", [path]).fetchall()
    if not found:
        raise KeyError(path)
    export, landing_date = found[0]
    spec = get_export(export)
    con.begin()
    try:
        raw_rows = con.execute(f"delete from {spec.raw_table} where _source_file = ?", [path]).fetchall()[0][0]
        rejected_rows = con.execute("delete from audit.rejected_rows where source_file = ?", [path]).fetchall()[0][0]
        con.execute("delete from audit.ingested_files where path = ?", [path])
        con.execute("delete from audit.file_fingerprints where path = ?", [path])
        has_watermark = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'audit' "
            "and table_name = 'dbt_watermark'").fetchall()[0][0]
        if has_watermark:
            con.execute("delete from audit.dbt_watermark")
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # see _write_chunk
            con.rollback()
        raise
    return Forgotten(path, export, landing_date, int(raw_rows), int(rejected_rows))
