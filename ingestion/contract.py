"""The data contract's exports as declarative column specs: the one source of truth.

Readers map headers through these specs, the validator derives every per-column rule from them, and
the loader derives the raw tables' column order from them. Change the contract here, nowhere else.
Spec: docs/contract.md sections 2, 3 and 6; raw DDL: docs/architecture.md.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

Kind = Literal["text", "enum", "integer", "money", "timestamp", "date"]

#: Lineage columns every raw table carries after the contract's columns.
LINEAGE_COLUMNS: tuple[str, ...] = ("_source_file", "_landing_date", "_row_number")


@dataclass(frozen=True)
class Column:
    name: str
    #: Chinese export headers (the first one is the canonical one used in messages).
    headers_zh: tuple[str, ...]
    kind: Kind
    required: bool
    #: enum only: canonical English value -> accepted Chinese aliases.
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: value stored when the field is empty (refund_amount 0, follows.traffic_source 'other').
    default: str | None = None
    #: integer/money lower bound; a smaller value is quarantined as "<name> < <minimum>".
    minimum: int | None = None

    @property
    def label(self) -> str:
        """Name as shown in file-level messages: `'gmv' (实付金额)`."""
        return f"'{self.name}' ({self.headers_zh[0]})" if self.headers_zh else f"'{self.name}'"

    def alias_map(self) -> dict[str, str]:
        """Lower-cased accepted spelling -> canonical value, for enums."""
        out: dict[str, str] = {}
        for canonical, aliases in self.values.items():
            out[canonical.lower()] = canonical
            for alias in aliases:
                out[alias.lower()] = canonical
        return out


#: A cross-column rule: (reason, violation) where violation(trimmed, parsed) is a boolean
#: expression that is true for a breaking row. `trimmed(c)` is the trimmed string (null when
#: empty), `parsed(c)` the typed value (null when empty or unparsable); rules must stay silent
#: when an input did not parse, since that row already carries the parse reason.
RuleFn = Callable[[Callable[[str], pl.Expr], Callable[[str], pl.Expr]], pl.Expr]


@dataclass(frozen=True)
class Rule:
    reason: str
    violation: RuleFn


@dataclass(frozen=True)
class Export:
    name: str
    title_zh: str
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = ()

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def raw_columns(self) -> tuple[str, ...]:
        return self.column_names + LINEAGE_COLUMNS

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def header_map(self) -> dict[str, str]:
        """Normalised header spelling -> contract column name (English and Chinese)."""
        out: dict[str, str] = {}
        for c in self.columns:
            for h in (c.name, *c.headers_zh):
                out[normalize_header(h)] = c.name
        return out


def normalize_header(header: str) -> str:
    # NFKC folds full-width forms (观看时长（秒）, ＩＤ) that Chinese spreadsheets emit into the
    # contract's half-width spelling; casefold gives case-insensitive matching.
    return unicodedata.normalize("NFKC", header).strip().casefold()


TRAFFIC_SOURCES: dict[str, tuple[str, ...]] = {
    "follow": ("关注页",),
    "discovery": ("发现页", "精选"),
    "nearby": ("同城页", "同城"),
    "search": ("搜索",),
    "short_video": ("短视频",),
    "paid": ("付费推广", "磁力金牛"),
    "other": ("其他",),
}

ACCOUNTS = Export(
    name="accounts",
    title_zh="账号矩阵",
    columns=(
        Column("account_id", ("账号ID",), "text", True),
        Column("account_name", ("账号名称",), "text", True),
        Column("brand", ("品牌",), "text", True),
        Column(
            "role",
            ("账号类型",),
            "enum",
            True,
            values={
                "flagship": ("品牌号",),
                "store": ("门店号",),
                "anchor": ("主播号",),
                "distributor": ("分销号",),
            },
        ),
        Column("city", ("城市",), "text", False),
        Column("parent_account_id", ("上级账号ID",), "text", False),
        Column("opened_on", ("开通日期",), "date", False),
    ),
)

ORDERS = Export(
    name="orders",
    title_zh="订单",
    columns=(
        Column("order_id", ("订单号",), "text", True),
        Column("buyer_id", ("买家ID",), "text", True),
        Column("account_id", ("账号ID",), "text", True),
        Column("live_session_id", ("直播场次ID",), "text", False),
        Column("traffic_source", ("流量来源",), "enum", True, values=TRAFFIC_SOURCES),
        Column("product_id", ("商品ID",), "text", False),
        Column("category", ("类目",), "text", False),
        Column("quantity", ("数量",), "integer", True, minimum=1),
        Column("gmv", ("实付金额",), "money", True, minimum=0),
        Column("refund_amount", ("退款金额",), "money", False, default="0", minimum=0),
        Column(
            "status",
            ("订单状态",),
            "enum",
            True,
            values={
                "paid": ("已支付",),
                "shipped": ("已发货",),
                "completed": ("已完成",),
                "refunded": ("已退款",),
                "cancelled": ("已取消",),
            },
        ),
        # Required unless cancelled: a cross-column rule below, so optional at column level.
        Column("paid_at", ("支付时间",), "timestamp", False),
        Column("updated_at", ("更新时间",), "timestamp", True),
    ),
    rules=(
        # A negative gmv already has its own reason; "refund > gmv" on top would only confuse.
        Rule("refund_amount > gmv", lambda t, p: (p("refund_amount") > p("gmv")) & (p("gmv") >= 0)),
        Rule(
            "paid_at: required unless status is cancelled",
            # An unknown or empty status is not 'cancelled' either, so the rule still applies.
            lambda t, p: t("paid_at").is_null() & (p("status") != "cancelled").fill_null(True),
        ),
    ),
)

FOLLOWS = Export(
    name="follows",
    title_zh="粉丝关注",
    columns=(
        Column("event_id", ("事件ID",), "text", True),
        Column("user_id", ("用户ID",), "text", True),
        Column("account_id", ("账号ID",), "text", True),
        Column("action", ("行为",), "enum", True, values={"follow": ("关注",), "unfollow": ("取关",)}),
        Column(
            "traffic_source", ("流量来源",), "enum", False, values=TRAFFIC_SOURCES, default="other"
        ),
        Column("live_session_id", ("直播场次ID",), "text", False),
        Column("occurred_at", ("发生时间",), "timestamp", True),
    ),
)

LIVE_TRAFFIC = Export(
    name="live_traffic",
    title_zh="直播流量来源",
    columns=(
        Column("live_session_id", ("直播场次ID",), "text", True),
        Column("account_id", ("账号ID",), "text", True),
        Column("started_at", ("开播时间",), "timestamp", True),
        Column("ended_at", ("下播时间",), "timestamp", False),
        Column("traffic_source", ("流量来源",), "enum", True, values=TRAFFIC_SOURCES),
        Column("viewers", ("观看人数",), "integer", True, minimum=0),
        Column("watch_seconds", ("观看时长(秒)",), "integer", True, minimum=0),
    ),
    rules=(Rule("ended_at < started_at", lambda t, p: p("ended_at") < p("started_at")),),
)

EXPORTS: dict[str, Export] = {e.name: e for e in (ACCOUNTS, ORDERS, FOLLOWS, LIVE_TRAFFIC)}
#: Exports that live in day folders (the roster lives at the landing root).
DAILY_EXPORTS: tuple[str, ...] = ("orders", "follows", "live_traffic")
ROSTER_EXPORT = "accounts"


def get_export(name: str) -> Export:
    try:
        return EXPORTS[name]
    except KeyError:
        raise ValueError(f"unknown export {name!r}; expected one of {sorted(EXPORTS)}") from None
