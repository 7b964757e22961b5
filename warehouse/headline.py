"""Headline figures of a published warehouse, read exactly as a BI tool would (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


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
    top_accounts: list[tuple]
    rows_read: int
    rows_rejected: int


def _ratio(numerator, denominator):
    return float(numerator) / float(denominator) if denominator else None


def read_headline(warehouse: Path, *, top: int = 5) -> Headline:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        first, last, gmv, net, orders, private, paid, new, returning = con.sql("""
            select min(order_date), max(order_date), coalesce(sum(gmv), 0), coalesce(sum(net_gmv), 0),
                   coalesce(sum(orders), 0), coalesce(sum(gmv_private), 0), coalesce(sum(gmv_public_paid), 0),
                   coalesce(sum(new_buyers), 0), coalesce(sum(returning_buyers), 0)
            from marts.fct_dual_wheel_daily""").fetchall()[0]
        cohort = con.sql("""
            select cohort_month, sum(repurchasers_30d) / nullif(sum(cohort_buyers), 0)
            from marts.fct_cohort_repurchase where window_30d_complete
            group by cohort_month order by cohort_month desc limit 1""").fetchall()
        cohort = cohort[0] if cohort else None
        accounts = con.sql(f"""
            select m.account_id, any_value(m.account_name), any_value(m.brand), any_value(m.role),
                   sum(m.gmv) gmv, sum(m.gmv) * 1000 / nullif(sum(m.viewers), 0) gpm
            from marts.fct_account_matrix_daily m group by m.account_id order by gmv desc limit {int(top)}""").fetchall()
        read, rejected = con.sql(
            "select coalesce(sum(rows_read), 0), coalesce(sum(rows_rejected), 0) from audit.ingested_files").fetchall()[0]
    return Headline(first, last, float(gmv), float(net), int(orders), _ratio(private, gmv), _ratio(paid, gmv),
                    int(new), int(returning), cohort[0] if cohort else None,
                    float(cohort[1]) if cohort and cohort[1] is not None else None, accounts, int(read), int(rejected))


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
        f"  data quality               {h.rows_read:,} rows read, {h.rows_rejected:,} rejected ({_pct(_ratio(h.rows_rejected, h.rows_read))})",
        "  top matrix accounts (账号矩阵) by GMV:",
    ]
    for account_id, name, brand, role, gmv, gpm in h.top_accounts:
        gpm_text = "n/a" if gpm is None else f"{float(gpm):,.0f}"
        lines.append(f"    {account_id:<12} {str(name or ''):<18} {brand:<10} {role:<12} ¥{float(gmv):>14,.2f}  GPM {gpm_text}")
    return "\n".join(lines)


def print_headline(warehouse: Path) -> None:
    print(format_headline(read_headline(warehouse)))
