"""Simulated exports → `dualwheel build` → every mart, checked against an independent computation.

The reference figures are computed here in plain Polars straight from the landing CSVs (not from
the warehouse), following the contract's words, so a bug shared by ingestion and dbt shows up.
A hand-built 616 sale is added: brand 大促测试 sells ¥550 via discovery and ¥450 via the follow
page on 2026-06-16, and the marts must show exactly 55% / 45%.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.conftest import SALE_BRAND

pytestmark = pytest.mark.slow

CONTRACT_COLUMNS = {
    "fct_gmv_by_source_daily": ["order_date", "account_id", "traffic_source", "domain", "is_paid", "orders", "buyers",
                                "gmv", "refund_amount", "net_gmv"],
    "fct_dual_wheel_daily": ["order_date", "account_id", "brand", "orders", "buyers", "new_buyers", "returning_buyers",
                             "gmv", "refund_amount", "net_gmv", "gmv_private", "gmv_public", "gmv_public_paid",
                             "gmv_public_organic", "private_share", "organic_share"],
    "fct_cohort_repurchase": ["brand", "cohort_month", "first_domain", "cohort_buyers", "t0_gmv", "fans_by_t30",
                              "repurchasers_30d", "repurchasers_60d", "repurchasers_90d", "repurchase_orders_30d",
                              "repurchase_gmv_30d", "repurchase_gmv_30d_private", "repurchase_rate_30d",
                              "repurchase_rate_90d", "window_30d_complete"],
    "fct_cohort_retention_monthly": ["brand", "cohort_month", "months_since_first", "active_buyers", "orders", "gmv"],
    "fct_account_matrix_daily": ["activity_date", "account_id", "account_name", "brand", "role", "city", "live_sessions",
                                 "live_minutes", "viewers", "watch_minutes", "orders", "buyers", "gmv", "refund_amount",
                                 "gmv_private", "new_follows", "unfollows", "net_follows", "gpm", "uv_value", "aov",
                                 "gmv_per_buyer", "refund_rate", "brand_gmv_share", "viewers_paid",
                                 "organic_viewer_share", "new_follows_paid"],
    "fct_live_session": ["live_session_id", "account_id", "brand", "started_at", "ended_at", "duration_minutes",
                         "viewers", "viewers_private", "viewers_paid", "watch_minutes", "orders", "buyers", "gmv",
                         "gmv_private", "avg_watch_minutes", "orders_per_watch_hour", "aov", "gmv_per_buyer",
                         "uv_value", "gpm", "organic_viewer_share"],
    "dim_accounts": ["account_id", "account_name", "brand", "role", "city", "parent_account_id", "opened_on"],
    "fct_fan_cohort": ["brand", "follow_month", "acquisition_source", "new_fans", "fans_bought_before",
                       "fans_buying_30d", "fan_orders_30d", "fan_gmv_30d", "fan_gmv_30d_private", "fan_gmv_90d",
                       "unfollowed_30d", "purchase_rate_30d", "unfollow_rate_30d", "gmv_per_fan_30d",
                       "private_share_30d", "window_30d_complete", "window_90d_complete"],
}
MONEY = {"gmv", "refund_amount", "net_gmv", "gmv_private", "gmv_public", "gmv_public_paid", "gmv_public_organic",
         "t0_gmv", "repurchase_gmv_30d", "repurchase_gmv_30d_private", "fan_gmv_30d", "fan_gmv_30d_private",
         "fan_gmv_90d"}
RATES = {"private_share", "organic_share", "repurchase_rate_30d", "repurchase_rate_90d", "refund_rate",
         "brand_gmv_share", "organic_viewer_share", "purchase_rate_30d", "unfollow_rate_30d", "private_share_30d",
         "gmv_per_fan_30d"}

@pytest.fixture(scope="module")
def build(built_clean):
    """The session's one build of the clean landing plus the 616 sale (tests/conftest.py), read-only."""
    return built_clean.base / "landing", built_clean.base / "wh" / "dualwheel.duckdb", built_clean.proc


# ------------------------------------------------------------------ independent reference


def _read_export(landing: Path, export: str) -> pl.DataFrame:
    frames = []
    for path in sorted(landing.glob(f"*/{export}*.csv")):
        df = pl.read_csv(path, infer_schema=False)
        frames.append(df.with_columns(
            _landing=pl.lit(path.parent.name), _file=pl.lit(path.name), _row=pl.int_range(1, df.height + 1)))
    return pl.concat(frames, how="diagonal")


def _ts(col: str) -> pl.Expr:
    return pl.col(col).str.strptime(pl.Datetime, "%Y-%m-%d %H:%M:%S", strict=True)


@pytest.fixture(scope="module")
def ref(build):
    landing = build[0]
    roster = pl.read_csv(landing / "accounts.csv", infer_schema=False).unique("account_id", keep="first",
                                                                           maintain_order=True)
    brand_of = dict(zip(roster["account_id"], roster["brand"]))
    orders = (_read_export(landing, "orders")
              .with_columns(_ts("updated_at").alias("updated"), _ts("paid_at").alias("paid"),
                            pl.col("gmv").cast(pl.Float64), pl.col("refund_amount").cast(pl.Float64).fill_null(0.0))
              .sort(["updated", "_landing", "_file", "_row"])
              .unique("order_id", keep="last", maintain_order=True))
    counted = (orders.filter((pl.col("status") != "cancelled") & pl.col("paid").is_not_null())
               .with_columns(order_date=pl.col("paid").dt.date(),
                             brand=pl.col("account_id").replace_strict(brand_of, default="(unmapped)")))
    traffic = (_read_export(landing, "live_traffic").sort(["_landing", "_file", "_row"])
               .unique(["live_session_id", "traffic_source"], keep="last", maintain_order=True)
               .with_columns(pl.col("viewers").cast(pl.Int64), pl.col("watch_seconds").cast(pl.Int64)))
    follows = (_read_export(landing, "follows").sort(["_landing", "_file", "_row"])
               .unique("event_id", keep="first", maintain_order=True).with_columns(occurred=_ts("occurred_at")))
    return {"counted": counted, "traffic": traffic, "follows": follows, "brand_of": brand_of}


def _mart(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).pl()


def _money(frame: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return frame.with_columns([pl.col(c).cast(pl.Float64).round(2) for c in cols])


# ------------------------------------------------------------------ tests


def test_build_reports_success_and_stages(build):
    _, _, proc = build
    assert "build succeeded" in proc.stdout
    assert "stages:" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_every_mart_has_the_contract_columns_and_types(build):
    warehouse = build[1]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart, columns in CONTRACT_COLUMNS.items():
            actual = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = ? order by ordinal_position", [mart]).fetchall()
            assert [c for c, _ in actual] == columns, mart
            types = dict(actual)
            for column in columns:
                if column in MONEY:
                    assert types[column] == "DECIMAL(18,2)", (mart, column)
                if column in RATES:
                    assert types[column] == "DOUBLE", (mart, column)
        assert con.execute("select count(*) from audit.ingested_files").fetchall()[0][0] > 0


def test_gmv_by_source_daily_equals_reference(build, ref):
    expected = (ref["counted"].group_by("order_date", "account_id", "traffic_source")
                .agg(orders=pl.len(), buyers=pl.col("buyer_id").n_unique(), gmv=pl.col("gmv").sum(),
                     refund_amount=pl.col("refund_amount").sum())
                .pipe(_money, "gmv", "refund_amount").sort(pl.all()))
    actual = (_mart(build[1], "select order_date, account_id, traffic_source, orders, buyers, gmv, refund_amount "
                              "from marts.fct_gmv_by_source_daily")
              .pipe(_money, "gmv", "refund_amount").with_columns(pl.col("orders", "buyers").cast(pl.UInt32))
              .sort(pl.all()))
    assert actual.height == expected.height
    assert actual.equals(expected.with_columns(pl.col("orders", "buyers").cast(pl.UInt32)).select(actual.columns))


def test_616_sale_splits_55_discovery_45_follow(build):
    split = _mart(build[1], """
        select traffic_source, sum(gmv)::double gmv from marts.fct_gmv_by_source_daily
        where order_date = date '2026-06-16' and account_id = 'S616' group by 1 order by 1""")
    assert dict(zip(split["traffic_source"], split["gmv"])) == {"discovery": 550.0, "follow": 450.0}
    wheel = _mart(build[1], f"""
        select sum(gmv)::double gmv, sum(gmv_private) / sum(gmv) private_share, any_value(private_share) row_share,
               sum(new_buyers) new_buyers
        from marts.fct_dual_wheel_daily where order_date = date '2026-06-16' and brand = '{SALE_BRAND}'""")
    assert wheel["gmv"][0] == 1000.0
    assert wheel["private_share"][0] == pytest.approx(0.45, abs=1e-12)
    assert wheel["row_share"][0] == pytest.approx(0.45, abs=1e-12)
    assert wheel["new_buyers"][0] == 3  # the cancelled order's buyer is no buyer


def test_dual_wheel_daily_equals_reference(build, ref):
    counted = ref["counted"]
    t0 = counted.sort("paid", "order_id").unique(["brand", "buyer_id"], keep="first", maintain_order=True)
    t0_ids = set(t0["order_id"])
    expected = (counted.with_columns(is_t0=pl.col("order_id").is_in(list(t0_ids)))
                .group_by("order_date", "account_id")
                .agg(orders=pl.len(), buyers=pl.col("buyer_id").n_unique(),
                     new_buyers=pl.col("buyer_id").filter(pl.col("is_t0")).n_unique(),
                     gmv=pl.col("gmv").sum(),
                     gmv_private=pl.col("gmv").filter(pl.col("traffic_source") == "follow").sum(),
                     gmv_public_paid=pl.col("gmv").filter(pl.col("traffic_source") == "paid").sum())
                .pipe(_money, "gmv", "gmv_private", "gmv_public_paid")
                .with_columns(pl.col("orders", "buyers", "new_buyers").cast(pl.Int64)).sort("order_date", "account_id"))
    actual = (_mart(build[1], "select order_date, account_id, orders, buyers, new_buyers, gmv, gmv_private, "
                              "gmv_public_paid, private_share, organic_share, returning_buyers "
                              "from marts.fct_dual_wheel_daily")
              .pipe(_money, "gmv", "gmv_private", "gmv_public_paid").sort("order_date", "account_id"))
    assert actual.select(expected.columns).equals(expected)
    assert (actual["returning_buyers"] == actual["buyers"] - actual["new_buyers"]).all()
    ok = actual.filter(pl.col("gmv") > 0)
    assert ((ok["private_share"] - ok["gmv_private"] / ok["gmv"]).abs() < 1e-9).all()
    assert ((ok["organic_share"] - (ok["gmv"] - ok["gmv_public_paid"]) / ok["gmv"]).abs() < 1e-9).all()


def test_cohort_repurchase_equals_reference(build, ref):
    counted = ref["counted"].with_columns(domain=pl.when(pl.col("traffic_source") == "follow")
                                          .then(pl.lit("private")).otherwise(pl.lit("public")))
    t0 = (counted.sort("paid", "order_id").unique(["brand", "buyer_id"], keep="first", maintain_order=True)
          .select("brand", "buyer_id", t0_paid="paid", t0_order="order_id", first_domain="domain",
                  cohort_month=pl.col("order_date").dt.truncate("1mo"), t0_gmv="gmv"))
    later = counted.join(t0, on=["brand", "buyer_id"]).filter(pl.col("paid") > pl.col("t0_paid"))

    def within(days):
        return later.filter(pl.col("paid") <= pl.col("t0_paid") + timedelta(days=days))

    brand_of = ref["brand_of"]
    fans = (ref["follows"].filter(pl.col("action") == "follow")
            .with_columns(brand=pl.col("account_id").replace_strict(brand_of, default="(unmapped)"))
            .join(t0, left_on=["brand", "user_id"], right_on=["brand", "buyer_id"])
            .filter(pl.col("occurred") <= pl.col("t0_paid") + timedelta(days=30))
            .select("brand", pl.col("user_id").alias("buyer_id")).unique())
    keys = ["brand", "cohort_month", "first_domain"]
    expected = (t0.group_by(keys).agg(cohort_buyers=pl.len(), t0_gmv=pl.col("t0_gmv").sum())
                .join(t0.join(fans, on=["brand", "buyer_id"]).group_by(keys).agg(fans_by_t30=pl.len()), on=keys, how="left")
                .join(within(30).group_by(keys).agg(repurchasers_30d=pl.col("buyer_id").n_unique(),
                                                    repurchase_orders_30d=pl.len(),
                                                    repurchase_gmv_30d=pl.col("gmv").sum()), on=keys, how="left")
                .join(within(90).group_by(keys).agg(repurchasers_90d=pl.col("buyer_id").n_unique()), on=keys, how="left")
                .fill_null(0).pipe(_money, "t0_gmv", "repurchase_gmv_30d")
                .with_columns(pl.exclude("brand", "cohort_month", "first_domain", "t0_gmv", "repurchase_gmv_30d")
                              .cast(pl.Int64))
                .sort(keys))
    actual = (_mart(build[1], "select brand, cohort_month, first_domain, cohort_buyers, t0_gmv, fans_by_t30, "
                              "repurchasers_30d, repurchase_orders_30d, repurchase_gmv_30d, repurchasers_90d, "
                              "repurchase_rate_30d, window_30d_complete from marts.fct_cohort_repurchase")
              .pipe(_money, "t0_gmv", "repurchase_gmv_30d").sort(keys))
    assert actual.select(expected.columns).equals(expected)
    assert ((actual["repurchase_rate_30d"] - actual["repurchasers_30d"] / actual["cohort_buyers"]).abs() < 1e-12).all()
    horizon = ref["counted"]["order_date"].max()
    last_day = actual["cohort_month"].dt.month_end()
    assert actual["window_30d_complete"].to_list() == [d + timedelta(days=30) <= horizon for d in last_day]


def test_live_session_equals_reference(build, ref):
    traffic = ref["traffic"]
    viewers = traffic.group_by("live_session_id").agg(
        viewers=pl.col("viewers").sum(), watch_minutes=pl.col("watch_seconds").sum() / 60,
        viewers_private=pl.col("viewers").filter(pl.col("traffic_source") == "follow").sum())
    sales = (ref["counted"].filter(pl.col("live_session_id").is_not_null())
             .group_by("live_session_id").agg(orders=pl.len(), gmv=pl.col("gmv").sum()))
    expected = (viewers.join(sales, on="live_session_id", how="left").fill_null(0)
                .pipe(_money, "gmv").with_columns(pl.col("orders").cast(pl.Int64)).sort("live_session_id"))
    actual = (_mart(build[1], "select live_session_id, viewers, watch_minutes, viewers_private, orders, gmv, "
                              "avg_watch_minutes, orders_per_watch_hour, aov, gpm from marts.fct_live_session")
              .pipe(_money, "gmv").sort("live_session_id"))
    assert actual.height == expected.height
    for column in ("live_session_id", "viewers", "viewers_private", "orders", "gmv"):
        assert actual[column].to_list() == expected[column].to_list(), column
    assert ((actual["watch_minutes"] - expected["watch_minutes"]).abs() < 1e-6).all()
    # The identity the mart promises: gmv = viewers × avg watch × orders per watch minute × aov.
    defined = actual.filter((pl.col("orders") > 0) & (pl.col("watch_minutes") > 0))
    rebuilt = (defined["viewers"] * defined["avg_watch_minutes"] * defined["orders_per_watch_hour"] / 60 * defined["aov"])
    assert ((rebuilt - defined["gmv"]).abs() < 0.01).all()
    session = actual.filter(pl.col("live_session_id") == "S616-L1").row(0, named=True)
    assert session["gpm"] == pytest.approx(1000 * 1000 / 1000)


def test_account_matrix_equals_reference(build, ref):
    sales = (ref["counted"].group_by(pl.col("order_date").alias("activity_date"), "account_id")
             .agg(orders=pl.len(), gmv=pl.col("gmv").sum()))
    actual = (_mart(build[1], "select activity_date, account_id, orders, gmv, viewers, gpm, aov, brand_gmv_share, brand "
                              "from marts.fct_account_matrix_daily").pipe(_money, "gmv"))
    joined = sales.pipe(_money, "gmv").join(actual, on=["activity_date", "account_id"], how="left")
    assert joined["gmv_right"].null_count() == 0, "every account-day with orders has a matrix row"
    assert (joined["gmv"] == joined["gmv_right"]).all()
    assert (joined["orders"].cast(pl.Int64) == joined["orders_right"]).all()
    with_viewers = actual.filter(pl.col("viewers") > 0)
    assert ((with_viewers["gpm"] - with_viewers["gmv"] * 1000 / with_viewers["viewers"]).abs() < 1e-6).all()
    assert actual.filter(pl.col("viewers") == 0)["gpm"].null_count() == actual.filter(pl.col("viewers") == 0).height
    shares = actual.filter(pl.col("gmv") > 0).group_by("activity_date", "brand").agg(pl.col("brand_gmv_share").sum())
    assert ((shares["brand_gmv_share"] - 1).abs() < 1e-9).all()
