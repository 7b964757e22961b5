"""validate_frame's per-frame fast paths give exactly the exact path's accepted and rejected rows.

A fast path applies to a column only when one pass proves every non-empty value canonical; these
tests put each edge case next to canonical values (so the column must fall back) and check that
canonical-only columns really take the fast path (so the comparison is not vacuous).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ingestion.contract import get_export
from ingestion.mapping import MerchantMapping
from ingestion.validate import frame_facts, validate_frame

from .conftest import VALID

DAY = dt.date(2026, 6, 16)

# Canonical spellings (the shapes machine-written exports use), per orders column.
CANONICAL: dict[str, list[str | None]] = {
    "order_id": ["2606000035551040", "o1", None, ""],
    "buyer_id": ["u102820782", "b1"],
    "account_id": ["KS41360869"],
    "live_session_id": ["LS3000002611", "", None],
    "traffic_source": ["follow", "discovery", "paid"],
    "product_id": ["PYJ01063", ""],
    "category": ["彩妆", "beauty", ""],
    "quantity": ["1", "3", "12"],
    "gmv": ["82.70", "0.05", "1299.00", "9999999999999999.99"],
    "refund_amount": ["", "0.00", "5.10", None],
    "status": ["paid", "cancelled", "completed"],
    "paid_at": ["2026-06-01 00:00:00", "2026-06-16 23:59:59", ""],
    "updated_at": ["2026-06-01 00:00:00", "2026-06-16 10:05:00"],
}

# Values that are not canonical: each must send its column down the exact path and come out
# exactly as the exact path has it (accepted, or rejected with the same reasons).
U = "\u3000"  # ideographic space, common in Chinese exports
EDGES: dict[str, list[str]] = {
    "order_id": [" o1", "o1\t", f"{U}o1", "2.02406E+18", "2.02406e18", "1E5", "  ", "\u00a0o2\u00a0"],
    "buyer_id": ["b1 ", "\t", "1.5e+10"],
    "traffic_source": [" follow", "Follow", "FOLLOW", "关注页", "tiktok", "follow\u2003", '""'],
    "quantity": [" 1", "1 ", "007", "-3", "0", "+1", "1.0", "1e2", "-0", "999999999999999999",
                 "1000000000000000000", "١٢", "１２", "\t2"],
    "gmv": ["82.7", "82", "¥82.70", "￥ 82.70", "1,299.00", "-5.00", "-0.00", "+5.00", "05.00",
            "82.700", "1e3", " 82.70", "82.70\u3000", "10000000000000000.00", "NaN", ".50",
            "-¥-5"],
    "refund_amount": ["0", " 0.00", "1,000.00", "¥0.00", "-0.01"],
    "status": ["PAID", "已支付", " paid", "paid ", "lost"],
    "paid_at": ["2026-06-01T00:00:00", "2026/06/01 00:00:00", "2026-06-01 00:00:00.5",
                "2026-06-01 00:00:00.1234567", "2026-06-01T00:00:00Z", "2026-06-01 00:00:00+08:00",
                "2026-06-01T00:00:00-0530", " 2026-06-01 00:00:00", "2026-06-01 00:00:00 ",
                "2026-02-30 00:00:00", "2026-06-01 24:00:00", "2026-06-01 00:00:60",
                "2026-6-01  00:00:00", "2026-06-01t00:00:00", "2026-06-01", f"2026-06-01{U}00:00:00",
                # Non-ASCII digits match \d in both paths' patterns; both must refuse them alike.
                "٢٠٢٦-٠٦-٠١ ٠٠:٠٠:٠٠", "２０２６-06-01 00:00:00"],
    "updated_at": ["2026-06-01 00:00:00 +08:00", "soon", "2026-06-16 10:05:00.000001Z"],
}


def _frame(columns: dict[str, list[str | None]], n: int) -> pl.DataFrame:
    """n order rows; each column cycles through its listed values (a valid value if none)."""
    spec = get_export("orders")
    data = {}
    for c in spec.column_names:
        values = columns.get(c) or [VALID["orders"][c]]
        data[c] = [values[i % len(values)] for i in range(n)]
    return pl.DataFrame(data, schema={c: pl.String for c in spec.column_names}).with_row_index(
        "_row_number", offset=1)


def _both(frame: pl.DataFrame, export: str = "orders", mapping: MerchantMapping | None = None):
    spec = get_export(export)
    kw = dict(source_file=f"2026-06-16/{export}.csv", landing_date=DAY, mapping=mapping)
    fast = validate_frame(frame, spec, **kw)
    exact = validate_frame(frame, spec, fast_paths=False, **kw)
    assert_frame_equal(fast[0], exact[0])
    assert_frame_equal(fast[1], exact[1])
    return fast


def test_canonical_columns_take_the_fast_path_with_identical_results():
    frame = _frame(CANONICAL, 24)
    facts = frame_facts(frame, get_export("orders"))
    typed = {"traffic_source", "quantity", "gmv", "refund_amount", "status", "paid_at", "updated_at"}
    assert facts.canonical == typed
    assert facts.maybe_scientific == frozenset()
    assert facts.has_empty >= {"order_id", "live_session_id", "refund_amount", "paid_at"}
    accepted, rejected = _both(frame)
    # "" order_id rows are rejected (required), the rest accepted: both paths agree on every row.
    assert accepted.height + rejected.height == 24 and rejected.height > 0


@pytest.mark.parametrize("column,value", [(c, v) for c, vs in EDGES.items() for v in vs])
def test_edge_value_beside_canonical_values_matches_exact_path(column, value):
    columns = dict(CANONICAL)
    columns[column] = [*CANONICAL[column], value]
    frame = _frame(columns, 2 * len(columns[column]) + 1)
    facts = frame_facts(frame, get_export("orders"))
    # The proof must refuse a column holding a value the fast parse would read differently.
    if column in facts.canonical:
        assert value.strip() == value
    _both(frame)


def test_money_and_integer_canonical_means_the_exact_spelling():
    spec = get_export("orders")
    for column, value, canonical in [
        ("gmv", "5.00", True), ("gmv", "0.50", True), ("gmv", "-1.50", True), ("gmv", "5", False),
        ("gmv", "5.0", False), ("gmv", "-0.00", False), ("gmv", "+5.00", False), ("gmv", "1e3", False),
        ("quantity", "5", True), ("quantity", "-5", True), ("quantity", "05", False),
        ("quantity", "999999999999999999", True), ("quantity", "1000000000000000000", False),
    ]:
        frame = _frame({column: [value]}, 1)
        assert (column in frame_facts(frame, spec).canonical) is canonical, (column, value)
        _both(frame)


def test_mapping_that_redirects_a_contract_value_is_respected():
    # mapping.yml may send a spelling that equals a contract value elsewhere; such a value is not
    # canonical any more and must go through the alias lookup.
    mapping = MerchantMapping(values={"orders": {"status": {"paid": "completed"}}})
    frame = _frame({"status": ["paid", "completed"]}, 4)
    assert "status" not in frame_facts(frame, get_export("orders"), mapping).canonical
    accepted, _ = _both(frame, mapping=mapping)
    assert set(accepted["status"]) == {"completed"}


def test_other_exports_and_an_empty_frame():
    follows = get_export("follows")
    frame = pl.DataFrame(
        {c: [VALID["follows"][c], VALID["follows"][c], " "] for c in follows.column_names},
        schema={c: pl.String for c in follows.column_names},
    ).with_row_index("_row_number", offset=1)
    _both(frame, "follows")
    _both(frame.head(0), "follows")
    live = get_export("live_traffic")
    frame = pl.DataFrame({c: [VALID["live_traffic"][c], "", "x"] for c in live.column_names},
                         schema={c: pl.String for c in live.column_names}).with_row_index(
        "_row_number", offset=1)
    _both(frame, "live_traffic")
    accounts = get_export("accounts")
    frame = pl.DataFrame({c: [VALID["accounts"][c], "2025/01/01" if c == "opened_on" else VALID["accounts"][c]]
                          for c in accounts.column_names},
                         schema={c: pl.String for c in accounts.column_names}).with_row_index(
        "_row_number", offset=1)
    _both(frame, "accounts")
    _both(frame.head(1), "accounts")


_ALL_EDGES = sorted({v for vs in EDGES.values() for v in vs} | {"", " ", "\t", U})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_frames_match_exact_path(data):
    # Per column: canonical values only (fast path) or canonical values with a few edge values of
    # any column (most of them fall back); rows mix both.
    n = data.draw(st.integers(1, 12))
    columns = {}
    for column, values in CANONICAL.items():
        pool = values if data.draw(st.booleans()) else values + EDGES.get(column, []) + _ALL_EDGES[:8]
        columns[column] = data.draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    frame = pl.DataFrame(columns, schema={c: pl.String for c in columns}).with_row_index(
        "_row_number", offset=1)
    _both(frame)


# Every Unicode White_Space character (what both Rust's trim() and the regex \s mean by space).
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"


@pytest.mark.parametrize("space", list(WHITE_SPACE), ids=lambda c: f"U+{ord(c):04X}")
def test_any_unicode_space_around_a_value_sends_its_column_to_the_exact_path(space):
    columns = dict(CANONICAL)
    for column in ("traffic_source", "quantity", "gmv", "status", "updated_at"):
        columns[column] = [*CANONICAL[column], space + CANONICAL[column][0], CANONICAL[column][0] + space]
    frame = _frame(columns, 10)
    facts = frame_facts(frame, get_export("orders"))
    assert not facts.canonical & {"traffic_source", "quantity", "gmv", "status", "updated_at"}
    accepted, _ = _both(frame)
    assert accepted.height > 0  # the padded values are trimmed and accepted, as on the exact path
