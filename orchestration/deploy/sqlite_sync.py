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

A server with a Postgres instance (orchestration/deploy/README.md) is not affected.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

_installed = False


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


def relax_sqlite_fsync() -> None:
    """Install the hook once per process (the CLI, code servers, run workers, the daemon)."""
    global _installed
    if not _installed:
        event.listen(Engine, "connect", _relax)
        _installed = True
