"""Merchant exports (contract v2 §1, §6): .xlsx workbooks, mapping.yml, Excel-damaged ids."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import duckdb
import pytest
import xlsxwriter

from ingestion import FileRejected, FilesRejected, ingest_all, read_export_file
from ingestion.load import pending_landing_dates
from ingestion.mapping import MappingError, load_mapping, parse_mapping

from .conftest import HEADERS, csv_text, row, write_rows

DAY = "2026-06-16"


def write_xlsx(path: Path, header: list[str], rows: list[list]) -> Path:
    """A workbook whose cells keep their Python types: numbers, date-times, text, None = empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("导出数据")
    ts = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, header)
    for r, values in enumerate(rows, 1):
        for c, v in enumerate(values):
            if v is None:
                continue
            if isinstance(v, dt.datetime):
                ws.write_datetime(r, c, v, ts)
            elif isinstance(v, dt.date):
                ws.write_datetime(r, c, dt.datetime.combine(v, dt.time()), day)
            elif isinstance(v, (int, float)):
                ws.write_number(r, c, v)
            else:
                ws.write_string(r, c, v)
    wb.add_worksheet("说明").write(0, 0, "the second sheet is ignored")
    wb.close()
    return path


def typed_order(**overrides) -> dict:
    out = {
        "order_id": "o1", "buyer_id": "b1", "account_id": "a1", "live_session_id": "s1",
        "traffic_source": "follow", "product_id": 10001, "category": "beauty", "quantity": 2,
        "gmv": 129.9, "refund_amount": None, "status": "paid",
        "paid_at": dt.datetime(2026, 6, 16, 10, 0, 0), "updated_at": dt.datetime(2026, 6, 16, 10, 5, 0),
    }
    out.update(overrides)
    return out


# --------------------------------------------------------------------------- .xlsx


def test_xlsx_cells_read_as_contract_text(landing):
    path = write_xlsx(landing / DAY / "orders.xlsx", HEADERS["orders"],
                      [list(typed_order().values()),
                       list(typed_order(order_id="o2", gmv=1299, quantity=1, refund_amount=0.5,
                                        paid_at="2026/06/16 11:00:00").values())])
    batch = read_export_file(path, "orders", landing_root=landing)
    assert batch.rows_rejected == 0, batch.rejected["reasons"].to_list()
    got = batch.accepted.select("order_id", "product_id", "quantity", "gmv", "refund_amount", "paid_at").rows()
    assert [(r[0], r[1], r[2], str(r[3]), str(r[4]), r[5]) for r in got] == [
        ("o1", "10001", 2, "129.90", "0.00", dt.datetime(2026, 6, 16, 10)),
        ("o2", "10001", 1, "1299.00", "0.50", dt.datetime(2026, 6, 16, 11)),
    ]
    assert batch.accepted["_row_number"].to_list() == [1, 2]


def test_xlsx_and_csv_of_the_same_rows_read_the_same(landing):
    typed = [typed_order(order_id=f"o{i}", gmv=i * 10.5, quantity=i) for i in range(1, 4)]
    xlsx = write_xlsx(landing / DAY / "orders.xlsx", HEADERS["orders"], [list(t.values()) for t in typed])
    as_text = [{k: ("" if v is None else v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, dt.datetime)
                    else str(v)) for k, v in t.items()} for t in typed]
    csv = write_rows(landing / DAY / "orders_csv.csv", "orders", as_text)
    a = read_export_file(xlsx, "orders", landing_root=landing).accepted.drop("_source_file")
    b = read_export_file(csv, "orders", landing_root=landing).accepted.drop("_source_file")
    assert a.equals(b)


def test_xlsx_date_column_and_big_numbers(landing):
    header = HEADERS["accounts"]
    path = write_xlsx(landing / "accounts.xlsx", header, [
        # an account id typed as a number keeps all its digits and no '.0'; a date-time cell in a
        # date column is its date; an empty cell is empty.
        [123456789012345, "Flagship", "B", "品牌号", None, None, dt.datetime(2025, 1, 1, 9, 30)],
        ["a2", "Store", "B", "store", "杭州", 123456789012345, dt.date(2025, 2, 1)],
    ])
    batch = read_export_file(path, "accounts", landing_root=landing)
    assert batch.rows_rejected == 0, batch.rejected["reasons"].to_list()
    assert batch.accepted.select("account_id", "role", "city", "parent_account_id", "opened_on").rows() == [
        ("123456789012345", "flagship", None, None, dt.date(2025, 1, 1)),
        ("a2", "store", "杭州", "123456789012345", dt.date(2025, 2, 1)),
    ]


def test_broken_workbook_is_a_file_that_cannot_be_read(landing):
    path = landing / DAY / "orders.xlsx"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(FileRejected) as e:
        read_export_file(path, "orders", landing_root=landing)
    assert str(e.value).startswith(f"{DAY}/orders.xlsx: workbook cannot be opened")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name, content", [
    ("orders.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504),
    # an old .xls renamed to .xlsx is refused the same way
    ("orders.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504),
])
def test_binary_xls_is_refused_by_name(landing, name, content):
    path = landing / DAY / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    con = duckdb.connect()
    with pytest.raises(FilesRejected) as e:
        ingest_all(con, landing)
    assert str(e.value) == (f"{DAY}/{name}: old binary Excel workbook (.xls) cannot be read: save it as "
                            ".xlsx (Excel: File > Save As > Excel Workbook) or as CSV")


# --------------------------------------------------------------------------- mapping.yml

MAPPING = """\
orders:
  headers:
    订单编号: order_id
    实付款: gmv
    付款时间: paid_at
  values:
    status:
      交易成功: completed
      交易关闭: cancelled
      待发货: paid
follows:
  headers:
    粉丝ID: user_id
"""


@pytest.mark.parametrize("text, message", [
    ("orderz:\n  headers: {a: order_id}\n",
     "mapping.yml: orderz: unknown export (expected one of accounts, follows, live_traffic, orders)"),
    ("orders:\n  headers:\n    订单编号: order_no\n",
     "mapping.yml: orders.headers.订单编号: unknown column 'order_no' of orders (expected one of order_id, "),
    ("orders:\n  values:\n    status:\n      交易成功: done\n",
     "mapping.yml: orders.values.status.交易成功: unknown value 'done' of status (expected one of paid, "),
    ("orders:\n  values:\n    gmv:\n      x: y\n",
     "mapping.yml: orders.values.gmv: not an enumerated column; values can be mapped for traffic_source, status"),
    ("orders:\n  header:\n    a: order_id\n", "mapping.yml: orders.header: unknown key (expected 'headers' or 'values')"),
    ("orders: [a, b]\n", "mapping.yml: orders: expected 'headers:' and/or 'values:', got list"),
    ("orders:\n  headers: {a: order_id\n", "mapping.yml: not valid YAML at line 3, column 1: expected ',' or '}'"),
    ("- orders\n", "mapping.yml: expected a mapping of export names"),
    ("orders:\n  headers:\n    编号: order_id\n    ' 编号 ': buyer_id\n",
     "mapping.yml: orders.headers. 编号 : maps to 'buyer_id' but the same header"),
])
def test_bad_mapping_fails_before_any_file_is_read(landing, text, message):
    (landing / "mapping.yml").write_text(text, encoding="utf-8")
    write_rows(landing / DAY / "orders.csv", "orders", [row("orders")])
    con = duckdb.connect()
    with pytest.raises(MappingError) as e:
        ingest_all(con, landing)
    assert str(e.value).startswith(message), str(e.value)
    assert "\n" not in str(e.value)
    # nothing was read or written
    assert con.execute("select count(*) from audit.ingested_files").fetchone()[0] == 0


def test_mapping_is_a_plain_picklable_value():
    m = parse_mapping(MAPPING)
    assert pickle.loads(pickle.dumps(m)) == m
    assert m.headers["orders"]["订单编号"] == "order_id"
    assert m.values["orders"]["status"]["交易成功"] == "completed"


def merchant_orders(landing: Path, name: str = "orders.csv", **overrides) -> Path:
    header = ["订单编号", "买家ID", "账号ID", "流量来源", "数量", "实付款", "订单状态", "付款时间", "更新时间",
              "收货人"]
    values = {"订单编号": "o1", "买家ID": "b1", "账号ID": "a1", "流量来源": "关注页", "数量": "1",
              "实付款": "¥1,299.00", "订单状态": "交易成功", "付款时间": "2026-06-16 10:00:00",
              "更新时间": "2026-06-17 10:00:00", "收货人": "王伟"}
    rows = [dict(values), {**values, "订单编号": "o2", "订单状态": "交易关闭", "付款时间": ""},
            {**values, "订单编号": "o3", "订单状态": "待发货", **overrides}]
    path = landing / DAY / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(header, [[r[h] for h in header] for r in rows]), encoding="utf-8")
    return path


def test_mapping_applies_headers_and_values(landing):
    path = merchant_orders(landing)
    with pytest.raises(FileRejected) as e:
        read_export_file(path, "orders", landing_root=landing)
    # Without the mapping the error lists the headers it does not know.
    assert str(e.value) == (
        f"{DAY}/orders.csv: required columns 'order_id' (订单号), 'gmv' (实付金额) missing; unknown headers: "
        "'订单编号', '实付款', '付款时间', '收货人' (map them to contract columns in mapping.yml; "
        "`dualwheel doctor` suggests a mapping)")
    batch = read_export_file(path, "orders", landing_root=landing, mapping=parse_mapping(MAPPING))
    assert batch.rows_rejected == 0, batch.rejected["reasons"].to_list()
    assert batch.accepted.select("order_id", "status", "paid_at").rows() == [
        ("o1", "completed", dt.datetime(2026, 6, 16, 10)), ("o2", "cancelled", None),
        ("o3", "paid", dt.datetime(2026, 6, 16, 10))]
    assert "收货人" not in batch.rejected.columns and "王伟" not in str(batch.accepted.rows())


def test_two_headers_resolving_to_one_column_cannot_be_read(landing):
    # 订单编号 is mapped to order_id and the file also carries the built-in 订单号.
    path = merchant_orders(landing)
    text = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([text[0] + ",订单号"] + [t + ",x" for t in text[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(FileRejected) as e:
        read_export_file(path, "orders", landing_root=landing, mapping=parse_mapping(MAPPING))
    assert str(e.value) == (f"{DAY}/orders.csv: headers '订单编号' and '订单号' both resolve to column "
                            "'order_id' (keep one of them in the file, or map only one in mapping.yml)")


def test_several_headers_may_map_to_one_column(landing):
    mapping = parse_mapping("orders:\n  headers:\n    订单编号: order_id\n    订单编码: order_id\n"
                            "    实付款: gmv\n    付款时间: paid_at\n")
    batch = read_export_file(merchant_orders(landing), "orders", landing_root=landing, mapping=mapping)
    # the status words are not mapped here: quarantined with the value named
    assert batch.rejected["reasons"].to_list()[0] == ["status: unknown value '交易成功'"]


# --------------------------------------------------------------------------- Excel-damaged ids


@pytest.mark.parametrize("export, column", [
    ("orders", "order_id"), ("orders", "buyer_id"), ("orders", "account_id"), ("orders", "live_session_id"),
    ("follows", "event_id"), ("follows", "user_id"), ("live_traffic", "live_session_id"),
    ("accounts", "account_id"), ("accounts", "parent_account_id"),
])
def test_scientific_notation_ids_are_quarantined(landing, export, column):
    rel = "accounts.csv" if export == "accounts" else f"{DAY}/{export}.csv"
    path = write_rows(landing / rel, export, [row(export, **{column: "2.02406E+18"}), row(export)])
    batch = read_export_file(path, export, landing_root=landing)
    assert batch.rows_accepted == 1
    assert batch.rejected["reasons"].to_list() == [[
        f"{column}: scientific notation, Excel has rounded this id; export the file again and load it "
        "without opening and saving it in Excel ('2.02406E+18')"]]


def test_plain_ids_with_e_are_not_scientific(landing):
    path = write_rows(landing / DAY / "orders.csv", "orders",
                      [row("orders", order_id="E1234", buyer_id="2e5x", account_id="1E")])
    assert read_export_file(path, "orders", landing_root=landing).rows_rejected == 0


# --------------------------------------------------------------------------- change detection


def test_mapping_change_rereads_only_the_files_it_affects(landing):
    (landing / "mapping.yml").write_text(MAPPING, encoding="utf-8")
    merchant_orders(landing)
    write_rows(landing / DAY / "orders_contract.csv", "orders", [row("orders", order_id="c1")])
    write_rows(landing / DAY / "follows.csv", "follows", [row("follows")])
    write_rows(landing / "2026-06-17" / "live_traffic.csv", "live_traffic", [row("live_traffic")])
    con = duckdb.connect()
    first = ingest_all(con, landing)
    assert first.rows_rejected == 0 and first.count("loaded") == 4
    assert pending_landing_dates(con, landing) == []
    # Unchanged mapping: nothing is read again.
    assert ingest_all(con, landing).count("unchanged") == 4

    # Another contract value for a status word: both orders files have a status column, so both
    # are re-read (their rows may change); the follows and live_traffic files are not.
    second = MAPPING.replace("待发货: paid", "待发货: shipped")
    (landing / "mapping.yml").write_text(second, encoding="utf-8")
    assert pending_landing_dates(con, landing) == [dt.date(2026, 6, 16)]
    statuses = {r.path: r.status for r in ingest_all(con, landing).results}
    assert statuses == {f"{DAY}/orders.csv": "replaced", f"{DAY}/orders_contract.csv": "replaced",
                        f"{DAY}/follows.csv": "unchanged", "2026-06-17/live_traffic.csv": "unchanged"}
    assert con.execute("select status from raw.orders where order_id = 'o3'").fetchall() == [("shipped",)]

    # A header entry that only the merchant file carries: the contract-header file is not re-read.
    third = second.replace("    实付款: gmv\n", "    实付款: gmv\n    买家ID: buyer_id\n")
    (landing / "mapping.yml").write_text(third, encoding="utf-8")
    assert pending_landing_dates(con, landing) == [dt.date(2026, 6, 16)]
    statuses = {r.path: r.status for r in ingest_all(con, landing).results}
    assert statuses == {f"{DAY}/orders.csv": "replaced", f"{DAY}/orders_contract.csv": "unchanged",
                        f"{DAY}/follows.csv": "unchanged", "2026-06-17/live_traffic.csv": "unchanged"}

    # follows: the entry 粉丝ID names no header of follows.csv, so removing it changes nothing.
    (landing / "mapping.yml").write_text(second.replace("follows:\n  headers:\n    粉丝ID: user_id\n", ""),
                                         encoding="utf-8")
    assert pending_landing_dates(con, landing) == [dt.date(2026, 6, 16)]  # the 买家ID entry went away
    statuses = {r.path: r.status for r in ingest_all(con, landing).results}
    assert statuses[f"{DAY}/follows.csv"] == "unchanged" and statuses[f"{DAY}/orders.csv"] == "replaced"
    assert pending_landing_dates(con, landing) == []


def test_load_mapping_without_a_file_is_empty(tmp_path):
    assert not load_mapping(tmp_path).applies_to("orders")


def test_xlsx_roster_wins_over_csv_by_name(landing):
    write_rows(landing / "accounts.csv", "accounts", [row("accounts", account_name="from csv")])
    write_xlsx(landing / "accounts.xlsx", HEADERS["accounts"],
               [["a1", "from xlsx", "B", "flagship", None, None, None]])
    con = duckdb.connect()
    summary = ingest_all(con, landing)
    assert summary.roster.path == "accounts.xlsx"
    assert con.execute("select account_name from raw.accounts").fetchall() == [("from xlsx",)]


# --------------------------------------------------------------------------- doctor's mapping advice


def test_advice_lists_unknown_headers_and_values_with_rows_and_a_mapping_block(landing):
    from ingestion.mapping_advice import advise_mapping

    merchant_orders(landing)
    merchant_orders(landing, name="orders_part2.csv")
    write_rows(landing / DAY / "follows.csv", "follows", [row("follows", action="关注了")])
    advice = advise_mapping(landing)
    got = {(h.export, h.header): (h.files, h.rows, h.guess, h.personal) for h in advice.headers}
    assert got == {("orders", "订单编号"): (2, 6, "order_id", False), ("orders", "实付款"): (2, 6, "gmv", False),
                   ("orders", "付款时间"): (2, 6, "paid_at", False), ("orders", "收货人"): (2, 6, None, True)}
    assert {(v.column, v.value): (v.rows, v.guess) for v in advice.values} == {
        ("status", "交易成功"): (2, "completed"), ("status", "交易关闭"): (2, "cancelled"),
        ("status", "待发货"): (2, "paid"), ("action", "关注了"): (1, "follow")}
    block = advice.yaml()
    assert "    订单编号: order_id    # guess; 6 row(s) in 2 file(s)" in block
    assert "收货人" not in block  # receiver details are never suggested for mapping
    # The block, with its guesses accepted as they are, is a valid mapping that loads the files.
    (landing / "mapping.yml").write_text(block, encoding="utf-8")
    summary = ingest_all(duckdb.connect(), landing)
    assert summary.rows_rejected == 0 and summary.rows_accepted == 7
    assert not advise_mapping(landing)


# --------------------------------------------------------------------------- the CLI's last line


def test_cli_bad_mapping_and_doctor_advice(landing, tmp_path):
    from tests.conftest import cli_env, run_cli

    merchant_orders(landing)
    env = cli_env(tmp_path)
    doctor = run_cli("doctor", "--landing", str(landing), "-q", env=env)
    assert doctor.returncode == 1
    assert "    header '订单编号': 3 row(s) in 1 file(s) (closest contract column: order_id?)" in doctor.stdout
    assert "        订单编号: order_id    # guess; 3 row(s) in 1 file(s)" in doctor.stdout

    (landing / "mapping.yml").write_text("orders:\n  headers:\n    订单编号: order_no\n", encoding="utf-8")
    for command in ("doctor", "build"):
        proc = run_cli(command, "--landing", str(landing), "--warehouse", str(tmp_path / "wh" / "w.duckdb"), "-q",
                       env=env) if command == "build" else run_cli(command, "--landing", str(landing), "-q", env=env)
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines()[-1] == (
            "dualwheel: error: mapping.yml: orders.headers.订单编号: unknown column 'order_no' of orders "
            "(expected one of order_id, buyer_id, account_id, live_session_id, traffic_source, product_id, "
            "category, quantity, gmv, refund_amount, status, paid_at, updated_at)"), proc.stderr


def test_a_suggested_block_with_only_unguessed_entries_still_loads(landing):
    from ingestion.mapping_advice import advise_mapping

    write_rows(landing / DAY / "orders.csv", "orders", [row("orders", status="pending"), row("orders")])
    advice = advise_mapping(landing)
    assert [(v.value, v.rows, v.guess) for v in advice.values] == [("pending", 1, None)]
    (landing / "mapping.yml").write_text(advice.yaml(), encoding="utf-8")
    assert not load_mapping(landing).applies_to("orders")


def test_mapping_applies_to_parquet_too(landing):
    import polars as pl

    path = landing / DAY / "orders.parquet"
    path.parent.mkdir(parents=True)
    pl.DataFrame({"订单编号": ["o1"], "买家ID": ["b1"], "账号ID": ["a1"], "流量来源": ["关注页"], "数量": [1],
                  "实付款": [129.9], "订单状态": ["交易成功"], "付款时间": ["2026-06-16 10:00:00"],
                  "更新时间": ["2026-06-16 10:00:00"]}).write_parquet(path)
    batch = read_export_file(path, "orders", landing_root=landing, mapping=parse_mapping(MAPPING))
    assert batch.accepted.select("order_id", "status").rows() == [("o1", "completed")]


def test_xlsx_midnight_timestamp_is_a_timestamp(landing):
    # calamine hands a date-time cell at exactly 00:00:00 back as a date; in a timestamp column it
    # is that midnight, not a rejected "not a timestamp".
    midnight = dt.datetime(2026, 6, 16)
    path = write_xlsx(landing / DAY / "orders.xlsx", HEADERS["orders"],
                      [list(typed_order(paid_at=midnight, updated_at=midnight).values()),
                       list(typed_order(order_id="o2", paid_at=dt.datetime(2026, 6, 16, 0, 0, 1)).values())])
    batch = read_export_file(path, "orders", landing_root=landing)
    assert batch.rows_rejected == 0, batch.rejected["reasons"].to_list()
    assert batch.accepted["paid_at"].to_list() == [midnight, dt.datetime(2026, 6, 16, 0, 0, 1)]
