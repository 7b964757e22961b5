"""`generate --format merchant`: the same simulated rows as the contract format, written the way a
Kuaishou shop exports them (workbooks, a GBK CSV, platform headers and status words, mapping.yml).

The end-to-end test is issue 12's "done when": a merchant-format landing folder with its
mapping.yml builds to exactly the raw tables, audit counts and marts of the same data in contract
CSVs (one `dualwheel build` each, small data).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from ingestion.mapping import load_mapping
from orchestration.settings import work_db_for
from simulator.exports import MERCHANT_STATUS, generate, merchant_mapping
from tests.conftest import cli_env, run_cli

# 8 days of 600 orders: every status word, sheet and GBK file appears, and every mart has rows;
# the size proves nothing more and each build costs less (was 20 days of 1,500).
DAYS, ORDERS, SEED = 8, 600, 12
MARTS = ("fct_gmv_by_source_daily", "fct_dual_wheel_daily", "fct_cohort_repurchase", "fct_cohort_retention_monthly",
         "fct_account_matrix_daily", "fct_live_session", "dim_accounts")


def test_merchant_layout_and_mapping(tmp_path):
    out = tmp_path / "m"
    summary = generate(out, days=2, orders=200, seed=SEED, fmt="merchant", progress=False)
    names = sorted(p.relative_to(out).as_posix() for p in summary.files)
    assert names == ["2026-01-01/follows.csv", "2026-01-01/live_traffic.xlsx", "2026-01-01/orders.xlsx",
                     "2026-01-02/follows.csv", "2026-01-02/live_traffic.xlsx", "2026-01-02/orders.xlsx",
                     "accounts.xlsx", "mapping.yml"]
    assert yaml.safe_load((out / "mapping.yml").read_text(encoding="utf-8")) == merchant_mapping()
    mapping = load_mapping(out)  # valid by the loader's own rules
    assert mapping.headers["orders"]["订单编号"] == "order_id"
    assert {"交易成功", "交易关闭", "待发货"} <= set(mapping.values["orders"]["status"])
    assert set(MERCHANT_STATUS) == {"paid", "shipped", "completed", "refunded", "cancelled"}
    # The merchant CSV is GBK (what Excel on Chinese Windows saves) with the platform's headers.
    header = (out / "2026-01-01" / "follows.csv").read_bytes().decode("gb18030").splitlines()[0]
    assert header.startswith("事件ID,粉丝ID,账号ID,行为")
    with pytest.raises(ValueError, match="cannot be combined"):
        generate(tmp_path / "x", days=1, orders=10, messy=True, fmt="merchant", progress=False)


def _build(base: Path, fmt: str) -> tuple[Path, Path]:
    landing = base / fmt / "landing"
    generate(landing, days=DAYS, orders=ORDERS, seed=SEED, fmt=fmt, progress=False)
    warehouse = base / fmt / "wh" / "dualwheel.duckdb"
    run_cli("build", "--landing", str(landing), "--warehouse", str(warehouse), "-q", env=cli_env(base / fmt),
            check=True)
    return warehouse, work_db_for(warehouse)


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_merchant_format_builds_the_same_warehouse_as_contract_csvs(tmp_path):
    contract_wh, contract_work = _build(tmp_path, "contract")
    merchant_wh, merchant_work = _build(tmp_path, "merchant")
    # Raw tables: identical rows; only the file name's suffix differs (.xlsx vs .csv).
    for table in ("accounts", "orders", "follows", "live_traffic"):
        sql = (f"select * replace (regexp_replace(_source_file, '\\.(csv|xlsx)$', '') as _source_file) "
               f"from raw.{table} order by all")
        contract, merchant = _rows(contract_work, sql), _rows(merchant_work, sql)
        assert contract, table
        assert merchant == contract, table
    audit = ("select regexp_replace(path, '\\.(csv|xlsx)$', ''), export, landing_date, rows_read, rows_accepted, "
             "rows_rejected from audit.ingested_files order by 1")
    assert _rows(merchant_work, audit) == _rows(contract_work, audit)
    assert _rows(merchant_work, "select count(*) from audit.rejected_rows") == [(0,)]
    for mart in MARTS:
        sql = f"select * from marts.{mart} order by all"
        contract = _rows(contract_wh, sql)
        assert contract, mart
        assert _rows(merchant_wh, sql) == contract, mart
