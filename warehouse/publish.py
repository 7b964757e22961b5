"""Publish the working database to the file BI reads, in one atomic step.

DuckDB allows one read-write process or many read-only processes per file, and BI tools keep a
read-only connection open all day. So runs never write the published file: they write the
working database, and publishing copies the BI schemas into a brand-new file beside the
published one, checkpoints and fsyncs it, and `os.replace`s it over the published path.
On POSIX that rename is atomic: a reader sees the old file or the new one, never a half-built
one, and readers that already hold the old file keep their snapshot until they reconnect.
A run killed at any point before the rename leaves the published file byte-for-byte unchanged;
the stray temporary file is removed by the next publish.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

PUBLISHED_SCHEMAS = ("marts", "audit")
_TMP_MARKER = ".publishing-"


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class PublishResult:
    path: Path
    tables: dict[str, int]  # "schema.table" -> rows
    bytes: int
    seconds: float


def _temp_path_for(published: Path) -> Path:
    return published.with_name(f".{published.name}{_TMP_MARKER}{os.getpid()}")


def remove_stale_temp_files(published: Path) -> list[Path]:
    """Temporary files of killed publishes; safe to delete because only one run writes at a time
    (the working database's own lock guarantees that)."""
    removed = []
    for candidate in published.parent.glob(f".{published.name}{_TMP_MARKER}*"):
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(work_db: Path, published: Path, *, schemas: tuple[str, ...] = PUBLISHED_SCHEMAS,
            run_id: str | None = None) -> PublishResult:
    """Copy `schemas` of `work_db` into a fresh file and atomically swap it over `published`.

    The caller must have closed every connection to `work_db` (it is attached read-only)."""
    started = time.perf_counter()
    work_db, published = Path(work_db), Path(published)
    if not work_db.exists():
        raise PublishError(f"{work_db}: working database does not exist; nothing to publish")
    published.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(published)
    tmp = _temp_path_for(published)

    tables: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("attach ? as work (read_only)", [str(work_db)])
            present = con.sql(
                "select schema_name, table_name from duckdb_tables() "
                "where database_name = 'work' order by 1, 2").fetchall()
            views = con.sql(
                "select schema_name, view_name from duckdb_views() "
                "where database_name = 'work' and not internal order by 1, 2").fetchall()
            wanted = [(s, t) for s, t in present + views if s in schemas]
            missing = [s for s in schemas if s not in {s for s, _ in wanted}]
            if missing:
                raise PublishError(f"{work_db}: schema(s) {', '.join(missing)} missing or empty; "
                                   "run the build first")
            for schema in schemas:
                con.execute(f'create schema if not exists "{schema}"')
            # Views become tables: the published file must not depend on schemas it does not hold.
            for schema, table in wanted:
                con.execute(f'create table "{schema}"."{table}" as select * from work."{schema}"."{table}"')
                tables[f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
            con.execute("create schema if not exists audit")
            con.execute("create table audit.published_at as select ?::timestamp as published_at, ? as run_id",
                        [datetime.now(), run_id])
            con.execute("detach work")
            con.execute("checkpoint")
        finally:
            con.close()
        wal = tmp.with_name(tmp.name + ".wal")
        if wal.exists():  # a WAL beside a published file would make readers replay it: never ship one
            raise PublishError(f"{tmp}: write-ahead log left after checkpoint; refusing to publish")
        _fsync(tmp)
        os.replace(tmp, published)
        _fsync(published.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
        raise
    return PublishResult(path=published, tables=tables, bytes=published.stat().st_size,
                         seconds=time.perf_counter() - started)
