"""Great Expectations suites over accepted-row batches (ingestion/quality.py).

One GX context is built for the whole module (the ``gx_runtime`` fixture): importing GX costs
seconds, and the suites are cached per process anyway.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion import quality as q

LANDING = date(2026, 6, 16)
D = datetime(2026, 6, 16)
MONEY = pl.Decimal(18, 2)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def gx_runtime():
    return q._get_runtime()


def _orders(n: int = 40) -> pl.DataFrame:
    statuses = ["paid", "shipped", "completed", "refunded", "cancelled"]
    sources = ["follow", "discovery", "nearby", "search", "short_video", "paid", "other"]
    status = [statuses[i % 5] for i in range(n)]
    paid = [None if s == "cancelled" else D + timedelta(minutes=17 * i) for i, s in enumerate(status)]
    gmv = [f"{100 + i}.50" for i in range(n)]
    return pl.DataFrame(
        {
            "order_id": [f"O{i:05d}" for i in range(n)],
            "buyer_id": [f"B{i % 7}" for i in range(n)],
            "account_id": [f"A{i % 3}" for i in range(n)],
            "live_session_id": [f"S{i % 4}" if i % 2 else None for i in range(n)],
            "traffic_source": [sources[i % 7] for i in range(n)],
            "product_id": [f"P{i}" for i in range(n)],
            "category": [None if i % 3 else "美妆" for i in range(n)],
            "quantity": [1 + i % 3 for i in range(n)],
            "gmv": pl.Series(gmv).cast(MONEY),
            "refund_amount": pl.Series(
                [g if s == "refunded" else "0" for g, s in zip(gmv, status)]).cast(MONEY),
            "status": status,
            "paid_at": pl.Series(paid, dtype=pl.Datetime("us")),
            "updated_at": [D + timedelta(minutes=17 * i + 5) for i in range(n)],
        },
        schema_overrides={"quantity": pl.Int64},
    )


def _accounts() -> pl.DataFrame:
    return pl.DataFrame({
        "account_id": ["A0", "A1", "A2", "A3"],
        "account_name": ["旗舰店", "北京门店", "主播小王", "分销一号"],
        "brand": ["BrandX"] * 4,
        "role": ["flagship", "store", "anchor", "distributor"],
        "city": [None, "北京", None, None],
        "parent_account_id": [None, "A0", "A0", "A0"],
        "opened_on": [date(2024, 1, 1), None, date(2025, 3, 8), None],
    })


def _follows(n: int = 30) -> pl.DataFrame:
    return pl.DataFrame({
        "event_id": [f"E{i}" for i in range(n)],
        "user_id": [f"B{i % 9}" for i in range(n)],
        "account_id": [f"A{i % 3}" for i in range(n)],
        "action": ["unfollow" if i % 5 == 0 else "follow" for i in range(n)],
        "traffic_source": ["follow", "discovery", "other"] * (n // 3),
        "live_session_id": [None] * n,
        "occurred_at": [D + timedelta(minutes=31 * i) for i in range(n)],
    }, schema_overrides={"live_session_id": pl.Utf8})


def _live(n_sessions: int = 6) -> pl.DataFrame:
    rows = []
    for s in range(n_sessions):
        start = D + timedelta(hours=2 * s)
        end = None if s == n_sessions - 1 else start + timedelta(hours=3)  # last one still live
        for src, viewers in (("follow", 120), ("discovery", 900), ("paid", 300)):
            rows.append((f"S{s}", f"A{s % 3}", start, end, src, viewers, viewers * 240))
    return pl.DataFrame(rows, orient="row", schema={
        "live_session_id": pl.Utf8, "account_id": pl.Utf8, "started_at": pl.Datetime("us"),
        "ended_at": pl.Datetime("us"), "traffic_source": pl.Utf8, "viewers": pl.Int64,
        "watch_seconds": pl.Int64,
    })


CLEAN = {"accounts": _accounts, "orders": _orders, "follows": _follows, "live_traffic": _live}


def _by_name(results):
    return {r.expectation: r for r in results}


def test_suite_names_cover_every_export():
    assert q.suite_names() == ["accounts", "orders", "follows", "live_traffic"]


def test_importing_the_module_does_not_import_great_expectations():
    code = "import sys, ingestion.quality; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("export", list(CLEAN))
def test_clean_batch_passes_every_expectation(export):
    results = q.validate_batch(export, CLEAN[export](), landing_date=LANDING)
    failed = [r for r in results if not r.success]
    assert failed == []
    assert {r.severity for r in results} == {"error", "warn"}
    assert all(r.suite == export and r.observed_value for r in results)
    assert len({r.expectation for r in results}) == len(results)


def test_reversed_updated_at_and_paid_at_blocks():
    swap = pl.col("paid_at").is_not_null()  # cancelled orders have no paid_at to swap with
    df = _orders(40).with_columns(
        updated_at=pl.when(swap).then(pl.col("paid_at")).otherwise(pl.col("updated_at")),
        paid_at=pl.when(swap).then(pl.col("updated_at")).otherwise(pl.col("paid_at")),
    )
    results = q.validate_batch("orders", df, landing_date=LANDING)
    blocking = q.blocking_failures(results)
    names = [r.expectation for r in blocking]
    assert names == ["orders_updated_at_not_before_paid_at_for_99pct_of_orders"]
    r = blocking[0]
    assert r.severity == "error" and r.column_name == "updated_at"
    assert r.observed_value.startswith("32 of 32 rows unexpected (100.00%)")  # 8 cancelled skipped


def test_a_few_reversed_pairs_within_1pct_are_tolerated():
    df = _orders(400)
    df = df.with_columns(
        updated_at=pl.when(pl.col("order_id") == "O00001")
        .then(pl.col("paid_at") - timedelta(hours=1)).otherwise(pl.col("updated_at"))
    )
    r = _by_name(q.validate_batch("orders", df, landing_date=LANDING))[
        "orders_updated_at_not_before_paid_at_for_99pct_of_orders"]
    assert r.success and r.observed_value.startswith("1 of 320 rows unexpected")


@pytest.mark.parametrize("export", list(CLEAN))
def test_empty_batch_warns_but_does_not_block(export):
    results = q.validate_batch(export, CLEAN[export]().head(0), landing_date=LANDING)
    assert q.blocking_failures(results) == []
    failed = [(r.expectation, r.severity, r.observed_value) for r in results if not r.success]
    assert failed == [(f"{export}_batch_is_not_empty", "warn", "0 rows")]


def test_timestamps_from_the_future_block():
    df = _orders(40).with_columns(
        updated_at=pl.when(pl.col("order_id") == "O00003")
        .then(datetime(2026, 6, 18, 0, 0, 1)).otherwise(pl.col("updated_at"))
    )
    results = _by_name(q.validate_batch("orders", df, landing_date=LANDING))
    r = results["orders_updated_at_not_after_landing_date_plus_2_days"]
    assert not r.success and r.severity == "error"
    assert r.observed_value == "latest 2026-06-18 00:00:01; limit 2026-06-18 00:00:00"
    # the same rows are fine one landing day later
    later = _by_name(q.validate_batch("orders", df, landing_date=LANDING + timedelta(days=1)))
    assert later["orders_updated_at_not_after_landing_date_plus_2_days"].success


def test_landing_date_falls_back_to_the_lineage_column():
    df = _follows().with_columns(
        occurred_at=pl.col("occurred_at") + timedelta(days=3), _landing_date=pl.lit(LANDING))
    results = _by_name(q.validate_batch("follows", df))
    assert not results["follows_occurred_at_not_after_landing_date_plus_2_days"].success


def test_row_level_contract_breaks_block_with_examples():
    df = _orders(40).with_columns(
        refund_amount=pl.when(pl.col("order_id") == "O00002")
        .then(pl.col("gmv") + 1).otherwise(pl.col("refund_amount")),
        status=pl.when(pl.col("order_id") == "O00005").then(pl.lit("已退款"))
        .otherwise(pl.col("status")),
        buyer_id=pl.when(pl.col("order_id") == "O00006").then(None).otherwise(pl.col("buyer_id")),
    )
    blocking = _by_name(q.blocking_failures(q.validate_batch("orders", df, landing_date=LANDING)))
    assert set(blocking) == {"orders_refund_at_most_gmv", "orders_status_is_canonical",
                             "orders_buyer_id_is_not_null"}
    assert blocking["orders_refund_at_most_gmv"].observed_value == \
        "1 of 40 rows unexpected (2.50%); e.g. (102.5, 103.5)"
    assert blocking["orders_status_is_canonical"].observed_value.endswith("e.g. 已退款")


def test_live_traffic_checks():
    df = _live().with_columns(
        ended_at=pl.when(pl.col("live_session_id") == "S1")
        .then(pl.col("started_at") - timedelta(minutes=1)).otherwise(pl.col("ended_at")),
    )
    results = _by_name(q.validate_batch("live_traffic", df, landing_date=LANDING))
    assert not results["live_traffic_ended_at_not_before_started_at"].success
    # every session still live: no ended_at at all is not "from the future"
    all_live = _live().with_columns(ended_at=pl.lit(None, dtype=pl.Datetime("us")))
    assert q.blocking_failures(q.validate_batch("live_traffic", all_live,
                                                landing_date=LANDING)) == []


def test_batch_level_warnings_do_not_block():
    orders = _orders(40).with_columns(status=pl.lit("refunded"))
    o = _by_name(q.validate_batch("orders", orders, landing_date=LANDING))
    assert not o["orders_refunded_share_at_most_50pct"].success
    assert o["orders_refunded_share_at_most_50pct"].severity == "warn"
    assert o["orders_refunded_share_at_most_50pct"].observed_value.startswith(
        "status = refunded in 40 of 40 rows (100.00%")

    live = _live().with_columns(watch_seconds=pl.col("viewers") * 5 * 3600)  # 5 h per viewer
    results = q.validate_batch("live_traffic", live, landing_date=LANDING)
    assert q.blocking_failures(results) == []
    r = _by_name(results)["live_traffic_avg_watch_per_viewer_at_most_4h"]
    assert not r.success and r.observed_value.startswith("avg watch per viewer 18000.0 s")


def test_missing_column_fails_the_schema_check_without_raising():
    results = q.validate_batch("orders", _orders().drop("gmv", "category"), landing_date=LANDING)
    blocking = _by_name(q.blocking_failures(results))
    assert blocking["orders_has_all_contract_columns"].observed_value == \
        "missing columns: category, gmv"
    assert blocking["orders_gmv_is_not_negative"].observed_value.startswith("not evaluated")


def test_large_batches_are_sampled_but_error_counts_stay_exact(monkeypatch):
    monkeypatch.setattr(q, "MAX_VALIDATED_ROWS", 50)
    df = _orders(400).with_columns(  # the sample keeps every 8th row: O00003 is not in it
        quantity=pl.when(pl.col("order_id") == "O00003").then(0).otherwise(pl.col("quantity")))
    results = _by_name(q.validate_batch("orders", df, landing_date=LANDING))
    r = results["orders_quantity_is_at_least_1"]
    assert not r.success
    assert r.observed_value == "1 of 400 rows unexpected (0.25%) [exact, whole batch]"
    assert results["orders_batch_is_not_empty"].observed_value == "400 rows"
    assert results["orders_refunded_share_at_most_50pct"].observed_value == \
        "status = refunded in 80 of 400 rows (20.00%; limit 50%) [exact, whole batch]"


def test_a_warn_share_the_sample_cannot_see_is_counted_over_the_whole_batch(monkeypatch):
    monkeypatch.setattr(q, "MAX_VALIDATED_ROWS", 50)
    # Every row outside the sample (every 8th row from the first) is refunded: 350 of 400.
    df = _orders(400).with_row_index("i").with_columns(
        status=pl.when(pl.col("i") % 8 != 0).then(pl.lit("refunded")).otherwise(pl.lit("paid"))).drop("i")
    warn = _by_name(q.validate_batch("orders", df, landing_date=LANDING))["orders_refunded_share_at_most_50pct"]
    assert not warn.success and warn.severity == "warn"
    assert warn.observed_value == "status = refunded in 350 of 400 rows (87.50%; limit 50%) [exact, whole batch]"
    # Table-level checks without a row rule still say what GX saw.
    live = pl.concat([_live()] * 20)
    watch = _by_name(q.validate_batch("live_traffic", live, landing_date=LANDING))[
        "live_traffic_avg_watch_per_viewer_at_most_4h"]
    assert watch.success and watch.observed_value.endswith(f"[GX on an evenly spaced sample of 45 of {live.height} rows]")


def test_results_are_deterministic():
    df = _orders(60).with_columns(status=pl.lit("refunded"))
    assert q.validate_batch("orders", df, landing_date=LANDING) == \
        q.validate_batch("orders", df, landing_date=LANDING)


def test_unknown_export_is_rejected():
    with pytest.raises(ValueError, match="no data-quality suite"):
        q.validate_batch("refunds", pl.DataFrame())


def test_store_results_writes_audit_rows(tmp_path):
    results = q.validate_batch("orders", _orders().head(0), landing_date=LANDING)
    results += q.validate_batch("live_traffic", _live(), landing_date=LANDING)
    path = tmp_path / "dq.duckdb"
    with duckdb.connect(str(path)) as con:
        q.store_results(con, "run-1", results)
        q.store_results(con, "run-2", results[:2])
        q.store_results(con, "run-3", [])
    with duckdb.connect(str(path), read_only=True) as con:
        cols = con.sql("select column_name, data_type from information_schema.columns "
                       "where table_schema = 'audit' and table_name = 'dq_results' "
                       "order by ordinal_position").fetchall()
        assert cols == [("run_id", "VARCHAR"), ("suite", "VARCHAR"), ("expectation", "VARCHAR"),
                        ("column_name", "VARCHAR"), ("severity", "VARCHAR"),
                        ("success", "BOOLEAN"), ("observed_value", "VARCHAR"),
                        ("checked_at", "TIMESTAMP")]
        counts = dict(con.sql("select run_id, count(*) from audit.dq_results group by 1").fetchall())
        assert counts == {"run-1": len(results), "run-2": 2}
        row = con.sql("select suite, column_name, severity, success, observed_value, "
                      "checked_at is not null from audit.dq_results where run_id = 'run-1' "
                      "and expectation = 'orders_batch_is_not_empty'").fetchall()[0]
        assert row == ("orders", None, "warn", False, "0 rows", True)
        observed = con.sql("select observed_value from audit.dq_results where expectation = "
                           "'live_traffic_ended_at_not_before_started_at' and run_id = 'run-1'"
                           ).fetchall()[0][0]
        assert observed == "0 of 15 rows unexpected (0.00%)"


def test_blocking_failures_keeps_only_failed_errors():
    mk = lambda sev, ok: q.DQResult("orders", f"x_{sev}_{ok}", None, sev, ok, "")  # noqa: E731
    rs = [mk("error", True), mk("error", False), mk("warn", False), mk("warn", True)]
    assert q.blocking_failures(rs) == [rs[1]]


def test_background_process_gives_the_in_process_results_in_order():
    bad = _orders().with_columns(pl.col("updated_at").dt.offset_by("-10d"))
    batches = [("orders", _orders()), ("orders", bad), ("accounts", _accounts()),
               ("orders", _orders(0))]
    expected = [r for export, df in batches for r in q.validate_batch(export, df)]
    worker = q.start_background_process()
    try:
        assert q.start_background_process() is worker and q.background_process() is worker
        for export, df in batches:
            worker.submit(export, df)
        assert worker.results() == expected
        assert worker.results() == []  # handed out once
        worker.submit("nope", _orders())
        with pytest.raises(RuntimeError, match="Great Expectations failed: ValueError: no data-quality suite"):
            worker.results()
        worker.submit("orders", _orders())  # still serving after an error
        assert worker.results() == q.validate_batch("orders", _orders())
    finally:
        q.stop_background_process()
    assert q.background_process() is None


def test_a_sampled_batch_travels_as_its_sample_and_gives_the_in_process_results(monkeypatch):
    # The parent samples and recounts (prepare_batch); the GX process only sees the sample.
    monkeypatch.setattr(q, "MAX_VALIDATED_ROWS", 50)
    df = _orders(400).with_columns(
        quantity=pl.when(pl.col("order_id") == "O00003").then(0).otherwise(pl.col("quantity")),
        _source_file=pl.lit("2026-06-01/orders.csv"))
    prepared = q.prepare_batch("orders", df)
    assert prepared.batch.height == 50 and prepared.rows == 400 and prepared.sampled
    assert "_source_file" not in prepared.batch.columns  # only what the suite reads travels
    expected = q.validate_batch("orders", df)
    worker = q.start_background_process()
    try:
        worker.submit("orders", df)
        assert worker.results() == expected
    finally:
        q.stop_background_process()
    assert _by_name(expected)["orders_quantity_is_at_least_1"].observed_value == \
        "1 of 400 rows unexpected (0.25%) [exact, whole batch]"


def test_a_stopped_background_process_exits_cleanly_and_leaves_nothing_behind():
    # The GX process skips the interpreter's teardown (~1 s) but must still exit 0 and unlink
    # what multiprocessing created in it (else the resource tracker warns after the last line).
    code = ("from ingestion import quality; w = quality.start_background_process(); "
            "import polars as pl; w.submit('orders', pl.DataFrame({'order_id': ['1']})); w.results(); "
            "p = w._process; quality.stop_background_process(); print(p.exitcode)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0"]
    assert "leaked" not in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_background_process_exits_when_its_parent_is_killed():
    import os
    import signal
    import time

    code = ("from ingestion import quality; import time; w = quality.start_background_process(); "
            "print(w._process.pid, flush=True); time.sleep(120)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60  # the child first finishes importing GX, then notices
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # exited; waiting to be reaped by whoever adopted it
            return
        time.sleep(0.5)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the Great Expectations process outlived its killed parent")
