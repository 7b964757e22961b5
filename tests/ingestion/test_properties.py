"""Property tests: rows are conserved, and acceptance matches an independent oracle."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import ingest_file, read_export_file

from .conftest import ORDER_HEADER, csv_text

# Per column: (valid spellings, invalid spellings). Pools are chosen so validity is independent
# across columns (every valid refund <= every valid gmv, valid paid_at is never empty), hence a
# row is accepted exactly when every value came from a valid pool.
POOLS: dict[str, tuple[list[str], list[str]]] = {
    "buyer_id": (["b1", " b2 ", "买家3"], ["", "  "]),
    "account_id": (["a1", "a2"], [""]),
    "live_session_id": (["", "s1", " "], []),
    "traffic_source": (["follow", "关注页", "精选", "Discovery", "磁力金牛", "同城", "short_video"],
                       ["", "tiktok", "关注"]),
    "product_id": (["", "p1"], []),
    "category": (["", "美妆", "a,b"], []),
    "quantity": (["1", "2", " 10 ", "007"], ["0", "-1", "1.5", "x", ""]),
    "gmv": (["100", "¥1,299.00", "1,299.5", "￥100.1", "200.00"], ["-1", "12.345", "abc", "", "1,29"]),
    "refund_amount": (["", "0", "50", "¥49.99"], ["-0.01", "x", "1.234"]),
    "status": (["paid", "已完成", "SHIPPED", "refunded", "已取消"], ["", "lost"]),
    "paid_at": (["2026-06-16 10:00:00", "2026/06/16 10:00:00", "2026-06-16T02:00:00Z",
                 "2026-06-16T10:00:00.123+08:00"], ["2026-02-30 10:00:00", "soon"]),
    "updated_at": (["2026-06-16 10:00:00", "2026-06-15T20:00:00-06:00"], ["", "2026-06-16"]),
}


@st.composite
def order_rows(draw):
    n = draw(st.integers(min_value=0, max_value=25))
    rows, valid = [], []
    for i in range(n):
        rec, ok = {"order_id": f"o{i}"}, True
        for col, (good, bad) in POOLS.items():
            use_bad = bool(bad) and draw(st.integers(0, 9)) == 0
            rec[col] = draw(st.sampled_from(bad if use_bad else good))
            ok &= not use_bad
        rows.append(rec)
        valid.append(ok)
    blanks = draw(st.sets(st.integers(min_value=0, max_value=n), max_size=3))
    return rows, valid, sorted(blanks)


def _write(path: Path, rows, blanks, fmt: str) -> list[int]:
    """Write rows with blank lines inserted at `blanks`; returns each row's 1-based data-row number."""
    lines, numbers = [], []
    for i, r in enumerate(rows + [None]):
        if i in blanks:
            lines.append(None)
        if r is not None:
            lines.append(r)
            numbers.append(len(lines))
    table = [[("" if r is None else r.get(c, "")) for c in ORDER_HEADER] for r in lines]
    if fmt == "parquet":
        pl.DataFrame(table, schema=ORDER_HEADER, orient="row").write_parquet(path)
    else:
        text = csv_text(ORDER_HEADER, table)
        data = {"utf-8": text.encode(), "bom": b"\xef\xbb\xbf" + text.encode(),
                "gb18030": text.encode("gb18030")}[fmt]
        path.write_bytes(data)
    return numbers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order_rows(), st.sampled_from(["utf-8", "bom", "gb18030", "parquet"]))
def test_rows_conserved_and_acceptance_matches_oracle(data, fmt):
    rows, valid, blanks = data
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "2026-06-16").mkdir()
        path = root / "2026-06-16" / ("orders.parquet" if fmt == "parquet" else "orders.csv")
        numbers = _write(path, rows, blanks, fmt)
        b = read_export_file(path, "orders", landing_root=root)

        assert b.rows_read == len(rows) == b.accepted.height + b.rejected.height
        acc, rej = set(b.accepted["_row_number"]), set(b.rejected["row_number"])
        assert not acc & rej and acc | rej == set(numbers)
        assert acc == {n for n, ok in zip(numbers, valid) if ok}
        assert all(len(r) >= 1 for r in b.rejected["reasons"])

        con = duckdb.connect()
        res = ingest_file(con, path, "orders", landing_root=root)
        assert (res.rows_read, res.rows_accepted, res.rows_rejected) == (
            b.rows_read, b.accepted.height, b.rejected.height)
        assert con.execute("select count(*) from raw.orders").fetchall()[0][0] == res.rows_accepted
        assert con.execute("select count(*) from audit.rejected_rows").fetchall()[0][0] == res.rows_rejected
        con.close()


# Timestamps of at most 19 characters, valid or not: the shapes the fast path must agree on.
_SHORT_TIMESTAMPS = st.one_of(
    st.builds(lambda y, mo, d, h, mi, s, sep, dsep: f"{y:04d}{dsep}{mo:02d}{dsep}{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}",
              st.integers(1990, 2100), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
              st.integers(0, 61), st.integers(0, 61), st.sampled_from([" ", "T", "t", "_"]),
              st.sampled_from(["-", "/", "."])),
    st.text(alphabet="0123456789-/: T", max_size=19),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), _SHORT_TIMESTAMPS), max_size=20))
def test_timestamp_fast_path_agrees_with_the_full_parser(values):
    from ingestion.validate import parse_timestamp

    frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
    full = frame.select(parse_timestamp(pl.col("t"))).to_series()
    fast = frame.select(parse_timestamp(pl.col("t"), has_tails=False)).to_series()
    assert full.to_list() == fast.to_list()
