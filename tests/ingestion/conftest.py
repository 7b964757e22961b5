"""Shared helpers for ingestion tests: small landing folders written in-test, byte-exact."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

ORDER_HEADER = [
    "order_id", "buyer_id", "account_id", "live_session_id", "traffic_source", "product_id",
    "category", "quantity", "gmv", "refund_amount", "status", "paid_at", "updated_at",
]
FOLLOW_HEADER = [
    "event_id", "user_id", "account_id", "action", "traffic_source", "live_session_id", "occurred_at",
]
LIVE_HEADER = [
    "live_session_id", "account_id", "started_at", "ended_at", "traffic_source", "viewers",
    "watch_seconds",
]
ACCOUNT_HEADER = [
    "account_id", "account_name", "brand", "role", "city", "parent_account_id", "opened_on",
]

VALID = {
    "orders": {
        "order_id": "o1", "buyer_id": "b1", "account_id": "a1", "live_session_id": "s1",
        "traffic_source": "follow", "product_id": "p1", "category": "beauty", "quantity": "1",
        "gmv": "100.00", "refund_amount": "", "status": "paid", "paid_at": "2026-06-16 10:00:00",
        "updated_at": "2026-06-16 10:05:00",
    },
    "follows": {
        "event_id": "e1", "user_id": "b1", "account_id": "a1", "action": "follow",
        "traffic_source": "discovery", "live_session_id": "", "occurred_at": "2026-06-16 10:00:00",
    },
    "live_traffic": {
        "live_session_id": "s1", "account_id": "a1", "started_at": "2026-06-16 20:00:00",
        "ended_at": "2026-06-16 22:00:00", "traffic_source": "follow", "viewers": "10",
        "watch_seconds": "600",
    },
    "accounts": {
        "account_id": "a1", "account_name": "Flagship", "brand": "B", "role": "flagship",
        "city": "", "parent_account_id": "", "opened_on": "2025-01-01",
    },
}
HEADERS = {
    "orders": ORDER_HEADER, "follows": FOLLOW_HEADER, "live_traffic": LIVE_HEADER,
    "accounts": ACCOUNT_HEADER,
}


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def row(export: str, **overrides: str) -> dict[str, str]:
    out = dict(VALID[export])
    out.update(overrides)
    return out


def write_rows(path: Path, export: str, rows: list[dict[str, str]], *, encoding: str = "utf-8",
               header: list[str] | None = None) -> Path:
    """CSV of `rows` (dicts keyed by contract name) under the export's English header."""
    header = header or HEADERS[export]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = csv_text(header, [[r.get(h, "") for h in header] for r in rows])
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


@pytest.fixture
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "work.duckdb"))
    yield c
    c.close()
