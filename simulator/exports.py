"""Seeded simulator of Kuaishou live-commerce exports in the contract's landing layout.

Real merchants cannot share their exports, so this module *simulates* the public/private dual wheel
(公私域双轮循环) and writes what a merchant's data engineer would drop into the landing folder
(contract.md section 1): ``accounts.csv`` plus one folder per day with ``orders*``, ``follows*``
and ``live_traffic*`` files.

The model (one pass, vectorised with numpy; loops only per day, per chain step or per file)
------------------------------------------------------------------------------------------
1. **Account matrix** - each brand runs a flagship (品牌号), stores with cities (门店号), anchors
   (主播号) and a distributor (分销号); stores/anchors/distributor point at the flagship. An account
   has a traffic weight by role and is silent before its ``opened_on`` (one anchor opens mid-run).
2. **Calendar** - a daily intensity: yearly growth, weekends, the Spring-Festival dip and sale
   spikes (616 is Kuaishou's own sale, then 618, 11.11 ...). ``Knobs.spikes`` holds the factors.
3. **Live sessions** - per account and day, a role-dependent chance to go live (every account goes
   live on a spike day), an afternoon and/or evening slot, role-dependent durations. Sessions that
   run past midnight are exported twice: still live (no ended_at) in the start day's folder and
   final in the next one; on the last day they stay still live.
4. **Public wheel: new buyers** - buyers arrive per day in proportion to the calendar, at an
   account drawn by weight, through a public source mix that depends on the account's role
   (stores get 同城/nearby, anchors 发现页/discovery and short video; spikes boost discovery and paid).
   Public traffic reaches an account mostly through its live room: on a day it is not live it gets
   ``offline_traffic_factor`` (30 %) of its share. A share of new buyers follows the account at T0
   (``Knobs.p_follow_at_t0``, by source, ~35 %); ~8 % followed earlier and buy first via the
   follow page.
5. **Private wheel: repurchase chains** - every buyer's orders form a renewal chain: after each
   order the buyer continues with probability ``q_fan``/``q_nonfan`` after a gamma gap (mean
   ``gap_fan_days``/``gap_nonfan_days``). Fans mostly come back to the followed account through the
   follow page (``p_fan_buys_via_follow``); a non-fan may follow at a repurchase
   (``p_convert_at_repeat``); fans may unfollow later and then buy like non-fans. Repurchases in
   the ``pull_window_days`` before a sale are partly pulled onto the sale day (``pull_forward``).
   The chain starts ``burn_in_days`` before the first exported day, so the run opens with a fan
   base in place (otherwise the private share would start near 0 %); burn-in rows are not exported,
   which also gives the left-censoring real exports have.
6. **Orders** - the order count is hit exactly: a pilot estimates orders per buyer, enough buyers
   are simulated, then whole buyers are dropped at random (so rates are unbiased). Orders are
   placed inside a live session of their account and day (paid_at within it) unless they come from
   a short video / the shop shelf or the account is not live. Each paid order may re-appear in a
   later day folder as shipped / completed / refunded (refund_amount <= gmv) / cancelled; ~1.5 %
   extra orders are cancelled unpaid (no paid_at).
7. **Follows** - follow events at T0 or at a repurchase (same session, source of that order;
   ``p_follow_after_order`` of them just after paying, 新客转粉), follow-before-first-purchase
   events, follows from viewers who never buy, and unfollows. Fan value depends on the source
   that won the fan (``fan_loyalty_by_source``, ``p_unfollow_by_source``): paid-promotion fans
   come back less and unfollow more and sooner than fans won in the live room through 发现页 /
   同城 / 搜索, and follow campaigns add cheap paid follows from viewers who never buy.
8. **Live traffic** - one row per (session, source); viewers are the session's orders of that
   source divided by a source conversion rate plus a baseline, watch time per viewer is source
   specific (follow viewers watch ~5 min, discovery ~1.3 min).

Measured with the default knobs (seeds 1, 2, 3, 616): the private share of counted GMV is 47-49 %
(~45 % on 616, where discovery is the largest public source at ~60 % of public GMV; 616 GMV is
~2.8x an average day) and the 30-day repurchase rate of complete cohorts is ~31-32 % over a year
(fan value by source, below, moved these by < 1 point: seeds 1 / 616 at 100k orders over 365 days,
private share 49.1 -> 48.9 % / 49.3 -> 48.1 %, T30 31.7 -> 31.5 % / 31.9 -> 30.9 %).
Short runs read higher (~37 % at 60 days, ~40 % at 40 days): only the first weeks' cohorts are
complete, and they hold the burn-in's loyal buyers whose first *exported* order is a repurchase.
The main knobs: private share <- ``p_fan_buys_via_follow``, ``q_fan``, ``private_basket_uplift``;
T30 <- ``q_fan``/``q_nonfan`` and the gap means; 616 shape <- ``spikes``, ``pull_forward`` and
``_SPIKE_SOURCE_BOOST``.

``messy=True`` renders the *same* simulated truth (the rendering uses its own random streams) the
way real exports look: GB18030 and BOM files, Chinese headers and enum values, ``¥1,299.00``
money, mixed timestamp formats and offsets (same instant), split and parquet files, extra and
receiver (PII) columns, exact duplicate rows, ~1 % invalid rows of every kind the contract names
(added as corrupted copies, so accepted data is unchanged), and a roster with one invalid row, one
duplicate account_id and one missing account. Everything injected is counted in the summary.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

__all__ = ["Knobs", "SimulationSummary", "generate", "EXPORTS", "INVALID_KINDS"]

# --------------------------------------------------------------------------------------------
# Contract vocabulary
# --------------------------------------------------------------------------------------------
SOURCES = ("follow", "discovery", "nearby", "search", "short_video", "paid", "other")
FOLLOW, DISCOVERY, NEARBY, SEARCH, SHORT_VIDEO, PAID, OTHER = range(len(SOURCES))
STATUSES = ("paid", "shipped", "completed", "refunded", "cancelled")
ST_PAID, ST_SHIPPED, ST_COMPLETED, ST_REFUNDED, ST_CANCELLED = range(len(STATUSES))
ROLES = ("flagship", "store", "anchor", "distributor")
FLAGSHIP, STORE, ANCHOR, DISTRIBUTOR = range(len(ROLES))
ACTIONS = ("follow", "unfollow")

# Chinese enum values (first = primary, the rest are accepted aliases).
SOURCE_ZH = (("关注页",), ("发现页", "精选"), ("同城页", "同城"), ("搜索",), ("短视频",),
             ("付费推广", "磁力金牛"), ("其他",))
STATUS_ZH = (("已支付",), ("已发货",), ("已完成",), ("已退款",), ("已取消",))
ROLE_ZH = (("品牌号",), ("门店号",), ("主播号",), ("分销号",))
ACTION_ZH = (("关注",), ("取关",))

COLUMNS = {
    "accounts": ("account_id", "account_name", "brand", "role", "city", "parent_account_id",
                 "opened_on"),
    "orders": ("order_id", "buyer_id", "account_id", "live_session_id", "traffic_source",
               "product_id", "category", "quantity", "gmv", "refund_amount", "status", "paid_at",
               "updated_at"),
    "follows": ("event_id", "user_id", "account_id", "action", "traffic_source", "live_session_id",
                "occurred_at"),
    "live_traffic": ("live_session_id", "account_id", "started_at", "ended_at", "traffic_source",
                     "viewers", "watch_seconds"),
}
HEADERS_ZH = {
    "account_id": "账号ID", "account_name": "账号名称", "brand": "品牌", "role": "账号类型",
    "city": "城市", "parent_account_id": "上级账号ID", "opened_on": "开通日期",
    "order_id": "订单号", "buyer_id": "买家ID", "live_session_id": "直播场次ID",
    "traffic_source": "流量来源", "product_id": "商品ID", "category": "类目", "quantity": "数量",
    "gmv": "实付金额", "refund_amount": "退款金额", "status": "订单状态", "paid_at": "支付时间",
    "updated_at": "更新时间", "event_id": "事件ID", "user_id": "用户ID", "action": "行为",
    "occurred_at": "发生时间", "started_at": "开播时间", "ended_at": "下播时间",
    "viewers": "观看人数", "watch_seconds": "观看时长(秒)",
}
EXPORTS = ("orders", "follows", "live_traffic")
INVALID_KINDS = ("required_empty", "bad_timestamp", "bad_number", "unknown_enum",
                 "negative_money", "refund_gt_gmv", "quantity_lt_1", "ended_before_started")
_KINDS_BY_EXPORT = {
    "orders": ("required_empty", "bad_timestamp", "bad_number", "unknown_enum", "negative_money",
               "refund_gt_gmv", "quantity_lt_1"),
    "follows": ("required_empty", "bad_timestamp", "unknown_enum"),
    "live_traffic": ("required_empty", "bad_timestamp", "bad_number", "unknown_enum",
                     "ended_before_started"),
}

_DAY = 86_400
_TS_FORMAT = "%Y-%m-%d %H:%M:%S"
_SHANGHAI_OFFSET = 8 * 3600  # Asia/Shanghai has had no DST since 1991: always UTC+8.


# --------------------------------------------------------------------------------------------
# Brands and tuning knobs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BrandSpec:
    name: str
    code: str
    weight: float                      # share of new buyers
    stores: tuple[str, ...]            # store cities
    anchors: tuple[str, ...]
    categories: tuple[tuple[str, float, int], ...]  # (category, median unit price CNY, products)


BRANDS = (
    BrandSpec("山野茶铺", "SY", 0.45, ("杭州", "上海", "苏州", "南京", "宁波"), ("小鹿", "阿茶"),
              (("绿茶", 168, 14), ("红茶", 198, 10), ("茶具", 259, 8), ("茶点", 59, 8))),
    BrandSpec("柚见美妆", "YJ", 0.35, ("广州", "深圳", "成都"), ("琪琪", "Momo", "阿杰"),
              (("护肤", 229, 16), ("彩妆", 139, 14), ("香氛", 299, 6))),
    BrandSpec("鲜丰果园", "XF", 0.20, ("成都", "重庆", "西安", "武汉"), ("果果",),
              (("水果", 79, 18), ("坚果", 99, 8), ("果干", 49, 6))),
)


@dataclass(frozen=True)
class Knobs:
    """Tuning knobs; the defaults give a private share of 47-49 % and a 30-day repurchase rate of
    ~32 % (see the module docstring for which knob moves what)."""

    burn_in_days: int = 150              # > 2 fan lifetimes (~4.5 orders x 17 d), so steady state
    growth_per_year: float = 0.35        # live commerce GMV still grows ~30-40 % a year
    # (month, day) -> intensity factor for new buyers and live sessions.
    spikes: tuple[tuple[tuple[int, int], float], ...] = (
        ((6, 16), 3.6), ((6, 18), 2.6), ((6, 15), 1.4), ((6, 17), 1.6), ((6, 1), 1.3),
        ((11, 11), 2.4), ((12, 12), 1.5), ((3, 8), 1.4))
    # (month, day) -> share of repurchases in the window before the sale that wait for it.
    pull_forward: tuple[tuple[tuple[int, int], float], ...] = (
        ((6, 16), 0.20), ((6, 18), 0.08), ((11, 11), 0.20))
    pull_window_days: float = 10.0
    spring_festival_dip: float = 0.7     # couriers stop for ~a week around 春节
    # Chance that a new buyer follows at T0, by T0 source (follow = already a fan).
    p_follow_at_t0: tuple[float, ...] = (1.0, 0.36, 0.44, 0.33, 0.40, 0.24, 0.28)
    q_fan: float = 0.80                  # chance a fan orders again (fan: ~5 orders a lifetime)
    q_nonfan: float = 0.30
    gap_fan_days: float = 24.0           # mean gap between a fan's orders
    gap_nonfan_days: float = 42.0
    gap_shape: float = 1.3               # gamma shape: right-skewed gaps
    min_gap_days: float = 0.3
    p_convert_at_repeat: float = 0.15    # non-fan follows when coming back
    p_unfollow: float = 0.22             # fans won at a repurchase (no acquisition source yet)
    unfollow_mean_days: float = 50.0
    # Fan value by acquisition source (follow, discovery, nearby, search, short_video, paid,
    # other; the source of the follow event that made the fan). Paid promotion (磁力金牛) wins
    # fans cheaply but they are the weakest: they come back less (q_fan x loyalty), unfollow
    # more and sooner (取关); live-room fans won through 发现页/同城/搜索 stay. Measured on the demo
    # (`dualwheel demo`, 60k orders, complete 30-day windows of fct_fan_cohort): paid fans buy
    # within 30 days 21.6 % vs discovery 47.4 %, ¥70 vs ¥177 GMV per fan, unfollow 27.4 % vs 9.3 %.
    fan_loyalty_by_source: tuple[float, ...] = (1.0, 1.0, 1.02, 1.02, 0.95, 0.78, 0.95)
    p_unfollow_by_source: tuple[float, ...] = (0.20, 0.18, 0.16, 0.18, 0.24, 0.42, 0.22)
    unfollow_mean_days_by_source: tuple[float, ...] = (50.0, 55.0, 60.0, 55.0, 40.0, 18.0, 50.0)
    p_fan_stays_at_account: float = 0.92
    p_nonfan_stays_at_account: float = 0.5
    p_fan_buys_via_follow: float = 0.93
    private_basket_uplift: float = 1.15  # loyal fans buy bigger baskets (老粉客单价更高)
    offline_traffic_factor: float = 0.3  # public traffic of an account on a day it is not live
    nonbuyer_follow_ratio: float = 0.8   # follows by viewers who never buy, per buyer follow
    p_unfollow_nonbuyer: float = 0.3
    # Share of buyers following with an order who do it right after paying (新客转粉: the fan
    # start comes after a purchase) rather than just before it.
    p_follow_after_order: float = 0.6
    # Follow campaigns (粉丝推广) buy follows from viewers who never buy: paid is this many times
    # likelier among non-buyer follows than in the role's source mix, and those fans leave
    # more often (p_unfollow_nonbuyer_paid).
    nonbuyer_paid_boost: float = 2.5
    p_unfollow_nonbuyer_paid: float = 0.55
    p_unpaid_cancel: float = 0.015       # orders cancelled before payment (no paid_at)
    # Later status of a paid order: stays paid, shipped, completed, refunded, cancelled.
    status_mix: tuple[float, ...] = (0.38, 0.08, 0.44, 0.08, 0.02)
    spike_refund_share: float = 0.14     # impulse buying on sale days is refunded more
    messy_invalid_share: float = 0.01    # per file; capped at 2.5 % so a 5 % reject gate holds
    messy_duplicate_share: float = 0.004
    # Export *shape* (the simulated truth is the same): merchants often export a trailing window
    # ("orders updated in the last 2 days"), so a share of each day's order rows reappears
    # unchanged in the next day's file (0.3 -> ~2.1 rows per order instead of ~1.6; 1.0 -> ~3.2),
    # and some split each export into several files per day. Used by the benchmark profiles.
    reexport_share: float = 0.0
    files_per_day: int = 1


# Source mixes of a new buyer's first order by account role (follow, discovery, nearby, search,
# short_video, paid, other); ~6 % followed earlier and buy first through the follow page.
_T0_MIX = np.array([
    [0.08, 0.40, 0.04, 0.14, 0.16, 0.15, 0.03],   # flagship
    [0.08, 0.22, 0.36, 0.12, 0.12, 0.07, 0.03],   # store: 同城 brings walk-in neighbours
    [0.08, 0.42, 0.06, 0.08, 0.20, 0.13, 0.03],   # anchor
    [0.07, 0.30, 0.05, 0.10, 0.28, 0.15, 0.05],   # distributor
])
# Public sources of a repurchase that does not come through the follow page.
_REPEAT_MIX = np.array([
    [0.0, 0.26, 0.06, 0.34, 0.20, 0.10, 0.04],
    [0.0, 0.16, 0.32, 0.28, 0.14, 0.06, 0.04],
    [0.0, 0.30, 0.06, 0.28, 0.24, 0.08, 0.04],
    [0.0, 0.26, 0.06, 0.30, 0.26, 0.08, 0.04],
])
_SPIKE_SOURCE_BOOST = np.array([1.0, 3.5, 1.0, 1.0, 1.0, 1.5, 1.0])  # 大促: 精选 + 磁力金牛
# By role (flagship, store, anchor, distributor): the flagship carries ~40 % of a brand's traffic;
# it streams almost daily, often twice (afternoon + evening), for 3-5.5 h; a store streams ~4 days
# a week for 1.5-3 h; distributors only occasionally.
_ROLE_WEIGHT = (1.0, 0.22, 0.45, 0.18)
_P_LIVE = (0.95, 0.60, 0.80, 0.40)
_P_TWO_SESSIONS = (0.30, 0.05, 0.15, 0.05)
_DURATION_H = ((3.0, 5.5), (1.5, 3.0), (2.5, 4.5), (1.0, 2.0))
# Chance an order of a source is placed in a live session (short video / shelf orders are not).
_P_IN_SESSION = np.array([0.90, 0.92, 0.85, 0.60, 0.10, 0.90, 0.50])
# Live traffic: conversion of viewers to orders and mean watch seconds per viewer, by source.
_CONVERSION = np.array([0.05, 0.012, 0.02, 0.035, 0.015, 0.01, 0.02])
_WATCH_SECONDS = np.array([300.0, 80.0, 110.0, 150.0, 90.0, 60.0, 100.0])
_BASE_VIEWERS_PER_HOUR = np.array([0.6, 1.2, 0.4, 0.3, 0.5, 0.6, 0.2])
# Orders outside sessions by hour of day: lunch break and the 20-23h prime time.
_HOURS = np.array([0.6, 0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 2.4, 2.8, 3.4, 3.0, 2.5,
                   2.4, 2.5, 3.0, 3.8, 4.8, 5.8, 6.2, 5.0, 2.4])
_SPRING_FESTIVAL = {2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26)}
_WEEKDAY = (0.97, 0.95, 0.95, 0.98, 1.05, 1.15, 1.12)


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------
@dataclass
class SimulationSummary:
    landing: Path
    dates: list[dt.date] = field(repr=False)
    files: list[Path] = field(repr=False)
    rows: dict[str, int]                       # data rows written per export (incl. accounts)
    orders: int                                # distinct order ids generated
    buyers: int
    messy: bool
    seed: int
    invalid_rows: dict[str, int] = field(default_factory=dict)
    invalid_by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    duplicate_rows: dict[str, int] = field(default_factory=dict)
    unmapped_account_ids: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def files_written(self) -> int:
        return len(self.files)

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid_rows.values())

    def describe(self) -> str:
        """Human-readable summary for the CLI."""
        span = f"{self.dates[0]} .. {self.dates[-1]}" if self.dates else "no dates"
        lines = [f"wrote {'messy' if self.messy else 'clean'} exports to {self.landing} "
                 f"(seed {self.seed}): {len(self.dates)} day folders {span}, "
                 f"{self.files_written} files in {self.wall_seconds:.1f} s",
                 f"  {self.orders:,} orders from {self.buyers:,} buyers"]
        for export, n in self.rows.items():
            extra = ""
            if self.messy:
                extra = (f" (incl. {self.invalid_rows.get(export, 0):,} invalid, "
                         f"{self.duplicate_rows.get(export, 0):,} duplicate)")
            lines.append(f"  {export:<13}{n:>12,} rows{extra}")
        if self.unmapped_account_ids:
            lines.append(f"  accounts missing from / rejected in the roster (unmapped): "
                         f"{', '.join(self.unmapped_account_ids)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def _categorical(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray | None,
                 n: int) -> np.ndarray:
    """Draw n categories; probs is (k,) or (groups, k) indexed by group."""
    cdf = np.cumsum(probs / probs.sum(axis=-1, keepdims=True), axis=-1)
    u = rng.random(n)
    if cdf.ndim == 1:
        return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1).astype(np.int16)
    # One searchsorted per group (<= 8 groups): an (n, k) comparison matrix would need n*k*8
    # bytes, and sorting by group costs ~2 s per 10M draws.
    out = np.empty(n, np.int16)
    for g in range(cdf.shape[0]):
        sel = np.flatnonzero(group == g)
        out[sel] = np.minimum(np.searchsorted(cdf[g], u[sel], side="right"), cdf.shape[1] - 1)
    return out


@dataclass
class _Matrix:
    ids: list[str]
    names: list[str]
    brand: np.ndarray       # brand index per account
    role: np.ndarray
    city: list[str | None]
    parent: list[str | None]
    opened: list[dt.date]
    weight: np.ndarray      # traffic weight, brand share included
    flagship_of: np.ndarray  # account index of each brand's flagship


def _build_matrix(rng: np.random.Generator, start: dt.date, days: int) -> _Matrix:
    ids, names, brand, role, city, parent, opened, weight = [], [], [], [], [], [], [], []
    flagships = []
    id_pool = rng.choice(90_000_000, size=64, replace=False) + 10_000_000
    for b, spec in enumerate(BRANDS):
        members = [(FLAGSHIP, f"{spec.name}官方旗舰店", None)]
        members += [(STORE, f"{spec.name}·{c}店", c) for c in spec.stores]
        members += [(ANCHOR, f"{spec.name}主播{a}", None) for a in spec.anchors]
        members += [(DISTRIBUTOR, f"{spec.name}优选分销", None)]
        raw_w = np.array([_ROLE_WEIGHT[r] for r, _, _ in members])
        for k, (r, name, c) in enumerate(members):
            ids.append(f"KS{id_pool[len(ids)]}")
            names.append(name)
            brand.append(b)
            role.append(r)
            city.append(c)
            age = {FLAGSHIP: (600, 1000), STORE: (200, 700), ANCHOR: (200, 500),
                   DISTRIBUTOR: (200, 400)}[r]
            opened.append(start - dt.timedelta(days=int(rng.integers(*age))))
            weight.append(spec.weight * raw_w[k] / raw_w.sum())
        flagships.append(len(ids) - len(members))
    # A newly signed anchor goes live 30 % into the run: realistic matrix growth.
    newcomer = names.index(f"{BRANDS[1].name}主播{BRANDS[1].anchors[-1]}")
    opened[newcomer] = start + dt.timedelta(days=int(0.3 * days))
    for i in range(len(ids)):
        if role[i] != FLAGSHIP:
            parent.append(ids[flagships[brand[i]]])
        else:
            parent.append(None)
    return _Matrix(ids, names, np.array(brand, np.int16), np.array(role, np.int16), city, parent,
                   opened, np.array(weight), np.array(flagships))


@dataclass
class _Calendar:
    first: int                # first simulated day index (negative: burn-in)
    weight: np.ndarray        # intensity per simulated day
    spike: np.ndarray         # spike factor per simulated day
    open_mask: np.ndarray     # (simulated days, accounts)
    activity: np.ndarray      # (simulated days, accounts) public-traffic factor, live days = 1


def _build_calendar(start: dt.date, days: int, matrix: _Matrix, knobs: Knobs) -> _Calendar:
    first = -knobs.burn_in_days
    spikes = dict(knobs.spikes)
    weight, spike = [], []
    for d in range(first, days):
        date = start + dt.timedelta(days=d)
        s = spikes.get((date.month, date.day), 1.0)
        w = max(0.3, 1.0 + knobs.growth_per_year * d / 365.0) * _WEEKDAY[date.weekday()] * s
        sf = _SPRING_FESTIVAL.get(date.year)
        if sf and -2 <= (date - dt.date(date.year, *sf)).days <= 6:
            w *= knobs.spring_festival_dip
        weight.append(w)
        spike.append(s)
    opened_idx = np.array([(o - start).days for o in matrix.opened])
    day_idx = np.arange(first, days)
    open_mask = day_idx[:, None] >= opened_idx[None, :]
    return _Calendar(first, np.array(weight), np.array(spike), open_mask,
                     open_mask.astype(float))


# --------------------------------------------------------------------------------------------
# Live sessions
# --------------------------------------------------------------------------------------------
@dataclass
class _Sessions:
    account: np.ndarray
    day: np.ndarray
    start: np.ndarray        # seconds since the first exported day
    end: np.ndarray
    place_end: np.ndarray    # end clipped to the export horizon (orders must land in the run)
    number: np.ndarray       # id number, chronological
    first: np.ndarray        # CSR over key = account * days + day
    count: np.ndarray


def _simulate_sessions(rng, matrix: _Matrix, cal: _Calendar, days: int) -> _Sessions:
    n_acc = len(matrix.ids)
    win = slice(-cal.first, None)
    spike = cal.spike[win][:, None]
    role = matrix.role[None, :]
    p_live = np.array(_P_LIVE)[role] * np.minimum(1.0, cal.weight[win][:, None] / spike)
    p_live = np.where(spike >= 2.0, 1.0, p_live)      # every account is on air for a big sale
    live = (rng.random((days, n_acc)) < p_live) & cal.open_mask[win]
    two = live & (rng.random((days, n_acc)) < np.array(_P_TWO_SESSIONS)[role])
    d_ev, a_ev = np.nonzero(live)
    d_af, a_af = np.nonzero(two)
    day = np.concatenate([d_ev, d_af]).astype(np.int64)
    acc = np.concatenate([a_ev, a_af]).astype(np.int64)
    evening = np.r_[np.ones(d_ev.size, bool), np.zeros(d_af.size, bool)]
    lo = np.array([r[0] for r in _DURATION_H])[matrix.role[acc]]
    hi = np.array([r[1] for r in _DURATION_H])[matrix.role[acc]]
    stretch = np.where(cal.spike[win][day] >= 2.0, 1.4, 1.0)   # sale sessions run longer
    dur_h = np.where(evening, rng.uniform(lo, hi) * stretch, rng.uniform(1.5, 3.0, day.size))
    start_h = np.where(evening, rng.uniform(18.0, 21.5, day.size), rng.uniform(12.5, 14.0, day.size))
    start = day * _DAY + (start_h * 3600).astype(np.int64)
    end = start + (dur_h * 3600).astype(np.int64)
    place_end = np.minimum(end, days * _DAY - 1)
    number = np.empty(day.size, np.int64)
    number[np.argsort(start, kind="stable")] = np.arange(day.size)
    key = acc * days + day
    order = np.argsort(key, kind="stable")
    acc, day, start, end, place_end, number, key = (x[order] for x in
                                                    (acc, day, start, end, place_end, number, key))
    count = np.bincount(key, minlength=n_acc * days)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    return _Sessions(acc, day, start, end, place_end, number, first, count)


def _place(rng, acc: np.ndarray, day: np.ndarray, want_session: np.ndarray, sess: _Sessions,
           days: int) -> tuple[np.ndarray, np.ndarray]:
    """Session index (-1 = none) and timestamp (seconds) for events on (account, day)."""
    n = acc.size
    key = acc.astype(np.int64) * days + day
    cnt = sess.count[key]
    use = want_session & (cnt > 0)
    pick = sess.first[key] + (rng.random(n) * cnt).astype(np.int64)
    s_idx = np.where(use, pick, -1)
    safe = np.where(use, s_idx, 0)
    if sess.start.size:
        s0, s1 = sess.start[safe], sess.place_end[safe]
        in_session = s0 + (rng.random(n) * (s1 - s0)).astype(np.int64)
    else:
        in_session = np.zeros(n, np.int64)
    hour = _categorical(rng, _HOURS, None, n).astype(np.int64)
    outside = day.astype(np.int64) * _DAY + hour * 3600 + rng.integers(0, 3600, n)
    return s_idx, np.where(use, in_session, outside)


# --------------------------------------------------------------------------------------------
# Buyers: arrivals and repurchase chains
# --------------------------------------------------------------------------------------------
@dataclass
class _Buyers:
    t0: np.ndarray          # continuous day of the first order (relative to the first export day)
    account: np.ndarray     # T0 account (the followed one for fans)
    brand: np.ndarray
    source: np.ndarray      # T0 source
    fan0: np.ndarray        # follows at (or before) T0
    fan_since: np.ndarray
    unfollow: np.ndarray    # continuous day of unfollowing, inf = never
    fan_src: np.ndarray     # source of the (T0 or earlier) follow: T0's, or a public one for
                            # buyers who followed before buying (their T0 comes via follow)


@dataclass
class _Chain:
    buyer: np.ndarray
    t: np.ndarray
    step: np.ndarray
    fan_at: np.ndarray      # buyer is a fan when placing this order
    converted: np.ndarray   # buyer follows with this order


def _arrivals(rng, n: int, matrix: _Matrix, cal: _Calendar, knobs: Knobs) -> _Buyers:
    per_day = rng.multinomial(n, cal.weight / cal.weight.sum())
    acc_parts = []
    for i in np.nonzero(per_day)[0]:
        p = matrix.weight * cal.activity[i]
        acc_parts.append(np.repeat(np.arange(p.size), rng.multinomial(per_day[i], p / p.sum())))
    account = np.concatenate(acc_parts).astype(np.int16)
    day_idx = np.repeat(np.arange(per_day.size), per_day)
    t0 = cal.first + day_idx + rng.random(n)
    spiky = cal.spike[day_idx] >= 2.0
    role = matrix.role[account]
    mixes = np.concatenate([_T0_MIX, _T0_MIX * _SPIKE_SOURCE_BOOST])
    source = _categorical(rng, mixes, role + 4 * spiky, n)
    fan0 = rng.random(n) < np.array(knobs.p_follow_at_t0)[source]
    fan_since = np.where(source == FOLLOW, t0 - rng.uniform(1, 30, n), t0)
    # A buyer who followed before buying was won by some public source of the account's role.
    pre_src = _categorical(rng, _T0_MIX[:, 1:], role, n) + 1
    fan_src = np.where(source == FOLLOW, pre_src, source).astype(np.int8)
    unfollow = _unfollow_times(rng, fan_since, np.array(knobs.p_unfollow_by_source)[fan_src], knobs,
                               np.array(knobs.unfollow_mean_days_by_source)[fan_src])
    unfollow[~fan0] = np.inf
    return _Buyers(t0, account, matrix.brand[account], source, fan0, fan_since, unfollow, fan_src)


def _unfollow_times(rng, since: np.ndarray, p, knobs: Knobs, mean_days=None) -> np.ndarray:
    """p and mean_days: a scalar or one value per fan (by acquisition source)."""
    n = since.size
    mean = knobs.unfollow_mean_days if mean_days is None else mean_days
    # >= 2 days: placing an event in its day's live session moves it by up to ~1.3 days, and an
    # unfollow must not precede its follow.
    delay = 2.0 + rng.exponential(1.0, n) * mean
    return np.where(rng.random(n) < p, since + delay, np.inf)


def _chains(rng, b: _Buyers, horizon: float, knobs: Knobs) -> _Chain:
    n = b.t0.size
    parts = [(np.arange(n), b.t0, np.zeros(n, np.int16), b.fan0, np.zeros(n, bool))]
    idx, t, fan, unf = np.arange(n), b.t0.copy(), b.fan0.copy(), b.unfollow.copy()
    # A fan's chance to come back depends on how the fan was won (fan_loyalty_by_source).
    q_fan = knobs.q_fan * np.array(knobs.fan_loyalty_by_source)[b.fan_src]
    step = 0
    while idx.size:
        step += 1
        fan_now = fan & (t < unf)
        mean_gap = np.where(fan_now, knobs.gap_fan_days, knobs.gap_nonfan_days)
        t_next = t + knobs.min_gap_days + rng.gamma(knobs.gap_shape, mean_gap / knobs.gap_shape)
        keep = (rng.random(idx.size) < np.where(fan_now, q_fan, knobs.q_nonfan)) \
            & (t_next < horizon)
        idx, t, fan, unf, q_fan = idx[keep], t_next[keep], fan[keep], unf[keep], q_fan[keep]
        fan_at = fan & (t < unf)
        conv = ~fan & (rng.random(idx.size) < knobs.p_convert_at_repeat)
        if conv.any():
            new_unf = _unfollow_times(rng, t[conv], knobs.p_unfollow, knobs)
            unf[conv] = new_unf
            q_fan[conv] = knobs.q_fan
            b.unfollow[idx[conv]] = new_unf
            b.fan_since[idx[conv]] = t[conv]
            fan = fan | conv
        parts.append((idx, t, np.full(idx.size, step, np.int16), fan_at, conv))
    cat = [np.concatenate(x) for x in zip(*parts)]
    return _Chain(cat[0].astype(np.int64), cat[1], cat[2], cat[3], cat[4])


def _pull_to_sales(rng, ch: _Chain, start: dt.date, first: int, days: int, knobs: Knobs) -> None:
    """Repurchases due shortly before a sale wait for it (大促蓄水)."""
    pulls = dict(knobs.pull_forward)
    for d in range(first, days):
        date = start + dt.timedelta(days=d)
        p = pulls.get((date.month, date.day))
        if not p:
            continue
        hit = (ch.step > 0) & (ch.t >= d - knobs.pull_window_days) & (ch.t < d)
        hit &= rng.random(ch.t.size) < p
        ch.t[hit] = d + rng.random(int(hit.sum()))


def _simulate_buyers(rng, n_orders: int, matrix: _Matrix, cal: _Calendar, start: dt.date,
                     days: int, knobs: Knobs) -> tuple[_Buyers, _Chain]:
    """Simulate buyers until the run holds exactly n_orders orders, then drop whole buyers."""
    pilot_n = 20_000
    pilot_b = _arrivals(rng, pilot_n, matrix, cal, knobs)
    pilot = _chains(rng, pilot_b, days, knobs)
    per_buyer = max(0.05, float(((pilot.t >= 0) & (pilot.t < days)).sum()) / pilot_n)
    batches: list[tuple[_Buyers, _Chain]] = []
    total, offset = 0, 0
    while total < n_orders:
        need = int((n_orders - total) / per_buyer * 1.04) + 64
        b = _arrivals(rng, need, matrix, cal, knobs)
        ch = _chains(rng, b, days, knobs)
        _pull_to_sales(rng, ch, start, cal.first, days, knobs)
        ch.buyer += offset
        offset += need
        batches.append((b, ch))
        total += int(((ch.t >= 0) & (ch.t < days)).sum())
    b = _Buyers(*(np.concatenate([getattr(x[0], f) for x in batches])
                  for f in _Buyers.__dataclass_fields__))
    ch = _Chain(*(np.concatenate([getattr(x[1], f) for x in batches])
                  for f in _Chain.__dataclass_fields__))
    inside = (ch.t >= 0) & (ch.t < days)
    ch = _Chain(*(getattr(ch, f)[inside] for f in _Chain.__dataclass_fields__))
    # Keep a random subset of whole buyers holding exactly n_orders orders.
    counts = np.bincount(ch.buyer, minlength=offset)
    perm = rng.permutation(offset)
    cum = np.cumsum(counts[perm])
    cut = int(np.searchsorted(cum, n_orders))
    keep_buyer = np.zeros(offset, bool)
    keep_buyer[perm[:cut + 1]] = True
    keep = keep_buyer[ch.buyer]
    excess = int(cum[cut] - n_orders)
    if excess:
        last = np.nonzero(ch.buyer == perm[cut])[0]
        keep[last[np.argsort(ch.t[last])[-excess:]]] = False
    ch = _Chain(*(getattr(ch, f)[keep] for f in _Chain.__dataclass_fields__))
    return b, ch


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------
@dataclass
class _Catalog:
    ids: list[str]
    category: list[str]
    price_cents: np.ndarray
    brand_weights: np.ndarray   # (brands, products) popularity, zero outside the brand


def _build_catalog(rng) -> _Catalog:
    ids, cats, prices, brand_of, pop = [], [], [], [], []
    for b, spec in enumerate(BRANDS):
        for cat, median, n in spec.categories:
            for _ in range(n):
                ids.append(f"P{spec.code}{len(ids) + 1001:05d}")
                cats.append(cat)
                prices.append(round(median * float(rng.lognormal(0, 0.35)), 1) * 100)
                brand_of.append(b)
        k = sum(n for _, _, n in spec.categories)
        ranks = rng.permutation(k) + 1
        pop.extend(1.0 / ranks ** 0.9)            # a few hero products sell most (爆款)
    brand_of = np.array(brand_of)
    weights = np.zeros((len(BRANDS), len(ids)))
    weights[brand_of, np.arange(len(ids))] = pop
    return _Catalog(ids, cats, np.array(prices, np.int64), weights)


@dataclass
class _Orders:
    number: np.ndarray      # order id number
    buyer: np.ndarray
    account: np.ndarray
    session: np.ndarray     # session index, -1 none
    source: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    gmv: np.ndarray         # cents
    paid: np.ndarray        # seconds, -1 = never paid


@dataclass
class _Rows:
    """Export rows (an order, follow or traffic row per entry), sorted by landing day."""
    day_bounds: np.ndarray
    cols: dict[str, np.ndarray]


def _bounds(land_day: np.ndarray, days: int) -> np.ndarray:
    return np.searchsorted(land_day, np.arange(days + 1))


def _simulate_orders(rng, b: _Buyers, ch: _Chain, matrix: _Matrix, cal: _Calendar,
                     sess: _Sessions, catalog: _Catalog, days: int, knobs: Knobs):
    n = ch.t.size
    acc = b.account[ch.buyer].astype(np.int64)
    brand = b.brand[ch.buyer].astype(np.int64)
    repeat = ch.step > 0
    stay = np.where(ch.fan_at, knobs.p_fan_stays_at_account, knobs.p_nonfan_stays_at_account)
    move = repeat & ~ch.converted & (rng.random(n) >= stay)
    brand_acc = np.zeros((len(BRANDS), len(matrix.ids)))
    brand_acc[matrix.brand, np.arange(len(matrix.ids))] = matrix.weight
    other = _categorical(rng, brand_acc, brand[move], int(move.sum())).astype(np.int64)
    day = np.floor(ch.t).astype(np.int64)
    closed = ~cal.open_mask[day[move] - cal.first, other]
    other[closed] = matrix.flagship_of[brand[move][closed]]
    acc[move] = other
    at_home = acc == b.account[ch.buyer]
    spiky = cal.spike[day - cal.first] >= 2.0
    role = matrix.role[acc]
    source = b.source[ch.buyer].astype(np.int16)
    via_follow = repeat & ch.fan_at & at_home & (rng.random(n) < knobs.p_fan_buys_via_follow)
    public = repeat & ~via_follow
    mixes = np.concatenate([_REPEAT_MIX, _REPEAT_MIX * _SPIKE_SOURCE_BOOST])
    source[public] = _categorical(rng, mixes, (role + 4 * spiky)[public], int(public.sum()))
    source[via_follow] = FOLLOW
    want = rng.random(n) < _P_IN_SESSION[source]
    session, paid = _place(rng, acc, day, want, sess, days)

    product = _categorical(rng, catalog.brand_weights, brand, n)
    quantity = np.minimum(rng.geometric(np.where(spiky, 0.6, 0.72)), 5).astype(np.int64)
    discount = np.where(spiky, rng.uniform(0.70, 0.85, n), rng.uniform(0.90, 1.0, n))
    discount *= np.where(source == FOLLOW, knobs.private_basket_uplift, 1.0)
    gmv = np.maximum(1, np.round(catalog.price_cents[product] * quantity * discount))
    # Compact dtypes: ~30 bytes per order instead of ~70 (10M orders ~ 0.3 GB).
    return _Orders(number=np.empty(0, np.int64), buyer=ch.buyer.astype(np.int32),
                   account=acc.astype(np.int16), session=session.astype(np.int32),
                   source=source.astype(np.int8), product=product.astype(np.int16),
                   quantity=quantity.astype(np.int8), gmv=gmv.astype(np.int32), paid=paid)


def _finish_orders(rng, paid_orders: _Orders, n_total: int, days: int, knobs: Knobs,
                   cal: _Calendar) -> tuple[_Orders, _Rows]:
    """Add orders cancelled before payment, number all orders, emit status-update rows."""
    o, paid, gmv = paid_orders, paid_orders.paid, paid_orders.gmv
    n_paid = paid.size
    # Orders cancelled before payment: copies of random paid orders, same session, no paid_at.
    n_unpaid = n_total - n_paid
    base = rng.integers(0, n_paid, n_unpaid)
    created = np.minimum(paid[base] + rng.integers(60, 1800, n_unpaid), days * _DAY - 1)
    orders = _Orders(number=np.empty(0, np.int64), paid=np.r_[paid, np.full(n_unpaid, -1)],
                     **{f: np.r_[getattr(o, f), getattr(o, f)[base]] for f in
                        ("buyer", "account", "session", "source", "product", "quantity", "gmv")})
    del o, paid_orders
    first_seen = np.r_[paid, created]
    rank = np.empty(n_total, np.int64)
    rank[np.argsort(first_seen)] = np.arange(n_total)   # quicksort: 1.4 s vs 2.4 s per 10M
    # 16-digit numeric ids like Kuaishou's; the last digit is noise so ids are not dense.
    orders.number = 2_606_000_000_000_000 + rank * 10 + rng.integers(0, 10, n_total)

    # Status updates of paid orders land in a later day folder (never the paid day itself).
    day = paid // _DAY
    spiky = cal.spike[day - cal.first] >= 2.0
    mix = np.array(knobs.status_mix, float)
    spike_mix = mix.copy()
    spike_mix[ST_REFUNDED] = knobs.spike_refund_share
    spike_mix[ST_PAID] -= knobs.spike_refund_share - mix[ST_REFUNDED]
    outcome = _categorical(rng, np.stack([mix, spike_mix]), spiky.astype(np.int64), n_paid)
    delay_lo = np.array([0, 0.5, 6, 1, 0.05])[outcome]
    delay_hi = np.array([0, 3, 14, 15, 1.0])[outcome]
    upd = paid + (rng.uniform(delay_lo, delay_hi) * _DAY).astype(np.int64)
    upd = np.maximum(upd, (day + 1) * _DAY + rng.integers(0, 8 * 3600, n_paid))
    del delay_lo, delay_hi, day, spiky
    has_update = (outcome != ST_PAID) & (upd < days * _DAY)
    u_idx = np.nonzero(has_update)[0]
    u_status = outcome[u_idx].astype(np.int8)
    full = rng.random(u_idx.size) < 0.7
    partial = np.floor(gmv[u_idx] * rng.uniform(0.2, 0.8, u_idx.size)).astype(np.int64)
    u_refund = np.where(u_status == ST_REFUNDED, np.where(full, gmv[u_idx], partial), -1)

    updated = np.r_[paid, created, upd[u_idx]]
    del upd, outcome, has_update, first_seen, rank
    order = np.argsort(updated)
    order_idx = np.r_[np.arange(n_total, dtype=np.int32), u_idx.astype(np.int32)]
    status = np.r_[np.full(n_paid, ST_PAID, np.int8), np.full(n_unpaid, ST_CANCELLED, np.int8),
                   u_status]
    refund = np.r_[np.full(n_total, -1, np.int32), u_refund.astype(np.int32)]
    cols = {"order": order_idx[order], "status": status[order], "refund": refund[order],
            "updated": updated[order]}
    return orders, _Rows(_bounds(updated[order] // _DAY, days), cols)


def _simulate_follows(rng, b: _Buyers, ch: _Chain, orders: _Orders, matrix: _Matrix,
                      cal: _Calendar, sess: _Sessions, days: int, knobs: Knobs) -> _Rows:
    n_paid = ch.buyer.size
    paid, o_sess = orders.paid[:n_paid], orders.session[:n_paid]
    o_acc, o_src = orders.account[:n_paid], orders.source[:n_paid]
    users, accs, actions, srcs, sessions, times = [], [], [], [], [], []

    def add(user, acc, action, src, session, ts):
        users.append(np.asarray(user, np.int64))
        accs.append(np.asarray(acc, np.int64))
        actions.append(np.full(len(ts), action, np.int8))
        srcs.append(np.asarray(src, np.int8))
        sessions.append(np.asarray(session, np.int64))
        times.append(np.asarray(ts, np.int64))

    def around(i):
        """A follow a few minutes before the order or (p_follow_after_order) after paying,
        inside the order's session if any."""
        after = rng.random(i.size) < knobs.p_follow_after_order
        ts = paid[i] + np.where(after, 1, -1) * rng.integers(30, 600, i.size)
        s = o_sess[i]
        floor = np.where(s >= 0, sess.start[np.maximum(s, 0)], 0)
        ceil = np.where(s >= 0, sess.place_end[np.maximum(s, 0)], days * _DAY - 1)
        return np.minimum(np.maximum(ts, floor), np.maximum(ceil, paid[i]))

    # Buyers who follow with their (in-run) first order, or when coming back.
    t0_follow = np.nonzero(((ch.step == 0) & ch.fan_at & (o_src != FOLLOW)) | ch.converted)[0]
    add(ch.buyer[t0_follow], o_acc[t0_follow], 0, o_src[t0_follow], o_sess[t0_follow],
        around(t0_follow))
    # Buyers who followed before their first purchase (first order via the follow page).
    pre = np.nonzero((b.source == FOLLOW) & (b.fan_since >= 0) & (b.fan_since < days))[0]
    has_orders = np.bincount(ch.buyer, minlength=b.t0.size) > 0   # cheaper than np.unique
    pre = pre[has_orders[pre]]
    pre_day = np.floor(b.fan_since[pre]).astype(np.int64)
    pre_src = b.fan_src[pre]
    s, ts = _place(rng, b.account[pre].astype(np.int64), pre_day, rng.random(pre.size) < 0.8,
                   sess, days)
    add(pre, b.account[pre], 0, pre_src, s, ts)
    # Unfollows of buyers (their follow may predate the run).
    fans = np.flatnonzero(has_orders)
    fans = fans[np.isfinite(b.unfollow[fans]) & (b.unfollow[fans] >= 0)
                & (b.unfollow[fans] < days)]
    add(fans, b.account[fans], 1, np.full(fans.size, -1), np.full(fans.size, -1),
        (b.unfollow[fans] * _DAY).astype(np.int64))
    n_buyer_follows = t0_follow.size + pre.size
    # Viewers who follow without ever buying.
    n_nb = int(n_buyer_follows * knobs.nonbuyer_follow_ratio)
    win = cal.weight[-cal.first:]
    nb_day = _categorical(rng, win, None, n_nb).astype(np.int64)
    nb_acc = np.empty(n_nb, np.int64)
    by_day = np.argsort(nb_day, kind="stable")
    day_bounds = np.searchsorted(nb_day[by_day], np.arange(days + 1))
    for d in range(days):
        sel = by_day[day_bounds[d]:day_bounds[d + 1]]
        if sel.size:
            p = matrix.weight * cal.activity[d - cal.first]
            nb_acc[sel] = _categorical(rng, p, None, sel.size)
    nb_mix = _T0_MIX[:, 1:].copy()
    nb_mix[:, PAID - 1] *= knobs.nonbuyer_paid_boost
    nb_src = _categorical(rng, nb_mix, matrix.role[nb_acc], n_nb) + 1
    s, ts = _place(rng, nb_acc, nb_day, rng.random(n_nb) < 0.85, sess, days)
    nb_user = int(b.t0.size) + np.arange(n_nb)
    add(nb_user, nb_acc, 0, nb_src, s, ts)
    unf_t = _unfollow_times(rng, ts / _DAY, np.where(nb_src == PAID, knobs.p_unfollow_nonbuyer_paid,
                                                     knobs.p_unfollow_nonbuyer), knobs)
    gone = np.nonzero(unf_t < days)[0]
    add(nb_user[gone], nb_acc[gone], 1, np.full(gone.size, -1), np.full(gone.size, -1),
        (unf_t[gone] * _DAY).astype(np.int64))

    cols = {"user": np.concatenate(users), "account": np.concatenate(accs),
            "action": np.concatenate(actions), "source": np.concatenate(srcs),
            "session": np.concatenate(sessions), "ts": np.concatenate(times)}
    cols["ts"] = np.clip(cols["ts"], 0, days * _DAY - 1)
    order = np.argsort(cols["ts"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    cols["event"] = 5_000_000_000 + np.arange(order.size, dtype=np.int64)
    return _Rows(_bounds(cols["ts"] // _DAY, days), cols)


def _simulate_traffic(rng, orders: _Orders, matrix: _Matrix, sess: _Sessions, days: int) -> _Rows:
    n_s, k = sess.start.size, len(SOURCES)
    in_s = orders.session >= 0
    in_s &= orders.paid >= 0
    counts = np.bincount(orders.session[in_s] * k + orders.source[in_s],
                         minlength=n_s * k).reshape(n_s, k)
    hours = (sess.end - sess.start)[:, None] / 3600.0
    base = rng.poisson(_BASE_VIEWERS_PER_HOUR[None, :] * hours)
    noise = rng.lognormal(0.0, 0.3, (n_s, k))
    viewers = np.maximum(counts, np.round((counts + base) / _CONVERSION * noise)).astype(np.int64)
    # ~40 % of sessions buy no 磁力金牛 promotion: no paid viewers unless paid orders exist.
    no_promo = (rng.random(n_s) < 0.4) & (counts[:, PAID] == 0)
    viewers[no_promo, PAID] = 0
    watch = np.round(viewers * _WATCH_SECONDS * rng.lognormal(0.0, 0.25, (n_s, k))).astype(np.int64)

    midnight = (sess.day + 1) * _DAY
    crosses = sess.end > midnight
    final_in_run = ~crosses | (sess.day + 1 < days)
    # Rows: final rows (in the start day folder, or the next one for sessions past midnight),
    # plus still-live snapshots in the start day folder for sessions past midnight.
    fin = np.nonzero(final_in_run)[0]
    live = np.nonzero(crosses)[0]
    frac = ((midnight - sess.start) / (sess.end - sess.start))[live][:, None]
    s_idx = np.r_[fin, live]
    land = np.r_[sess.day[fin] + crosses[fin], sess.day[live]]
    ended = np.r_[sess.end[fin], np.full(live.size, -1, np.int64)]
    v = np.vstack([viewers[fin], np.floor(viewers[live] * frac).astype(np.int64)])
    w = np.vstack([watch[fin], np.floor(watch[live] * frac).astype(np.int64)])
    order = np.lexsort((sess.start[s_idx], land))
    s_idx, land, ended, v, w = s_idx[order], land[order], ended[order], v[order], w[order]
    cols = {"session": np.repeat(s_idx, k), "ended": np.repeat(ended, k),
            "source": np.tile(np.arange(k, dtype=np.int8), s_idx.size),
            "viewers": v.ravel(), "watch": w.ravel()}
    return _Rows(_bounds(np.repeat(land, k), days), cols)


# --------------------------------------------------------------------------------------------
# Day frames (typed, canonical): codes for enums, cents for money, naive local datetimes
# --------------------------------------------------------------------------------------------
class _World:
    def __init__(self, start, days, matrix, catalog, sess, orders, order_rows, follow_rows,
                 traffic_rows):
        self.epoch = (start - dt.date(1970, 1, 1)).days * _DAY
        self.days, self.matrix, self.catalog, self.sess = days, matrix, catalog, sess
        self.orders, self.order_rows, self.follow_rows, self.traffic_rows = \
            orders, order_rows, follow_rows, traffic_rows
        self.acc_map = dict(enumerate(matrix.ids))
        self.prod_map = dict(enumerate(catalog.ids))
        self.cat_map = dict(enumerate(catalog.category))

    def _ts(self, name: str, col: str = None) -> pl.Expr:
        c = pl.col(col or name)
        return pl.when(c >= 0).then(pl.from_epoch(c + self.epoch, time_unit="s")).alias(name)

    def _session_id(self, col: str) -> pl.Expr:
        c = pl.col(col)
        return pl.when(c >= 0).then(pl.format("LS{}", c + 3_000_000_000)).alias("live_session_id")

    def _account(self, col: str) -> pl.Expr:
        return pl.col(col).replace_strict(self.acc_map, return_dtype=pl.String).alias("account_id")

    def orders_frame(self, d: int) -> pl.DataFrame:
        lo, hi = self.order_rows.day_bounds[d], self.order_rows.day_bounds[d + 1]
        r = {k: v[lo:hi] for k, v in self.order_rows.cols.items()}
        o, i = self.orders, r["order"]
        sess = o.session[i]
        df = pl.DataFrame({
            "n": o.number[i], "b": o.buyer[i].astype(np.int64), "a": o.account[i].astype(np.int64),
            "s": np.where(sess >= 0, self.sess.number[np.maximum(sess, 0)], -1),
            "traffic_source": o.source[i].astype(np.uint8), "p": o.product[i].astype(np.int64),
            "quantity": o.quantity[i].astype(np.int64), "gmv": o.gmv[i], "r": r["refund"],
            "status": r["status"].astype(np.uint8), "pa": o.paid[i], "u": r["updated"]})
        return df.select(
            pl.col("n").cast(pl.String).alias("order_id"),
            pl.format("u{}", pl.col("b") + 100_000_000).alias("buyer_id"),
            self._account("a"), self._session_id("s"), "traffic_source",
            pl.col("p").replace_strict(self.prod_map, return_dtype=pl.String).alias("product_id"),
            pl.col("p").replace_strict(self.cat_map, return_dtype=pl.String).alias("category"),
            "quantity", "gmv",
            pl.when(pl.col("r") >= 0).then(pl.col("r")).alias("refund_amount"),
            "status", self._ts("paid_at", "pa"), self._ts("updated_at", "u"))

    def follows_frame(self, d: int) -> pl.DataFrame:
        lo, hi = self.follow_rows.day_bounds[d], self.follow_rows.day_bounds[d + 1]
        r = {k: v[lo:hi] for k, v in self.follow_rows.cols.items()}
        sess = r["session"]
        df = pl.DataFrame({
            "e": r["event"], "u": r["user"], "a": r["account"], "action": r["action"].astype(np.uint8),
            "src": r["source"].astype(np.int64),
            "s": np.where(sess >= 0, self.sess.number[np.maximum(sess, 0)], -1), "t": r["ts"]})
        return df.select(
            pl.format("FE{}", pl.col("e")).alias("event_id"),
            pl.format("u{}", pl.col("u") + 100_000_000).alias("user_id"),
            self._account("a"), "action",
            pl.when(pl.col("src") >= 0).then(pl.col("src")).cast(pl.UInt8).alias("traffic_source"),
            self._session_id("s"), self._ts("occurred_at", "t"))

    def traffic_frame(self, d: int) -> pl.DataFrame:
        lo, hi = self.traffic_rows.day_bounds[d], self.traffic_rows.day_bounds[d + 1]
        r = {k: v[lo:hi] for k, v in self.traffic_rows.cols.items()}
        s = r["session"]
        df = pl.DataFrame({
            "s": self.sess.number[s], "a": self.sess.account[s], "st": self.sess.start[s],
            "en": r["ended"], "traffic_source": r["source"].astype(np.uint8),
            "viewers": r["viewers"], "watch_seconds": r["watch"]})
        return df.select(
            self._session_id("s"), self._account("a"), self._ts("started_at", "st"),
            self._ts("ended_at", "en"), "traffic_source", "viewers", "watch_seconds")

    def accounts_frame(self) -> pl.DataFrame:
        m = self.matrix
        return pl.DataFrame({
            "account_id": m.ids, "account_name": m.names, "brand": [BRANDS[b].name for b in m.brand],
            "role": [ROLES[r] for r in m.role], "city": m.city, "parent_account_id": m.parent,
            "opened_on": [o.isoformat() for o in m.opened]}, schema={c: pl.String for c in
                                                                     COLUMNS["accounts"]})


_ENUM_EN = {"traffic_source": SOURCES, "status": STATUSES, "action": ACTIONS, "role": ROLES}
_ENUM_ZH = {"traffic_source": SOURCE_ZH, "status": STATUS_ZH, "action": ACTION_ZH, "role": ROLE_ZH}
_MONEY = ("gmv", "refund_amount")


def _clean(df: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for c in df.columns:
        if c in _ENUM_EN and df.schema[c] != pl.String:
            exprs.append(pl.col(c).replace_strict(dict(enumerate(_ENUM_EN[c])),
                                                  return_dtype=pl.String))
        elif c in _MONEY:
            exprs.append(pl.col(c) / 100.0)
        else:
            exprs.append(pl.col(c))
    return df.select(exprs)


def _write_clean(df: pl.DataFrame, path: Path) -> None:
    _clean(df).write_csv(path, datetime_format=_TS_FORMAT, float_precision=2)


def _write_clean_parts(df: pl.DataFrame, day_dir: Path, export: str, parts: int) -> list[Path]:
    """One clean CSV per export and day, or `parts` contiguous slices (`orders_part2.csv` ...)."""
    parts = max(1, min(parts, df.height)) if df.height else 1
    bounds = np.linspace(0, df.height, parts + 1).astype(int)
    written = []
    for p in range(parts):
        path = day_dir / (f"{export}.csv" if p == 0 else f"{export}_part{p + 1}.csv")
        _write_clean(df[bounds[p]:bounds[p + 1]], path)
        written.append(path)
    return written


def _with_reexports(today: pl.DataFrame, yesterday: pl.DataFrame, share: float,
                    rng: np.random.Generator) -> pl.DataFrame:
    """Today's rows plus a `share` (0-1) of yesterday's, re-exported unchanged (a trailing-window
    export): the deduplicated truth is the same, only the rows to read and deduplicate grow."""
    if not yesterday.height:
        return today
    return pl.concat([today, yesterday.filter(pl.Series(rng.random(yesterday.height) < share))])


# --------------------------------------------------------------------------------------------
# Messy rendering
# --------------------------------------------------------------------------------------------
_TS_LOCAL = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
             "%Y-%m-%dT%H:%M:%S+08:00", "%Y-%m-%dT%H:%M:%S%.3f+08:00")
_TS_UTC = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%.3fZ", "%Y-%m-%dT%H:%M:%S+00:00")
_TS_WEIGHTS = np.array([0.40, 0.18, 0.10, 0.10, 0.05, 0.08, 0.04, 0.05])
_BAD_TIMESTAMPS = ("2026-02-30 12:00:00", "2026-06-16 25:10:00", "昨天 20:15", "16/06/2026 20:00:00")
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗")
_GIVEN = list("伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀霞平刚桂英华玉兰")
_DISTRICTS = ("西湖区", "滨江区", "朝阳区", "海淀区", "天河区", "南山区", "武侯区", "江北区", "雁塔区")
_STREETS = ("文一路", "解放路", "人民路", "建设路", "中山路", "和平路", "长江路", "新华路")
_CITIES = ("杭州市", "上海市", "广州市", "深圳市", "成都市", "重庆市", "西安市", "武汉市", "北京市")
_PHONE_PREFIX = ("138", "139", "158", "186", "135", "187", "136", "188", "159", "177")


class _Messy:
    """Renders typed day frames the way real exports look, counting what it injects."""

    def __init__(self, seed: int, knobs: Knobs):
        self.seed, self.knobs = seed, knobs
        self.invalid = {e: {k: 0 for k in _KINDS_BY_EXPORT[e]} for e in EXPORTS}
        self.duplicates = {e: 0 for e in EXPORTS}
        self.kind_cursor = {e: 0 for e in EXPORTS}

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 0x6D657373, *key])

    # ---- value renderers ------------------------------------------------------------------
    @staticmethod
    def _enum(codes: pl.Series, col: str, rng, zh_share: float) -> pl.Series:
        en, zh = _ENUM_EN[col], _ENUM_ZH[col]
        table = []
        for i, e in enumerate(en):
            table += [e, e.title(), e.upper(), zh[i][0], zh[i][-1]]
        n = codes.len()
        u = rng.random(n)
        var = np.where(u < zh_share, np.where(rng.random(n) < 0.4, 4, 3),
                       np.where(rng.random(n) < 0.9, 0, rng.integers(1, 3, n)))
        idx = codes.cast(pl.Int64) * 5 + pl.Series(var)
        return _gather_nullable(pl.Series(table), idx).alias(codes.name)

    @staticmethod
    def _ts(col: pl.Series, rng, primary: int) -> pl.Series:
        n = col.len()
        fmt = np.where(rng.random(n) < 0.75, primary, _pick(rng, _TS_WEIGHTS, n))
        df = pl.DataFrame({"t": col, "f": fmt})
        t, f = pl.col("t"), pl.col("f")
        utc = t - pl.duration(seconds=_SHANGHAI_OFFSET)
        expr = pl.when(f == 0).then(t.dt.to_string(_TS_LOCAL[0]))
        for i, spec in enumerate(_TS_LOCAL[1:] + _TS_UTC, start=1):
            src = t if i < len(_TS_LOCAL) else utc
            expr = expr.when(f == i).then(src.dt.to_string(spec))
        return df.select(expr.alias(col.name)).to_series()

    @staticmethod
    def _money(cents: pl.Series, rng, primary: int) -> pl.Series:
        n = cents.len()
        style = np.where(rng.random(n) < 0.7, primary, rng.integers(0, 4, n))
        df = pl.DataFrame({"c": cents, "s": style})
        c, s = pl.col("c"), pl.col("s")
        yuan, frac = c // 100, c % 100
        frac2 = frac.cast(pl.String).str.zfill(2)
        z3 = lambda e: e.cast(pl.String).str.zfill(3)  # noqa: E731
        grouped = (pl.when(yuan >= 1_000_000)
                   .then(pl.format("{},{},{}", yuan // 1_000_000, z3(yuan // 1000 % 1000),
                                   z3(yuan % 1000)))
                   .when(yuan >= 1000).then(pl.format("{},{}", yuan // 1000, z3(yuan % 1000)))
                   .otherwise(yuan.cast(pl.String)))
        trimmed = (pl.when(frac == 0).then(pl.lit(""))
                   .when(frac % 10 == 0).then(pl.format(".{}", frac // 10))
                   .otherwise(pl.format(".{}", frac2)))
        expr = (pl.when(s == 0).then(pl.format("{}.{}", yuan, frac2))
                .when(s == 1).then(pl.format("¥{}.{}", grouped, frac2))
                .when(s == 2).then(pl.format("{}{}", grouped, trimmed))
                .otherwise(pl.format("{}{}", yuan, trimmed)))
        return df.select(expr.alias(cents.name)).to_series()

    def render(self, df: pl.DataFrame, rng, zh_share: float) -> pl.DataFrame:
        ts_primary = int(_pick(rng, _TS_WEIGHTS, 1)[0])
        money_primary = int(rng.choice(4, p=[0.4, 0.3, 0.2, 0.1]))
        out = []
        for c in df.columns:
            s = df[c]
            if c in _ENUM_EN and s.dtype != pl.String:
                s = self._enum(s, c, rng, zh_share)
            elif c in _MONEY:
                s = self._money(s, rng, money_primary)
            elif isinstance(s.dtype, pl.Datetime):
                s = self._ts(s, rng, ts_primary)
            else:
                s = s.cast(pl.String)
                if c in ("account_id", "buyer_id", "user_id"):
                    # Hand-edited Excel exports carry stray spaces (values are trimmed on read).
                    pad = pl.Series(rng.random(s.len()) < 0.01)
                    s = pl.select(pl.when(pad).then(pl.format(" {} ", s)).otherwise(s)).to_series()
            out.append(s.alias(c))
        return pl.DataFrame(out)

    # ---- injected problems ----------------------------------------------------------------
    def _n(self, rng, n: int, share: float) -> int:
        k = int(np.floor(n * share + rng.random()))
        return min(k, int(0.025 * n))

    def inject_invalid(self, export: str, typed: pl.DataFrame, text: pl.DataFrame, rng
                       ) -> pl.DataFrame:
        k = self._n(rng, text.height, self.knobs.messy_invalid_share)
        if k == 0:
            return text.clear()
        kinds = _KINDS_BY_EXPORT[export]
        base = rng.integers(0, text.height, k)
        which = [kinds[(self.kind_cursor[export] + j) % len(kinds)] for j in range(k)]
        self.kind_cursor[export] += k
        parts = []
        for kind in dict.fromkeys(which):
            idx = base[[j for j, w in enumerate(which) if w == kind]]
            self.invalid[export][kind] += idx.size
            parts.append(self._corrupt(export, kind, typed[idx], text[idx], rng))
        return pl.concat(parts)

    @staticmethod
    def _corrupt(export, kind, typed, text, rng) -> pl.DataFrame:
        n = text.height
        pick = lambda vals: pl.Series([vals[i] for i in rng.integers(0, len(vals), n)])  # noqa
        if kind == "required_empty":
            col = {"orders": ("buyer_id", "account_id", "order_id"),
                   "follows": ("user_id", "account_id"),
                   "live_traffic": ("live_session_id", "account_id")}[export]
            return text.with_columns(pl.lit("").alias(col[int(rng.integers(0, len(col)))]))
        if kind == "bad_timestamp":
            col = {"orders": "paid_at", "follows": "occurred_at", "live_traffic": "started_at"}[export]
            return text.with_columns(pick(_BAD_TIMESTAMPS).alias(col))
        if kind == "bad_number":
            if export == "orders":
                return text.with_columns(pick(("12.3.4", "N/A", "一百二")).alias("gmv"))
            return text.with_columns(pick(("1.2万", "3k", "约500")).alias("viewers"))
        if kind == "unknown_enum":
            if export == "orders":
                # An unpaid cancelled order with another status would also lack a required
                # paid_at: corrupt its traffic_source instead, so each copy breaks one rule.
                cancelled = typed["status"] == ST_CANCELLED
                return text.with_columns(
                    pl.when(cancelled).then(pl.col("status"))
                    .otherwise(pick(("待发货", "pending"))).alias("status"),
                    pl.when(cancelled).then(pl.lit("直播广场"))
                    .otherwise(pl.col("traffic_source")).alias("traffic_source"))
            if export == "follows":
                return text.with_columns(pick(("拉黑", "block")).alias("action"))
            return text.with_columns(pick(("直播广场", "livestream")).alias("traffic_source"))
        if kind == "negative_money":
            # Negative refund (a reversed refund): breaks ">= 0" and nothing else.
            return text.with_columns(pick(("-5.00", "-12.5", "-¥3.00")).alias("refund_amount"))
        if kind == "refund_gt_gmv":
            over = pl.col("gmv") + pl.Series(rng.integers(100, 5_000, n))
            refund = typed.select(pl.format("{}.{}", over // 100,
                                            (over % 100).cast(pl.String).str.zfill(2))).to_series()
            return text.with_columns(refund.alias("refund_amount"))
        if kind == "quantity_lt_1":
            return text.with_columns(pl.lit("0").alias("quantity"))
        if kind == "ended_before_started":
            early = pl.col("started_at") - pl.duration(seconds=pl.Series(rng.integers(600, 7200, n)))
            ended = typed.select(early.dt.to_string(_TS_FORMAT)).to_series()
            return text.with_columns(ended.alias("ended_at"))
        raise ValueError(kind)

    def duplicate(self, export: str, text: pl.DataFrame, rng) -> tuple[pl.DataFrame, np.ndarray]:
        k = self._n(rng, text.height, self.knobs.messy_duplicate_share)
        self.duplicates[export] += k
        idx = rng.integers(0, max(text.height, 1), k)
        return text[idx], idx

    # ---- extra columns -------------------------------------------------------------------
    @staticmethod
    def pii(n: int, rng, zh: bool) -> pl.DataFrame:
        names = pl.Series(_SURNAMES).gather(rng.integers(0, len(_SURNAMES), n)) \
            + pl.Series(_GIVEN).gather(rng.integers(0, len(_GIVEN), n)) \
            + pl.Series(_GIVEN + [""] * 10).gather(rng.integers(0, len(_GIVEN) + 10, n))
        phones = pl.Series(_PHONE_PREFIX).gather(rng.integers(0, len(_PHONE_PREFIX), n)) \
            + pl.Series(rng.integers(0, 100_000_000, n)).cast(pl.String).str.zfill(8)
        addr = (pl.Series(_CITIES).gather(rng.integers(0, len(_CITIES), n))
                + pl.Series(_DISTRICTS).gather(rng.integers(0, len(_DISTRICTS), n))
                + pl.Series(_STREETS).gather(rng.integers(0, len(_STREETS), n))
                + pl.Series(rng.integers(1, 999, n)).cast(pl.String) + "号"
                + pl.Series(rng.integers(1, 30, n)).cast(pl.String) + "栋"
                + pl.Series(rng.integers(101, 3200, n)).cast(pl.String) + "室")
        phone_header = "手机号" if rng.random() < 0.6 else "联系电话"
        h = ("收货人", phone_header, "收货地址") if zh else \
            ("receiver_name", "receiver_phone", "receiver_address")
        return pl.DataFrame([names.alias(h[0]), phones.alias(h[1]), addr.alias(h[2])])

    @staticmethod
    def extras(export: str, n: int, rng, day: dt.date) -> pl.DataFrame:
        if export == "orders":
            notes = ["", "", "", "", "尽快发货", "送礼包装", "不要发韵达", "备注:开发票"]
            return pl.DataFrame({"备注": pl.Series(notes).gather(rng.integers(0, len(notes), n)),
                                 "export_batch": [f"B{day:%Y%m%d}"] * n})
        if export == "follows":
            return pl.DataFrame({"设备": pl.Series(["iOS", "Android", "HarmonyOS"])
                                 .gather(rng.integers(0, 3, n))})
        titles = ["宠粉专场", "新品首发", "616狂欢夜", "工厂直发", "清仓福利"]
        return pl.DataFrame({"直播间标题": pl.Series(titles).gather(rng.integers(0, len(titles), n))})

    # ---- files ---------------------------------------------------------------------------
    def write(self, export: str, typed: pl.DataFrame, day_dir: Path, d: int, date: dt.date
              ) -> list[Path]:
        rng = self.rng(d, EXPORTS.index(export))
        parquet_p = {"orders": 0.12, "follows": 0.05, "live_traffic": 0.05}[export]
        as_parquet = rng.random() < parquet_p or (export == "orders" and d == 2)
        n_parts = 1
        if not as_parquet and typed.height >= 100:   # nobody splits a 30-row export
            u = rng.random()
            n_parts = 3 if u < 0.06 else 2 if u < {"orders": 0.3, "follows": 0.15,
                                                   "live_traffic": 0.1}[export] else 1
        cuts = np.sort(rng.integers(typed.height // 4, typed.height * 3 // 4 + 1, n_parts - 1))
        bounds = [0, *cuts.tolist(), typed.height]
        written = []
        for p in range(n_parts):
            part = typed[bounds[p]:bounds[p + 1]]
            if as_parquet:
                encoding, zh_headers = None, rng.random() < 0.4
            else:
                encoding = _pick_encoding(rng, export, d, p)
                zh_headers = encoding == "gb18030" or rng.random() < 0.35
            text = self.render(part, rng, zh_share=0.7 if zh_headers else 0.25)
            bad = self.inject_invalid(export, part, text, rng)
            dup, dup_at = self.duplicate(export, text, rng)
            pos = np.r_[np.arange(text.height, dtype=float), rng.random(bad.height) * text.height,
                        dup_at + 0.5]
            full = pl.concat([text, bad, dup]).with_columns(pl.Series("_pos", pos)).sort("_pos") \
                .drop("_pos")
            extras = [self.extras(export, full.height, rng, date)]
            if export == "orders":
                extras.append(self.pii(full.height, rng, zh_headers))
            full = pl.concat([full, *extras], how="horizontal")
            full = full.rename(_header_map(full.columns, zh_headers, rng))
            if rng.random() < 0.25:
                full = full.select(rng.permutation(full.columns).tolist())
            name = export if p == 0 else f"{export}_part{p + 1}"
            if as_parquet:
                path = day_dir / f"{name}.parquet"
                full.write_parquet(path)
            else:
                path = day_dir / f"{name}.csv"
                quote = "non_numeric" if rng.random() < 0.2 else "necessary"
                _write_text(full, path, encoding, quote)
            written.append(path)
        return written

    def write_roster(self, accounts: pl.DataFrame, path: Path, rng) -> tuple[list[str], int]:
        """Roster kept in Excel by the ops team: GB18030, Chinese headers, with three flaws."""
        m = accounts.height
        roles = accounts["role"].to_list()
        missing = next(i for i in range(m - 1, -1, -1) if roles[i] == "distributor")
        broken = next(i for i in range(m - 1, -1, -1) if roles[i] == "anchor")
        renamed = next(i for i, r in enumerate(roles) if r == "store")
        role_idx = pl.Series([ROLES.index(r) for r in roles])
        text = accounts.with_columns(self._enum(role_idx, "role", rng, 0.6).alias("role"))
        text = text.with_columns(pl.Series("role", [
            "达人号" if i == broken else r for i, r in enumerate(text["role"].to_list())]))
        dup = text[renamed].with_columns(pl.format("{}(旧)", pl.col("account_name"))
                                         .alias("account_name"))
        keep = [i for i in range(m) if i != missing]
        text = pl.concat([text[keep], dup]).with_columns(pl.lit("正常").alias("账号状态"))
        text = text.rename({c: HEADERS_ZH.get(c, c) for c in text.columns})
        _write_text(text, path, "gb18030", "necessary")
        return [accounts["account_id"][missing], accounts["account_id"][broken]], text.height


def _gather_nullable(table: pl.Series, idx: pl.Series) -> pl.Series:
    return pl.DataFrame({"i": idx}).select(
        pl.when(pl.col("i").is_not_null()).then(pl.lit(table).gather(pl.col("i").fill_null(0))))\
        .to_series()


def _pick(rng, weights: np.ndarray, n: int) -> np.ndarray:
    return _categorical(rng, weights, None, n).astype(np.int64)


def _pick_encoding(rng, export: str, d: int, part: int) -> str:
    if export == "follows" and d == 0 and part == 0:
        return "utf-8-sig"       # one BOM file is always present, even in a one-day run
    u = rng.random()
    return "gb18030" if u < 0.3 else "utf-8-sig" if u < 0.55 else "utf-8"


def _header_map(columns: list[str], zh: bool, rng) -> dict[str, str]:
    style = rng.random()
    out = {}
    for c in columns:
        if c not in HEADERS_ZH:
            out[c] = c
        elif zh:
            out[c] = HEADERS_ZH[c]
        elif style < 0.1:
            out[c] = c.upper()
        elif style < 0.2:
            out[c] = f" {c} "   # headers are trimmed on read (contract 1)
        else:
            out[c] = c
    return out


def _write_text(df: pl.DataFrame, path: Path, encoding: str, quote: str) -> None:
    text = df.write_csv(quote_style=quote)
    if encoding == "gb18030":
        path.write_bytes(text.encode("gb18030"))
    elif encoding == "utf-8-sig":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    else:
        path.write_bytes(text.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Merchant format (--format merchant): the same rows as the back office of a Kuaishou shop
# (快手小店) exports them: workbooks and a GBK CSV with the platform's own headers and status
# words, plus the mapping.yml that maps them onto the contract (contract v2 §1, §6).
# --------------------------------------------------------------------------------------------
FORMATS = ("contract", "merchant")
#: contract column -> the platform's header (built-in Chinese names where the platform uses them).
MERCHANT_HEADERS = {
    "accounts": {c: HEADERS_ZH[c] for c in COLUMNS["accounts"]},
    "orders": {**{c: HEADERS_ZH[c] for c in COLUMNS["orders"]}, "order_id": "订单编号",
               "product_id": "商品编号", "quantity": "商品数量", "gmv": "实付款", "paid_at": "付款时间"},
    "follows": {**{c: HEADERS_ZH[c] for c in COLUMNS["follows"]}, "user_id": "粉丝ID",
                "occurred_at": "关注时间"},
    "live_traffic": {**{c: HEADERS_ZH[c] for c in COLUMNS["live_traffic"]}, "viewers": "观看人次"},
}
#: 交易成功, 交易关闭, 待发货 ...: order status words of the back office, not contract aliases.
MERCHANT_STATUS = {"paid": "待发货", "shipped": "已发货", "completed": "交易成功", "refunded": "退款成功",
                   "cancelled": "交易关闭"}
_MERCHANT_ZH = {"traffic_source": SOURCE_ZH, "action": ACTION_ZH, "role": ROLE_ZH}
#: Which export is written how: orders, live traffic and the roster as workbooks, follows as a
#: GBK CSV (what Excel on Chinese Windows saves).
_MERCHANT_FILES = {"accounts": "accounts.xlsx", "orders": "orders.xlsx", "follows": "follows.csv",
                   "live_traffic": "live_traffic.xlsx"}


def merchant_mapping() -> dict:
    """The mapping.yml content of the merchant format: only what the built-in names lack."""
    out: dict = {}
    for export, headers in MERCHANT_HEADERS.items():
        own = {h: c for c, h in headers.items() if h != HEADERS_ZH[c]}
        if own:
            out.setdefault(export, {})["headers"] = own
    out["orders"]["values"] = {"status": {w: v for v, w in MERCHANT_STATUS.items()
                                          if w not in STATUS_ZH[STATUSES.index(v)]}}
    return out


def _merchant_frame(export: str, typed: pl.DataFrame) -> pl.DataFrame:
    df = _clean(typed) if export != "accounts" else typed
    exprs = []
    for c in df.columns:
        col = pl.col(c)
        if c == "status":
            col = col.replace_strict(MERCHANT_STATUS, return_dtype=pl.String)
        elif c in _MERCHANT_ZH:
            english = _ENUM_EN[c]
            col = col.replace_strict({english[i]: zh[0] for i, zh in enumerate(_MERCHANT_ZH[c])},
                                     return_dtype=pl.String)
        elif c == "opened_on":
            col = col.str.to_date("%Y-%m-%d", strict=False)   # a date cell in the workbook
        exprs.append(col.alias(MERCHANT_HEADERS[export][c]))
    return df.select(exprs)


def _write_merchant(export: str, typed: pl.DataFrame, folder: Path) -> Path:
    path = folder / _MERCHANT_FILES[export]
    df = _merchant_frame(export, typed)
    if path.suffix == ".xlsx":
        # Typed cells: numbers stay numbers, timestamps are Excel date-time cells, ids text.
        df.write_excel(path, worksheet="导出数据", autofit=False,
                       dtype_formats={pl.Datetime: "yyyy-mm-dd hh:mm:ss", pl.Date: "yyyy-mm-dd"})
    else:
        text = df.write_csv(datetime_format="%Y/%m/%d %H:%M:%S", float_precision=2)
        path.write_bytes(text.encode("gb18030"))
    return path


def _write_merchant_mapping(out: Path) -> Path:
    import yaml

    path = out / "mapping.yml"
    path.write_text("# The shop back office's headers and status words -> the dualwheel contract.\n"
                    + yaml.safe_dump(merchant_mapping(), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
def generate(out: Path, *, days: int = 180, orders: int = 100_000, seed: int = 616,
             messy: bool = False, start: dt.date = dt.date(2026, 1, 1), progress: bool = True,
             knobs: Knobs | None = None, fmt: str = "contract") -> SimulationSummary:
    """Simulate `days` export days from `start` holding exactly `orders` orders into `out`.

    `fmt="merchant"` writes the same rows as a merchant's own exports (workbooks, platform
    headers and status words, mapping.yml) instead of contract CSVs.
    """
    if days < 1 or orders < 1:
        raise ValueError("days and orders must be >= 1")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    if fmt == "merchant" and messy:
        raise ValueError("--messy and --format merchant cannot be combined")
    knobs = knobs or Knobs()
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=days + 1, desc="simulating", unit="day", disable=not progress)

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    matrix = _build_matrix(streams[0], start, days)
    catalog = _build_catalog(streams[0])
    cal = _build_calendar(start, days, matrix, knobs)
    sess = _simulate_sessions(streams[1], matrix, cal, days)
    # Public traffic (发现页, 同城 ...) reaches an account mostly through its live room.
    live_grid = sess.count.reshape(len(matrix.ids), days).T > 0
    cal.activity[-cal.first:] *= np.where(live_grid, 1.0, knobs.offline_traffic_factor)
    n_unpaid = max(0, int(round(orders * knobs.p_unpaid_cancel)))
    n_paid = max(1, orders - n_unpaid)
    buyers, chain = _simulate_buyers(streams[2], n_paid, matrix, cal, start, days, knobs)
    paid_orders = _simulate_orders(streams[3], buyers, chain, matrix, cal, sess, catalog, days,
                                   knobs)
    chain.t = None    # placed: paid_at replaces the continuous time (saves 8 bytes per order)
    order_facts, order_rows = _finish_orders(streams[4], paid_orders, orders, days, knobs, cal)
    del paid_orders
    follow_rows = _simulate_follows(streams[5], buyers, chain, order_facts, matrix, cal, sess,
                                    days, knobs)
    traffic_rows = _simulate_traffic(streams[6], order_facts, matrix, sess, days)
    world = _World(start, days, matrix, catalog, sess, order_facts, order_rows, follow_rows,
                   traffic_rows)
    n_buyers = int(np.count_nonzero(np.bincount(chain.buyer)))
    del chain, buyers
    bar.update(1)
    bar.set_description("writing day folders")

    files: list[Path] = []
    rows = {"accounts": 0, **{e: 0 for e in EXPORTS}}
    renderer = _Messy(seed, knobs) if messy else None
    accounts = world.accounts_frame()
    unmapped: list[str] = []
    roster = out / "accounts.csv"
    if renderer:
        unmapped, rows["accounts"] = renderer.write_roster(accounts, roster, renderer.rng(1_000_000))
    elif fmt == "merchant":
        roster = _write_merchant("accounts", accounts, out)
        rows["accounts"] = accounts.height
    else:
        accounts.write_csv(roster)
        rows["accounts"] = accounts.height
    files.append(roster)

    frames = {"orders": world.orders_frame, "follows": world.follows_frame,
              "live_traffic": world.traffic_frame}
    dates = []
    for d in range(days):
        date = start + dt.timedelta(days=d)
        day_dir = out / date.isoformat()
        day_dir.mkdir(exist_ok=True)
        for export in EXPORTS:
            typed = frames[export](d)
            if export == "orders" and knobs.reexport_share > 0 and d > 0:
                typed = _with_reexports(typed, frames[export](d - 1), knobs.reexport_share,
                                        np.random.default_rng([seed, d, 7]))
            if renderer:
                written = renderer.write(export, typed, day_dir, d, date)
            elif fmt == "merchant":
                written = [_write_merchant(export, typed, day_dir)]
            else:
                written = _write_clean_parts(typed, day_dir, export, knobs.files_per_day)
            files += written
            rows[export] += typed.height
        dates.append(date)
        bar.update(1)
    bar.close()
    if fmt == "merchant":
        files.append(_write_merchant_mapping(out))

    invalid_by_kind, invalid, duplicates = {}, {e: 0 for e in ("accounts", *EXPORTS)}, {}
    if renderer:
        invalid_by_kind = {e: dict(v) for e, v in renderer.invalid.items()}
        invalid_by_kind["accounts"] = {"unknown_enum": 1}
        invalid = {e: sum(v.values()) for e, v in invalid_by_kind.items()}
        duplicates = {**renderer.duplicates, "accounts": 1}   # a second row of one account_id
        for e in EXPORTS:
            rows[e] += invalid[e] + duplicates[e]
    return SimulationSummary(
        landing=out, dates=dates, files=files, rows=rows, orders=orders, buyers=n_buyers,
        messy=messy, seed=seed, invalid_rows=invalid, invalid_by_kind=invalid_by_kind,
        duplicate_rows=duplicates, unmapped_account_ids=unmapped,
        wall_seconds=time.perf_counter() - t_start)
