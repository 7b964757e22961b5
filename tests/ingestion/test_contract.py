"""The declarative contract specs agree with the product contract and the raw DDL."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from ingestion import contract
from ingestion.load import ensure_schema
from ingestion.validate import raw_schema

from .conftest import HEADERS

DUCK_TYPES = {
    pl.String(): "VARCHAR", pl.Int64(): "BIGINT", pl.Decimal(18, 2): "DECIMAL(18,2)",
    pl.Datetime("us"): "TIMESTAMP", pl.Date(): "DATE",
}


@pytest.mark.parametrize("name", sorted(contract.EXPORTS))
def test_spec_matches_raw_table_ddl(name):
    """Accepted frames are inserted by name, but dbt reads the DDL: the two must not drift."""
    con = duckdb.connect()
    ensure_schema(con)
    cols = con.sql(
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = 'raw' and table_name = '{name}' order by ordinal_position"
    ).fetchall()
    schema = raw_schema(contract.get_export(name))
    assert [c for c, _ in cols] == list(schema)
    assert [t for _, t in cols] == [DUCK_TYPES[d] for d in schema.values()]


@pytest.mark.parametrize("name", sorted(contract.EXPORTS))
def test_column_order_matches_contract_tables(name):
    assert list(contract.get_export(name).column_names) == HEADERS[name]


def test_enum_values_are_the_architecture_sets():
    o, f, lt, a = (contract.get_export(n) for n in ("orders", "follows", "live_traffic", "accounts"))
    sources = {"follow", "discovery", "nearby", "search", "short_video", "paid", "other"}
    assert set(o.column("traffic_source").values) == sources
    assert set(f.column("traffic_source").values) == sources
    assert set(lt.column("traffic_source").values) == sources
    assert set(o.column("status").values) == {"paid", "shipped", "completed", "refunded", "cancelled"}
    assert set(f.column("action").values) == {"follow", "unfollow"}
    assert set(a.column("role").values) == {"flagship", "store", "anchor", "distributor"}


def test_chinese_aliases():
    src = contract.get_export("orders").column("traffic_source").alias_map()
    assert src["精选"] == "discovery" and src["同城"] == "nearby" and src["磁力金牛"] == "paid"
    assert src["关注页"] == "follow" and src["short_video"] == "short_video"


def test_header_map_is_case_space_and_width_insensitive():
    hm = contract.get_export("live_traffic").header_map()
    assert hm[contract.normalize_header("  Watch_Seconds ")] == "watch_seconds"
    assert hm[contract.normalize_header("观看时长(秒)")] == "watch_seconds"
    assert hm[contract.normalize_header("观看时长（秒）")] == "watch_seconds"  # full-width parens
    assert hm[contract.normalize_header("直播场次ID")] == "live_session_id"
    assert hm[contract.normalize_header("直播场次id")] == "live_session_id"


def test_optional_and_required_columns():
    o = contract.get_export("orders")
    assert [c.name for c in o.columns if not c.required] == [
        "live_session_id", "product_id", "category", "refund_amount", "paid_at",
    ]
    assert o.column("refund_amount").default == "0"
    assert contract.get_export("follows").column("traffic_source").default == "other"
    with pytest.raises(ValueError, match="unknown export"):
        contract.get_export("refunds")
