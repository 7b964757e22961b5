"""Incremental refresh == full refresh, exactly.

The hand-made raw dataset (plus the rows below) is "ingested" in landing-date steps, the way
ingestion/ does it: raw rows plus one audit.ingested_files row per file (ingested_at = the
Asia/Shanghai local time of the write, status 'loaded' | 'replaced'). After each step a plain
`dbt build` runs; the marts (and the incremental intermediates) must then equal, row for row
and bit for bit, a single `dbt build --full-refresh` over the final raw data.

dbt invocations cost ~10 s each here, so the whole module runs 8 of them (~65-85 s):
reference build, 3 steps, a no-op build, a --select subset, a replaced file, its reference.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from . import _dbt_dataset as dataset
from ._dbt_runner import invoke_dbt

pytestmark = pytest.mark.slow

SHANGHAI = dt.timezone(dt.timedelta(hours=8))

# Every table the incremental models write, plus every mart (the BI contract).
COMPARED = [
    "marts.fct_gmv_by_source_daily",
    "marts.fct_dual_wheel_daily",
    "marts.fct_cohort_repurchase",
    "marts.fct_cohort_retention_monthly",
    "marts.fct_account_matrix_daily",
    "marts.fct_live_session",
    "marts.dim_accounts",
    "intermediate.int_orders_counted",
    "intermediate.int_buyer_first_orders",
    "intermediate.int_cohort_buyers",
    "intermediate.int_follows_daily",
    "intermediate.int_brand_first_follows",
    "intermediate.int_accounts_seen",
    "marts.fct_fan_cohort",
    "intermediate.int_fan_starts",
    "intermediate.int_fan_values",
]

_o, _f, _l = dataset._order, dataset._follow, dataset._live

# Later exports that only an incremental run can get wrong.
EXTRA_ORDERS = [
    # T0 cancelled: u2's T0 O03 (2026-05-10) is cancelled in a later export -> T0 moves to O04
    # (2026-06-09); both dates' new_buyers change although O04 itself did not.
    _o("O03", "u2", "A1", None, "discovery", "200.00", "2026-05-10 10:00:00", status="cancelled",
       updated_at="2026-06-19 09:00:00", landing="2026-06-19", row=1),
    # Late-arriving earlier order: u6 (T0 O11 on 2026-06-16) shows an order paid 2026-06-01 in the
    # 2026-06-19 export -> T0 moves back; 06-16 loses a new buyer, 06-01 gains one.
    _o("O40", "u6", "A2", None, "nearby", "35.00", "2026-06-01 18:00:00",
       updated_at="2026-06-19 10:00:00", landing="2026-06-19", row=2),
    # A paid_at correction moving an order to another date (the old date must lose it).
    _o("O09", "u5", "A2", None, "nearby", "70.00", "2026-05-26 08:00:00", status="completed",
       updated_at="2026-06-19 11:00:00", landing="2026-06-19", row=3),
    # A status update of an old order in a later export (refund on the paid date, 2026-06-01).
    _o("O20", "u1", "B1", None, "paid", "500.00", "2026-06-01 10:00:00", status="refunded",
       refund="120.00", updated_at="2026-06-20 12:00:00", landing="2026-06-20", row=1),
    # An order moving to another live session in a correction (L1 loses it, L5 gains it).
    _o("O12", "u7", "A2", "L5", "follow", "300.00", "2026-06-16 21:00:00", status="completed",
       updated_at="2026-06-20 13:00:00", landing="2026-06-20", row=2),
    # A new order of a fan won in step 1 (u22, fan start 2026-06-12 via nearby): it lands in
    # the fan's 30- and 90-day windows (follow page), although u22's T0 (O42) does not move.
    _o("O41", "u22", "A1", None, "follow", "45.00", "2026-06-20 10:00:00", landing="2026-06-20", row=3),
]
EXTRA_FOLLOWS = [
    # A new follow (u6 becomes an Alpha fan before T0 + 30 d).
    _f("F11", "u6", "A1", "follow", "2026-06-19 12:00:00", source="follow"),
    # A re-export of an old event on a later date with another time: the first copy still wins.
    _f("F4", "u5", "A3", "follow", "2026-06-19 20:15:00", landing="2026-06-19", row=2),
    # A late follow event: u5's fan start (F4, 2026-06-16, discovery) moves to May and to
    # short_video, so the June discovery group loses its fan and a May group appears.
    _f("F18", "u5", "A2", "follow", "2026-05-28 10:00:00", source="short_video", landing="2026-06-19", row=3),
]
EXTRA_LIVE = [
    # L5 grows in the next day's export: a session spanning two landing dates across a step.
    _l("L5", "B1", "2026-06-17 19:00:00", "2026-06-17 21:30:00", "follow", 40, 4800, "2026-06-19", row=1),
]

ORDERS = dataset.ORDERS + EXTRA_ORDERS
FOLLOWS = dataset.FOLLOWS + EXTRA_FOLLOWS
LIVE = dataset.LIVE_TRAFFIC + EXTRA_LIVE

# Landing dates ingested before each incremental build: the roster and days up to 2026-06-16
# (L1's first export), then 06-17..06-18 (L1's re-export, O14's cancellation, O11's refund,
# L4's first rows), then everything later (L4's second rows, the T0 moves above).
STEPS = [
    lambda d: d is None or d <= dt.date(2026, 6, 16),
    lambda d: d is not None and dt.date(2026, 6, 17) <= d <= dt.date(2026, 6, 18),
    lambda d: d is not None and d >= dt.date(2026, 6, 19),
]

TABLES = {  # raw table -> (export, rows, index of _source_file, index of _landing_date)
    "raw.accounts": ("accounts", dataset.ACCOUNTS, 7, 8),
    "raw.orders": ("orders", ORDERS, 13, 14),
    "raw.follows": ("follows", FOLLOWS, 7, 8),
    "raw.live_traffic": ("live_traffic", LIVE, 7, 8),
}


def _now_local() -> dt.datetime:
    return dt.datetime.now(SHANGHAI).replace(tzinfo=None)


def _create(db_path: Path) -> None:
    con = duckdb.connect(str(db_path))
    try:
        con.execute(dataset.RAW_DDL)
    finally:
        con.close()


def _ingest(db_path: Path, wanted, status: str = "loaded") -> int:
    """Write the raw rows of the landing dates `wanted` accepts, one audit row per file."""
    con = duckdb.connect(str(db_path))
    files = 0
    try:
        for table, (export, rows, file_idx, date_idx) in TABLES.items():
            chosen = [r for r in rows if wanted(r[date_idx])]
            if not chosen:
                continue
            marks = ", ".join("?" * len(chosen[0]))
            con.executemany(f"insert into {table} values ({marks})", chosen)
            for path in sorted({r[file_idx] for r in chosen}):
                n = sum(r[file_idx] == path for r in chosen)
                landing = next(r[date_idx] for r in chosen if r[file_idx] == path)
                con.execute(
                    "insert or replace into audit.ingested_files values (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    [path, export, landing, f"sha-{path}", n, n, _now_local(), status],
                )
                files += 1
    finally:
        con.close()
    return files


def _build(db_path: Path, work: Path, *args: str):
    res = invoke_dbt(["build", *args], db_path, work)
    assert res.exception is None, res.exception
    bad = {r.node.unique_id: str(r.status) for r in res.result.results
           if str(r.status) not in ("success", "pass", "warn")}
    assert not bad and res.success, bad
    return res


def _snapshot(db_path: Path) -> dict:
    """Every compared table, fully ordered, plus the refresh scope of the last run."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        out = {t: con.sql(f"select * from {t} order by all").fetchall() for t in COMPARED}
        out["scope"] = con.sql(
            "select is_full_refresh, full_refresh_reason, changed_files "
            "from intermediate.int_refresh_scope").fetchall()[0]
        out["affected"] = {
            t: con.sql(f"select count(*) from intermediate.{t}").fetchall()[0][0]
            for t in ("int_changed_order_versions", "int_changed_follow_versions", "int_t0_changes",
                      "int_affected_order_dates",
                      "int_affected_activity_dates", "int_affected_live_sessions")
        }
        out["t0_changes"] = con.sql(
            "select brand, buyer_id from intermediate.int_t0_changes order by all").fetchall()
        out["watermarks"] = con.sql("select count(*) from audit.dbt_watermark").fetchall()[0][0]
        out["t0_snapshot"] = con.sql(
            "select brand, buyer_id, t0_order_id, t0_paid_at, t0_order_date, first_domain "
            "from intermediate.t0_snapshot order by all").fetchall()
        out["t0_now"] = con.sql(
            "select brand, buyer_id, t0_order_id, t0_paid_at, t0_order_date, first_domain "
            "from intermediate.int_buyer_first_orders order by all").fetchall()
    finally:
        con.close()
    return out


def _assert_same_tables(actual: dict, expected: dict) -> None:
    for table in COMPARED:
        a, e = actual[table], expected[table]
        missing = [r for r in e if r not in a]
        extra = [r for r in a if r not in e]
        assert a == e, f"{table}: missing {missing[:5]}, extra {extra[:5]}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One `dbt build --full-refresh` over the final raw data."""
    work = tmp_path_factory.mktemp("inc_reference")
    db = work / "work.duckdb"
    _create(db)
    _ingest(db, lambda d: True)
    _build(db, work, "--full-refresh")
    return _snapshot(db)


@pytest.fixture(scope="module")
def stepwise(tmp_path_factory):
    """The same raw data ingested in three steps, a plain `dbt build` after each."""
    work = tmp_path_factory.mktemp("inc_steps")
    db = work / "work.duckdb"
    _create(db)
    snaps = []
    for wanted in STEPS:
        assert _ingest(db, wanted) > 0
        _build(db, work)
        snaps.append(_snapshot(db))
    return db, work, snaps


def test_steps_take_the_partial_path(stepwise):
    _, _, snaps = stepwise
    assert snaps[0]["scope"][:2] == (True, "no watermark")
    for snap in snaps[1:]:
        assert snap["scope"][:2] == (False, None), snap["scope"]
        assert snap["affected"]["int_affected_order_dates"] > 0
    # Step 3 moves u2's T0 (cancelled), u6's (late earlier order) and u5's (paid_at corrected),
    # and gives u13 a first T0 (a new buyer is a change from "no T0").
    assert snaps[2]["t0_changes"] == [("Alpha", "u2"), ("Alpha", "u5"), ("Alpha", "u6"), ("Beta", "u13")]
    assert [s["watermarks"] for s in snaps] == [1, 2, 3]
    # The snapshot the next run diffs against equals the T0s just built.
    for snap in snaps:
        assert snap["t0_snapshot"] == snap["t0_now"]


def test_incremental_steps_equal_a_full_refresh(stepwise, reference):
    _, _, snaps = stepwise
    _assert_same_tables(snaps[-1], reference)


def test_t0_moves_are_reflected(stepwise):
    _, _, snaps = stepwise
    dual = snaps[-1]["marts.fct_dual_wheel_daily"]
    new_buyers = {(r[0], r[1]): r[5] for r in dual}  # (order_date, account_id) -> new_buyers
    assert new_buyers[(dt.date(2026, 6, 1), "A2")] == 1    # u6's late earlier order is T0 now
    assert new_buyers[(dt.date(2026, 6, 16), "A1")] == 0   # u6 was new here before step 3
    assert snaps[1]["marts.fct_dual_wheel_daily"] != dual
    assert new_buyers[(dt.date(2026, 6, 9), "A2")] == 1    # u2's T0 is O04 after O03's cancellation
    assert (dt.date(2026, 5, 10), "A1") not in new_buyers  # O03 was that day's only order


def test_fan_starts_and_windows_move(stepwise):
    _, _, snaps = stepwise
    def fans(snap):  # grain -> (new_fans, fans_bought_before, fans_buying_30d, fan_orders_30d, ...)
        return {(r[0], r[1], r[2]): r[3:] for r in snap["marts.fct_fan_cohort"]}

    may, june = dt.date(2026, 5, 1), dt.date(2026, 6, 1)
    before, after = fans(snaps[1]), fans(snaps[2])
    # u5's late earlier follow moves the start from June/discovery to May/short_video.
    assert before[("Alpha", june, "discovery")][0] == 1
    assert ("Alpha", june, "discovery") not in after
    assert after[("Alpha", may, "short_video")][0] == 1
    # u22's new order is in the 30-day window of a fan whose start did not move.
    assert before[("Alpha", june, "nearby")][2:4] == (0, 0)  # fans_buying_30d, fan_orders_30d
    assert after[("Alpha", june, "nearby")][2:4] == (1, 1)


def test_no_change_build_is_a_no_op(stepwise, reference):
    db, work, snaps = stepwise
    _build(db, work)
    again = _snapshot(db)
    assert again["scope"] == (False, None, 0)
    # Nothing is affected, so every delete+insert touched 0 rows ...
    assert again["affected"] == dict.fromkeys(again["affected"], 0)
    # ... and every table is unchanged (and still equal to the full refresh).
    _assert_same_tables(again, snaps[-1])
    _assert_same_tables(again, reference)
    assert again["watermarks"] == snaps[-1]["watermarks"] + 1


def test_partial_selection_does_not_advance_the_watermark(stepwise):
    db, work, _ = stepwise
    before = _snapshot(db)["watermarks"]
    _build(db, work, "--select", "int_refresh_scope")
    assert _snapshot(db)["watermarks"] == before


def test_replaced_file_rebuilds_everything_exactly(stepwise, tmp_path_factory):
    """A file whose content changed replaces its earlier rows: rows (and dates) may vanish
    that no remaining raw row remembers, so the scope goes full."""
    db, work, _ = stepwise
    path = "2026-06-17/orders.csv"
    con = duckdb.connect(str(db))
    try:
        # The new content drops O14's cancellation (it counts again on 2026-06-16) and O21
        # (its only row: 2026-06-17 loses B2's order) and changes O16's first row.
        con.execute("delete from raw.orders where _source_file = ?", [path])
        kept = [r for r in ORDERS if r[13] == path and r[0] not in ("O14", "O21")]
        kept = [r[:8] + (Decimal("12.00"),) + r[9:] if r[0] == "O16" else r for r in kept]
        con.executemany(f"insert into raw.orders values ({', '.join('?' * 16)})", kept)
        con.execute(
            "update audit.ingested_files set sha256 = 'changed', rows_read = ?, rows_accepted = ?, "
            "ingested_at = ?, status = 'replaced' where path = ?",
            [len(kept), len(kept), _now_local(), path],
        )
    finally:
        con.close()
    _build(db, work)
    after = _snapshot(db)
    assert after["scope"][:2] == (True, "replaced file")

    ref_work = tmp_path_factory.mktemp("inc_replaced_reference")
    ref_db = ref_work / "work.duckdb"
    shutil.copy(db, ref_db)
    _build(ref_db, ref_work, "--full-refresh")
    _assert_same_tables(after, _snapshot(ref_db))


def test_ingestion_records_status_for_change_detection(tmp_path):
    """The one ingestion/ change this relies on: audit.ingested_files.status, set on every write,
    and added by ensure_schema to a warehouse created before the column existed."""
    from ingestion.load import ensure_schema, ingest_file

    db = tmp_path / "work.duckdb"
    con = duckdb.connect(str(db))
    try:
        # An old warehouse: audit.ingested_files without `status`.
        con.execute(dataset.RAW_DDL.replace(", status varchar);", ");"))
        ensure_schema(con)
        assert ("status", "VARCHAR") in con.sql(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'audit' and table_name = 'ingested_files'").fetchall()

        landing = tmp_path / "landing"
        day = landing / "2026-06-16"
        day.mkdir(parents=True)
        header = "order_id,buyer_id,account_id,traffic_source,quantity,gmv,status,paid_at,updated_at\n"
        row = "O1,u1,A1,follow,1,{gmv},paid,2026-06-16 20:00:00,2026-06-16 20:00:00\n"
        (day / "orders.csv").write_text(header + row.format(gmv="10"), encoding="utf-8")
        assert ingest_file(con, day / "orders.csv", "orders", landing_root=landing).status == "loaded"
        first = con.sql("select status, ingested_at from audit.ingested_files").fetchall()
        assert first[0][0] == "loaded"
        # Same content: nothing is written (no new ingested_at, so no change for dbt).
        assert ingest_file(con, day / "orders.csv", "orders", landing_root=landing).status == "unchanged"
        assert con.sql("select status, ingested_at from audit.ingested_files").fetchall() == first
        (day / "orders.csv").write_text(header + row.format(gmv="12"), encoding="utf-8")
        assert ingest_file(con, day / "orders.csv", "orders", landing_root=landing).status == "replaced"
        status, ingested_at = con.sql("select status, ingested_at from audit.ingested_files").fetchall()[0]
        assert status == "replaced" and ingested_at > first[0][1]
    finally:
        con.close()
