"""raw/audit DDL and idempotent loading of landing files into the working DuckDB.

Each file is one transaction keyed by its path in audit.ingested_files: same sha256 -> nothing
happens; new content -> that file's earlier raw and rejected rows are replaced. Loading goes
through Arrow (Polars -> pyarrow -> DuckDB), never row by row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union

import duckdb

from .contract import DAILY_EXPORTS, ROSTER_EXPORT, get_export
from .errors import FileRejected, FilesRejected
from .readers import (
    FileBatch,
    as_date,
    batch_from_bytes,
    discover,
    find_roster_files,
    landing_date_of,
    read_bytes,
    relative_posix,
    scan_day_folder,
)

log = logging.getLogger(__name__)

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
  rows_rejected bigint not null, ingested_at timestamp not null, status varchar);
-- Migration for warehouses created before `status` existed (dbt's change detection reads it).
alter table audit.ingested_files add column if not exists status varchar;
create table if not exists audit.rejected_rows (export varchar not null, source_file varchar not null,
  row_number bigint not null, reasons varchar[] not null, raw_record json not null,
  landing_date date);
-- Size and mtime of each file when its sha256 was taken: lets pending_landing_dates skip reading
-- a file that has not been touched (a nightly scan would otherwise hash ~1.1 GB at 10M orders).
create table if not exists audit.file_fingerprints (path varchar primary key, size_bytes bigint not null,
  mtime_ns bigint not null, sha256 varchar not null);
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
    256 MB: loading commits once per file, and at 16 MB every ~4th orders file paid a ~200 ms
    checkpoint that rewrote the tables' last row groups (benchmarks/results.md: write+commit
    48 -> 25 ms per file). The WAL is checkpointed when the connection closes, as before.
    """
    con.execute(DDL)
    con.execute(f"set checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")


def _previous(con: duckdb.DuckDBPyConnection, source_file: str) -> tuple | None:
    """The audit row of a path, creating the schema on first use so ingest_file works alone."""
    query = (
        "select sha256, rows_read, rows_accepted, rows_rejected "
        "from audit.ingested_files where path = ?"
    )
    # fetchall, not fetchone: on DuckDB 2.0 a partly fetched result blocks the connection.
    try:
        rows = con.execute(query, [source_file]).fetchall()
    except duckdb.CatalogException:
        ensure_schema(con)
        rows = con.execute(query, [source_file]).fetchall()
    return rows[0] if rows else None


def _now_local() -> dt.datetime:
    return dt.datetime.now(_SHANGHAI).replace(tzinfo=None)


# --------------------------------------------------------------------------- writing


def _insert_frame(
    con: duckdb.DuckDBPyConnection, view: str, table: str, columns: str, frame
) -> bool:
    if frame.height == 0:
        return False
    con.register(view, frame.to_arrow())
    con.execute(f"insert into {table} ({columns}) select {columns} from {view}")
    return True


def write_batch(
    con: duckdb.DuckDBPyConnection,
    batch: FileBatch,
    *,
    replace: Literal["none", "file", "export"],
    status: Literal["loaded", "replaced"] | None = None,
) -> None:
    """One transaction: drop what `replace` says, insert the batch, record it in the audit.

    `status` ('loaded' | 'replaced', default: 'loaded' only when nothing is replaced) is stored
    in audit.ingested_files: dbt's change detection rebuilds everything after a 'replaced' file,
    whose earlier rows (and their dates) are gone from raw.*.
    """
    if status is None:
        status = "loaded" if replace == "none" else "replaced"
    spec = get_export(batch.export)
    columns = ", ".join(spec.raw_columns)
    views = ("__dualwheel_accepted", "__dualwheel_rejected")
    con.begin()
    try:
        if replace == "export":
            # The roster: the newest file replaces raw.accounts whole, older rosters included.
            con.execute(f"delete from {spec.raw_table}")
            con.execute("delete from audit.rejected_rows where export = ?", [batch.export])
            con.execute("delete from audit.ingested_files where export = ?", [batch.export])
        elif replace == "file":
            con.execute(f"delete from {spec.raw_table} where _source_file = ?", [batch.source_file])
            con.execute("delete from audit.rejected_rows where source_file = ?", [batch.source_file])
        _insert_frame(con, views[0], spec.raw_table, columns, batch.accepted)
        _insert_frame(con, views[1], "audit.rejected_rows", _REJECTED_COLUMNS, batch.rejected)
        con.execute(
            "insert or replace into audit.ingested_files (path, export, landing_date, sha256, "
            "rows_read, rows_accepted, rows_rejected, ingested_at, status) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch.source_file,
                batch.export,
                batch.landing_date,
                batch.sha256,
                batch.rows_read,
                batch.rows_accepted,
                batch.rows_rejected,
                _now_local(),
                status,
            ],
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        # After commit/rollback: inside an aborted transaction unregister itself fails and would
        # mask the original error.
        for view in views:
            with contextlib.suppress(duckdb.Error):
                con.unregister(view)


def _record_fingerprint(con: duckdb.DuckDBPyConnection, source_file: str, stat, sha256: str) -> None:
    con.execute("insert or replace into audit.file_fingerprints values (?, ?, ?, ?)",
                [source_file, stat.st_size, stat.st_mtime_ns, sha256])


def ingest_file(
    con: duckdb.DuckDBPyConnection, path: Path, export: str, *, landing_root: Path
) -> FileResult:
    """Load one landing file idempotently; raises FileRejected without touching the database."""
    start = time.perf_counter()
    path = Path(path)
    get_export(export)  # fail fast on a typo, before any I/O
    source_file = relative_posix(path, landing_root)
    # stat before reading: if the file changes in between, its newer mtime makes the next scan hash it.
    stat = path.stat()
    data, sha256 = read_bytes(path)
    previous = _previous(con, source_file)
    if previous is not None and previous[0] == sha256:
        _record_fingerprint(con, source_file, stat, sha256)  # a touched-only file is cheap next time
        return FileResult(
            source_file,
            export,
            landing_date_of(path, export, source_file),
            "unchanged",
            sha256,
            *previous[1:],
            seconds=time.perf_counter() - start,
        )
    batch = batch_from_bytes(data, sha256, path, export, landing_root=landing_root)
    if export == ROSTER_EXPORT:
        had_roster = con.execute(
            "select count(*) from audit.ingested_files where export = ?", [export]
        ).fetchall()[0][0]
        status: Status = "replaced" if had_roster else "loaded"
        write_batch(con, batch, replace="export", status=status)
    else:
        write_batch(con, batch, replace="file" if previous is not None else "none")
        status = "replaced" if previous is not None else "loaded"
    _record_fingerprint(con, source_file, stat, sha256)  # only once the file is really loaded
    result = FileResult(
        batch.source_file,
        export,
        batch.landing_date,
        status,
        sha256,
        batch.rows_read,
        batch.rows_accepted,
        batch.rows_rejected,
        seconds=time.perf_counter() - start,
    )
    log.debug("ingested %s: %s", source_file, result)
    return result


# --------------------------------------------------------------------------- many files


def _run(
    con: duckdb.DuckDBPyConnection,
    jobs: list[tuple[Path, str]],
    landing_root: Path,
    progress: Progress | None,
) -> tuple[list[FileResult], list[FileRejected]]:
    """Ingest files independently: one rejected file does not stop (or undo) the others."""
    results: list[FileResult] = []
    errors: list[FileRejected] = []
    for done, (path, export) in enumerate(jobs, start=1):
        try:
            item: ProgressItem = ingest_file(con, path, export, landing_root=landing_root)
            results.append(item)
        except FileRejected as e:
            log.error("rejected %s", e)
            errors.append(e)
            item = e
        if progress is not None:
            progress(done, len(jobs), item)
    return results, errors


def pending_landing_dates(con: duckdb.DuckDBPyConnection | None, landing_root: Path) -> list[dt.date]:
    """Landing dates with a daily-export file that is new or whose content changed since it was
    ingested (by sha256, as ingest_file decides), in date order.

    Lets a run plan only the dates it will load: a nightly run over a 365-day landing then covers
    one date instead of 365 (Dagster plans every asset of every partition in a run's range, about
    0.5 s per partition measured at 10M orders). Only files that are new or touched since they
    were hashed (size or mtime differ, audit.file_fingerprints) are read.
    """
    root = Path(landing_root)
    known: dict[str, tuple] = {}
    if con is not None:
        tables = {t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'audit'").fetchall()}
        if "ingested_files" in tables:
            fingerprints = {} if "file_fingerprints" not in tables else {
                path: rest for path, *rest in con.execute(
                    "select path, size_bytes, mtime_ns, sha256 from audit.file_fingerprints").fetchall()}
            known = {path: (sha, *fingerprints.get(path, (None, None, None)))
                     for path, sha in con.execute("select path, sha256 from audit.ingested_files").fetchall()}

    def changed(path: Path) -> bool:
        entry = known.get(relative_posix(path, root))
        if entry is None:
            return True
        sha, size, mtime, fingerprint_sha = entry
        stat = path.stat()
        # Untouched since it was hashed, and that hash is still the ingested one (a failed gate
        # overwrites the ingested hash, so such files are read again): no need to read it.
        if (stat.st_size, stat.st_mtime_ns) == (size, mtime) and fingerprint_sha == sha:
            return False
        return read_bytes(path)[1] != sha

    pending = []
    for day, per_export in discover(root).dates.items():
        if any(changed(p) for paths in per_export.values() for p in paths):
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
    results, errors = _run(con, jobs, root, progress)
    if errors:
        raise FilesRejected(errors, IngestSummary(files=results, rejected_files=errors))
    return results


def ingest_roster(con: duckdb.DuckDBPyConnection, landing_root: Path) -> FileResult | None:
    """Load the newest roster (the name sorting last); None when the landing has no roster."""
    files = find_roster_files(Path(landing_root))
    if not files:
        return None
    ensure_schema(con)
    return ingest_file(con, files[-1], ROSTER_EXPORT, landing_root=landing_root)


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
    results, errors = _run(con, jobs, root, progress)
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
