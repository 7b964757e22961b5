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


# --- batched event writes (store_event_batch) ----------------------------------------------------

DAYS = [f"2026-02-{d:02d}" for d in range(1, 29)]  # 28 landing dates, one run, as `dualwheel build`
days = dg.DailyPartitionsDefinition(start_date="2026-02-01", end_date="2026-03-01")
RANGE = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}


@dg.asset(partitions_def=days)
def raw_export(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    # One result for the whole range: Dagster stores one materialization per partition, in a batch.
    return dg.MaterializeResult(metadata={"dates": len(context.partition_keys)})


@dg.asset(deps=[raw_export])
def export_summary() -> None:
    return None


@dg.asset_check(asset=export_summary)
def summary_present() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _backfill(instance) -> str:
    result = dg.materialize([raw_export, export_summary, summary_present], instance=instance,
                            tags=RANGE)
    assert result.success
    return result.run_id


def _rows(conn, sql):
    return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]


PARTITION = "$.event_log_entry.dagster_event.event_specific_data.materialization.partition"


def _index_state(storage) -> dict:
    """What the index shard holds, minus what differs between two runs (run ids, timestamps)."""
    with storage.index_connection() as conn:
        return {
            "event_logs": _rows(conn, "SELECT id, dagster_event_type, asset_key, partition, step_key "
                                      "FROM event_logs ORDER BY id"),
            # Dagster indexes its dagster/data_version tags; their values hash the run id.
            "tags": _rows(conn, "SELECT event_id, asset_key, key FROM asset_event_tags ORDER BY id"),
            "checks": _rows(conn, "SELECT asset_key, check_name, partition, execution_status, "
                                  "evaluation_event_storage_id FROM asset_check_executions ORDER BY id"),
            # The record of the asset's last materialization, by its index storage id.
            "asset_keys": _rows(conn, f"SELECT asset_key, json_extract(last_materialization, "
                                      f"'$.storage_id'), json_extract(last_materialization, '{PARTITION}'), "
                                      "last_run_id IS NOT NULL, last_materialization_timestamp "
                                      "IS NOT NULL FROM asset_keys ORDER BY asset_key"),
        }


def _run_shard(storage, run_id):
    with storage.run_connection(run_id) as conn:
        return _rows(conn, "SELECT id, dagster_event_type, asset_key, partition, step_key "
                           "FROM event_logs ORDER BY id")


def test_a_backfill_run_stores_the_same_rows_batched_as_one_by_one(tmp_path, monkeypatch):
    relax_sqlite_fsync()
    (tmp_path / "batched").mkdir()
    (tmp_path / "single").mkdir()
    batches = []
    store_event_batch = SqliteEventLogStorage.store_event_batch

    def observed(storage, events):  # the real store_event_batch, its batches counted
        batches.append([e.dagster_event_type.value for e in events])
        return store_event_batch(storage, events)

    with dg.DagsterInstance.local_temp(str(tmp_path / "batched")) as batched:
        assert batched._get_event_batch_size() > 0  # on for SQLite without DAGSTER_EVENT_BATCH_SIZE
        with monkeypatch.context() as patch:
            patch.setattr(SqliteEventLogStorage, "store_event_batch", observed)
            batched_run = _backfill(batched)
        # The planned events (assets and the check) and the 28 materializations, one batch each.
        assert ["ASSET_MATERIALIZATION"] * len(DAYS) in batches
        assert any("ASSET_CHECK_EVALUATION_PLANNED" in batch for batch in batches)
        with monkeypatch.context() as env:
            env.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")  # Dagster's default: one by one
            with dg.DagsterInstance.local_temp(str(tmp_path / "single")) as single:
                assert single._get_event_batch_size() == 0
                single_run = _backfill(single)
                expected_run_rows = _run_shard(single.event_log_storage, single_run)
                expected_index = _index_state(single.event_log_storage)
                expected_last = single.get_latest_materialization_event(dg.AssetKey("raw_export"))

        storage = batched.event_log_storage
        assert _run_shard(storage, batched_run) == expected_run_rows
        assert _index_state(storage) == expected_index
        kinds = [row[1] for row in expected_run_rows]
        assert kinds.count("ASSET_MATERIALIZATION") == len(DAYS) + 1
        assert sum(tag[1] == '["raw_export"]' for tag in expected_index["tags"]) >= len(DAYS)

        # Every partition is materialized (what the nightly schedule and the sensor read) and the
        # asset's record points at the last partition's event, by its index storage id.
        key = dg.AssetKey("raw_export")
        assert batched.get_materialized_partitions(key) == set(DAYS)
        status = batched.get_status_by_partition(key, set(DAYS), days)
        assert set(status.values()) == {dg.AssetPartitionStatus.MATERIALIZED}
        last = batched.get_latest_materialization_event(key)
        assert last.dagster_event.partition == expected_last.dagster_event.partition == DAYS[-1]
        state = _index_state(storage)
        record = next(row for row in state["asset_keys"] if row[0] == '["raw_export"]')
        by_id = {row[0]: row for row in state["event_logs"]}
        assert by_id[record[1]][1:4] == ("ASSET_MATERIALIZATION", '["raw_export"]', DAYS[-1])
        assert record[2] == DAYS[-1]
        # The UI's run log reads the run shard: every event, in order, with its metadata.
        logs = batched.all_logs(batched_run, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        partitions = [e.dagster_event.partition for e in logs if e.dagster_event.asset_key == key]
        assert partitions == DAYS
        assert logs[0].asset_materialization.metadata["dates"] == dg.IntMetadataValue(len(DAYS))


def test_batching_is_on_only_for_sqlite_event_storage(tmp_path, monkeypatch):
    """Another event storage (Postgres on a server, here Dagster's consolidated SQLite one) keeps
    Dagster's default, one write per event; DAGSTER_EVENT_BATCH_SIZE still overrides ours."""
    relax_sqlite_fsync()
    consolidated = {"module": "dagster._core.storage.event_log",
                    "class": "ConsolidatedSqliteEventLogStorage",
                    "config": {"base_dir": str(tmp_path / "events")}}
    overrides = {"event_log_storage": consolidated}
    with dg.DagsterInstance.local_temp(str(tmp_path), overrides=overrides) as other:
        assert not isinstance(other.event_log_storage, SqliteEventLogStorage)
        assert other._get_event_batch_size() == 0
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "7")
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        assert isinstance(instance.event_log_storage, SqliteEventLogStorage)
        assert instance._get_event_batch_size() == 7


# --- a step's burst of events stored together (stored_together) ----------------------------------

MODELS = [f"model_{i}" for i in range(6)]


@dg.multi_asset(specs=[dg.AssetSpec(name) for name in MODELS],
                check_specs=[dg.AssetCheckSpec("rows_unique", asset=name) for name in MODELS])
def held_results(context: dg.AssetExecutionContext):
    """Like the dbt step: every result held, then yielded at once (an output and a check each)."""
    from orchestration.deploy.sqlite_sync import stored_together

    context.log.info("before the burst")  # stored on its own, as the step's other events
    with stored_together(context.instance, context.run.run_id):
        for name in MODELS:
            yield dg.Output(None, output_name=name, metadata={"rows": len(name)})
            yield dg.AssetCheckResult(asset_key=name, check_name="rows_unique", passed=name != "model_3",
                                      severity=dg.AssetCheckSeverity.WARN)


def test_a_held_burst_of_step_events_is_stored_in_one_batch_with_the_same_rows(tmp_path, monkeypatch):
    relax_sqlite_fsync()
    batches = []
    store_event_batch = SqliteEventLogStorage.store_event_batch

    def observed(storage, events):
        batches.append([e.dagster_event_type.value if e.is_dagster_event else "log" for e in events])
        return store_event_batch(storage, events)

    def materialize(instance):
        result = dg.materialize([held_results], instance=instance)
        assert result.success
        return result.run_id

    (tmp_path / "together").mkdir()
    (tmp_path / "single").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "together")) as together:
        with monkeypatch.context() as patch:
            patch.setattr(SqliteEventLogStorage, "store_event_batch", observed)
            run = materialize(together)
        with monkeypatch.context() as env:
            env.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")  # Dagster's default: one by one
            with dg.DagsterInstance.local_temp(str(tmp_path / "single")) as single:
                single_run = materialize(single)
                expected_run_rows = _run_shard(single.event_log_storage, single_run)
                expected_index = _index_state(single.event_log_storage)

        # The burst: 6 outputs, 6 materializations, 6 check outputs and evaluations, one batch.
        burst = next(b for b in batches if "ASSET_CHECK_EVALUATION" in b)
        assert burst.count("ASSET_MATERIALIZATION") == len(MODELS)
        assert burst.count("ASSET_CHECK_EVALUATION") == len(MODELS)
        assert "STEP_SUCCESS" not in burst  # stored after the block, as Dagster logs it
        assert _run_shard(together.event_log_storage, run) == expected_run_rows
        assert _index_state(together.event_log_storage) == expected_index
        # What the UI and the CLI read back: the checks' outcomes and each model's last materialization.
        evaluations = together.all_logs(run, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        failed = [e.dagster_event.event_specific_data.asset_key.to_user_string()
                  for e in evaluations if not e.dagster_event.event_specific_data.passed]
        assert failed == ["model_3"]
        latest = together.get_latest_materialization_event(dg.AssetKey("model_5"))
        assert latest.asset_materialization.metadata["rows"] == dg.IntMetadataValue(7)
        assert _stored_together_buffer_is_empty(together)


def _stored_together_buffer_is_empty(instance) -> bool:
    return not any(instance._event_buffer_impl.values())
