"""The HTML report (warehouse/report.py) over a small synthetic published warehouse.

The warehouse is built here from synthetic orders, follows and live traffic with SQL that follows
contract section 4, so the marts agree with each other the way real ones do. The report must
render every chart in a real browser (headless Chromium from Debian) and show headline figures
equal to what SQL on the marts gives.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.report import CHARTS, build_report

CHROMIUM = Path("/usr/bin/chromium")
EVIL_NAME = '<script>alert("x")</script> Tom & Jerry\'s 旗舰店'

ROSTER = [
    # account_id, account_name, brand, role, city, parent
    ("A1", "品牌甲官方旗舰店", "品牌甲 BrandA", "flagship", None, None),
    ("A2", "品牌甲·上海门店", "品牌甲 BrandA", "store", "上海", "A1"),
    ("A3", "品牌甲·杭州门店", "品牌甲 BrandA", "store", "杭州", "A1"),
    ("A4", "主播小美", "品牌甲 BrandA", "anchor", None, "A1"),
    ("B1", EVIL_NAME, "BrandB", "flagship", None, None),
    ("B2", "BrandB 分销 Li", "BrandB", "distributor", "成都", "B1"),
    ("B3", "BrandB anchor Wang", "BrandB", "anchor", None, "B1"),
]
UNMAPPED = "Z9"  # seen in orders and live traffic but missing from the roster
SOURCES = ["follow", "discovery", "nearby", "search", "short_video", "paid", "other"]
WEIGHTS = [30, 30, 8, 6, 8, 14, 4]


def _synthetic(seed: int, start: date, days: int, roster: list[tuple], buyers_per_brand: int, orders_per_day: tuple[int, int]):
    rng = random.Random(seed)
    accounts = [r[0] for r in roster] + [UNMAPPED]
    brand_of = {r[0]: r[2] for r in roster}
    orders, follows, traffic = [], [], []
    oid = eid = 0
    for d in range(days):
        day = start + timedelta(days=d)
        for acc in accounts:
            session = None
            if rng.random() < 0.45:
                session = f"L{acc}-{day:%m%d}"
                started = datetime.combine(day, datetime.min.time()) + timedelta(hours=19, minutes=rng.randrange(0, 60))
                ended = None if (d == days - 1 and acc == "A1") else started + timedelta(minutes=rng.randrange(45, 200))
                for src in rng.sample(SOURCES, k=4):
                    viewers = rng.randrange(50, 3000)
                    traffic.append((session, acc, started, ended, src, viewers, viewers * rng.randrange(60, 600)))
            pool = brand_of.get(acc, "(unmapped)")
            for _ in range(rng.randrange(*orders_per_day)):
                oid += 1
                buyer = f"{pool[:2]}-u{int(rng.paretovariate(1.1) * 7) % buyers_per_brand}"
                gmv = Decimal(rng.randrange(1990, 59900)) / 100
                refund = gmv if rng.random() < 0.08 else Decimal("0.00")
                paid_at = datetime.combine(day, datetime.min.time()) + timedelta(seconds=rng.randrange(0, 86400))
                in_live = session is not None and rng.random() < 0.6
                if in_live:
                    paid_at = max(paid_at, datetime.combine(day, datetime.min.time()) + timedelta(hours=19, minutes=5))
                orders.append((f"O{oid:07d}", buyer, acc, session if in_live else None,
                               rng.choices(SOURCES, WEIGHTS)[0], gmv, refund, paid_at))
                if rng.random() < 0.15:
                    eid += 1
                    follows.append((f"E{eid}", buyer, acc, "follow" if rng.random() < 0.85 else "unfollow",
                                    paid_at + timedelta(days=rng.randrange(-3, 40)),
                                    SOURCES[eid % len(SOURCES)]))  # not from rng: the other draws stay put
    return orders, follows, traffic


MART_SQL = r"""
create schema marts; create schema audit;
create view ob as
  select o.*, cast(o.paid_at as date) order_date, coalesce(a.brand, '(unmapped)') brand,
         case when traffic_source = 'follow' then 'private' else 'public' end domain, traffic_source = 'paid' is_paid
  from o left join acc a using (account_id);
create table t0 as
  select distinct on (brand, buyer_id) brand, buyer_id, order_id, paid_at, order_date, domain, gmv
  from ob order by brand, buyer_id, paid_at, order_id;
create table marts.dim_accounts as
  select account_id, account_name, brand, role, city, parent_account_id, opened_on from acc
  union all select distinct account_id, null, '(unmapped)', '(unmapped)', null, null, null::date
  from (select account_id from o union select account_id from lt union select account_id from f)
  where account_id not in (select account_id from acc);
create table marts.fct_gmv_by_source_daily as
  select order_date, account_id, traffic_source, any_value(domain) domain, any_value(is_paid) is_paid,
         count(*)::bigint orders, count(distinct buyer_id)::bigint buyers, sum(gmv)::decimal(18,2) gmv,
         sum(refund_amount)::decimal(18,2) refund_amount, sum(gmv - refund_amount)::decimal(18,2) net_gmv
  from ob group by all;
create table marts.fct_dual_wheel_daily as
  with x as (
    select ob.order_date, ob.account_id, any_value(ob.brand) brand, count(*)::bigint orders,
           count(distinct ob.buyer_id)::bigint buyers,
           count(distinct ob.buyer_id) filter (where t0.order_id is not null)::bigint new_buyers,
           sum(ob.gmv)::decimal(18,2) gmv, sum(ob.refund_amount)::decimal(18,2) refund_amount,
           sum(ob.gmv - ob.refund_amount)::decimal(18,2) net_gmv,
           coalesce(sum(ob.gmv) filter (where ob.domain = 'private'), 0)::decimal(18,2) gmv_private,
           coalesce(sum(ob.gmv) filter (where ob.domain = 'public'), 0)::decimal(18,2) gmv_public,
           coalesce(sum(ob.gmv) filter (where ob.is_paid), 0)::decimal(18,2) gmv_public_paid
    from ob left join t0 using (order_id) group by 1, 2)
  select order_date, account_id, brand, orders, buyers, new_buyers, buyers - new_buyers returning_buyers, gmv,
         refund_amount, net_gmv, gmv_private, gmv_public, gmv_public_paid,
         (gmv_public - gmv_public_paid)::decimal(18,2) gmv_public_organic,
         gmv_private::double / nullif(gmv, 0) private_share, (gmv - gmv_public_paid)::double / nullif(gmv, 0) organic_share
  from x;
create table marts.fct_cohort_repurchase as
  with per_buyer as (
    select t.brand, t.buyer_id, t.paid_at, t.order_date, t.domain, t.gmv,
           count(o.order_id) filter (where o.paid_at <= t.paid_at + interval 30 day) n30,
           count(o.order_id) filter (where o.paid_at <= t.paid_at + interval 60 day) n60,
           count(o.order_id) n90,
           coalesce(sum(o.gmv) filter (where o.paid_at <= t.paid_at + interval 30 day), 0) g30,
           coalesce(sum(o.gmv) filter (where o.paid_at <= t.paid_at + interval 30 day and o.domain = 'private'), 0) g30p,
           exists (select 1 from f join marts.dim_accounts d using (account_id)
                   where d.brand = t.brand and f.user_id = t.buyer_id and f.action = 'follow'
                     and f.occurred_at <= t.paid_at + interval 30 day) fan
    from t0 t left join ob o on o.brand = t.brand and o.buyer_id = t.buyer_id
         and o.paid_at > t.paid_at and o.paid_at <= t.paid_at + interval 90 day
    group by all)
  select brand, date_trunc('month', order_date)::date cohort_month, domain first_domain,
         count(*)::bigint cohort_buyers, sum(gmv)::decimal(18,2) t0_gmv, count(*) filter (where fan)::bigint fans_by_t30,
         count(*) filter (where n30 > 0)::bigint repurchasers_30d, count(*) filter (where n60 > 0)::bigint repurchasers_60d,
         count(*) filter (where n90 > 0)::bigint repurchasers_90d, sum(n30)::bigint repurchase_orders_30d,
         sum(g30)::decimal(18,2) repurchase_gmv_30d, sum(g30p)::decimal(18,2) repurchase_gmv_30d_private,
         (count(*) filter (where n30 > 0))::double / count(*) repurchase_rate_30d,
         (count(*) filter (where n90 > 0))::double / count(*) repurchase_rate_90d,
         last_day(date_trunc('month', order_date)) + 30 <= (select max(order_date) from ob) window_30d_complete
  from per_buyer group by all;
create table marts.fct_cohort_retention_monthly as
  select t.brand, date_trunc('month', t.order_date)::date cohort_month,
         datediff('month', date_trunc('month', t.order_date), date_trunc('month', o.order_date))::bigint months_since_first,
         count(distinct o.buyer_id)::bigint active_buyers, count(*)::bigint orders, sum(o.gmv)::decimal(18,2) gmv
  from t0 t join ob o on o.brand = t.brand and o.buyer_id = t.buyer_id group by all;
create table marts.fct_live_session as
  with s as (
    select live_session_id, any_value(account_id) account_id, any_value(started_at) started_at, any_value(ended_at) ended_at,
           sum(viewers)::bigint viewers, coalesce(sum(viewers) filter (where traffic_source = 'follow'), 0)::bigint viewers_private,
           coalesce(sum(viewers) filter (where traffic_source = 'paid'), 0)::bigint viewers_paid,
           sum(watch_seconds) / 60.0 watch_minutes
    from lt group by 1),
  so as (select live_session_id, count(*)::bigint orders, count(distinct buyer_id)::bigint buyers, sum(gmv) gmv,
                sum(gmv) filter (where domain = 'private') gmv_private
         from ob where live_session_id is not null group by 1)
  select s.live_session_id, s.account_id, d.brand, s.started_at, s.ended_at,
         datediff('second', s.started_at, s.ended_at) / 60.0 duration_minutes, s.viewers, s.viewers_private, s.viewers_paid,
         s.watch_minutes::double watch_minutes, coalesce(so.orders, 0) orders, coalesce(so.buyers, 0) buyers,
         coalesce(so.gmv, 0)::decimal(18,2) gmv, coalesce(so.gmv_private, 0)::decimal(18,2) gmv_private,
         s.watch_minutes::double / nullif(s.viewers, 0) avg_watch_minutes,
         coalesce(so.orders, 0) * 60.0 / nullif(s.watch_minutes, 0) orders_per_watch_hour,
         so.gmv::double / nullif(so.orders, 0) aov, so.gmv::double / nullif(so.buyers, 0) gmv_per_buyer,
         coalesce(so.gmv, 0)::double / nullif(s.viewers, 0) uv_value, coalesce(so.gmv, 0)::double * 1000 / nullif(s.viewers, 0) gpm,
         (s.viewers - s.viewers_paid)::double / nullif(s.viewers, 0) organic_viewer_share
  from s left join so using (live_session_id) join marts.dim_accounts d using (account_id);
create table marts.fct_account_matrix_daily as
  with live as (select cast(started_at as date) activity_date, account_id, count(*)::bigint live_sessions,
                       coalesce(sum(duration_minutes), 0) live_minutes, sum(viewers)::bigint viewers, sum(watch_minutes) watch_minutes,
                       sum(viewers_paid)::bigint viewers_paid
                from marts.fct_live_session group by 1, 2),
  ord as (select order_date activity_date, account_id, count(*)::bigint orders, count(distinct buyer_id)::bigint buyers,
                 sum(gmv) gmv, sum(refund_amount) refund_amount, coalesce(sum(gmv) filter (where domain = 'private'), 0) gmv_private
          from ob group by 1, 2),
  fol as (select cast(occurred_at as date) activity_date, account_id, count(*) filter (where action = 'follow')::bigint new_follows,
                 count(*) filter (where action = 'unfollow')::bigint unfollows,
                 count(*) filter (where action = 'follow' and traffic_source = 'paid')::bigint new_follows_paid from f group by 1, 2),
  k as (select activity_date, account_id from live union select activity_date, account_id from ord
        union select activity_date, account_id from fol),
  m as (
    select k.activity_date, k.account_id, d.account_name, d.brand, d.role, d.city,
           coalesce(live.live_sessions, 0) live_sessions, coalesce(live.live_minutes, 0)::double live_minutes,
           coalesce(live.viewers, 0) viewers, coalesce(live.watch_minutes, 0)::double watch_minutes,
           coalesce(ord.orders, 0) orders, coalesce(ord.buyers, 0) buyers, coalesce(ord.gmv, 0)::decimal(18,2) gmv,
           coalesce(ord.refund_amount, 0)::decimal(18,2) refund_amount, coalesce(ord.gmv_private, 0)::decimal(18,2) gmv_private,
           coalesce(fol.new_follows, 0) new_follows, coalesce(fol.unfollows, 0) unfollows,
           coalesce(live.viewers_paid, 0) viewers_paid, coalesce(fol.new_follows_paid, 0) new_follows_paid
    from k join marts.dim_accounts d using (account_id) left join live using (activity_date, account_id)
         left join ord using (activity_date, account_id) left join fol using (activity_date, account_id))
  select *, new_follows - unfollows net_follows, gmv::double * 1000 / nullif(viewers, 0) gpm, gmv::double / nullif(viewers, 0) uv_value,
         gmv::double / nullif(orders, 0) aov, gmv::double / nullif(buyers, 0) gmv_per_buyer,
         refund_amount::double / nullif(gmv, 0) refund_rate,
         gmv::double / nullif(sum(gmv) over (partition by brand, activity_date), 0) brand_gmv_share,
         (viewers - viewers_paid)::double / nullif(viewers, 0) organic_viewer_share
  from m;
create table marts.fct_fan_cohort as
  with fb as (select f.*, coalesce(a.brand, '(unmapped)') brand from f left join acc a using (account_id)),
  starts as (select distinct on (brand, user_id) brand, user_id, account_id, occurred_at, traffic_source
             from fb where action = 'follow' order by brand, user_id, occurred_at, event_id),
  per_fan as (
    select s.brand, date_trunc('month', s.occurred_at)::date follow_month, s.traffic_source acquisition_source,
           count(o.order_id) filter (where o.paid_at <= s.occurred_at) > 0 bought_before,
           count(o.order_id) filter (where o.paid_at > s.occurred_at and o.paid_at <= s.occurred_at + interval 30 day) n30,
           coalesce(sum(o.gmv) filter (where o.paid_at > s.occurred_at and o.paid_at <= s.occurred_at + interval 30 day), 0) g30,
           coalesce(sum(o.gmv) filter (where o.paid_at > s.occurred_at and o.paid_at <= s.occurred_at + interval 30 day
                                         and o.domain = 'private'), 0) g30p,
           coalesce(sum(o.gmv) filter (where o.paid_at > s.occurred_at), 0) g90,
           exists (select 1 from fb u where u.user_id = s.user_id and u.account_id = s.account_id and u.action = 'unfollow'
                   and u.occurred_at > s.occurred_at and u.occurred_at <= s.occurred_at + interval 30 day) unfollowed
    from starts s left join ob o on o.brand = s.brand and o.buyer_id = s.user_id
         and o.paid_at <= s.occurred_at + interval 90 day
    group by s.brand, s.user_id, s.account_id, s.occurred_at, s.traffic_source)
  select brand, follow_month, acquisition_source, count(*)::bigint new_fans,
         count(*) filter (where bought_before)::bigint fans_bought_before,
         count(*) filter (where n30 > 0)::bigint fans_buying_30d, sum(n30)::bigint fan_orders_30d,
         sum(g30)::decimal(18,2) fan_gmv_30d, sum(g30p)::decimal(18,2) fan_gmv_30d_private, sum(g90)::decimal(18,2) fan_gmv_90d,
         count(*) filter (where unfollowed)::bigint unfollowed_30d,
         (count(*) filter (where n30 > 0))::double / count(*) purchase_rate_30d,
         (count(*) filter (where unfollowed))::double / count(*) unfollow_rate_30d,
         sum(g30)::double / count(*) gmv_per_fan_30d, sum(g30p)::double / nullif(sum(g30), 0) private_share_30d,
         last_day(follow_month) + 30 <= (select max(order_date) from ob) window_30d_complete,
         last_day(follow_month) + 90 <= (select max(order_date) from ob) window_90d_complete
  from per_fan group by all;
create table audit.ingested_files (path varchar primary key, export varchar not null, landing_date date,
  sha256 varchar not null, rows_read bigint not null, rows_accepted bigint not null,
  rows_rejected bigint not null, ingested_at timestamp not null);
create table audit.rejected_rows (export varchar not null, source_file varchar not null,
  row_number bigint not null, reasons varchar[] not null, raw_record json not null, landing_date date);
"""


def build_warehouse(path: Path, *, seed: int = 7, start: date = date(2026, 1, 5), days: int = 60,
                    roster: list[tuple] = ROSTER, buyers_per_brand: int = 400, orders_per_day: tuple[int, int] = (2, 9),
                    with_dq: bool = True) -> Path:
    orders, follows, traffic = _synthetic(seed, start, days, roster, buyers_per_brand, orders_per_day)
    o = pl.DataFrame(orders, schema=["order_id", "buyer_id", "account_id", "live_session_id", "traffic_source", "gmv",
                                     "refund_amount", "paid_at"], orient="row", schema_overrides={"gmv": pl.Decimal(18, 2),
                                                                                                "refund_amount": pl.Decimal(18, 2)})
    f = pl.DataFrame(follows, schema=["event_id", "user_id", "account_id", "action", "occurred_at", "traffic_source"],
                     orient="row")
    lt = pl.DataFrame(traffic, schema=["live_session_id", "account_id", "started_at", "ended_at", "traffic_source",
                                       "viewers", "watch_seconds"], orient="row")
    acc = pl.DataFrame([(*r, start - timedelta(days=30)) for r in roster], orient="row",
                       schema=["account_id", "account_name", "brand", "role", "city", "parent_account_id", "opened_on"])
    with duckdb.connect(str(path)) as con:
        for name, frame in (("o", o), ("f", f), ("lt", lt), ("acc", acc)):
            con.register(f"{name}_df", frame)
            con.execute(f"create temp table {name} as select * from {name}_df")
        con.execute(MART_SQL)
        con.execute("drop view ob")
        con.execute("drop table t0")
        con.execute("""insert into audit.ingested_files values
            ('2026-01-05/orders.csv', 'orders', '2026-01-05', 'aa', 1200, 1188, 12, '2026-01-06 02:30:00'),
            ('2026-01-05/follows.csv', 'follows', '2026-01-05', 'bb', 300, 299, 1, '2026-01-06 02:30:00'),
            ('accounts.csv', 'accounts', null, 'cc', 8, 8, 0, '2026-01-06 02:30:00')""")
        con.execute("""insert into audit.rejected_rows
            select 'orders', '2026-01-05/orders.csv', i, case when i % 3 = 0 then ['gmv: not a money amount (''abc' || i || ''')']
                   when i % 3 = 1 then ['traffic_source: unknown value ''xx' || i || '''', 'quantity < 1']
                   else ['paid_at: required value empty'] end, '{}'::json, '2026-01-05'::date from range(12) t(i)
            union all select 'follows', '2026-01-05/follows.csv', 4, ['action: unknown value ''<b>like</b>'''], '{}'::json, '2026-01-05'""")
        if with_dq:
            con.execute("""create table audit.dq_results (run_id varchar, suite varchar, expectation varchar, column_name varchar,
                severity varchar, success boolean, observed_value varchar, checked_at timestamp)""")
            con.execute("""insert into audit.dq_results values
                ('run-old', 'orders', 'expect_column_values_to_not_be_null', 'order_id', 'error', false, '3', '2026-01-05 02:30:00'),
                ('run-old', 'orders', 'expect_reject_share_below', null, 'error', false, '0.2', '2026-01-05 02:30:00'),
                ('run-new', 'orders', 'expect_column_values_to_not_be_null', 'order_id', 'error', true, '0', '2026-01-06 02:31:00'),
                ('run-new', 'orders', 'expect_reject_share_below', null, 'error', true, '0.01', '2026-01-06 02:31:00'),
                ('run-new', 'accounts', 'expect_all_accounts_mapped', 'account_id', 'warn', false, '1', '2026-01-06 02:31:05')""")
        con.execute("create table audit.published_at as select timestamp '2026-01-06 02:32:00' published_at, 'run-new' run_id")
    return path


def expected_headline(path: Path) -> dict:
    """The headline computed independently of the report's own queries."""
    with duckdb.connect(str(path), read_only=True) as con:
        gmv, net, private, paid, new, returning, first, last = con.sql("""
            select sum(gmv), sum(net_gmv), sum(gmv_private), sum(gmv_public_paid), sum(new_buyers), sum(returning_buyers),
                   min(order_date), max(order_date) from marts.fct_dual_wheel_daily""").fetchall()[0]
        source_gmv, horizon = con.sql("select sum(gmv), max(order_date) from marts.fct_gmv_by_source_daily").fetchall()[0]
        assert source_gmv == gmv  # the fixture's marts agree with each other
        cohort, rate = con.sql("""
            select cohort_month, sum(repurchasers_30d)::double / sum(cohort_buyers) from marts.fct_cohort_repurchase
            where cohort_month = (select max(cohort_month) from marts.fct_cohort_repurchase where window_30d_complete)
            group by 1""").fetchall()[0]
        read, rejected = con.sql("select sum(rows_read), sum(rows_rejected) from audit.ingested_files").fetchall()[0]
    return {"first_date": first, "last_date": last, "horizon": horizon, "gmv": gmv, "net_gmv": net,
            "private_share": float(private) / float(gmv), "paid_share": float(paid) / float(gmv),
            "new_buyers": int(new), "returning_buyers": int(returning), "cohort_month": cohort,
            "repurchase_rate_30d": rate, "rows_read": int(read), "rows_rejected": int(rejected)}


# ------------------------------------------------------------------------------------ browser

@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get")
        if not (hasattr(os, "geteuid") and os.geteuid() == 0 and apt):
            pytest.skip("headless Chromium (/usr/bin/chromium) is not installed and we cannot apt-get it "
                        "(need root and apt-get): install Debian's `chromium` package to run the report browser tests")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
            if done.returncode != 0:
                pytest.skip(f"could not install chromium with {' '.join(cmd[1:])}: {done.stderr.strip()[-300:]}")
    if not CHROMIUM.exists():
        pytest.skip("apt-get install chromium finished but /usr/bin/chromium is still missing")
    return CHROMIUM


def _chromium_args(binary: Path, profile: Path) -> list[str]:
    return [str(binary), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}"]


def dump_dom(binary: Path, page: Path, profile: Path) -> str:
    done = subprocess.run([*_chromium_args(binary, profile), "--window-size=1400,4000", "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(binary: Path, page: Path, png: Path, profile: Path, height: int = 4000) -> None:
    done = subprocess.run([*_chromium_args(binary, profile), f"--window-size=1400,{height}", f"--screenshot={png}",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.svgs: dict[str, dict] = {}
        self.kpis: dict[str, dict] = {}
        self.body: dict = {}
        self._kpi: str | None = None
        self._value_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "svg" and "data-chart" in a:
            self.svgs[a["data-chart"]] = a
        if "data-kpi" in a:
            self._kpi = a["data-kpi"]
            self.kpis[self._kpi] = {"value": a.get("data-value"), "text": ""}
        if self._kpi and a.get("class") == "value":
            self._value_depth = 1

    def handle_endtag(self, tag):
        if self._value_depth and tag == "div":
            self._value_depth = 0
            self._kpi = None

    def handle_data(self, data):
        if self._value_depth and self._kpi:
            self.kpis[self._kpi]["text"] += data


def _parse(page: str) -> _Collect:
    c = _Collect()
    c.feed(page)
    return c


# -------------------------------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    wh = build_warehouse(root / "dualwheel.duckdb")
    started = time.perf_counter()
    summary = build_report(wh, root / "out" / "report.html")
    return wh, summary, time.perf_counter() - started


def test_report_renders_every_chart_in_chromium(built, chromium, tmp_path):
    _, summary, _ = built
    dom = _parse(dump_dom(chromium, summary.path, tmp_path / "profile"))
    assert dom.body.get("data-measured") == "1", "the inline measuring script did not run"
    assert set(dom.svgs) == set(CHARTS)
    for name in CHARTS:
        svg = dom.svgs[name]
        assert svg.get("id"), name
        assert int(svg["data-marks"]) > 0, name
        assert int(svg["data-marks"]) == summary.marks[name], name
        assert int(svg["data-rendered-marks"]) == int(svg["data-marks"]), name
        assert int(svg["data-rendered-width"]) > 300 and int(svg["data-rendered-height"]) > 50, (name, svg)
    assert summary.charts == CHARTS


def test_headline_shown_equals_the_marts(built, chromium, tmp_path):
    wh, summary, _ = built
    want = expected_headline(wh)
    h = summary.headline
    for key, value in want.items():
        if isinstance(value, float):
            assert h[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert h[key] == value, key
    assert h["checks_passed"] == 2 and h["checks_total"] == 3 and h["dq_run_id"] == "run-new"
    # the offending values are stripped so one rule counts as one reason
    assert dict(h["top_reasons"]) == {"orders · gmv: not a money amount (…)": 4, "orders · paid_at: required value empty": 4,
                                      "orders · quantity < 1": 4, "orders · traffic_source: unknown value …": 4,
                                      "follows · action: unknown value …": 1}
    # what the reader sees, after the browser parsed the page
    kpis = _parse(dump_dom(chromium, summary.path, tmp_path / "profile")).kpis
    assert Decimal(kpis["gmv"]["value"]) == want["gmv"]
    assert kpis["gmv"]["text"] == f"¥{want['gmv']:,.2f}"
    assert kpis["net_gmv"]["text"] == f"¥{want['net_gmv']:,.2f}"
    assert kpis["private_share"]["text"] == f"{want['private_share'] * 100:.1f}%"
    assert float(kpis["private_share"]["value"]) == pytest.approx(want["private_share"], rel=1e-12)
    assert kpis["paid_share"]["text"] == f"{want['paid_share'] * 100:.1f}%"
    assert kpis["new_buyers"]["text"] == f"{want['new_buyers']:,}"
    assert kpis["returning_buyers"]["text"] == f"{want['returning_buyers']:,}"
    assert kpis["repurchase_rate_30d"]["text"] == f"{want['repurchase_rate_30d'] * 100:.1f}%"
    assert kpis["cohort_month"]["value"] == want["cohort_month"].isoformat()
    assert kpis["period"]["text"] == f"{want['first_date']} – {want['last_date']}"
    assert kpis["rows_read"]["text"] == f"{want['rows_read']:,}"
    assert kpis["rows_rejected"]["text"] == f"{want['rows_rejected']:,}"
    assert kpis["checks_passed"]["text"] == "2 / 3"


def test_report_is_self_contained_escaped_and_marks_incomplete_windows(built):
    _, summary, _ = built
    page = summary.path.read_text(encoding="utf-8")
    assert EVIL_NAME not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Tom &amp; Jerry&#x27;s 旗舰店" in page
    assert page.count("<script>") == 1  # only the measuring script
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "report must not load anything from the network"
    assert "@import" not in page and "@font-face" not in page
    # 60 days from 2026-01-05: March's 30-day window and every 90-day window are still open
    assert 'data-window="90" data-state="incomplete"' in page
    assert 'data-window="30" data-state="complete"' in page
    assert 'data-state="partial"' in page  # the horizon month of the retention triangle
    assert "–" in page  # NULL ratios (e.g. GPM of an account without live viewers)


def test_account_matrix_recomputes_ratios_from_sums(built):
    wh, summary, _ = built
    page = summary.path.read_text(encoding="utf-8")
    with duckdb.connect(str(wh), read_only=True) as con:
        ranked = con.sql("""select account_id, sum(gmv), sum(gmv) * 1000 / nullif(sum(viewers), 0)
                            from marts.fct_account_matrix_daily group by 1 order by 2 desc, 1""").fetchall()
    order = re.findall(r'<tr data-account="([^"]+)">', page)
    assert order == [r[0] for r in ranked]
    row = re.search(r'<tr data-account="%s">.*?</tr>' % ranked[0][0], page).group(0)
    assert f"¥{ranked[0][2]:,.0f}" in row  # GPM from summed GMV and viewers, not an average of daily GPMs


def test_missing_dq_results_is_tolerated(tmp_path):
    wh = build_warehouse(tmp_path / "w.duckdb", days=20, roster=ROSTER[:3], with_dq=False)
    summary = build_report(wh, tmp_path / "r.html")
    assert summary.headline["checks_total"] is None
    assert 'data-kpi="checks_passed" data-value=""' in summary.path.read_text(encoding="utf-8")
    # 20 days: no cohort window of 30 days has closed yet
    assert summary.headline["repurchase_rate_30d"] is None


def test_a_year_of_forty_accounts_stays_light(tmp_path):
    roster = [(f"K{i:02d}", f"账号 {i}", f"Brand{i % 4}", ("flagship", "store", "anchor", "distributor")[i % 4],
               "北京" if i % 4 == 1 else None, None) for i in range(40)]
    wh = build_warehouse(tmp_path / "big.duckdb", start=date(2025, 6, 1), days=365, roster=roster,
                         buyers_per_brand=3000, orders_per_day=(1, 5))
    summary = build_report(wh, tmp_path / "big.html")
    assert summary.bytes < 2 * 1024 * 1024, summary.bytes
    assert summary.charts == CHARTS
    assert summary.headline["days"] == 365


def test_screenshot_for_the_readme(built, chromium, tmp_path):
    """Opt-in (DUALWHEEL_REPORT_SCREENSHOT=path.png): refreshes the README picture."""
    target = os.environ.get("DUALWHEEL_REPORT_SCREENSHOT")
    if not target:
        pytest.skip("set DUALWHEEL_REPORT_SCREENSHOT=docs/images/report.png to refresh the README screenshot")
    _, summary, _ = built
    height = int(_parse(dump_dom(chromium, summary.path, tmp_path / "profile")).body["data-page-height"])
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    screenshot(chromium, summary.path, Path(target), tmp_path / "profile", height=height)


def test_empty_warehouse_renders_empty_states(tmp_path):
    wh = build_warehouse(tmp_path / "w.duckdb", days=3, roster=ROSTER[:2])
    with duckdb.connect(str(wh)) as con:
        for (table,) in con.sql("select schema_name || '.' || table_name from duckdb_tables() "
                                "where schema_name in ('marts', 'audit')").fetchall():
            con.execute(f"delete from {table}")
    summary = build_report(wh, tmp_path / "r.html")
    assert summary.charts == () and summary.headline["gmv"] == 0 and summary.headline["private_share"] is None
    page = summary.path.read_text(encoding="utf-8")
    assert all(f'data-chart="{name}" data-marks="0"' in page for name in CHARTS)


def test_fan_value_section_equals_the_marts(built):
    """Fans by source and the per-source table are the sums of marts.fct_fan_cohort over the follow
    months with a complete 30-day window, ratios recomputed from those sums."""
    wh, summary, _ = built
    page = summary.path.read_text(encoding="utf-8")
    with duckdb.connect(str(wh), read_only=True) as con:
        want = con.sql("""
            select acquisition_source, sum(new_fans), sum(fans_buying_30d)::double / sum(new_fans),
                   sum(fan_gmv_30d) / sum(new_fans), sum(unfollowed_30d)::double / sum(new_fans)
            from marts.fct_fan_cohort where window_30d_complete group by 1""").fetchall()
        months = con.sql("select count(distinct follow_month) from marts.fct_fan_cohort").fetchall()[0][0]
    assert want, "the fixture must have complete follow months"
    for source, fans, rate, gpf, unf in want:
        row = re.search(r'<tr data-source="%s">.*?</tr>' % source, page).group(0)
        assert f">{fans:,}<" in row and f">{rate * 100:.1f}%<" in row, (source, row)
        assert f">¥{gpf:,.2f}<" in row and f">{unf * 100:.1f}%<" in row, (source, row)
    assert page.count("<g data-month=") == months
    assert summary.marks["organic-share"] > 0


def test_fan_value_headline_line(built):
    from warehouse.headline import format_headline, read_headline

    wh, _, _ = built
    h = read_headline(wh)
    with duckdb.connect(str(wh), read_only=True) as con:
        fans, rate, paid_rate = con.sql("""
            select sum(new_fans), sum(fans_buying_30d)::double / sum(new_fans),
                   sum(fans_buying_30d) filter (where acquisition_source = 'paid')::double
                   / sum(new_fans) filter (where acquisition_source = 'paid')
            from marts.fct_fan_cohort where window_30d_complete""").fetchall()[0]
    line = next(x for x in format_headline(h).splitlines() if "粉丝价值" in x)
    assert f"{fans:,} fans: 30-day buy {rate:.1%}" in line, line
    assert f"paid fans {paid_rate:.1%}" in line, line


def test_warehouse_before_contract_v2_renders_without_fan_value(tmp_path):
    """A warehouse published before fct_fan_cohort and the v2 matrix columns existed still renders."""
    from warehouse.headline import format_headline, read_headline

    wh = build_warehouse(tmp_path / "w.duckdb", days=20, roster=ROSTER[:3])
    with duckdb.connect(str(wh)) as con:
        con.execute("drop table marts.fct_fan_cohort")
        con.execute("alter table marts.fct_account_matrix_daily drop column new_follows_paid")
    summary = build_report(wh, tmp_path / "r.html")
    page = summary.path.read_text(encoding="utf-8")
    assert 'data-chart="fan-sources" data-marks="0"' in page and 'data-chart="organic-share" data-marks="0"' in page
    assert "no fct_fan_cohort" in format_headline(read_headline(wh))
