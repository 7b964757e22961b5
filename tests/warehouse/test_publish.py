"""Publishing is a copy into a fresh file plus one atomic rename (warehouse/publish.py)."""

import hashlib
from pathlib import Path

import duckdb
import pytest

from warehouse.publish import PublishError, publish, remove_stale_temp_files


def _work_db(path: Path, value: int) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts; create schema if not exists audit; create schema if not exists raw")
        con.execute("create or replace table marts.m as select ?::bigint as v, 1.5::decimal(18,2) as money", [value])
        con.execute("create or replace view marts.v as select v * 2 as doubled from marts.m")
        con.execute("create or replace table audit.ingested_files as select 'f.csv' as path")
        con.execute("create or replace table raw.orders as select 'secret' as x")
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_copies_marts_and_audit_only_with_types(tmp_path):
    work = _work_db(tmp_path / "w.work.duckdb", 1)
    result = publish(work, tmp_path / "w.duckdb", run_id="r1")
    assert result.tables["marts.m"] == 1 and result.tables["marts.v"] == 1
    with duckdb.connect(str(result.path), read_only=True) as con:
        assert con.execute("select v, money from marts.m").fetchall()[0] == (1, 1.5)
        assert con.execute("select data_type from information_schema.columns where column_name='money'").fetchall()[0][0] == "DECIMAL(18,2)"
        assert con.execute("select doubled from marts.v").fetchall()[0] == (2,)
        schemas = {s for (s,) in con.sql("select distinct table_schema from information_schema.tables").fetchall()}
        assert schemas == {"marts", "audit"}
        assert con.execute("select run_id from audit.published_at").fetchall()[0] == ("r1",)
    assert not Path(str(result.path) + ".wal").exists()


def test_reader_keeps_old_snapshot_and_new_connection_sees_new_data(tmp_path):
    published = tmp_path / "w.duckdb"
    work = _work_db(tmp_path / "w.work.duckdb", 1)
    publish(work, published)
    reader = duckdb.connect(str(published), read_only=True)
    _work_db(work, 2)
    publish(work, published)  # must not block on the open reader
    assert reader.execute("select v from marts.m").fetchall()[0] == (1,)
    reader.close()
    with duckdb.connect(str(published), read_only=True) as fresh:
        assert fresh.execute("select v from marts.m").fetchall()[0] == (2,)


def test_failed_publish_leaves_published_file_unchanged(tmp_path):
    published = tmp_path / "w.duckdb"
    work = _work_db(tmp_path / "w.work.duckdb", 1)
    publish(work, published)
    before = _sha(published)
    broken = tmp_path / "empty.work.duckdb"
    duckdb.connect(str(broken)).close()
    with pytest.raises(PublishError, match="marts"):
        publish(broken, published)
    assert _sha(published) == before
    assert not list(tmp_path.glob(".w.duckdb.publishing-*"))


def test_stale_temp_files_of_killed_publishes_are_removed(tmp_path):
    published = tmp_path / "w.duckdb"
    stale = tmp_path / ".w.duckdb.publishing-99999"
    stale.write_bytes(b"half-built")
    assert remove_stale_temp_files(published) == [stale]
    assert not stale.exists()
