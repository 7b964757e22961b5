"""Headline figures of a published warehouse for the terminal (`make demo`), read exactly as a BI
tool would (read-only). The figures come from the same queries as the HTML report's headline
cards (warehouse/report.py), so the two can never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.report import account_leaderboard, headline_figures, table_names


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


def read_headline(warehouse: Path, *, top: int = 5) -> Headline:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        h = headline_figures(con, table_names(con))
        accounts = account_leaderboard(con)[:top]
    return Headline(h["first_date"], h["last_date"], float(h["gmv"]), float(h["net_gmv"]), h["orders"],
                    h["private_share"], h["paid_share"], h["new_buyers"], h["returning_buyers"],
                    h["cohort_month"], h["repurchase_rate_30d"], accounts,
                    h["rows_read"] or 0, h["rows_rejected"] or 0, h["reject_share"])


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def format_headline(h: Headline) -> str:
    lines = [
        f"dualwheel headline  {h.first_date} .. {h.last_date}",
        f"  GMV (成交额)               ¥{h.gmv:,.2f}   net of refunds ¥{h.net_gmv:,.2f}   orders {h.orders:,}",
        f"  private share (私域占比)    {_pct(h.private_share)}   public {_pct(None if h.private_share is None else 1 - h.private_share)}",
        f"  paid vs organic (付费/自然)  {_pct(h.paid_share)} paid / {_pct(None if h.paid_share is None else 1 - h.paid_share)} organic",
        f"  buyers (买家, account-days)  new {h.new_buyers:,} / returning {h.returning_buyers:,}",
        f"  T30 repurchase (30天复购率)  {_pct(h.latest_complete_cohort_t30)} for cohort {h.latest_complete_cohort} "
        "(latest cohort with a complete 30-day window)",
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
