"""The dbt project end to end on a small hand-made dataset: one `dbt build` (models, seeds,
unit tests, data tests), then every mart compared with an independent Python computation."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import duckdb
import pytest

from . import _dbt_dataset as dataset
from . import _dbt_reference as reference

pytestmark = pytest.mark.slow

M, D, B, DB, TS, BO, V = "DECIMAL(18,2)", "DATE", "BIGINT", "DOUBLE", "TIMESTAMP", "BOOLEAN", "VARCHAR"

# The BI contract (docs: contract section 4): columns in order, grain first, with types.
CONTRACT = {
    "fct_gmv_by_source_daily": (
        ["order_date", "account_id", "traffic_source"],
        [("order_date", D), ("account_id", V), ("traffic_source", V), ("domain", V), ("is_paid", BO),
         ("orders", B), ("buyers", B), ("gmv", M), ("refund_amount", M), ("net_gmv", M)],
    ),
    "fct_dual_wheel_daily": (
        ["order_date", "account_id"],
        [("order_date", D), ("account_id", V), ("brand", V), ("orders", B), ("buyers", B),
         ("new_buyers", B), ("returning_buyers", B), ("gmv", M), ("refund_amount", M), ("net_gmv", M),
         ("gmv_private", M), ("gmv_public", M), ("gmv_public_paid", M), ("gmv_public_organic", M),
         ("private_share", DB), ("organic_share", DB)],
    ),
    "fct_cohort_repurchase": (
        ["brand", "cohort_month", "first_domain"],
        [("brand", V), ("cohort_month", D), ("first_domain", V), ("cohort_buyers", B), ("t0_gmv", M),
         ("fans_by_t30", B), ("repurchasers_30d", B), ("repurchasers_60d", B), ("repurchasers_90d", B),
         ("repurchase_orders_30d", B), ("repurchase_gmv_30d", M), ("repurchase_gmv_30d_private", M),
         ("repurchase_rate_30d", DB), ("repurchase_rate_90d", DB), ("window_30d_complete", BO)],
    ),
    "fct_fan_cohort": (
        ["brand", "follow_month", "acquisition_source"],
        [("brand", V), ("follow_month", D), ("acquisition_source", V), ("new_fans", B),
         ("fans_bought_before", B), ("fans_buying_30d", B), ("fan_orders_30d", B), ("fan_gmv_30d", M),
         ("fan_gmv_30d_private", M), ("fan_gmv_90d", M), ("unfollowed_30d", B),
         ("purchase_rate_30d", DB), ("unfollow_rate_30d", DB), ("gmv_per_fan_30d", DB),
         ("private_share_30d", DB), ("window_30d_complete", BO), ("window_90d_complete", BO)],
    ),
    "fct_cohort_retention_monthly": (
        ["brand", "cohort_month", "months_since_first"],
        [("brand", V), ("cohort_month", D), ("months_since_first", B), ("active_buyers", B),
         ("orders", B), ("gmv", M)],
    ),
    "fct_account_matrix_daily": (
        ["activity_date", "account_id"],
        [("activity_date", D), ("account_id", V), ("account_name", V), ("brand", V), ("role", V),
         ("city", V), ("live_sessions", B), ("live_minutes", DB), ("viewers", B), ("watch_minutes", DB),
         ("orders", B), ("buyers", B), ("gmv", M), ("refund_amount", M), ("gmv_private", M),
         ("new_follows", B), ("unfollows", B), ("net_follows", B), ("gpm", DB), ("uv_value", DB),
         ("aov", DB), ("gmv_per_buyer", DB), ("refund_rate", DB), ("brand_gmv_share", DB),
         ("viewers_paid", B), ("organic_viewer_share", DB), ("new_follows_paid", B)],
    ),
    "fct_live_session": (
        ["live_session_id"],
        [("live_session_id", V), ("account_id", V), ("brand", V), ("started_at", TS), ("ended_at", TS),
         ("duration_minutes", DB), ("viewers", B), ("viewers_private", B), ("viewers_paid", B),
         ("watch_minutes", DB), ("orders", B), ("buyers", B), ("gmv", M), ("gmv_private", M),
         ("avg_watch_minutes", DB), ("orders_per_watch_hour", DB), ("aov", DB), ("gmv_per_buyer", DB),
         ("uv_value", DB), ("gpm", DB), ("organic_viewer_share", DB)],
    ),
    "dim_accounts": (
        ["account_id"],
        [("account_id", V), ("account_name", V), ("brand", V), ("role", V), ("city", V),
         ("parent_account_id", V), ("opened_on", D)],
    ),
}


@pytest.fixture(scope="module")
def con(built_warehouse):
    c = duckdb.connect(str(built_warehouse.db_path), read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def expected():
    return reference.build(dataset.ACCOUNTS, dataset.ORDERS, dataset.FOLLOWS, dataset.LIVE_TRAFFIC)


def mart_rows(con, mart):
    grain, cols = CONTRACT[mart]
    names = [c for c, _ in cols]
    rows = con.sql(f"select {', '.join(names)} from marts.{mart}").fetchall()
    out = {}
    for r in rows:
        rec = dict(zip(names, r))
        key = tuple(rec.pop(g) for g in grain)
        assert key not in out, f"{mart}: duplicate grain {key}"
        out[key] = rec
    return out


def one(con, query):
    rows = con.sql(query).fetchall()
    assert len(rows) == 1, (query, rows)
    return rows[0]


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


# --- the build itself --------------------------------------------------------------------

def test_build_passes_every_model_unit_and_data_test(built_warehouse):
    res = built_warehouse.result
    assert res.exception is None, res.exception
    statuses = {r.node.unique_id: str(r.status) for r in res.result.results}
    bad = {k: v for k, v in statuses.items() if v not in ("success", "pass", "warn")}
    assert not bad, bad
    assert res.success
    # Unit tests ran inside the build (one per tricky definition).
    assert sum(k.startswith("unit_test.") for k in statuses) >= 15
    print(f"dbt build on the small dataset: {built_warehouse.seconds:.1f} s")


def test_data_quality_warnings_fire_but_do_not_fail(built_warehouse):
    statuses = {r.node.name: str(r.status) for r in built_warehouse.result.result.results}
    # U7, U8 and U9 are missing from the roster; O21 carries an unknown live session LX.
    assert statuses["accounts_are_all_mapped"] == "warn"
    assert statuses["orders_reference_known_live_sessions"] == "warn"


# --- schema: the BI contract -------------------------------------------------------------

def test_marts_exist_in_schema_marts_with_contract_columns_and_types(con):
    tables = {r[0] for r in con.sql(
        "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
    assert tables == set(CONTRACT)
    for mart, (_, cols) in CONTRACT.items():
        actual = con.sql(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = 'marts' and table_name = '{mart}' order by ordinal_position"
        ).fetchall()
        assert actual == cols, mart


def test_models_land_in_their_layer_schemas(con):
    schemas = dict(con.sql(
        "select table_name, table_schema from information_schema.tables "
        "where table_schema in ('staging', 'intermediate', 'marts')").fetchall())
    assert schemas["stg_orders"] == "staging"
    assert schemas["int_orders_counted"] == "intermediate"
    assert schemas["fct_live_session"] == "marts"


# --- every mart equals the independent computation ---------------------------------------

@pytest.mark.parametrize("mart", sorted(CONTRACT))
def test_mart_matches_independent_computation(con, expected, mart):
    actual = mart_rows(con, mart)
    want = expected[mart]
    assert set(actual) == set(want), (
        f"{mart}: missing {sorted(set(want) - set(actual))}, extra {sorted(set(actual) - set(want))}")
    diffs = []
    for key, row in want.items():
        for col, value in row.items():
            if not same(actual[key][col], value):
                diffs.append((key, col, actual[key][col], value))
    assert not diffs, f"{mart}: (key, column, actual, expected) {diffs}"


# --- hand-checked scenarios (the figures a merchant would quote) --------------------------

def test_616_brand_day_is_45_percent_follow(con):
    private_share, gmv = one(con,
        "select sum(gmv_private) / sum(gmv), sum(gmv) from marts.fct_dual_wheel_daily "
        "where brand = 'Alpha' and order_date = date '2026-06-16'")
    assert gmv == Decimal("1000.00")
    assert private_share == pytest.approx(0.45)
    by_source = dict(con.sql(
        "select traffic_source, sum(gmv) from marts.fct_gmv_by_source_daily g "
        "join marts.dim_accounts a using (account_id) "
        "where a.brand = 'Alpha' and order_date = date '2026-06-16' group by 1").fetchall())
    assert by_source == {"discovery": Decimal("550.00"), "follow": Decimal("450.00")}


def test_cohort_edge_cases(con):
    rows = {(r[0], r[1], r[2]): r[3:] for r in con.sql(
        "select brand, cohort_month, first_domain, cohort_buyers, fans_by_t30, repurchasers_30d, "
        "repurchasers_60d, window_30d_complete from marts.fct_cohort_repurchase").fetchall()}
    may = dt.date(2026, 5, 1)
    # u2 (repurchase at exactly T0 + 30 d, follow before T0 then unfollow) and u3 (+30 d + 1 s)
    # and u5; u4's T0 is O07 (tie on paid_at, smaller order_id) -> private cohort.
    assert rows[("Alpha", may, "public")] == (3, 2, 2, 3, True)  # complete only by Beta's horizon
    assert rows[("Alpha", may, "private")] == (1, 0, 0, 0, True)
    assert rows[("Alpha", dt.date(2026, 6, 1), "public")][-1] is False
    # All unmapped accounts are one brand: u14 bought on U7 and followed U8.
    assert rows[("(unmapped)", dt.date(2026, 6, 1), "private")][:2] == (1, 1)


def test_live_session_and_account_day_edge_cases(con):
    l1, l2, l4 = (one(con,
        "select account_id, viewers, orders, aov, duration_minutes from marts.fct_live_session "
        f"where live_session_id = '{s}'") for s in ("L1", "L2", "L4"))
    assert l1[:3] == ("A1", 1100, 3)  # re-exported discovery row wins; O12 booked on A2 counts
    assert l2[2] == 0 and l2[3] is None and l2[4] is None  # no orders, still live
    assert l4[0] == "U7" and l4[4] == 85.0  # latest row decides account and times
    a3 = one(con,
        "select viewers, gpm, uv_value, aov from marts.fct_account_matrix_daily "
        "where account_id = 'A3' and activity_date = date '2026-06-16'")
    assert a3 == (0, None, None, 150.0)


def test_fan_cohort_edge_cases(con):
    rows = {(r[0], r[1], r[2]): r[3:] for r in con.sql(
        "select brand, follow_month, acquisition_source, new_fans, fans_bought_before, fans_buying_30d, "
        "fan_gmv_30d, fan_gmv_30d_private, unfollowed_30d from marts.fct_fan_cohort").fetchall()}
    june = dt.date(2026, 6, 1)
    # u1: a paid fan after T0 (bought before) whose O02 on the follow page falls in the window.
    assert rows[("Alpha", dt.date(2026, 4, 1), "paid")] == (1, 1, 1, Decimal("80.00"), Decimal("80.00"), 0)
    # u5: follow (F4, discovery) -> unfollow -> follow again (paid): the first start is kept.
    assert rows[("Alpha", june, "discovery")] == (1, 1, 0, Decimal("0.00"), Decimal("0.00"), 1)
    assert ("Alpha", june, "paid") not in rows
    # u22: two follows at the same second -> F15 (nearby); O42 paid at that very second is
    # "bought before", not in the window; the unfollow of the other account does not count.
    assert rows[("Alpha", june, "nearby")] == (1, 1, 0, Decimal("0.00"), Decimal("0.00"), 0)
    # Fans of unmapped accounts (U8) belong to the one brand (unmapped).
    assert rows[("(unmapped)", june, "other")][:2] == (2, 1)
    paid = dict(((r[0], r[1]), r[2]) for r in con.sql(
        "select activity_date, account_id, new_follows_paid from marts.fct_account_matrix_daily "
        "where new_follows_paid > 0").fetchall())
    # F12, F14, F16 (F13 is an unfollow and does not count).
    assert paid == {(dt.date(2026, 4, 10), "A2"): 1, (dt.date(2026, 6, 18), "A1"): 1,
                    (dt.date(2026, 6, 12), "A2"): 1}
    l1_day = one(con,
        "select viewers, viewers_paid, organic_viewer_share from marts.fct_account_matrix_daily "
        "where account_id = 'A1' and activity_date = date '2026-06-16'")
    assert l1_day == (1100, 100, pytest.approx(1000 / 1100))
