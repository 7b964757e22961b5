"""Dagster's SQLite storage without an fsync per event.

Dagster's SQLite run and event-log storage opens a connection per write and commits every event
on its own; with SQLite's default `synchronous=FULL` each commit waits for an fsync of the WAL.
A nightly dualwheel build writes ~1,500 events (a materialization per landing date and asset, a
planned and an evaluated event per check, step outputs): 1,530 commits took 8.9 s of a 20k-order
nightly run here (cProfile), most of the run's bookkeeping. In WAL mode, which Dagster sets on
its SQLite databases, `synchronous=NORMAL` syncs only at checkpoints: the database stays
consistent after a crash or power loss (SQLite's documented guarantee), and only the last few
events may be lost on a power cut, before the run itself would have been marked finished. Only
WAL databases are relaxed; any other SQLite database keeps its FULL default.

The same per-write pattern costs Python time too: `SqliteEventLogStorage._connect` builds a new
SQLAlchemy Engine for every write, so each write also re-creates the engine and recompiles its
SQL (the compiled-statement cache lives on the engine). A full 10M-order build stores ~1,800
events (a materialization per landing date and raw asset, the dbt models' and checks' events),
~4,700 connects: 365 materializations of one raw asset took 4.1-4.6 s here, ~12 ms each (cProfile
of an ingest run: connect 8.6 s and SQL compilation 4.8 s of 19.8 s storing 1,140 events).
`_connect_reusing_engine` (installed by `relax_sqlite_fsync()`) keeps one engine per database
file (per run shard and the index) for the storage object's lifetime. Connections are still not pooled (NullPool, as Dagster sets
it), so nothing stays open between writes and a forked process inherits no connection; the
engines of the 16 most recently written databases are kept (a webserver reads many runs).

A server with a Postgres instance (orchestration/deploy/README.md) is not affected: both only
touch SQLite connections and Dagster's SQLite event log class.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

_installed = False
_ENGINES_KEPT = 16


def _relax(dbapi_connection, _record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode").fetchone()
        if mode and str(mode[0]).lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


@contextmanager
def _connect_reusing_engine(self: SqliteEventLogStorage, shard: str):
    """SqliteEventLogStorage._connect of dagster 1.13 (pinned in uv.lock), with the engine kept."""
    with self._db_lock:
        engines = self.__dict__.setdefault("_dualwheel_engines", OrderedDict())
        engine = engines.get(shard)
        if engine is None:
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            engines[shard] = engine
            while len(engines) > _ENGINES_KEPT:
                engines.popitem(last=False)[1].dispose()
        engines.move_to_end(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        with engine.connect() as conn:
            with conn.begin():
                yield conn


def relax_sqlite_fsync() -> None:
    """Install both once per process (the CLI, code servers, run workers, the daemon)."""
    global _installed
    if not _installed:
        event.listen(Engine, "connect", _relax)
        SqliteEventLogStorage._connect = _connect_reusing_engine
        _installed = True
