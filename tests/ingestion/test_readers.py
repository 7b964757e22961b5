"""Discovery, decoding (UTF-8 / BOM / GBK / parquet), header mapping, file-level rejections."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingestion import FileRejected, discover, read_export_file
from ingestion.readers import decode_csv_bytes, is_utf8

from .conftest import VALID, csv_text, row, write_rows

DAY = "2026-06-16"

ZH_ORDER_HEADER = ["订单号", "买家ID", "账号ID", "直播场次ID", "流量来源", "商品ID", "类目", "数量",
                   "实付金额", "退款金额", "订单状态", "支付时间", "更新时间"]


def read(landing: Path, rel: str, export: str = "orders"):
    return read_export_file(landing / rel, export, landing_root=landing)


# --------------------------------------------------------------------------- discovery


def test_discover(landing):
    for rel in [
        "accounts.csv", "accounts_2026-07.parquet", "accounts_old.txt", "readme.md",
        "2026-06-17/orders.csv", "2026-06-16/orders_part2.csv", "2026-06-16/orders.csv",
        "2026-06-16/Orders_extra.PARQUET", "2026-06-16/follows.csv", "2026-06-16/live_traffic_a.csv",
        "2026-06-16/orders.xlsx", "2026-06-16/notes.csv", "2026-06-16/~$orders.csv", "2026-06-16/~$orders.xlsx",
        "2026-13-01/orders.csv", "misc/orders.csv", "2026-06-18/readme.txt",
    ]:
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        (landing / rel).write_text("x")
    (landing / "2026-06-16" / "sub").mkdir()
    (landing / "2026-06-16" / "sub" / "orders.csv").write_text("x")

    got = discover(landing)
    assert got.roster.name == "accounts_2026-07.parquet"  # the name that sorts last wins
    assert [p.name for p in got.roster_files] == ["accounts.csv", "accounts_2026-07.parquet"]
    assert list(got.dates) == [dt.date(2026, 6, 16), dt.date(2026, 6, 17)]
    day = got.dates[dt.date(2026, 6, 16)]
    # .xlsx is an export format since contract v2 (an Excel lock file ~$orders.xlsx is not).
    assert [p.name for p in day["orders"]] == ["Orders_extra.PARQUET", "orders.csv", "orders.xlsx",
                                               "orders_part2.csv"]
    assert [p.name for p in day["follows"]] == ["follows.csv"]
    assert [p.name for p in day["live_traffic"]] == ["live_traffic_a.csv"]
    assert list(got.dates[dt.date(2026, 6, 17)]) == ["orders"]
    assert [(d, e) for d, e, _ in got.files([dt.date(2026, 6, 17)])] == [(dt.date(2026, 6, 17), "orders")]


def test_discover_empty_landing(landing):
    got = discover(landing)
    assert got.roster is None and got.dates == {}


# --------------------------------------------------------------------------- encodings


def _zh_order_text(**overrides) -> str:
    r = row("orders", traffic_source="关注页", status="已完成", gmv="¥1,299.00", **overrides)
    return csv_text(ZH_ORDER_HEADER, [[r[c] for c in VALID["orders"]]])


def test_gbk_file_with_chinese_headers_and_values(landing):
    path = landing / DAY / "orders.csv"
    path.parent.mkdir()
    data = _zh_order_text(category="美妆护肤").encode("gb18030")
    assert data.decode("gbk", errors="ignore")  # genuinely GBK-family bytes...
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # ...that are not UTF-8
    path.write_bytes(data)
    b = read(landing, f"{DAY}/orders.csv")
    assert b.rows_read == 1 and b.rejected.height == 0
    rec = b.accepted.to_dicts()[0]
    assert rec["category"] == "美妆护肤" and rec["traffic_source"] == "follow"
    assert rec["status"] == "completed" and rec["gmv"] == Decimal("1299.00")
    assert b.source_file == f"{DAY}/orders.csv" and b.landing_date == dt.date(2026, 6, 16)


def test_gbk_plain_codec_bytes(landing):
    """Bytes from Python's 'gbk' codec (no ¥, which GBK lacks) decode as GB18030 too."""
    path = landing / DAY / "orders.csv"
    path.parent.mkdir()
    text = _zh_order_text().replace("¥", "")
    path.write_bytes(text.encode("gbk"))
    assert read(landing, f"{DAY}/orders.csv").accepted["gmv"].to_list() == [Decimal("1299.00")]


def test_utf8_bom_file(landing):
    path = landing / DAY / "orders.csv"
    path.parent.mkdir()
    path.write_bytes(b"\xef\xbb\xbf" + _zh_order_text().encode("utf-8"))
    b = read(landing, f"{DAY}/orders.csv")
    assert b.accepted.height == 1 and b.accepted["order_id"].to_list() == ["o1"]


def test_crlf_line_endings(landing):
    path = landing / DAY / "orders.csv"
    path.parent.mkdir()
    path.write_bytes(_zh_order_text().replace("\n", "\r\n").encode("utf-8"))
    b = read(landing, f"{DAY}/orders.csv")
    assert b.accepted["updated_at"].to_list() == [dt.datetime(2026, 6, 16, 10, 5)]


def test_parquet_with_typed_values_and_nulls(landing):
    path = landing / DAY / "orders_a.parquet"
    path.parent.mkdir()
    utc = dt.timezone.utc
    pl.DataFrame(
        {
            "订单号": ["o1", "o2", "o3"],
            "买家ID": ["b1", "b2", "b3"],
            "账号ID": ["a1", "a1", "a1"],
            "流量来源": ["精选", "SEARCH", "同城"],
            "数量": [2.0, 1.0, 1.5],  # pandas-style float integers; 1.5 is not an integer
            "实付金额": pl.Series(["12.50", "0.00", "3.00"]).cast(pl.Decimal(10, 2)),
            "退款金额": [None, 1.25, None],
            "订单状态": ["paid", "cancelled", "paid"],
            "支付时间": [dt.datetime(2026, 6, 16, 2, tzinfo=utc), None, dt.datetime(2026, 6, 16, 2, tzinfo=utc)],
            "更新时间": [dt.datetime(2026, 6, 16, 11, 0, 0, 500000)] * 3,
            "手机号": ["13800138000"] * 3,
        }
    ).write_parquet(path)
    b = read(landing, f"{DAY}/orders_a.parquet")
    assert b.rows_read == 3
    acc = b.accepted.sort("order_id").to_dicts()
    assert [r["order_id"] for r in acc] == ["o1"]
    assert acc[0]["quantity"] == 2 and acc[0]["traffic_source"] == "discovery"
    assert acc[0]["paid_at"] == dt.datetime(2026, 6, 16, 10, 0)  # UTC instant -> Shanghai local
    assert acc[0]["updated_at"] == dt.datetime(2026, 6, 16, 11, 0, 0, 500000)
    assert acc[0]["refund_amount"] == Decimal("0") and acc[0]["gmv"] == Decimal("12.50")
    rej = {r["row_number"]: r["reasons"] for r in b.rejected.to_dicts()}
    assert rej == {2: ["refund_amount > gmv"], 3: ["quantity: not an integer ('1.5')"]}
    assert "手机号" not in b.rejected["raw_record"][0] and "13800138000" not in b.rejected["raw_record"][0]


# --------------------------------------------------------------------------- headers


def test_headers_ignore_case_spaces_and_extra_columns(landing):
    header = ["  ORDER_ID ", "Buyer_Id", " 账号ID", "traffic_source", "QUANTITY", "gmv", "Status",
              "paid_at", "updated_at", "收货人", "收货地址", "unrelated"]
    r = row("orders")
    text = csv_text(header, [[r["order_id"], "b1", "a1", "follow", "1", "5", "paid",
                              r["paid_at"], r["updated_at"], "张三", "某地", "zzz"]])
    (landing / DAY).mkdir()
    (landing / DAY / "orders.csv").write_text(text)
    b = read(landing, f"{DAY}/orders.csv")
    rec = b.accepted.to_dicts()[0]
    # optional columns that are absent read as empty
    assert rec["live_session_id"] is None and rec["category"] is None
    assert rec["refund_amount"] == Decimal("0")
    assert list(b.accepted.columns)[:13] == list(VALID["orders"])


def test_header_only_file_has_no_rows(landing):
    write_rows(landing / DAY / "follows.csv", "follows", [])
    b = read(landing, f"{DAY}/follows.csv", "follows")
    assert b.rows_read == 0 and b.accepted.height == 0 and b.rejected.height == 0


def test_blank_lines_are_skipped_and_row_numbers_kept(landing):
    r = row("follows")
    good = ",".join(r[c] for c in VALID["follows"])
    bad = good.replace("follow,", "like,", 1)
    text = ",".join(VALID["follows"]) + "\n" + good + "\n\n" + ",,,,,,\n" + bad + "\n\n"
    (landing / DAY).mkdir()
    (landing / DAY / "follows.csv").write_text(text)
    b = read(landing, f"{DAY}/follows.csv", "follows")
    assert b.rows_read == 2
    assert b.accepted["_row_number"].to_list() == [1]
    assert b.rejected["row_number"].to_list() == [4]


def test_quoted_empty_and_short_rows(landing):
    text = ",".join(VALID["follows"]) + '\ne1,"",a1,follow,"",,2026-06-16 10:00:00\ne2,u2,a1\n'
    (landing / DAY).mkdir()
    (landing / DAY / "follows.csv").write_text(text)
    b = read(landing, f"{DAY}/follows.csv", "follows")
    rej = {r["row_number"]: r["reasons"] for r in b.rejected.to_dicts()}
    assert rej[1] == ["user_id: required value empty"]
    assert rej[2] == ["action: required value empty", "occurred_at: required value empty"]
    assert json.loads(b.rejected.filter(pl.col("row_number") == 1)["raw_record"][0])["user_id"] == ""


# --------------------------------------------------------------------------- file-level errors


def _rejected(landing: Path, rel: str, data: bytes, export: str = "orders") -> str:
    (landing / rel).parent.mkdir(parents=True, exist_ok=True)
    (landing / rel).write_bytes(data)
    with pytest.raises(FileRejected) as info:
        read(landing, rel, export)
    msg = str(info.value)
    assert msg.startswith(f"{rel}: ") and "\n" not in msg
    assert info.value.path == rel
    return msg


def test_missing_required_column(landing):
    header = [h for h in VALID["orders"] if h != "gmv"]
    msg = _rejected(landing, f"{DAY}/orders.csv", csv_text(header, []).encode())
    assert msg == f"{DAY}/orders.csv: required column 'gmv' (实付金额) missing"


def test_missing_several_required_columns(landing):
    msg = _rejected(landing, f"{DAY}/live_traffic.csv", b"live_session_id,account_id\ns1,a1\n", "live_traffic")
    assert msg == (f"{DAY}/live_traffic.csv: required columns 'started_at' (开播时间), "
                   "'traffic_source' (流量来源), 'viewers' (观看人数), 'watch_seconds' (观看时长(秒)) missing")


def test_missing_column_in_parquet(landing):
    buf = io.BytesIO()
    pl.DataFrame({"event_id": ["e1"]}).write_parquet(buf)
    msg = _rejected(landing, f"{DAY}/follows.parquet", buf.getvalue(), "follows")
    assert "required columns 'user_id' (用户ID)" in msg


def test_undecodable_file(landing):
    data = csv_text(list(VALID["orders"]), []).encode() + b"o1,\x80\xff,x\n"
    msg = _rejected(landing, f"{DAY}/orders.csv", data)
    assert "undecodable" in msg and "UTF-8" in msg and "GB18030" in msg


def test_utf16_file(landing):
    data = csv_text(list(VALID["orders"]), []).encode("utf-16")
    assert "UTF-16" in _rejected(landing, f"{DAY}/orders.csv", data)


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_empty_file(landing, data):
    assert _rejected(landing, f"{DAY}/orders.csv", data) == f"{DAY}/orders.csv: empty file (no header row)"


def test_empty_parquet_file(landing):
    assert "empty file" in _rejected(landing, f"{DAY}/orders.parquet", b"")


def test_corrupt_parquet(landing):
    assert "not a readable parquet file" in _rejected(landing, f"{DAY}/orders.parquet", b"PAR1 garbage")


def test_two_headers_for_one_column(landing):
    msg = _rejected(landing, f"{DAY}/orders.csv", ("order_id,订单号," + ",".join(list(VALID["orders"])[1:]) + "\n").encode())
    assert "headers 'order_id' and '订单号' both resolve to column 'order_id'" in msg


def test_ragged_csv(landing):
    text = csv_text(list(VALID["orders"]), [list(VALID["orders"].values())]) + "x,y,z,,,,,,,,,,,,,,,,,\n"
    assert "malformed CSV" in _rejected(landing, f"{DAY}/orders.csv", text.encode())


def test_file_outside_a_day_folder(landing):
    write_rows(landing / "stray" / "orders.csv", "orders", [row("orders")])
    with pytest.raises(FileRejected, match="stray/orders.csv: not inside a YYYY-MM-DD"):
        read(landing, "stray/orders.csv")


@pytest.mark.parametrize(
    "data",
    [b"", b"plain ascii,1\n", "订单,¥5\n".encode(), "订单".encode("gb18030"), b"\xed\xa0\x80",
     b"\xc0\x80", b"\xf4\x90\x80\x80", b"\xe8\xae", b"ok\xff", "a\u3000b\u00a0".encode(),
     b"\xef\xbb\xbfa,b\n"],
)
def test_is_utf8_agrees_with_python_decoder(data):
    # The fast check (Polars' cast) must refuse exactly what bytes.decode("utf-8") refuses:
    # surrogates, overlong forms, code points above U+10FFFF, truncated sequences.
    try:
        data.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    assert is_utf8(data) is expected


def test_bom_with_invalid_utf8_names_the_byte():
    with pytest.raises(FileRejected, match=r"UTF-8 BOM but invalid UTF-8 at byte 5"):
        decode_csv_bytes(b"\xef\xbb\xbfab\xffc", "x.csv")
