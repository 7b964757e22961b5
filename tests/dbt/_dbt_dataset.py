"""A small hand-made raw dataset for the dbt project, loaded into raw.* exactly as
docs/architecture.md defines those tables (ingestion/ writes the real ones).

Every row exists to exercise one contract rule; the comments say which.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb

RAW_DDL = """
create schema if not exists raw;
create schema if not exists audit;
create table raw.accounts (account_id varchar not null, account_name varchar not null, brand varchar not null,
  role varchar not null, city varchar, parent_account_id varchar, opened_on date,
  _source_file varchar not null, _landing_date date, _row_number bigint not null);
create table raw.orders (order_id varchar not null, buyer_id varchar not null, account_id varchar not null,
  live_session_id varchar, traffic_source varchar not null, product_id varchar, category varchar,
  quantity bigint not null, gmv decimal(18,2) not null, refund_amount decimal(18,2) not null,
  status varchar not null, paid_at timestamp, updated_at timestamp not null,
  _source_file varchar not null, _landing_date date not null, _row_number bigint not null);
create table raw.follows (event_id varchar not null, user_id varchar not null, account_id varchar not null,
  action varchar not null, traffic_source varchar not null,
  live_session_id varchar, occurred_at timestamp not null,
  _source_file varchar not null, _landing_date date not null, _row_number bigint not null);
create table raw.live_traffic (live_session_id varchar not null, account_id varchar not null,
  started_at timestamp not null, ended_at timestamp, traffic_source varchar not null,
  viewers bigint not null, watch_seconds bigint not null,
  _source_file varchar not null, _landing_date date not null, _row_number bigint not null);
create table audit.ingested_files (path varchar primary key, export varchar not null, landing_date date,
  sha256 varchar not null, rows_read bigint not null, rows_accepted bigint not null,
  rows_rejected bigint not null, ingested_at timestamp not null, status varchar);
create table audit.rejected_rows (export varchar not null, source_file varchar not null,
  row_number bigint not null, reasons varchar[] not null, raw_record json not null,
  landing_date date);
create table audit.dq_results (run_id varchar, suite varchar, expectation varchar, column_name varchar,
  severity varchar, success boolean, observed_value varchar, checked_at timestamp);
"""


def ts(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S")


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def money(s: str) -> Decimal:
    return Decimal(s)


# (account_id, account_name, brand, role, city, parent_account_id, opened_on, _source_file, _landing_date, _row_number)
ACCOUNTS = [
    ("A1", "Alpha旗舰店", "Alpha", "flagship", None, None, None, "accounts.csv", None, 1),
    ("A2", "Alpha杭州店", "Alpha", "store", "杭州", "A1", d("2026-01-10"), "accounts.csv", None, 2),
    ("A3", "Alpha主播小王", "Alpha", "anchor", None, "A1", None, "accounts.csv", None, 3),
    ("B1", "Beta官方", "Beta", "flagship", None, None, d("2025-12-01"), "accounts.csv", None, 4),
    # Duplicate account_id: the first roster row wins.
    ("B1", "Beta duplicate", "Beta", "store", "上海", None, None, "accounts.csv", None, 5),
    ("B2", "Beta分销", "Beta", "distributor", None, "B1", None, "accounts.csv", None, 6),
]


def _order(order_id, buyer, account, session, source, gmv, paid_at, *, status="paid", refund="0",
           updated_at=None, file="orders.csv", landing=None, row=1, quantity=1):
    paid = ts(paid_at) if paid_at else None
    upd = ts(updated_at) if updated_at else paid
    landing_date = d(landing) if landing else paid.date()
    return (order_id, buyer, account, session, source, "P-" + order_id, "美妆", quantity, money(gmv),
            money(refund), status, paid, upd, f"{landing_date.isoformat()}/{file}", landing_date, row)


ORDERS = [
    # --- Alpha, April cohort: u1; its repurchase lands exactly 30 x 24 h after T0 (counts).
    _order("O01", "u1", "A1", None, "discovery", "100.00", "2026-04-05 12:00:00"),
    _order("O02", "u1", "A2", None, "follow", "80.00", "2026-05-05 12:00:00"),
    # --- Alpha, May cohort.
    _order("O03", "u2", "A1", None, "discovery", "200.00", "2026-05-10 10:00:00"),
    _order("O04", "u2", "A2", None, "follow", "50.00", "2026-06-09 10:00:00"),  # T0 + 30 d exactly
    _order("O05", "u3", "A1", None, "search", "120.00", "2026-05-11 09:00:00"),
    _order("O06", "u3", "A1", None, "discovery", "60.00", "2026-06-10 09:00:01"),  # T0 + 30 d + 1 s
    # T0 tie: same paid_at on two accounts -> smallest order_id (O07) is T0; O08 is no repurchase.
    _order("O08", "u4", "A3", None, "discovery", "40.00", "2026-05-20 15:00:00", row=2),
    _order("O07", "u4", "A1", None, "follow", "30.00", "2026-05-20 15:00:00", row=1),
    _order("O09", "u5", "A2", None, "nearby", "70.00", "2026-05-25 18:00:00"),
    # --- Alpha 616: discovery 300 + 250 = 550 (55%), follow 300 + 150 = 450 (45%).
    _order("O10", "u5", "A1", "L1", "discovery", "300.00", "2026-06-16 20:10:00", row=1),
    # Refunded in a later export: still counted, refund on the paid date.
    _order("O11", "u6", "A1", "L1", "discovery", "250.00", "2026-06-16 20:30:00", row=2),
    _order("O11", "u6", "A1", "L1", "discovery", "250.00", "2026-06-16 20:30:00", status="refunded",
           refund="250.00", updated_at="2026-06-18 09:00:00", landing="2026-06-18", row=1),
    # Attributed to live session L1 (an A1 session) although booked on A2.
    _order("O12", "u7", "A2", "L1", "follow", "300.00", "2026-06-16 21:00:00", row=3),
    # Cancelled: never counted.
    _order("O13", "u8", "A1", None, "follow", "999.00", "2026-06-16 21:10:00", status="cancelled", row=4),
    # Paid first, cancelled in a later export: the later updated_at wins -> not counted.
    _order("O14", "u9", "A2", None, "follow", "100.00", "2026-06-16 21:20:00", row=5),
    _order("O14", "u9", "A2", None, "follow", "100.00", "2026-06-16 21:20:00", status="cancelled",
           updated_at="2026-06-17 08:00:00", landing="2026-06-17", row=1),
    # Tie on updated_at and landing date in two files: orders_part2.csv sorts last and wins.
    _order("O15", "u10", "A3", None, "follow", "999.00", "2026-06-16 22:00:00",
           updated_at="2026-06-17 10:00:00", landing="2026-06-17", file="orders.csv", row=2),
    _order("O15", "u10", "A3", None, "follow", "150.00", "2026-06-16 22:00:00", status="shipped",
           updated_at="2026-06-17 10:00:00", landing="2026-06-17", file="orders_part2.csv", row=1),
    # A cancelled order without paid_at (allowed by the contract).
    _order("O17", "u8", "A1", None, "discovery", "10.00", None, status="cancelled",
           updated_at="2026-06-16 23:00:00", landing="2026-06-16", row=6),
    # --- Beta.
    _order("O20", "u1", "B1", None, "paid", "500.00", "2026-06-01 10:00:00"),
    _order("O21", "u11", "B2", "LX", "discovery", "120.00", "2026-06-17 12:00:00", row=4),  # unknown session
    # Tie on updated_at, landing date and file: the later row (8) wins.
    _order("O16", "u12", "B1", "L5", "search", "10.00", "2026-06-17 19:30:00",
           updated_at="2026-06-17 23:00:00", row=3),
    _order("O16", "u12", "B1", "L5", "search", "20.00", "2026-06-17 19:30:00", status="completed",
           updated_at="2026-06-17 23:00:00", row=8),
    _order("O23", "u13", "B2", None, "discovery", "0.00", "2026-06-20 09:00:00"),  # gmv 0 -> NULL ratios
    _order("O22", "u11", "B1", None, "other", "66.60", "2026-07-01 08:00:00",
           refund="6.66", status="completed"),  # the global horizon: 2026-07-01
    # --- Unmapped accounts (U9, U7): one brand "(unmapped)".
    _order("O30", "u1", "U9", None, "short_video", "88.00", "2026-06-16 11:00:00", row=7),
    _order("O31", "u14", "U7", "L4", "follow", "40.00", "2026-06-18 10:30:00", row=2),
    # Paid at the very second u22 became a fan (F15): bought before, not in the 30-day window.
    _order("O42", "u22", "A1", None, "nearby", "10.00", "2026-06-12 10:00:00"),
]

# (event_id, user_id, account_id, action, traffic_source, live_session_id, occurred_at, file, landing, row)
def _follow(event_id, user, account, action, occurred_at, *, source="other", session=None,
            landing=None, file="follows.csv", row=1):
    occurred = ts(occurred_at)
    landing_date = d(landing) if landing else occurred.date()
    return (event_id, user, account, action, source, session, occurred,
            f"{landing_date.isoformat()}/{file}", landing_date, row)


FOLLOWS = [
    # Follow before T0 and a later unfollow: still a fan by T30.
    _follow("F1", "u2", "A2", "follow", "2026-05-01 09:00:00"),
    _follow("F2", "u2", "A2", "unfollow", "2026-05-20 09:00:00"),
    # First copy (T0 + 30 d + 1 s: not a fan) wins over a later re-export claiming an earlier time.
    _follow("F3", "u3", "A1", "follow", "2026-06-10 09:00:01", row=1),
    _follow("F3", "u3", "A2", "follow", "2026-06-09 09:00:00", landing="2026-06-11", row=2),
    _follow("F4", "u5", "A1", "follow", "2026-06-16 20:15:00", source="discovery", session="L1"),
    # Follow of an unmapped account: not an Alpha fan.
    _follow("F5", "u7", "U8", "follow", "2026-06-16 21:30:00", row=2),
    # ... but a fan of the one "(unmapped)" brand (u14 bought on U7).
    _follow("F6", "u14", "U8", "follow", "2026-06-18 11:00:00"),
    _follow("F7", "u11", "B1", "follow", "2026-06-17 12:30:00", source="follow"),
    _follow("F8", "u11", "B1", "unfollow", "2026-06-17 20:00:00", row=2),
    # An account-day with follows only.
    _follow("F9", "u20", "A3", "follow", "2026-06-20 08:00:00"),
    _follow("F10", "u21", "A3", "unfollow", "2026-06-21 08:00:00"),  # unfollow-only day
    # --- Fan value (fct_fan_cohort) and 付费涨粉 (new_follows_paid).
    # u1 becomes an Alpha fan through paid promotion after T0 (bought before) and buys O02 on
    # the follow page 25 days later (in the 30-day window, private).
    _follow("F12", "u1", "A2", "follow", "2026-04-10 12:00:00", source="paid"),
    # u5 follows (F4) -> unfollows -> follows again (paid): the first start is kept, and it
    # was unfollowed within 30 days.
    _follow("F13", "u5", "A1", "unfollow", "2026-06-17 09:00:00"),
    _follow("F14", "u5", "A1", "follow", "2026-06-18 09:00:00", source="paid"),
    # Two follows of u22 at the same second: the smallest event_id (F15: A1, nearby) is the
    # start; u22's unfollow of the other account (A2) is not an unfollow of the fan.
    _follow("F16", "u22", "A2", "follow", "2026-06-12 10:00:00", source="paid", row=2),
    _follow("F15", "u22", "A1", "follow", "2026-06-12 10:00:00", source="nearby", row=1),
    _follow("F17", "u22", "A2", "unfollow", "2026-06-13 10:00:00"),
]


def _live(session, account, started, ended, source, viewers, watch_seconds, landing, *,
          file="live_traffic.csv", row=1):
    landing_date = d(landing)
    return (session, account, ts(started), ts(ended) if ended else None, source, viewers, watch_seconds,
            f"{landing_date.isoformat()}/{file}", landing_date, row)


LIVE_TRAFFIC = [
    _live("L1", "A1", "2026-06-16 20:00:00", "2026-06-16 22:30:00", "follow", 400, 240000, "2026-06-16", row=1),
    _live("L1", "A1", "2026-06-16 20:00:00", "2026-06-16 22:30:00", "discovery", 500, 150000, "2026-06-16", row=2),
    _live("L1", "A1", "2026-06-16 20:00:00", "2026-06-16 22:30:00", "paid", 100, 12000, "2026-06-16", row=3),
    # Re-exported next day with grown numbers: the latest landing date wins for (L1, discovery).
    _live("L1", "A1", "2026-06-16 20:00:00", "2026-06-16 22:30:00", "discovery", 600, 180000, "2026-06-17", row=1),
    # Still live: NULL duration, adds 0 to live_minutes; no orders -> 0 orders, NULL aov.
    _live("L2", "A2", "2026-06-16 19:00:00", None, "follow", 50, 3000, "2026-06-16", row=4),
    # Zero viewers, runs past midnight (counts on its start date).
    _live("L3", "A1", "2026-06-15 23:00:00", "2026-06-16 01:00:00", "discovery", 0, 0, "2026-06-16", row=5),
    # Rows disagree on account and times: the session's latest row (U7, 10:05-11:30) wins.
    _live("L4", "A3", "2026-06-18 10:00:00", "2026-06-18 11:00:00", "follow", 30, 9000, "2026-06-18", row=1),
    _live("L4", "U7", "2026-06-18 10:05:00", "2026-06-18 11:30:00", "discovery", 70, 12600, "2026-06-19", row=1),
    _live("L5", "B1", "2026-06-17 19:00:00", "2026-06-17 21:00:00", "short_video", 200, 24000, "2026-06-17", row=2),
    # Same (session, source) twice on one landing date: the file sorting last wins.
    _live("L5", "B1", "2026-06-17 19:00:00", "2026-06-17 21:00:00", "search", 10, 600, "2026-06-17", row=3),
    _live("L5", "B1", "2026-06-17 19:00:00", "2026-06-17 21:00:00", "search", 15, 900, "2026-06-17",
          file="live_traffic_part2.csv", row=1),
]


def load(db_path: str) -> None:
    con = duckdb.connect(db_path)
    try:
        con.execute(RAW_DDL)
        con.executemany("insert into raw.accounts values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ACCOUNTS)
        con.executemany(
            "insert into raw.orders values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ORDERS
        )
        con.executemany("insert into raw.follows values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", FOLLOWS)
        con.executemany("insert into raw.live_traffic values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", LIVE_TRAFFIC)
    finally:
        con.close()
