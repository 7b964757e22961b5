"""Loading into DuckDB: DDL, idempotency, replacement, atomicity, roster, and privacy."""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal

import duckdb
import pytest

from ingestion import (
    FileRejected,
    FilesRejected,
    ensure_schema,
    ingest_all,
    ingest_file,
    ingest_landing_date,
    ingest_roster,
)
from ingestion import load as load_module

from .conftest import csv_text, row, write_rows

DAY = "2026-06-16"
D = dt.date(2026, 6, 16)

EXPECTED_TABLES = {
    ("raw", "accounts"), ("raw", "orders"), ("raw", "follows"), ("raw", "live_traffic"),
    ("audit", "ingested_files"), ("audit", "rejected_rows"), ("audit", "dq_results"), ("audit", "file_fingerprints"),
}


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def snapshot(con) -> dict:
    return {
        f"{s}.{t}": sorted(map(repr, q(con, f"select * from {s}.{t}")))
        for s, t in EXPECTED_TABLES
    }


def test_ensure_schema_exact_and_idempotent(con):
    ensure_schema(con)
    ensure_schema(con)
    tables = set(q(con, "select table_schema, table_name from information_schema.tables "
                        "where table_schema in ('raw', 'audit')"))
    assert tables == EXPECTED_TABLES
    cols = q(con, "select column_name, data_type, is_nullable from information_schema.columns "
                  "where table_schema = 'audit' and table_name = 'rejected_rows' order by ordinal_position")
    assert cols == [("export", "VARCHAR", "NO"), ("source_file", "VARCHAR", "NO"),
                    ("row_number", "BIGINT", "NO"), ("reasons", "VARCHAR[]", "NO"),
                    ("raw_record", "JSON", "NO"), ("landing_date", "DATE", "YES")]
    nullable = dict(q(con, "select column_name, is_nullable from information_schema.columns "
                           "where table_schema = 'raw' and table_name = 'orders'"))
    assert nullable["paid_at"] == "YES" and nullable["refund_amount"] == "NO"
    kinds = q(con, "select constraint_type from information_schema.table_constraints where "
                   "table_schema = 'audit' and table_name = 'ingested_files'")
    assert kinds.count(("PRIMARY KEY",)) == 1


def test_ingest_file_creates_schema_when_missing(con, landing):
    path = write_rows(landing / DAY / "orders.csv", "orders", [row("orders")])
    r = ingest_file(con, path, "orders", landing_root=landing)
    assert (r.status, r.rows_read, r.rows_accepted, r.rows_rejected) == ("loaded", 1, 1, 0)
    assert r.path == f"{DAY}/orders.csv" and r.landing_date == D


def test_loaded_values_and_lineage(con, landing):
    path = write_rows(landing / DAY / "orders_part2.csv", "orders", [
        row("orders", gmv="¥1,299.50", refund_amount="", paid_at="2026-06-16T02:00:00Z"),
        row("orders", order_id="o2", quantity="0"),
    ])
    ingest_file(con, path, "orders", landing_root=landing)
    got = q(con, "select order_id, gmv, refund_amount, paid_at, _source_file, _landing_date, "
                 "_row_number from raw.orders")
    assert got == [("o1", Decimal("1299.50"), Decimal("0.00"), dt.datetime(2026, 6, 16, 10),
                    f"{DAY}/orders_part2.csv", D, 1)]
    rej = q(con, "select export, source_file, row_number, reasons, raw_record::varchar, landing_date "
                 "from audit.rejected_rows")
    assert rej[0][:4] == ("orders", f"{DAY}/orders_part2.csv", 2, ["quantity < 1"])
    assert json.loads(rej[0][4])["quantity"] == "0" and rej[0][5] == D
    audit = q(con, "select path, export, landing_date, rows_read, rows_accepted, rows_rejected "
                   "from audit.ingested_files")
    assert audit == [(f"{DAY}/orders_part2.csv", "orders", D, 2, 1, 1)]


def test_reingest_same_content_changes_nothing(con, landing):
    path = write_rows(landing / DAY / "orders.csv", "orders", [row("orders"), row("orders", order_id="")])
    first = ingest_file(con, path, "orders", landing_root=landing)
    before = snapshot(con)
    ingested_at = q(con, "select ingested_at from audit.ingested_files")
    again = ingest_file(con, path, "orders", landing_root=landing)
    assert again.status == "unchanged"
    assert (again.rows_read, again.rows_accepted, again.rows_rejected, again.sha256) == (
        first.rows_read, first.rows_accepted, first.rows_rejected, first.sha256)
    assert snapshot(con) == before
    assert q(con, "select ingested_at from audit.ingested_files") == ingested_at


def test_changed_file_replaces_its_earlier_rows(con, landing):
    path = write_rows(landing / DAY / "orders.csv", "orders",
                      [row("orders"), row("orders", order_id="o2"), row("orders", order_id="o3", gmv="x")])
    other = write_rows(landing / DAY / "orders_b.csv", "orders", [row("orders", order_id="b1", gmv="y")])
    ingest_file(con, path, "orders", landing_root=landing)
    ingest_file(con, other, "orders", landing_root=landing)
    write_rows(path, "orders", [row("orders", order_id="o2", status="refunded", refund_amount="100"),
                                row("orders", order_id="o4", status="bogus")])
    r = ingest_file(con, path, "orders", landing_root=landing)
    assert (r.status, r.rows_read, r.rows_accepted, r.rows_rejected) == ("replaced", 2, 1, 1)
    assert q(con, "select order_id, status, _row_number from raw.orders") == [("o2", "refunded", 1)]
    assert sorted(q(con, "select source_file, row_number from audit.rejected_rows")) == [
        (f"{DAY}/orders.csv", 2), (f"{DAY}/orders_b.csv", 1)]
    assert q(con, "select rows_read from audit.ingested_files where path = ?", [f"{DAY}/orders.csv"]) == [(2,)]


def test_rejected_file_touches_nothing_and_keeps_earlier_load(con, landing):
    path = write_rows(landing / DAY / "orders.csv", "orders", [row("orders")])
    ingest_file(con, path, "orders", landing_root=landing)
    before = snapshot(con)
    path.write_bytes(csv_text(["order_id"], [["o1"]]).encode())
    with pytest.raises(FileRejected, match="required columns"):
        ingest_file(con, path, "orders", landing_root=landing)
    assert snapshot(con) == before


def test_failure_mid_write_rolls_back_the_whole_file(con, landing, monkeypatch):
    path = write_rows(landing / DAY / "orders.csv", "orders", [row("orders"), row("orders", order_id="")])
    ensure_schema(con)
    before = snapshot(con)
    real = load_module._insert_frame

    def failing(con_, view, table, columns, frame):
        if table == "audit.rejected_rows":
            raise RuntimeError("disk full")
        return real(con_, view, table, columns, frame)

    monkeypatch.setattr(load_module, "_insert_frame", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(con, path, "orders", landing_root=landing)
    assert snapshot(con) == before  # the accepted row inserted before the failure is gone
    monkeypatch.setattr(load_module, "_insert_frame", real)
    assert ingest_file(con, path, "orders", landing_root=landing).status == "loaded"


def test_ingest_all_loads_good_files_and_reports_bad_ones(con, landing):
    write_rows(landing / "accounts.csv", "accounts", [row("accounts")])
    write_rows(landing / DAY / "orders.csv", "orders", [row("orders")])
    write_rows(landing / DAY / "follows.csv", "follows", [row("follows")])
    (landing / DAY / "live_traffic.csv").write_bytes(b"")
    write_rows(landing / "2026-06-17" / "orders.csv", "orders", [row("orders", order_id="o9")])
    seen = []
    with pytest.raises(FilesRejected) as info:
        ingest_all(con, landing, progress=lambda done, total, item: seen.append((done, total, item)))
    assert str(info.value) == f"{DAY}/live_traffic.csv: empty file (no header row)"
    assert isinstance(info.value, FileRejected)
    summary = info.value.summary
    assert summary.roster.status == "loaded" and len(summary.files) == 3
    assert [d for d, _, _ in seen] == [1, 2, 3, 4, 5] and {t for _, t, _ in seen} == {5}
    assert sum(isinstance(i, FileRejected) for _, _, i in seen) == 1
    assert q(con, "select count(*) from raw.orders") == [(2,)]
    assert q(con, "select count(*) from audit.ingested_files") == [(4,)]

    (landing / DAY / "live_traffic.csv").unlink()
    again = ingest_all(con, landing)
    assert again.count("unchanged") == 4 and again.count("loaded") == 0
    assert again.rows_read == 4 and again.rows_accepted == 4


def test_ingest_all_only_some_dates(con, landing):
    write_rows(landing / DAY / "orders.csv", "orders", [row("orders")])
    write_rows(landing / "2026-06-17" / "orders.csv", "orders", [row("orders")])
    s = ingest_all(con, landing, dates=["2026-06-17"])
    assert [r.path for r in s.files] == ["2026-06-17/orders.csv"] and s.roster is None


def test_several_rejections_are_all_named(con, landing):
    (landing / DAY).mkdir()
    (landing / DAY / "orders.csv").write_bytes(b"")
    (landing / DAY / "follows.csv").write_bytes(b"event_id\n1\n")
    with pytest.raises(FilesRejected) as info:
        ingest_landing_date(con, landing, D)
    assert len(info.value.errors) == 2
    msg = str(info.value)
    assert f"{DAY}/orders.csv: empty file" in msg and f"{DAY}/follows.csv: required columns" in msg
    assert "\n" not in msg


def test_ingest_landing_date_by_export(con, landing):
    write_rows(landing / DAY / "orders.csv", "orders", [row("orders")])
    write_rows(landing / DAY / "follows.csv", "follows", [row("follows"), row("follows", event_id="e2")])
    write_rows(landing / DAY / "live_traffic.csv", "live_traffic", [row("live_traffic")])
    res = ingest_landing_date(con, landing, DAY, exports=["follows"])
    assert [(r.export, r.rows_accepted) for r in res] == [("follows", 2)]
    res = ingest_landing_date(con, landing, D)
    assert [(r.export, r.status) for r in res] == [
        ("orders", "loaded"), ("follows", "unchanged"), ("live_traffic", "loaded")]
    assert ingest_landing_date(con, landing, "2026-01-01") == []
    with pytest.raises(ValueError):
        ingest_landing_date(con, landing, D, exports=["accounts"])


def test_roster_latest_replaces_whole(con, landing):
    assert ingest_roster(con, landing) is None
    write_rows(landing / "accounts.csv", "accounts", [
        row("accounts"), row("accounts", account_id="a2", role="门店号", city="杭州"),
        row("accounts", account_id="a3", role="boss"),
    ])
    r = ingest_roster(con, landing)
    assert (r.status, r.path, r.landing_date, r.rows_accepted, r.rows_rejected) == (
        "loaded", "accounts.csv", None, 2, 1)
    assert q(con, "select export, row_number, reasons from audit.rejected_rows") == [
        ("accounts", 3, ["role: unknown value 'boss'"])]
    assert q(con, "select _landing_date from raw.accounts") == [(None,), (None,)]
    assert ingest_roster(con, landing).status == "unchanged"

    write_rows(landing / "accounts_v2.csv", "accounts", [row("accounts", account_id="z1")])
    r = ingest_roster(con, landing)
    assert (r.status, r.path) == ("replaced", "accounts_v2.csv")
    assert q(con, "select account_id, _source_file from raw.accounts") == [("z1", "accounts_v2.csv")]
    assert q(con, "select count(*) from audit.rejected_rows") == [(0,)]
    assert q(con, "select path from audit.ingested_files") == [("accounts_v2.csv",)]


def test_roster_duplicates_are_all_loaded_for_staging_to_dedupe(con, landing):
    write_rows(landing / "accounts.csv", "accounts", [
        row("accounts", account_name="first"), row("accounts", account_name="second")])
    ingest_roster(con, landing)
    assert q(con, "select account_name, _row_number from raw.accounts order by _row_number") == [
        ("first", 1), ("second", 2)]


PHONES = ["13800138000", "13912345678", "+86 137-0000-1111", "15000009999"]


def test_personal_data_never_reaches_the_warehouse(tmp_path, landing):
    """Receiver details in every spelling are dropped at read time, even from rejected rows."""
    header = ["订单号", "买家ID", "账号ID", "流量来源", "数量", "实付金额", "订单状态", "支付时间",
              "更新时间", "收货人", "手机号", "联系电话", "收货地址", "receiver_phone", "Receiver_Name"]
    base = ["b1", "a1", "关注页", "1", "¥10.00", "已支付", "2026-06-16 10:00:00", "2026-06-16 10:00:00"]
    rows = [
        ["o1", *base, "张三", PHONES[0], PHONES[1], "北京市朝阳区建国路1号", PHONES[0], "Zhang San"],
        ["o2", *base[:3], "0", "-5", *base[5:], "李四", PHONES[2], PHONES[3], "上海市某路2号", PHONES[2], "Li Si"],
        ["", "", "", "", "", "", "", "", "", "王五", PHONES[3], "", "", PHONES[1], ""],  # only PII
    ]
    (landing / DAY).mkdir()
    (landing / DAY / "orders.csv").write_bytes(csv_text(header, rows).encode("gb18030"))
    write_rows(landing / "accounts.csv", "accounts", [row("accounts")])
    db = tmp_path / "pii.duckdb"
    con = duckdb.connect(str(db))
    s = ingest_all(con, landing)
    assert s.files[0].rows_accepted == 1 and s.files[0].rows_rejected == 1

    needles = [*PHONES, "张三", "李四", "王五", "建国路", "Zhang San", "收货", "手机号", "联系电话", "receiver"]
    cols = q(con, "select table_schema, table_name, column_name from information_schema.columns "
                  "where table_schema not in ('information_schema', 'pg_catalog')")
    assert {(s_, t) for s_, t, _ in cols} >= EXPECTED_TABLES
    for schema, table, column in cols:
        values = [v for (v,) in q(con, f'select "{column}"::varchar from {schema}.{table}')]
        for value in values:
            for needle in needles:
                assert needle not in (value or ""), (schema, table, column, value)
    raw_records = [json.loads(v) for (v,) in q(con, "select raw_record::varchar from audit.rejected_rows")]
    assert raw_records and all(set(r) <= set(row("orders")) for r in raw_records)
    assert "o2" in json.dumps(raw_records)
    con.execute("checkpoint")
    con.close()
    blob = db.read_bytes()  # belt and braces: not in the file's bytes either
    for needle in PHONES:
        assert needle.encode() not in blob


# ---------------------------------------------------------------- pending landing dates


def _pending_landing(tmp_path):
    from ingestion.load import ensure_schema, ingest_all, pending_landing_dates

    root = tmp_path / "pending"
    header = "order_id,buyer_id,account_id,traffic_source,quantity,gmv,status,paid_at,updated_at\n"
    for day in ("2026-06-15", "2026-06-16"):
        (root / day).mkdir(parents=True)
        (root / day / "orders.csv").write_text(
            header + f"o-{day},b1,A1,follow,1,10.00,paid,{day} 10:00:00,{day} 10:00:00\n")
    con = duckdb.connect(str(tmp_path / "pending.duckdb"))
    ensure_schema(con)
    return root, con, ingest_all, pending_landing_dates


def test_pending_dates_are_the_new_or_changed_ones_and_untouched_files_are_not_read(tmp_path, monkeypatch):
    import datetime as dt

    import ingestion.load as load

    root, con, ingest_all, pending_landing_dates = _pending_landing(tmp_path)
    assert pending_landing_dates(con, root) == [dt.date(2026, 6, 15), dt.date(2026, 6, 16)]
    ingest_all(con, root)
    assert pending_landing_dates(con, root) == []

    def refuse(path):
        raise AssertionError(f"{path} was read although it is untouched")

    monkeypatch.setattr(load, "read_bytes", refuse)
    assert pending_landing_dates(con, root) == []
    monkeypatch.undo()

    # Touched but identical content: read, hashed, still not pending.
    target = root / "2026-06-16" / "orders.csv"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    assert pending_landing_dates(con, root) == []
    # Changed content, and a brand-new day.
    target.write_text(target.read_text().replace("10.00", "12.00"))
    (root / "2026-06-17").mkdir()
    (root / "2026-06-17" / "orders.csv").write_text((root / "2026-06-15" / "orders.csv").read_text())
    assert pending_landing_dates(con, root) == [dt.date(2026, 6, 16), dt.date(2026, 6, 17)]


def test_a_file_whose_gate_failed_is_pending_again_though_untouched(tmp_path):
    import datetime as dt

    root, con, ingest_all, pending_landing_dates = _pending_landing(tmp_path)
    ingest_all(con, root)
    from ingestion.gates import record_verdicts

    record_verdicts(con, failed=["2026-06-15/orders.csv"])
    assert pending_landing_dates(con, root) == [dt.date(2026, 6, 15)]


def test_a_file_loaded_for_gates_stays_pending_until_its_verdict_is_recorded(tmp_path):
    """An interruption between the load and the gates must not let the next run skip the file."""
    import datetime as dt

    from ingestion.gates import record_verdicts, unverified_files
    from ingestion.load import ingest_files

    root, con, _ingest_all, pending_landing_dates = _pending_landing(tmp_path)
    jobs = [(p, "orders") for p in sorted(root.glob("2026-06-1*/orders.csv"))]
    results, _ = ingest_files(con, jobs, root, awaiting_gates=True)
    assert pending_landing_dates(con, root) == sorted({r.landing_date for r in results})
    assert {path for path, verdict in unverified_files(con)} == {r.path for r in results}
    # Loaded again (not 'unchanged') on the next call: its gates run again.
    again, _ = ingest_files(con, jobs, root, awaiting_gates=True)
    assert {r.status for r in again} == {"replaced"}
    record_verdicts(con, passed=[r.path for r in again])
    assert pending_landing_dates(con, root) == [] and unverified_files(con) == []
    assert {r.status for r in ingest_files(con, jobs, root, awaiting_gates=True)[0]} == {"unchanged"}
    assert dt.date(2026, 6, 15) in {r.landing_date for r in results}


# ---------------------------------------------------------------- chunked loading


def _many_files(landing):
    """Five orders files over two dates (one with a rejected row, one header-only) and a rejected file."""
    write_rows(landing / DAY / "orders_a.csv", "orders", [row("orders", order_id=f"a{i}") for i in range(3)])
    write_rows(landing / DAY / "orders_b.csv", "orders", [row("orders", order_id="b1"), row("orders", gmv="x")])
    write_rows(landing / DAY / "orders_c.csv", "orders", [])
    (landing / DAY / "orders_d.csv").write_bytes(b"")
    write_rows(landing / "2026-06-17" / "orders.csv", "orders", [row("orders", order_id=f"n{i}") for i in range(4)])
    return [(landing / DAY / f"orders_{x}.csv", "orders") for x in "abcd"] + [
        (landing / "2026-06-17" / "orders.csv", "orders")]


@pytest.mark.parametrize("chunk_rows", [1, 3, 1_000_000])
def test_chunks_span_files_and_dates_and_keep_per_file_figures(tmp_path, landing, chunk_rows):
    jobs = _many_files(landing)
    con = duckdb.connect(str(tmp_path / f"chunks{chunk_rows}.duckdb"))
    batches = []
    results, errors = load_module.ingest_files(
        con, jobs, landing, chunk_rows=chunk_rows, on_batch=lambda e, frame: batches.append((e, frame.height)))
    assert [str(e) for e in errors] == [f"{DAY}/orders_d.csv: empty file (no header row)"]
    # Results in the order of the jobs, with each file's own figures whatever the chunking.
    assert [(r.path, r.status, r.rows_read, r.rows_accepted, r.rows_rejected) for r in results] == [
        (f"{DAY}/orders_a.csv", "loaded", 3, 3, 0), (f"{DAY}/orders_b.csv", "loaded", 2, 1, 1),
        (f"{DAY}/orders_c.csv", "loaded", 0, 0, 0), ("2026-06-17/orders.csv", "loaded", 4, 4, 0)]
    assert q(con, "select path, rows_read, rows_accepted, rows_rejected, landing_date from audit.ingested_files "
                  "order by path") == [
        (f"{DAY}/orders_a.csv", 3, 3, 0, D), (f"{DAY}/orders_b.csv", 2, 1, 1, D), (f"{DAY}/orders_c.csv", 0, 0, 0, D),
        ("2026-06-17/orders.csv", 4, 4, 0, dt.date(2026, 6, 17))]
    assert q(con, "select _source_file, _landing_date, count(*), min(_row_number), max(_row_number) "
                  "from raw.orders group by all order by 1") == [
        (f"{DAY}/orders_a.csv", D, 3, 1, 3), (f"{DAY}/orders_b.csv", D, 1, 1, 1),
        ("2026-06-17/orders.csv", dt.date(2026, 6, 17), 4, 1, 4)]
    assert q(con, "select source_file, row_number, landing_date from audit.rejected_rows") == [
        (f"{DAY}/orders_b.csv", 2, D)]
    # The hook saw every accepted row exactly once, one call per chunk.
    assert sum(n for _, n in batches) == 8 and {e for e, _ in batches} == {"orders"}
    if chunk_rows == 1_000_000:
        assert len(batches) == 1
    assert q(con, "select count(*) from audit.file_fingerprints") == [(4,)]


def test_a_changed_file_in_a_chunk_replaces_only_its_own_rows(tmp_path, landing):
    jobs = _many_files(landing)[:2]
    con = duckdb.connect(str(tmp_path / "replace.duckdb"))
    load_module.ingest_files(con, jobs, landing, chunk_rows=100)
    write_rows(landing / DAY / "orders_b.csv", "orders", [row("orders", order_id="b9")])
    results, _ = load_module.ingest_files(con, jobs, landing, chunk_rows=100)
    assert [(r.path, r.status) for r in results] == [(f"{DAY}/orders_a.csv", "unchanged"),
                                                     (f"{DAY}/orders_b.csv", "replaced")]
    assert q(con, "select order_id from raw.orders order by 1") == [("a0",), ("a1",), ("a2",), ("b9",)]
    assert q(con, "select count(*) from audit.rejected_rows") == [(0,)]
    assert q(con, "select status from audit.ingested_files order by path") == [("loaded",), ("replaced",)]


def test_an_error_on_a_later_chunk_keeps_committed_chunks_and_stops_the_reader(tmp_path, landing):
    import threading

    jobs = [j for j in _many_files(landing) if not j[0].name.endswith("_d.csv")]
    con = duckdb.connect(str(tmp_path / "stop.duckdb"))
    threads_before = threading.active_count()
    calls = []

    def fail_on_second(export, frame):
        calls.append(frame.height)
        if len(calls) == 2:
            raise RuntimeError("GX blew up")

    with pytest.raises(RuntimeError, match="GX blew up"):
        load_module.ingest_files(con, jobs, landing, chunk_rows=3, on_batch=fail_on_second)
    assert threading.active_count() == threads_before  # the reader thread is gone
    # Chunk 1 (orders_a, 3 rows) committed; chunk 2 never written, so its files stay pending.
    assert q(con, "select path from audit.ingested_files") == [(f"{DAY}/orders_a.csv",)]
    assert q(con, "select count(*) from raw.orders") == [(3,)]
    results, errors = load_module.ingest_files(con, jobs, landing, chunk_rows=3)
    assert not errors and [r.status for r in results] == ["unchanged", "loaded", "loaded", "loaded"]
    assert q(con, "select count(*) from raw.orders") == [(8,)]


def test_an_unexpected_read_error_in_the_reader_thread_reaches_the_caller(tmp_path, landing, monkeypatch):
    jobs = _many_files(landing)[:2]
    con = duckdb.connect(str(tmp_path / "oserror.duckdb"))
    real = load_module.read_bytes

    def flaky(path):
        if path.name == "orders_b.csv":
            raise PermissionError(f"permission denied: {path}")
        return real(path)

    monkeypatch.setattr(load_module, "read_bytes", flaky)
    with pytest.raises(PermissionError, match="orders_b.csv"):
        load_module.ingest_files(con, jobs, landing, chunk_rows=1)
    assert q(con, "select count(*) from audit.ingested_files") == [(1,)]
