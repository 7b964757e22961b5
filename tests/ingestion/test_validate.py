"""Row rules: parsing to canonical values, and every quarantine reason, exactly."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest

from ingestion.contract import get_export
from ingestion.validate import REJECTED_SCHEMA, raw_schema, validate_frame

from .conftest import row

DAY = dt.date(2026, 6, 16)


def run(export: str, *rows: dict[str, str | None]) -> tuple[pl.DataFrame, pl.DataFrame]:
    spec = get_export(export)
    frame = pl.DataFrame(
        {c: [r.get(c) for r in rows] for c in spec.column_names},
        schema={c: pl.String for c in spec.column_names},
    ).with_row_index("_row_number", offset=1)
    return validate_frame(frame, spec, source_file=f"2026-06-16/{export}.csv", landing_date=DAY)


def reasons(export: str, **overrides: str | None) -> list[str]:
    accepted, rejected = run(export, row(export, **overrides))
    assert accepted.height + rejected.height == 1
    return rejected["reasons"].to_list()[0] if rejected.height else []


def accepted_one(export: str, **overrides: str | None) -> dict:
    accepted, rejected = run(export, row(export, **overrides))
    assert rejected.height == 0, rejected["reasons"].to_list()
    return accepted.to_dicts()[0]


# --------------------------------------------------------------------------- accepted values


def test_valid_order_is_typed_in_raw_order():
    accepted, rejected = run("orders", row("orders"))
    assert rejected.height == 0
    assert dict(accepted.schema) == raw_schema(get_export("orders"))
    rec = accepted.to_dicts()[0]
    assert rec["gmv"] == Decimal("100.00") and rec["refund_amount"] == Decimal("0.00")
    assert rec["paid_at"] == dt.datetime(2026, 6, 16, 10, 0)
    assert rec["_source_file"] == "2026-06-16/orders.csv"
    assert rec["_landing_date"] == DAY and rec["_row_number"] == 1


def test_values_trimmed_and_empty_optional_text_is_null():
    rec = accepted_one("orders", order_id="  o9 ", live_session_id="   ", product_id='', category=None)
    assert rec["order_id"] == "o9"
    assert rec["live_session_id"] is None and rec["product_id"] is None and rec["category"] is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("¥1,299.00", "1299.00"),
        ("1299", "1299.00"),
        ("1,299.5", "1299.50"),
        ("￥12.3", "12.30"),
        ("¥ 8", "8.00"),
        ("0.01", "0.01"),
        ("12,345,678.90", "12345678.90"),
        ("1234567890123456.99", "1234567890123456.99"),  # DECIMAL(18,2) upper range, exact
    ],
)
def test_money_formats(text, expected):
    assert accepted_one("orders", gmv=text)["gmv"] == Decimal(expected)


@pytest.mark.parametrize("text", ["12.345", "1,29", "12,34.5", ".5", "1e3", "¥", "12 3", "NaN",
                                  "12345678901234567", "-¥-5", "1.2.3", "USD 5"])
def test_money_rejects(text):
    assert reasons("orders", gmv=text) == [f"gmv: not a money amount ('{text}')"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-06-16 10:00:00", dt.datetime(2026, 6, 16, 10, 0)),
        ("2026/06/16 10:00:00", dt.datetime(2026, 6, 16, 10, 0)),
        ("2026-06-16T10:00:00", dt.datetime(2026, 6, 16, 10, 0)),
        ("2026-06-16T10:00:00.250", dt.datetime(2026, 6, 16, 10, 0, 0, 250000)),
        ("2026-06-16 10:00:00.123456789", dt.datetime(2026, 6, 16, 10, 0, 0, 123456)),
        ("2026-06-16T02:00:00Z", dt.datetime(2026, 6, 16, 10, 0)),
        ("2026-06-16T02:00:00.5Z", dt.datetime(2026, 6, 16, 10, 0, 0, 500000)),
        ("2026-06-16T10:00:00+08:00", dt.datetime(2026, 6, 16, 10, 0)),
        ("2026-06-15T21:00:00-05:00", dt.datetime(2026, 6, 16, 10, 0)),
        ("2026-06-16T07:30:00+05:30", dt.datetime(2026, 6, 16, 10, 0)),
        ("2026-06-16T01:00:00+09:00", dt.datetime(2026, 6, 16, 0, 0)),
        ("2026-06-16T18:00:00+00:00", dt.datetime(2026, 6, 17, 2, 0)),  # crosses local midnight
    ],
)
def test_timestamp_formats_and_offsets(text, expected):
    assert accepted_one("orders", updated_at=text)["updated_at"] == expected


@pytest.mark.parametrize("text", ["2026-06-16", "2026-6-16 10:00:00", "2026-02-30 10:00:00",
                                  "2026-06-16 24:00:00", "2026-06-16 10:00:60", "16/06/2026 10:00:00",
                                  "2026-06/16 10:00:00", "2026-06-16 10:00", "yesterday",
                                  "2026-06-16T10:00:00+8"])
def test_timestamp_rejects(text):
    assert reasons("orders", updated_at=text) == [f"updated_at: not a timestamp ('{text}')"]


@pytest.mark.parametrize("text, expected", [("2025-01-31", dt.date(2025, 1, 31)),
                                            ("2025/01/31", dt.date(2025, 1, 31))])
def test_date_formats(text, expected):
    assert accepted_one("accounts", opened_on=text)["opened_on"] == expected


def test_date_rejects():
    assert reasons("accounts", opened_on="2025.01.31") == ["opened_on: not a date ('2025.01.31')"]
    assert reasons("accounts", opened_on="2025-02-30") == ["opened_on: not a date ('2025-02-30')"]


@pytest.mark.parametrize(
    "export, column, text, expected",
    [
        ("orders", "traffic_source", "关注页", "follow"),
        ("orders", "traffic_source", "精选", "discovery"),
        ("orders", "traffic_source", "发现页", "discovery"),
        ("orders", "traffic_source", "同城", "nearby"),
        ("orders", "traffic_source", "同城页", "nearby"),
        ("orders", "traffic_source", "搜索", "search"),
        ("orders", "traffic_source", "短视频", "short_video"),
        ("orders", "traffic_source", "磁力金牛", "paid"),
        ("orders", "traffic_source", "付费推广", "paid"),
        ("orders", "traffic_source", "其他", "other"),
        ("orders", "traffic_source", "Short_Video", "short_video"),
        ("orders", "traffic_source", " DISCOVERY ", "discovery"),
        ("orders", "status", "已完成", "completed"),
        ("orders", "status", "已退款", "refunded"),
        ("orders", "status", "Shipped", "shipped"),
        ("follows", "action", "取关", "unfollow"),
        ("follows", "action", "关注", "follow"),
        ("accounts", "role", "门店号", "store"),
        ("accounts", "role", "分销号", "distributor"),
        ("accounts", "role", "ANCHOR", "anchor"),
    ],
)
def test_enum_aliases(export, column, text, expected):
    assert accepted_one(export, **{column: text})[column] == expected


def test_follows_empty_traffic_source_is_other():
    assert accepted_one("follows", traffic_source="")["traffic_source"] == "other"
    assert accepted_one("follows", traffic_source=None)["traffic_source"] == "other"


def test_refund_amount_empty_is_zero_and_equal_to_gmv_is_fine():
    assert accepted_one("orders", refund_amount="")["refund_amount"] == Decimal("0")
    assert accepted_one("orders", gmv="50", refund_amount="¥50.00")["refund_amount"] == Decimal("50")


def test_cancelled_order_may_lack_paid_at():
    rec = accepted_one("orders", status="已取消", paid_at="")
    assert rec["status"] == "cancelled" and rec["paid_at"] is None


def test_still_live_session_has_no_end():
    assert accepted_one("live_traffic", ended_at="")["ended_at"] is None


def test_zero_viewers_and_watch_seconds_are_fine():
    rec = accepted_one("live_traffic", viewers="0", watch_seconds="0")
    assert rec["viewers"] == 0 and rec["watch_seconds"] == 0


# --------------------------------------------------------------------------- one reason each


@pytest.mark.parametrize(
    "export, overrides, expected",
    [
        ("orders", {"order_id": ""}, "order_id: required value empty"),
        ("orders", {"buyer_id": "  "}, "buyer_id: required value empty"),
        ("orders", {"traffic_source": ""}, "traffic_source: required value empty"),
        ("orders", {"updated_at": None}, "updated_at: required value empty"),
        ("orders", {"quantity": "1.5"}, "quantity: not an integer ('1.5')"),
        ("orders", {"quantity": "1,000"}, "quantity: not an integer ('1,000')"),
        ("orders", {"quantity": "0"}, "quantity < 1"),
        ("orders", {"quantity": "-2"}, "quantity < 1"),
        ("orders", {"gmv": "-1.00"}, "gmv < 0"),
        ("orders", {"gmv": "¥-3"}, "gmv < 0"),
        ("orders", {"refund_amount": "-0.01"}, "refund_amount < 0"),
        ("orders", {"refund_amount": "100.01"}, "refund_amount > gmv"),
        ("orders", {"status": "lost"}, "status: unknown value 'lost'"),
        ("orders", {"traffic_source": "tiktok"}, "traffic_source: unknown value 'tiktok'"),
        ("orders", {"paid_at": ""}, "paid_at: required unless status is cancelled"),
        ("orders", {"paid_at": "soon"}, "paid_at: not a timestamp ('soon')"),
        ("orders", {"status": "cancelled", "paid_at": "soon"}, "paid_at: not a timestamp ('soon')"),
        ("follows", {"action": "like"}, "action: unknown value 'like'"),
        ("follows", {"traffic_source": "tv"}, "traffic_source: unknown value 'tv'"),
        ("follows", {"occurred_at": ""}, "occurred_at: required value empty"),
        ("live_traffic", {"viewers": "-1"}, "viewers < 0"),
        ("live_traffic", {"watch_seconds": "-60"}, "watch_seconds < 0"),
        ("live_traffic", {"viewers": "ten"}, "viewers: not an integer ('ten')"),
        ("live_traffic", {"ended_at": "2026-06-16 19:59:59"}, "ended_at < started_at"),
        ("live_traffic", {"ended_at": "later"}, "ended_at: not a timestamp ('later')"),
        ("accounts", {"role": "boss"}, "role: unknown value 'boss'"),
        ("accounts", {"brand": ""}, "brand: required value empty"),
        ("accounts", {"account_name": None}, "account_name: required value empty"),
    ],
)
def test_each_rule_has_its_exact_reason(export, overrides, expected):
    assert reasons(export, **overrides) == [expected]


def test_row_with_several_reasons_lists_them_all_in_column_order():
    got = reasons(
        "orders", order_id="", traffic_source="lost", quantity="0", gmv="12.345",
        status="paid", paid_at="", updated_at="2026-13-01 00:00:00",
    )
    assert got == [
        "order_id: required value empty",
        "traffic_source: unknown value 'lost'",
        "quantity < 1",
        "gmv: not a money amount ('12.345')",
        "updated_at: not a timestamp ('2026-13-01 00:00:00')",
        "paid_at: required unless status is cancelled",
    ]


def test_unparsable_inputs_do_not_add_cross_column_reasons():
    # refund cannot be compared with an unparsable gmv: only the parse reason is given.
    assert reasons("orders", gmv="abc", refund_amount="5") == ["gmv: not a money amount ('abc')"]
    assert reasons("live_traffic", started_at="x") == ["started_at: not a timestamp ('x')"]


def test_unknown_status_still_requires_paid_at():
    assert reasons("orders", status="lost", paid_at="") == [
        "status: unknown value 'lost'",
        "paid_at: required unless status is cancelled",
    ]


def test_long_values_are_cut_in_reasons():
    got = reasons("orders", gmv="9" * 20 + "x" * 40)
    assert got == [f"gmv: not a money amount ('{'9' * 20 + 'x' * 20}…')"]


def test_rejected_rows_carry_lineage_and_raw_record():
    accepted, rejected = run(
        "orders", row("orders"), row("orders", order_id="o2", gmv=" 12.345 ", category=None)
    )
    assert accepted.height == 1 and rejected.height == 1
    assert dict(rejected.schema) == REJECTED_SCHEMA
    rec = rejected.to_dicts()[0]
    assert rec["export"] == "orders" and rec["source_file"] == "2026-06-16/orders.csv"
    assert rec["row_number"] == 2 and rec["landing_date"] == DAY
    raw = json.loads(rec["raw_record"])
    assert list(raw) == list(get_export("orders").column_names)
    assert raw["gmv"] == " 12.345 "  # as read, untrimmed
    assert raw["category"] is None


def test_blank_rows_are_not_rows():
    blank = {c: "" for c in get_export("orders").column_names}
    accepted, rejected = run("orders", row("orders"), blank, {"order_id": "  "}, row("orders", order_id="x", gmv="bad"))
    assert accepted["_row_number"].to_list() == [1]
    assert rejected["row_number"].to_list() == [4]
