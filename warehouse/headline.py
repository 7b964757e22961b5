"""Headline figures of a published warehouse for the terminal (`make demo`), read exactly as a BI
tool would (read-only). The figures come from the same queries as the HTML report's headline
cards (warehouse/report.py), so the two can never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.report import account_leaderboard, fan_value_figures, headline_figures, table_names


@dataclass(frozen=True)
class Headline:
    first_date: object
    last_date: object
    gmv: float
    net_gmv: float
    orders: int
    private_share: float | None
    paid_share: float | None
    new_buyers: int
    returning_buyers: int
    latest_complete_cohort: object
    latest_complete_cohort_t30: float | None
    top_accounts: list[dict]
    rows_read: int
    rows_rejected: int
    reject_share: float | None
    fan_value: dict | None = None  # None for a warehouse published before contract v2


def read_headline(warehouse: Path, *, top: int = 5) -> Headline:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = table_names(con)
        h = headline_figures(con, tables)
        accounts = account_leaderboard(con)[:top]
        fans = fan_value_figures(con, tables)
    return Headline(h["first_date"], h["last_date"], float(h["gmv"]), float(h["net_gmv"]), h["orders"],
                    h["private_share"], h["paid_share"], h["new_buyers"], h["returning_buyers"],
                    h["cohort_month"], h["repurchase_rate_30d"], accounts,
                    h["rows_read"] or 0, h["rows_rejected"] or 0, h["reject_share"], fans)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _money(value) -> str:
    return "n/a" if value is None else f"¥{value:,.0f}"


def format_fan_value(f: dict | None) -> str:
    """One line: all fans vs paid-promotion fans over follow months with a complete 30-day window."""
    if f is None:
        return "n/a (no fct_fan_cohort in this warehouse)"
    if not f["complete_fans"]:
        return f"{f['new_fans']:,} fans, no follow month with a complete 30-day window yet"
    line = (f"{f['complete_fans']:,} fans: 30-day buy {_pct(f['purchase_rate_30d'])}, "
            f"{_money(f['gmv_per_fan_30d'])}/fan, unfollow {_pct(f['unfollow_rate_30d'])}")
    paid = f["paid"]
    if paid:
        line += (f"; paid fans {_pct(paid['purchase_rate_30d'])}, {_money(paid['gmv_per_fan_30d'])}/fan, "
                 f"unfollow {_pct(paid['unfollow_rate_30d'])}")
    return line


def format_headline(h: Headline) -> str:
    lines = [
        f"dualwheel headline  {h.first_date} .. {h.last_date}",
        f"  GMV (成交额)               ¥{h.gmv:,.2f}   net of refunds ¥{h.net_gmv:,.2f}   orders {h.orders:,}",
        f"  private share (私域占比)    {_pct(h.private_share)}   public {_pct(None if h.private_share is None else 1 - h.private_share)}",
        f"  paid vs organic (付费/自然)  {_pct(h.paid_share)} paid / {_pct(None if h.paid_share is None else 1 - h.paid_share)} organic",
        f"  buyers (买家, account-days)  new {h.new_buyers:,} / returning {h.returning_buyers:,}",
        f"  T30 repurchase (30天复购率)  {_pct(h.latest_complete_cohort_t30)} for cohort {h.latest_complete_cohort} "
        "(latest cohort with a complete 30-day window)",
        f"  fan value (粉丝价值)         {format_fan_value(h.fan_value)}",
        f"  data quality               {h.rows_read:,} rows read, {h.rows_rejected:,} rejected ({_pct(h.reject_share)})",
        "  top matrix accounts (账号矩阵) by GMV:",
    ]
    for a in h.top_accounts:
        gpm_text = "n/a" if a["gpm"] is None else f"{a['gpm']:,.0f}"
        lines.append(f"    {a['account_id']:<12} {str(a['account_name'] or ''):<18} {a['brand']:<10} {a['role']:<12} "
                     f"¥{float(a['gmv']):>14,.2f}  GPM {gpm_text}")
    return "\n".join(lines)


def print_headline(warehouse: Path) -> None:
    print(format_headline(read_headline(warehouse)))
