"""Dagster's SQLite storage without an fsync per event, and a partitioned run's events in batches.

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
`_connect_reusing_engine` keeps one engine per database file (per run shard and the index) for
the storage object's lifetime. Connections are still not pooled (NullPool, as Dagster sets it),
so nothing stays open between writes and a forked process inherits no connection; the engines
of the 16 most recently written databases are kept (a webserver reads many runs).

Even so, a run over N landing dates stored each raw asset's N materializations one by one, ~5 ms
of CPU each: three transactions per event (run shard, index, asset event tags), a new engine
per `has_table` check, the asset's record upserted and the whole event re-serialized into it as
last_materialization every time (cProfile of a 120-date ingest run: storing 405 events took 6.8
of 24.2 s; connects 2.1 s, asset records 2.0 s, has_table 1.1 s, serializing the rows 0.8 s;
building the events and Dagster's log handlers cost next to nothing). Dagster hands a partitioned
output's materializations, and every run's planned events, to `store_event_batch` when event
batching is on (DAGSTER_EVENT_BATCH_SIZE; off by default), but SqliteEventLogStorage stores a
batch one by one. `_store_event_batch` writes the same rows in one transaction per shard (see
its docstring), and `_event_batch_size` turns batching on (EVENT_BATCH_SIZE) for instances
whose event log is SqliteEventLogStorage, unless DAGSTER_EVENT_BATCH_SIZE says otherwise.
`_has_table_remembered` keeps the tables `has_table` found. Measured on a 120-date, 20k-order
landing (CPU, min of 3, `dualwheel ingest`): storing the run's 405 events 1.91 s -> 0.27 s
(212 -> 1,490 events/s), the run's main process 7.0 s -> 5.1 s; `dualwheel build`, 944 events:
5.3 s -> 1.9 s (177 -> 490 events/s), its main process 11.7 s -> 8.4 s. The dbt step's events
(step outputs, materializations and check evaluations) carry no batch metadata, since dagster-dbt
sends none; `stored_together` gives it to the ~340 events that step yields at once. Serializing
an event is ~0.1 ms (2.5 KB), so trimming the metadata every partition's materialization repeats
would not pay.

A server with a Postgres instance (orchestration/deploy/README.md) is not affected: everything
here only touches SQLite connections, Dagster's SQLite event log class, and the batch size of
instances that use it. These are patches of private methods of the pinned dagster 1.13
(uv.lock); tests/orchestration/test_sqlite_sync.py checks the rows against unbatched storage.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import contextmanager

from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
    DagsterEventBatchMetadata,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.methods.event_methods import EventMethods
from dagster._core.storage.event_log.schema import AssetKeyTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import event
from sqlalchemy import exc as db_exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

_installed = False
_ENGINES_KEPT = 16
# Events per store_event_batch call: a year of landing dates (365 materializations of one raw
# asset) is one batch, and the index shard's write lock is held for one batch only (~0.1 s).
EVENT_BATCH_SIZE = 500


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


def _engine(self: SqliteEventLogStorage, shard: str) -> Engine:
    """The kept engine of one database file, created (and the file initialized) on first use.

    Call with self._db_lock held."""
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
    return engine


@contextmanager
def _connect_reusing_engine(self: SqliteEventLogStorage, shard: str):
    """SqliteEventLogStorage._connect of dagster 1.13 (pinned in uv.lock), with the engine kept.

    While this thread stores a batch (_store_event_batch), Dagster's own helpers that open the
    index shard again (asset check rows) get the batch's open index transaction: `_db_lock` is
    not reentrant, and their rows belong to the same transaction."""
    open_index = self.__dict__.get("_dualwheel_open_index")
    if shard == INDEX_SHARD_NAME and open_index and open_index[0] == threading.get_ident():
        yield open_index[1]
        return
    with self._db_lock:
        with _engine(self, shard).connect() as conn:
            with conn.begin():
                yield conn


def _store_event_batch(self: SqliteEventLogStorage, events: Sequence[EventLogEntry]) -> None:
    """SqliteEventLogStorage.store_event for a batch of one run's events, in two transactions.

    The rows are those store_event writes, in the same order: every event in the run shard;
    asset, asset check and run status events mirrored in the index shard (their index ids are
    the storage ids the UI and the asset records use); asset event tags; each asset's asset_keys
    row; asset check execution rows (Dagster's own code, on the batch's index transaction).
    store_event upserts the asset_keys row once per event, re-serializing the whole event
    record as last_materialization each time; here each event's column values are applied in
    order and the result upserted once per asset, which leaves the same row (each column holds
    the value of the last event that sets it). The index transaction commits inside the run
    shard's, so an error while writing leaves neither written and Dagster's fallback (store the
    batch's events one by one) stores no duplicates; only a failure of the run shard's final
    commit would leave the index rows stored twice.
    """
    events = list(events)
    if len(events) < 2 or len({e.run_id for e in events}) > 1:
        # Dagster batches one output's events (one run); anything else goes the proven way.
        for entry in events:
            self.store_event(entry)
        return
    rows = [self._event_to_row(entry) for entry in events]  # serialize before opening anything
    insert = SqlEventLogStorageTable.insert()
    with self._db_lock:
        run_engine = _engine(self, events[0].run_id)
        index_engine = _engine(self, INDEX_SHARD_NAME)
        with run_engine.connect() as run_conn, run_conn.begin():
            run_conn.execute(insert, rows)
            with index_engine.connect() as index_conn, index_conn.begin():
                self.__dict__["_dualwheel_open_index"] = (threading.get_ident(), index_conn)
                try:
                    _store_batch_in_index(self, index_conn, events, rows)
                finally:
                    del self.__dict__["_dualwheel_open_index"]


def _store_batch_in_index(self: SqliteEventLogStorage, conn, events, rows) -> None:
    insert = SqlEventLogStorageTable.insert()
    asset_events: list[EventLogEntry] = []
    asset_event_ids: list[int] = []
    for entry, row in zip(events, rows):
        if not entry.is_dagster_event:
            continue
        event_type = entry.dagster_event_type
        if event_type in ASSET_EVENTS:
            event_id = conn.execute(insert, row).inserted_primary_key[0]
            if event_id is None:
                raise DagsterInvariantViolationError("Cannot store asset event tags for null event id.")
            asset_events.append(entry)
            asset_event_ids.append(event_id)
        if event_type in ASSET_CHECK_EVENTS:
            event_id = conn.execute(insert, row).inserted_primary_key[0]
            self.store_asset_check_event(entry, event_id)
        if event_type in EVENT_TYPE_TO_PIPELINE_RUN_STATUS:
            conn.execute(insert, row)
    if not asset_events:
        return
    # One asset event tags insert for the batch (Dagster inserts them event by event).
    self._store_asset_event_tags(conn, asset_events, asset_event_ids)
    has_index_cols = self._has_asset_key_index_cols_on_connection(conn)
    keyed = [(i, entry.dagster_event.asset_key.to_string()) for i, entry in enumerate(asset_events)
             if entry.dagster_event and entry.dagster_event.asset_key]
    # A materialization sets the same columns as the asset's next one in the batch, so only the
    # asset's last materialization is applied (its record is the only one serialized).
    last_materialization = {key: i for i, key in keyed
                            if asset_events[i].dagster_event.is_step_materialization}
    values_by_key: dict[str, dict] = {}
    for i, key in keyed:
        entry = asset_events[i]
        if entry.dagster_event.is_step_materialization and last_materialization[key] != i:
            continue
        values = self._get_asset_entry_values(entry, asset_event_ids[i], has_index_cols)
        if values:
            values_by_key.setdefault(key, {}).update(values)
    for key, values in values_by_key.items():
        try:
            conn.execute(AssetKeyTable.insert().values(asset_key=key, **values))
        except db_exc.IntegrityError:
            conn.execute(AssetKeyTable.update().values(**values).where(AssetKeyTable.c.asset_key == key))


_dagster_has_table = SqliteEventLogStorage.has_table


def _has_table_remembered(self: SqliteEventLogStorage, table_name: str) -> bool:
    """SqliteEventLogStorage.has_table, remembering the tables found.

    Dagster asks before every asset event tags insert and every asset check row (~300 times in
    a 120-date build, each through a new engine and connection: 0.9 s of a 27 s cProfile of the
    build). Nothing drops these tables; a table still missing (an unmigrated instance) is asked
    again every time, as before."""
    found = self.__dict__.setdefault("_dualwheel_tables", set())
    if table_name in found:
        return True
    if _dagster_has_table(self, table_name):
        found.add(table_name)
        return True
    return False


_dagster_event_batch_size = EventMethods._get_event_batch_size


def _event_batch_size(self) -> int:
    """Dagster's DAGSTER_EVENT_BATCH_SIZE (0, off, by default), or EVENT_BATCH_SIZE when it is
    unset and the instance stores events in SQLite. The instance, not the environment: a process
    may hold a Postgres instance, whose event storage keeps Dagster's default."""
    if os.environ.get("DAGSTER_EVENT_BATCH_SIZE") is None and isinstance(
            self._event_storage_impl, SqliteEventLogStorage):
        return EVENT_BATCH_SIZE
    return _dagster_event_batch_size(self)


_dagster_handle_new_event = EventMethods.handle_new_event
_stored_together = threading.local()


def _handle_new_event(self, event: EventLogEntry, *, batch_metadata=None) -> None:
    """EventMethods.handle_new_event, with the events of an open `stored_together` block (this
    thread, its instance and run, no run status event) buffered as one of Dagster's batches."""
    held = getattr(_stored_together, "batch", None)
    if (batch_metadata is None and held is not None and held[0] is self and event.run_id == held[1]
            and not (event.is_dagster_event and event.get_dagster_event().is_job_event)):
        batch_metadata = DagsterEventBatchMetadata(held[2], False)
    _dagster_handle_new_event(self, event, batch_metadata=batch_metadata)


@contextmanager
def stored_together(instance, run_id: str):
    """Store the events this thread logs for `run_id` meanwhile as batches (store_event_batch).

    For a step that yields many events at once: the dbt step holds dbt's results until dbt exits
    and then yields ~340 events (an output and a check evaluation per test, an output and a
    materialization per model), which Dagster stored one by one, ~5.8 ms each (1.97 s of a
    10M-order nightly's dbt step after dbt had finished). Dagster buffers an event that carries
    batch metadata until EVENT_BATCH_SIZE of them or the batch's last one; this block gives its
    events that metadata and, on exit, sends the last one again as the batch's end, which stores
    what is buffered. Events are handled and stored in the order they were logged; nothing
    changes where batching is off (DAGSTER_EVENT_BATCH_SIZE=0, an event storage other than
    SqliteEventLogStorage), since Dagster then stores each event as it comes."""
    if getattr(_stored_together, "batch", None) is not None:  # nested: the outer block stores them
        yield
        return
    batch_id = f"dualwheel-{run_id}-{threading.get_ident()}"
    _stored_together.batch = (instance, run_id, batch_id)
    try:
        yield
    finally:
        _stored_together.batch = None
        held = instance._event_buffer_impl.get(batch_id)
        if held:
            last = held.pop()
            _dagster_handle_new_event(instance, last, batch_metadata=DagsterEventBatchMetadata(batch_id, True))


def relax_sqlite_fsync() -> None:
    """Install, once per process (the CLI, code servers, run workers, the daemon), the fsync
    hook and the five patches above: kept engines, batched stores, remembered tables, the
    SQLite batch size and `stored_together` blocks. The name predates all but the first."""
    global _installed
    if not _installed:
        event.listen(Engine, "connect", _relax)
        SqliteEventLogStorage._connect = _connect_reusing_engine
        SqliteEventLogStorage.store_event_batch = _store_event_batch
        SqliteEventLogStorage.has_table = _has_table_remembered
        EventMethods._get_event_batch_size = _event_batch_size
        EventMethods.handle_new_event = _handle_new_event
        _installed = True
