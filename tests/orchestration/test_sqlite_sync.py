"""Dagster's SQLite storage as every dualwheel process tunes it (orchestration/deploy/sqlite_sync.py):
events still land and read back, the event log reuses one engine per database file, and commits on
its WAL databases skip the fsync (synchronous=NORMAL)."""

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from orchestration.deploy.sqlite_sync import relax_sqlite_fsync


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-04"))
def landing_day(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"day": context.partition_key})


def test_events_are_stored_through_one_engine_per_database(tmp_path):
    relax_sqlite_fsync()
    relax_sqlite_fsync()  # idempotent: one listener, one patch
    assert SqliteEventLogStorage._connect.__name__ == "_connect_reusing_engine"
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
            assert dg.materialize([landing_day], instance=instance, partition_key=day).success

        # Every partition's materialization is stored and indexed (the index shard answers this).
        assert instance.get_materialized_partitions(dg.AssetKey("landing_day")) == {
            "2026-01-01", "2026-01-02", "2026-01-03"}

        storage = instance.event_log_storage
        engines = storage.__dict__["_dualwheel_engines"]
        # The index plus one shard per run, each engine created once and reused for every write.
        assert "index" in engines and len(engines) == 4
        index_engine = engines["index"]
        assert dg.materialize([landing_day], instance=instance, partition_key="2026-01-03").success
        assert storage.__dict__["_dualwheel_engines"]["index"] is index_engine

        with storage.index_connection() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        assert str(mode).lower() == "wal" and sync == 1  # 1 = NORMAL
