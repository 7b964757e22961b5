"""One self-contained HTML report of a published warehouse (marts + audit), bilingual 中文/English.

The file must open anywhere — a merchant's laptop behind a firewall, a printed handout — so it
carries no scripts from a CDN, no web fonts and no images: every chart is inline SVG drawn here.
Each chart's <svg> carries `data-chart` and `data-marks` so tests (and anyone curious) can check
that it rendered; a tiny inline script only measures the rendered charts into data attributes
(for a headless `--dump-dom`), it never draws anything, so the report reads the same with
scripts disabled or on paper.

Every figure is read from the marts the way a BI tool would (read-only connection), and ratios
are recomputed from sums rather than averaged, so they match what SQL on the marts gives.
"""

from __future__ import annotations

import argparse
import html
import math
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

__all__ = ["ReportSummary", "build_report", "main"]

CHARTS = ("dual-wheel", "cohort-heatmap", "retention-triangle", "account-scatter", "live-sessions",
          "fan-sources", "organic-share")

DASH = "–"  # what a NULL ratio shows as

# Bands of the dual wheel, bottom to top. Paid is split out of the public domain because it is
# bought traffic: a brand growing only through paid promotion is not turning the wheel.
BANDS = (
    ("private", "私域 关注页 follow", "#2563eb"),
    ("discovery", "发现页 discovery", "#f59e0b"),
    ("other_public", "其他公域 other public", "#fcd34d"),
    ("paid", "付费推广 paid", "#a855f7"),
)
ROLES = (
    ("flagship", "品牌号 flagship", "#dc2626"),
    ("store", "门店号 store", "#2563eb"),
    ("anchor", "主播号 anchor", "#16a34a"),
    ("distributor", "分销号 distributor", "#9333ea"),
    ("(unmapped)", "未映射 (unmapped)", "#9ca3af"),
)
DOMAINS = (("private", "私域 private (关注页)"), ("public", "公域 public"))
# Acquisition sources of fans (fct_fan_cohort), in the contract's order; paid hatched in charts.
FAN_SOURCES = (
    ("follow", "关注页 follow", "#2563eb"),
    ("discovery", "发现页 discovery", "#f59e0b"),
    ("nearby", "同城 nearby", "#16a34a"),
    ("search", "搜索 search", "#0ea5e9"),
    ("short_video", "短视频 short video", "#ec4899"),
    ("paid", "付费推广 paid", "#a855f7"),
    ("other", "其他 other", "#9ca3af"),
)
# Sequential scale (light to dark teal-blue) for heatmaps; readable in greyscale print too.
SCALE = ("#f0f9ff", "#bae6fd", "#38bdf8", "#0284c7", "#075985", "#0c2d48")


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    bytes: int
    charts: tuple[str, ...]
    headline: dict[str, object]
    marks: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- data

def _ratio(numerator, denominator) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)


def table_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.sql("select schema_name || '.' || table_name from duckdb_tables() "
                   "union all select schema_name || '.' || view_name from duckdb_views()").fetchall()
    return {r[0] for r in rows}


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _month_end(d: date) -> date:
    return _add_months(d, 1) - timedelta(days=1)


def headline_figures(con, tables: set[str]) -> dict[str, object]:
    first, last, gmv, net, orders, private, paid, new, returning = con.sql("""
        select min(order_date), max(order_date), coalesce(sum(gmv), 0), coalesce(sum(net_gmv), 0),
               coalesce(sum(orders), 0), coalesce(sum(gmv_private), 0), coalesce(sum(gmv_public_paid), 0),
               coalesce(sum(new_buyers), 0), coalesce(sum(returning_buyers), 0)
        from marts.fct_dual_wheel_daily""").fetchall()[0]
    # The horizon is global over every counted order (contract 6), which is exactly the order
    # dates present in the by-source mart.
    horizon = con.sql("select max(order_date) from marts.fct_gmv_by_source_daily").fetchall()[0][0]
    cohort = con.sql("""
        select cohort_month, sum(repurchasers_30d), sum(cohort_buyers)
        from marts.fct_cohort_repurchase where window_30d_complete
        group by cohort_month order by cohort_month desc limit 1""").fetchall()
    h: dict[str, object] = {
        "first_date": first, "last_date": last, "horizon": horizon,
        "days": (last - first).days + 1 if first and last else 0,
        "gmv": Decimal(gmv), "net_gmv": Decimal(net), "orders": int(orders),
        "private_share": _ratio(private, gmv), "paid_share": _ratio(paid, gmv),
        "new_buyers": int(new), "returning_buyers": int(returning),
        "cohort_month": cohort[0][0] if cohort else None,
        "repurchase_rate_30d": _ratio(cohort[0][1], cohort[0][2]) if cohort else None,
        "rows_read": None, "rows_rejected": None, "files": None, "reject_share": None,
        "top_reasons": [], "checks_passed": None, "checks_total": None, "checks_failed": [],
        "dq_run_id": None, "published_at": None, "published_run_id": None,
    }
    if "audit.ingested_files" in tables:
        files, read, rejected = con.sql("""select count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_rejected), 0)
                                           from audit.ingested_files""").fetchall()[0]
        h.update(files=int(files), rows_read=int(read), rows_rejected=int(rejected),
                 reject_share=_ratio(rejected, read))
    if "audit.rejected_rows" in tables:
        # Reasons quote the offending value; strip it so the same rule groups together.
        h["top_reasons"] = [(r, int(n)) for r, n in con.sql("""
            select export || ' · ' || regexp_replace(regexp_replace(reason, '''[^'']*''', '…', 'g'), '\\([^)]*\\)', '(…)', 'g') r,
                   count(*) n
            from (select export, unnest(reasons) reason from audit.rejected_rows)
            group by r order by n desc, r limit 5""").fetchall()]
    if "audit.dq_results" in tables:
        latest = con.sql("""select run_id from audit.dq_results where checked_at is not null
                            order by checked_at desc, run_id desc limit 1""").fetchall()
        if latest:
            run_id = latest[0][0]
            passed, total = con.execute("""select count(*) filter (where success), count(*)
                                           from audit.dq_results where run_id is not distinct from ?""",
                                        [run_id]).fetchall()[0]
            failed = con.execute("""select severity, suite || ' · ' || expectation || coalesce(' (' || column_name || ')', '')
                                    from audit.dq_results where run_id is not distinct from ? and not success
                                    order by severity = 'error' desc, suite, expectation limit 5""",
                                 [run_id]).fetchall()
            h.update(dq_run_id=run_id, checks_passed=int(passed), checks_total=int(total),
                     checks_failed=[(s, e) for s, e in failed])
    if "audit.check_results" in tables:
        # The build's Dagster asset checks (GX suites, gates, dbt tests, freshness), one per
        # evaluation: the count the CLI summary and the Dagster UI show for the same runs.
        passed, warned, total = con.sql("""select count(*) filter (where passed),
                                                  count(*) filter (where not passed and severity = 'WARN'), count(*)
                                           from audit.check_results""").fetchall()[0]
        failed = con.sql("""select lower(severity), asset_key || ' · ' || check_name || coalesce(': ' || description, '')
                            from audit.check_results where not passed
                            order by severity = 'ERROR' desc, asset_key, check_name limit 5""").fetchall()
        run_ids = [r for (r,) in con.sql("select distinct run_id from audit.check_results order by run_id").fetchall()]
        h.update(dq_run_id=" + ".join(run_ids), checks_passed=int(passed), checks_total=int(total),
                 checks_warned=int(warned), checks_failed=[(sev, text[:300]) for sev, text in failed])
    if "audit.published_at" in tables:
        row = con.sql("select published_at, run_id from audit.published_at limit 1").fetchall()
        if row:
            h.update(published_at=row[0][0], published_run_id=row[0][1])
    return h


def _daily(con) -> list[tuple]:
    return con.sql("""
        select order_date,
               coalesce(sum(gmv) filter (where domain = 'private'), 0),
               coalesce(sum(gmv) filter (where domain <> 'private' and not is_paid and traffic_source = 'discovery'), 0),
               coalesce(sum(gmv) filter (where domain <> 'private' and not is_paid and traffic_source <> 'discovery'), 0),
               coalesce(sum(gmv) filter (where domain <> 'private' and is_paid), 0),
               coalesce(sum(gmv), 0)
        from marts.fct_gmv_by_source_daily group by order_date order by order_date""").fetchall()


def _cohorts(con) -> list[tuple]:
    return con.sql("""
        select cohort_month, first_domain, sum(cohort_buyers), sum(repurchasers_30d), sum(repurchasers_60d),
               sum(repurchasers_90d), bool_and(window_30d_complete)
        from marts.fct_cohort_repurchase group by all order by cohort_month, first_domain""").fetchall()


def _retention(con) -> tuple[dict, dict]:
    sizes = dict(con.sql("select cohort_month, sum(cohort_buyers) from marts.fct_cohort_repurchase group by 1").fetchall())
    active = {(c, int(k)): int(a) for c, k, a in con.sql("""
        select cohort_month, months_since_first, sum(active_buyers)
        from marts.fct_cohort_retention_monthly group by 1, 2""").fetchall()}
    return sizes, active


def account_leaderboard(con) -> list[dict]:
    rows = con.sql("""
        select m.account_id,
               coalesce(any_value(d.account_name), any_value(m.account_name)),
               coalesce(any_value(d.brand), any_value(m.brand)), coalesce(any_value(d.role), any_value(m.role)),
               coalesce(any_value(d.city), any_value(m.city)),
               sum(m.gmv), sum(m.viewers), sum(m.orders), sum(m.refund_amount), sum(m.gmv_private),
               sum(m.net_follows), sum(m.live_sessions)
        from marts.fct_account_matrix_daily m left join marts.dim_accounts d using (account_id)
        group by m.account_id order by sum(m.gmv) desc nulls last, m.account_id""").fetchall()
    out = []
    for aid, name, brand, role, city, gmv, viewers, orders, refund, private, follows, sessions in rows:
        gmv = Decimal(gmv or 0)
        out.append({
            "account_id": aid, "account_name": name, "brand": brand, "role": role, "city": city,
            "gmv": gmv, "viewers": int(viewers or 0), "orders": int(orders or 0),
            "gpm": _ratio(gmv * 1000, viewers), "uv_value": _ratio(gmv, viewers), "aov": _ratio(gmv, orders),
            "refund_rate": _ratio(refund, gmv), "private_share": _ratio(private, gmv),
            "net_follows": int(follows or 0), "live_sessions": int(sessions or 0),
        })
    return out


def _columns(con, table: str) -> set[str]:
    schema, name = table.split(".")
    return {r[0] for r in con.execute("select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
                                      [schema, name]).fetchall()}


def _fan_cohorts(con, tables: set[str]) -> list[tuple]:
    """(follow_month, acquisition_source, new_fans, fans_bought_before, fans_buying_30d, fan_gmv_30d,
    fan_gmv_30d_private, unfollowed_30d, window_30d_complete), all brands together. Empty for a
    warehouse published before contract v2 (no fct_fan_cohort)."""
    if "marts.fct_fan_cohort" not in tables:
        return []
    return con.sql("""
        select follow_month, acquisition_source, sum(new_fans), sum(fans_bought_before), sum(fans_buying_30d),
               sum(fan_gmv_30d), sum(fan_gmv_30d_private), sum(unfollowed_30d), bool_and(window_30d_complete)
        from marts.fct_fan_cohort group by all order by follow_month, acquisition_source""").fetchall()


def fan_value_by_source(fan_rows: list[tuple]) -> list[dict]:
    """Per acquisition source over the follow months whose 30-day window is complete (an open
    window would understate the later months): ratios recomputed from the summed counts."""
    acc: dict[str, list] = {}
    for _, src, fans, before, buying, gmv, private, unfollowed, complete in fan_rows:
        if not complete:
            continue
        a = acc.setdefault(src, [0, 0, 0, Decimal(0), Decimal(0), 0])
        for i, v in enumerate((fans, before, buying, gmv, private, unfollowed)):
            a[i] += v or 0
    order = [k for k, _, _ in FAN_SOURCES]
    out = []
    for src in sorted(acc, key=lambda k: (order.index(k) if k in order else len(order), k)):
        fans, before, buying, gmv, private, unfollowed = acc[src]
        out.append({"source": src, "new_fans": int(fans), "bought_before_share": _ratio(before, fans),
                    "purchase_rate_30d": _ratio(buying, fans), "gmv_per_fan_30d": _ratio(gmv, fans),
                    "unfollow_rate_30d": _ratio(unfollowed, fans), "private_share_30d": _ratio(private, gmv),
                    "fan_gmv_30d": Decimal(gmv), "fans_buying_30d": int(buying), "unfollowed_30d": int(unfollowed)})
    return out


def fan_value_figures(con, tables: set[str]) -> dict[str, object] | None:
    """The headline's fan-value line: all fans vs paid fans over complete 30-day windows."""
    rows = _fan_cohorts(con, tables)
    if not rows:
        return None
    by_source = fan_value_by_source(rows)
    fans = sum(r["new_fans"] for r in by_source)
    total = {"new_fans": sum(int(r[2]) for r in rows), "complete_fans": fans,
             "purchase_rate_30d": _ratio(sum(r["fans_buying_30d"] for r in by_source), fans),
             "gmv_per_fan_30d": _ratio(sum(r["fan_gmv_30d"] for r in by_source), fans),
             "unfollow_rate_30d": _ratio(sum(r["unfollowed_30d"] for r in by_source), fans),
             "paid": next((r for r in by_source if r["source"] == "paid"), None)}
    return total


def _organic_trend(con, tables: set[str], top: int = 4) -> list[dict]:
    """Per account (the `top` by live viewers): daily viewers, paid viewers and paid follows."""
    matrix = "marts.fct_account_matrix_daily"
    if matrix not in tables or not {"viewers_paid", "new_follows_paid"} <= _columns(con, matrix):
        return []
    accounts = con.execute(f"""
        select account_id, coalesce(any_value(account_name), account_id), any_value(brand)
        from {matrix} group by account_id having sum(viewers) > 0
        order by sum(viewers) desc, account_id limit ?""", [top]).fetchall()
    out = []
    for aid, name, brand in accounts:
        days = con.execute(f"""select activity_date, viewers, viewers_paid, new_follows_paid from {matrix}
                               where account_id = ? order by activity_date""", [aid]).fetchall()
        out.append({"account_id": aid, "account_name": name, "brand": brand, "days": days})
    return out


def _sessions(con, top: int = 10) -> list[dict]:
    cols = ("live_session_id", "account_id", "account_name", "brand", "started_at", "duration_minutes", "viewers",
            "watch_minutes", "orders", "gmv", "avg_watch_minutes", "orders_per_watch_hour", "aov")
    rows = con.execute("""
        select s.live_session_id, s.account_id, d.account_name, s.brand, s.started_at, s.duration_minutes, s.viewers,
               s.watch_minutes, s.orders, s.gmv, s.avg_watch_minutes, s.orders_per_watch_hour, s.aov
        from marts.fct_live_session s left join marts.dim_accounts d using (account_id)
        order by s.gmv desc nulls last, s.live_session_id limit ?""", [top]).fetchall()
    return [dict(zip(cols, r)) for r in rows]


# ---------------------------------------------------------------------------------- formatting

def fmt_money(v, decimals: int = 2) -> str:
    return DASH if v is None else f"¥{Decimal(v):,.{decimals}f}"


def fmt_pct(v, decimals: int = 1) -> str:
    return DASH if v is None else f"{float(v) * 100:.{decimals}f}%"


def fmt_num(v, decimals: int = 0) -> str:
    return DASH if v is None else f"{float(v):,.{decimals}f}"


def fmt_int(v) -> str:
    return DASH if v is None else f"{int(v):,}"


def _short_money(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"¥{v / 1e6:.3g}M"
    if a >= 1e3:
        return f"¥{v / 1e3:.3g}k"
    return f"¥{v:.3g}"


def _short_num(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def _nice_ticks(hi: float, n: int = 5) -> tuple[list[float], float]:
    """Ticks from 0 to a round number >= hi."""
    if not hi or hi <= 0:
        hi = 1.0
    raw = hi / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    top = math.ceil(hi / step - 1e-9) * step
    return [i * step for i in range(int(round(top / step)) + 1)], top


def _truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _scale_color(t: float) -> tuple[str, str]:
    """Fill and readable text colour for t in [0, 1]."""
    t = min(max(t, 0.0), 1.0) * (len(SCALE) - 1)
    i = min(int(t), len(SCALE) - 2)
    f = t - i
    a, b = SCALE[i], SCALE[i + 1]
    rgb = [round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f) for k in (1, 3, 5)]
    luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return "#%02x%02x%02x" % tuple(rgb), ("#0f172a" if luminance > 150 else "#ffffff")


def _hatch(pid: str, stroke: str, background: str = "none", opacity: float = 1.0) -> str:
    bg = f'<rect width="6" height="6" fill="{background}"/>' if background != "none" else ""
    return (f'<pattern id="{pid}" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">'
            f'{bg}<line x1="0" y1="0" x2="0" y2="6" stroke="{stroke}" stroke-width="2.2" stroke-opacity="{opacity}"/></pattern>')


def _svg(chart: str, title: str, desc: str, width: int, height: int, body: list[str], marks: int,
         defs: str = "") -> str:
    return (f'<svg id="chart-{chart}" data-chart="{chart}" data-marks="{marks}" class="chart" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="max-width:{width}px" role="img" '
            f'aria-labelledby="chart-{chart}-title chart-{chart}-desc" xmlns="http://www.w3.org/2000/svg">'
            f'<title id="chart-{chart}-title">{esc(title)}</title><desc id="chart-{chart}-desc">{esc(desc)}</desc>'
            f'<defs>{defs}</defs>{"".join(body)}</svg>')


def _empty(chart: str, title: str, message: str, width: int = 1100, height: int = 60) -> str:
    body = [f'<text x="{width / 2}" y="{height / 2 + 5}" text-anchor="middle" class="muted">{esc(message)}</text>']
    return _svg(chart, title, message, width, height, body, 0)


def _legend(items: list[tuple[str, str]], x: float, y: float, gap: int = 26) -> list[str]:
    """items: (fill, label); fill may be a url(#pattern)."""
    out, cx = [], x
    for fill, label in items:
        if fill.startswith("line:"):
            out.append(f'<line x1="{cx:.0f}" x2="{cx + 16:.0f}" y1="{y - 4:.0f}" y2="{y - 4:.0f}" stroke="{fill[5:]}" stroke-width="2.2"/>')
        else:
            out.append(f'<rect x="{cx:.0f}" y="{y - 10:.0f}" width="14" height="12" fill="{fill}" stroke="#64748b" stroke-width="0.5"/>')
        out.append(f'<text x="{cx + 21:.0f}" y="{y:.0f}" class="legend">{esc(label)}</text>')
        cx += 21 + 6.6 * _text_width(label) + gap
    return out


def _text_width(label: str) -> float:
    """Rough width in 'latin characters' units; CJK glyphs are about twice as wide."""
    return sum(1.9 if ord(ch) > 0x2E80 else 1.0 for ch in label)


# -------------------------------------------------------------------------------------- charts

def chart_dual_wheel(daily: list[tuple]) -> tuple[str, int]:
    title = "双轮走势 Dual wheel: daily GMV by domain, private share on the right axis"
    if not daily:
        return _empty("dual-wheel", title, "No orders in the warehouse 无订单数据"), 0
    by_day = {r[0]: r for r in daily}
    first, last = daily[0][0], daily[-1][0]
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    W, H, L, R, T, B = 1100, 380, 70, 64, 44, 40
    pw, ph = W - L - R, H - T - B
    ticks, top = _nice_ticks(max(float(r[5]) for r in daily))
    bw = pw / len(days)
    gap = min(1.0, bw * 0.15)
    y = lambda v: T + ph - ph * float(v) / top  # noqa: E731
    body: list[str] = []
    for t in ticks:
        body.append(f'<line x1="{L}" x2="{L + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>'
                    f'<text x="{L - 8}" y="{y(t) + 4:.1f}" text-anchor="end" class="tick">{esc(_short_money(t))}</text>')
    for i, s in enumerate((0, 0.25, 0.5, 0.75, 1.0)):
        yy = T + ph - ph * s
        body.append(f'<text x="{L + pw + 8}" y="{yy + 4:.1f}" class="tick share">{s:.0%}</text>')
    fills = {"private": BANDS[0][2], "discovery": BANDS[1][2], "other_public": BANDS[2][2], "paid": "url(#dw-hatch)"}
    marks = 0
    share_pts, daily_pts = [], []
    window: list[tuple[float, float]] = []
    for i, d in enumerate(days):
        x = L + i * bw
        r = by_day.get(d)
        values = [0, 0, 0, 0, 0] if r is None else [float(v) for v in r[1:6]]
        base = 0.0
        parts = []
        for (key, _, _), v in zip(BANDS, values[:4]):
            if v > 0:
                y0, y1 = y(base + v), y(base)
                parts.append(f'<rect class="mark" x="{x + gap / 2:.1f}" y="{y0:.1f}" width="{max(bw - gap, 0.6):.1f}" '
                             f'height="{max(y1 - y0, 0.3):.1f}" fill="{fills[key]}"/>')
                marks += 1
            base += v
        tip = (f"{d.isoformat()}  GMV {fmt_money(values[4])} · 私域 private {fmt_money(values[0])} · "
               f"发现页 discovery {fmt_money(values[1])} · other public {fmt_money(values[2])} · paid {fmt_money(values[3])}"
               f" · 私域占比 {fmt_pct(_ratio(values[0], values[4]))}")
        body.append(f'<g><title>{esc(tip)}</title>{"".join(parts)}</g>')
        if values[4] > 0:
            daily_pts.append((x + bw / 2, T + ph - ph * values[0] / values[4]))
        # A single day's share swings with one big order; the 7-day share is what moves decisions.
        window = (window + [(values[0], values[4])])[-7:]
        week_gmv = sum(g for _, g in window)
        if week_gmv > 0:
            share_pts.append((x + bw / 2, T + ph - ph * sum(p for p, _ in window) / week_gmv))
    # Over many months the daily line is only noise on top of the bars; the 7-day one tells the story.
    show_daily = len(days) <= 120
    lines = ((daily_pts if show_daily else [], "share-daily", "#475569", 0.8), (share_pts, "share-line", "#0f172a", 2.2))
    for pts, cls, stroke, width in lines:
        if pts:
            path = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            dash = ' stroke-dasharray="2 2"' if cls == "share-daily" else ""
            body.append(f'<path class="mark {cls}" d="{path}" fill="none" stroke="{stroke}" stroke-width="{width}" '
                        f'stroke-linejoin="round"{dash}/>')
            marks += 1
    # x ticks: weeks for short spans, months for long ones
    span = len(days)
    for i, d in enumerate(days):
        if (span > 92 and d.day == 1) or (span <= 92 and d.weekday() == 0):
            x = L + i * bw
            label = d.strftime("%Y-%m") if span > 92 else d.strftime("%m-%d")
            body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T + ph}" y2="{T + ph + 5}" class="axis"/>'
                        f'<text x="{x:.1f}" y="{T + ph + 18}" text-anchor="middle" class="tick">{label}</text>')
    body.append(f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/>')
    body.append(f'<text x="8" y="{T - 10}" class="axis-title">GMV 成交额</text>'
                f'<text x="{W - 4}" y="{T - 10}" text-anchor="end" class="axis-title">私域占比</text>')
    legend = [(BANDS[0][2], BANDS[0][1]), (BANDS[1][2], BANDS[1][1]), (BANDS[2][2], BANDS[2][1]),
              ("url(#dw-hatch)", BANDS[3][1]), ("line:#0f172a", "私域占比 private share, 7-day")]
    legend += [("line:#475569", "daily 日")] if show_daily else []
    body += _legend(legend, 8, 16, gap=18)
    defs = _hatch("dw-hatch", "#6b21a8", BANDS[3][2])
    desc = (f"Stacked daily GMV from {first} to {last} by traffic domain; paid promotion hatched; "
            "line = private (follow page) share of GMV on the right axis.")
    return _svg("dual-wheel", title, desc, W, H, body, marks, defs), marks


def _ramp(x: float, y: float, hi: float) -> list[str]:
    out = [f'<text x="{x}" y="{y}" class="legend">色阶 scale 0%</text>']
    rx = x + 92
    for k in range(24):
        fill, _ = _scale_color(k / 23)
        out.append(f'<rect x="{rx + k * 6}" y="{y - 11}" width="6" height="14" fill="{fill}"/>')
    out.append(f'<text x="{rx + 150}" y="{y}" class="legend">{fmt_pct(hi, 0)}</text>')
    return out


def chart_cohort_heatmap(cohorts: list[tuple], horizon: date | None) -> tuple[str, int]:
    title = "复购热力图 Cohort repurchase: 30/60/90-day repurchase rate by cohort month and first domain"
    if not cohorts:
        return _empty("cohort-heatmap", title, "No cohorts yet 暂无新客群组"), 0
    months = sorted({r[0] for r in cohorts})
    cell = {(r[0], r[1]): r for r in cohorts}
    windows = (30, 60, 90)
    rates = [_ratio(r[3 + j], r[2]) for r in cohorts for j in range(3)]
    hi = max([v for v in rates if v is not None] + [0.01])
    CW, CH, LW, T = 78, 30, 150, 70
    W = LW + len(DOMAINS) * (len(windows) * CW + 24) + 10
    H = T + len(months) * CH + 64
    body, marks = [], 0
    for g, (dom, dlabel) in enumerate(DOMAINS):
        gx = LW + g * (len(windows) * CW + 24)
        body.append(f'<text x="{gx + len(windows) * CW / 2}" y="{T - 38}" text-anchor="middle" class="axis-title">{esc(dlabel)}</text>')
        for j, n in enumerate(windows):
            body.append(f'<text x="{gx + j * CW + CW / 2}" y="{T - 10}" text-anchor="middle" class="tick">{n}天 {n}d</text>')
        for i, m in enumerate(months):
            r = cell.get((m, dom))
            yy = T + i * CH
            for j, n in enumerate(windows):
                xx = gx + j * CW
                if r is None or not r[2]:
                    body.append(f'<rect x="{xx + 1}" y="{yy + 1}" width="{CW - 2}" height="{CH - 2}" fill="#f8fafc" stroke="#e2e8f0"/>'
                                f'<text x="{xx + CW / 2}" y="{yy + CH / 2 + 4}" text-anchor="middle" class="cell muted">{DASH}</text>')
                    continue
                rate = _ratio(r[3 + j], r[2])
                complete = bool(r[6]) if n == 30 else (horizon is not None and _month_end(m) + timedelta(days=n) <= horizon)
                fill, ink = _scale_color((rate or 0) / hi)
                tip = (f"{m:%Y-%m} {dom} · {n}d repurchase {fmt_pct(rate)} ({fmt_int(r[3 + j])}/{fmt_int(r[2])})"
                       + ("" if complete else " · window not complete 窗口未满"))
                state = "complete" if complete else "incomplete"
                faded = "" if complete else ' fill-opacity="0.35"'
                body.append(f'<g data-window="{n}" data-state="{state}"><title>{esc(tip)}</title>'
                            f'<rect class="mark" x="{xx + 1}" y="{yy + 1}" width="{CW - 2}" height="{CH - 2}" fill="{fill}"{faded}/>')
                if not complete:
                    body.append(f'<rect x="{xx + 1}" y="{yy + 1}" width="{CW - 2}" height="{CH - 2}" fill="url(#ch-hatch)"/>')
                    ink = "#334155"
                label = fmt_pct(rate) + ("*" if not complete else "")
                style = ' font-style="italic"' if not complete else ""
                body.append(f'<text x="{xx + CW / 2}" y="{yy + CH / 2 + 4}" text-anchor="middle" class="cell" style="fill:{ink}"'
                            f'{style}>{label}</text></g>')
                marks += 1
    for i, m in enumerate(months):
        buyers = sum(int(cell[(m, d)][2]) for d, _ in DOMAINS if (m, d) in cell)
        body.append(f'<text x="{LW - 10}" y="{T + i * CH + CH / 2 + 4}" text-anchor="end" class="tick">'
                    f'{m:%Y-%m} <tspan class="muted">({buyers:,} 新客)</tspan></text>')
    ly = T + len(months) * CH + 26
    body += _ramp(LW, ly, hi)
    body.append(f'<rect x="{LW}" y="{ly + 13}" width="22" height="14" fill="{SCALE[2]}" fill-opacity="0.35"/>'
                f'<rect x="{LW}" y="{ly + 13}" width="22" height="14" fill="url(#ch-hatch)"/>'
                f'<text x="{LW + 28}" y="{ly + 24}" class="legend">* 窗口未满 window still open at the horizon {horizon}: the rate will still rise</text>')
    defs = _hatch("ch-hatch", "#64748b", opacity=0.45)
    desc = "Share of each cohort's first-time buyers who ordered again within 30, 60 and 90 days; hatched = window still open."
    return _svg("cohort-heatmap", title, desc, W, H, body, marks, defs), marks


def chart_retention(sizes: dict, active: dict, horizon: date | None) -> tuple[str, int]:
    title = "留存三角 Monthly retention: active buyers / cohort buyers by months since first order"
    months = sorted(c for c, n in sizes.items() if n)
    if not months or horizon is None:
        return _empty("retention-triangle", title, "No cohorts yet 暂无新客群组"), 0
    horizon_month = horizon.replace(day=1)
    span = (horizon_month.year - months[0].year) * 12 + horizon_month.month - months[0].month
    later = [active.get((c, k), 0) / sizes[c] for c in months for k in range(1, span + 1) if (c, k) in active]
    hi = max(later + [0.01])
    CW = max(40, min(70, 900 // (span + 1)))
    CH, LW, T = 28, 150, 46
    W = max(LW + (span + 1) * CW + 20, 820)
    H = T + len(months) * CH + 64
    body, marks = [], 0
    for k in range(span + 1):
        body.append(f'<text x="{LW + k * CW + CW / 2}" y="{T - 10}" text-anchor="middle" class="tick">M{k}</text>')
    body.append(f'<text x="{LW}" y="{T - 30}" class="axis-title">首购后第N月 months since first order →</text>')
    open_month = horizon != _month_end(horizon)
    for i, c in enumerate(months):
        yy = T + i * CH
        body.append(f'<text x="{LW - 10}" y="{yy + CH / 2 + 4}" text-anchor="end" class="tick">{c:%Y-%m} '
                    f'<tspan class="muted">({int(sizes[c]):,})</tspan></text>')
        last_k = (horizon_month.year - c.year) * 12 + horizon_month.month - c.month
        for k in range(last_k + 1):
            xx = LW + k * CW
            n = active.get((c, k), 0)
            rate = n / sizes[c]
            partial = open_month and k == last_k
            if k == 0:
                fill, ink = "#e2e8f0", "#334155"  # M0 is 100% by definition; keep it out of the scale
            else:
                fill, ink = _scale_color(rate / hi)
            if partial:
                ink = "#334155"
            tip = f"{c:%Y-%m} cohort, M{k}: {n:,} of {int(sizes[c]):,} buyers active ({fmt_pct(rate)})" + (
                " · month still open 当月未结束" if partial else "")
            faded = ' fill-opacity="0.35"' if partial else ""
            body.append(f'<g data-state="{"partial" if partial else "complete"}"><title>{esc(tip)}</title>'
                        f'<rect class="mark" x="{xx + 1}" y="{yy + 1}" width="{CW - 2}" height="{CH - 2}" fill="{fill}"{faded}/>')
            if partial:
                body.append(f'<rect x="{xx + 1}" y="{yy + 1}" width="{CW - 2}" height="{CH - 2}" fill="url(#rt-hatch)"/>')
            body.append(f'<text x="{xx + CW / 2}" y="{yy + CH / 2 + 4}" text-anchor="middle" class="cell" style="fill:{ink}">'
                        f'{fmt_pct(rate, 0 if CW < 50 else 1)}</text></g>')
            marks += 1
    ly = T + len(months) * CH + 26
    body += _ramp(LW, ly, hi)
    body.append(f'<rect x="{LW}" y="{ly + 13}" width="22" height="14" fill="{SCALE[2]}" fill-opacity="0.35"/>'
                f'<rect x="{LW}" y="{ly + 13}" width="22" height="14" fill="url(#rt-hatch)"/>'
                f'<text x="{LW + 28}" y="{ly + 24}" class="legend">当月未结束 month still open at the horizon {horizon} · '
                f'M0 = the cohort month itself (100% by definition)</text>')
    defs = _hatch("rt-hatch", "#64748b", opacity=0.45)
    desc = "Each row is a first-purchase cohort; each cell the share of its buyers who ordered in that later month."
    return _svg("retention-triangle", title, desc, W, H, body, marks, defs), marks


def chart_account_scatter(accounts: list[dict]) -> tuple[str, int]:
    title = "账号矩阵 Account matrix: GPM (千次观看成交) vs GMV, coloured by role"
    pts = [a for a in accounts if a["gpm"] is not None and a["gmv"] > 0]
    if not pts:
        return _empty("account-scatter", title, "No account with both viewers and GMV 无直播观看数据"), 0
    W, H, L, R, T, B = 1100, 420, 80, 30, 40, 50
    pw, ph = W - L - R, H - T - B
    xt, xtop = _nice_ticks(max(float(a["gmv"]) for a in pts))
    yt, ytop = _nice_ticks(max(a["gpm"] for a in pts))
    x = lambda v: L + pw * float(v) / xtop  # noqa: E731
    y = lambda v: T + ph - ph * float(v) / ytop  # noqa: E731
    body, marks = [], 0
    for t in yt:
        body.append(f'<line x1="{L}" x2="{L + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>'
                    f'<text x="{L - 8}" y="{y(t) + 4:.1f}" text-anchor="end" class="tick">{esc(_short_money(t))}</text>')
    for t in xt:
        body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{T}" y2="{T + ph}" class="grid"/>'
                    f'<text x="{x(t):.1f}" y="{T + ph + 18}" text-anchor="middle" class="tick">{esc(_short_money(t))}</text>')
    body.append(f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/>'
                f'<line x1="{L}" x2="{L}" y1="{T}" y2="{T + ph}" class="axis"/>'
                f'<text x="{L + pw}" y="{T + ph + 38}" text-anchor="end" class="axis-title">GMV 成交额 (period total) →</text>'
                f'<text x="{L - 8}" y="{T - 14}" text-anchor="end" class="axis-title">GPM ↑</text>')
    colors = {k: c for k, _, c in ROLES}
    labelled = {a["account_id"] for a in pts[:6]}
    for a in sorted(pts, key=lambda a: a["gmv"]):
        cx, cy = x(a["gmv"]), y(a["gpm"])
        name = a["account_name"] or a["account_id"]
        tip = (f"{name} ({a['account_id']}) · {a['brand']} · {a['role']} · GMV {fmt_money(a['gmv'])} · "
               f"GPM {fmt_money(a['gpm'])} · viewers {a['viewers']:,}")
        body.append(f'<g><title>{esc(tip)}</title><circle class="mark" cx="{cx:.1f}" cy="{cy:.1f}" r="7" '
                    f'fill="{colors.get(a["role"], "#9ca3af")}" fill-opacity="0.85" stroke="#ffffff" stroke-width="1.5"/></g>')
        marks += 1
        if a["account_id"] in labelled:
            anchor, dx = ("end", -11) if cx > L + pw * 0.8 else ("start", 11)
            body.append(f'<text x="{cx + dx:.1f}" y="{cy + 4:.1f}" text-anchor="{anchor}" class="point-label">'
                        f'{esc(_truncate(str(name), 22))}</text>')
    present = {a["role"] for a in accounts}
    body += _legend([(c, label) for k, label, c in ROLES if k in present], L + 10, 22)
    missing = len(accounts) - len(pts)
    if missing:
        body.append(f'<text x="{L + pw}" y="22" text-anchor="end" class="legend muted">'
                    f'{missing} account(s) without viewers or GMV not plotted 未绘制</text>')
    desc = "One dot per account: x = GMV over the period, y = GMV per 1,000 live viewers."
    return _svg("account-scatter", title, desc, W, H, body, marks), marks


def chart_live_sessions(sessions: list[dict]) -> tuple[str, int]:
    title = "直播场次拆解 Top live sessions: GMV = viewers × avg watch minutes × orders per watch hour ÷ 60 × AOV"
    if not sessions:
        return _empty("live-sessions", title, "No live sessions 暂无直播场次"), 0
    cols = (("viewers", "观看人数|viewers", _short_num, "#0ea5e9"),
            ("avg_watch_minutes", "× 人均观看(分)|avg watch minutes", lambda v: f"{v:.1f}", "#14b8a6"),
            ("orders_per_watch_hour", "× 每观看小时订单 ÷ 60|orders per watch hour", lambda v: f"{v:.3g}", "#8b5cf6"),
            ("aov", "× 笔单价|AOV", lambda v: f"¥{v:,.0f}", "#f59e0b"),
            ("gmv", "= 成交额|GMV", _short_money, "#2563eb"))
    RH, LW, T, CW = 30, 250, 48, 168
    W = LW + len(cols) * CW + 10
    H = T + len(sessions) * RH + 10
    body, marks = [], 0
    for j, (key, label, _, _) in enumerate(cols):
        zh, en = label.split("|")
        body.append(f'<text x="{LW + j * CW}" y="{T - 24}" class="axis-title">{esc(zh)}</text>'
                    f'<text x="{LW + j * CW}" y="{T - 9}" class="tick muted">{esc(en)}</text>')
    maxima = {key: max([float(s[key]) for s in sessions if s[key] is not None] + [1e-9]) for key, *_ in cols}
    for i, s in enumerate(sessions):
        yy = T + i * RH
        if i % 2 == 0:
            body.append(f'<rect x="0" y="{yy}" width="{W}" height="{RH}" fill="#f8fafc"/>')
        name = s["account_name"] or s["account_id"]
        started = s["started_at"].strftime("%m-%d %H:%M") if isinstance(s["started_at"], datetime) else esc(s["started_at"])
        body.append(f'<text x="8" y="{yy + 19}" class="tick"><tspan font-weight="600">{i + 1}.</tspan> '
                    f'{esc(_truncate(str(name), 18))} <tspan class="muted">{started}</tspan></text>')
        for j, (key, label, fmt, color) in enumerate(cols):
            v = s[key]
            xx = LW + j * CW
            bar_max = CW - 62
            if v is None:
                body.append(f'<text x="{xx}" y="{yy + 19}" class="tick muted">{DASH}</text>')
                continue
            w = max(bar_max * float(v) / maxima[key], 1.0)
            tip = f"{s['live_session_id']} · {label.replace('|', ' ')}: {v}"
            body.append(f'<rect class="mark" x="{xx}" y="{yy + 8}" width="{w:.1f}" height="14" rx="2" fill="{color}">'
                        f'<title>{esc(tip)}</title></rect>'
                        f'<text x="{xx + w + 5:.1f}" y="{yy + 19}" class="tick">{esc(fmt(float(v)))}</text>')
            marks += 1
    desc = "The ten live sessions with the highest GMV, each factor of the GMV identity as a bar."
    return _svg("live-sessions", title, desc, W, H, body, marks), marks


def chart_fan_sources(fan_rows: list[tuple]) -> tuple[str, int]:
    title = "粉丝来源 Fans won per month by acquisition source (the source of each fan's first follow)"
    if not fan_rows:
        return _empty("fan-sources", title, "No fans yet 暂无粉丝数据 (or a warehouse without fct_fan_cohort)"), 0
    months = sorted({r[0] for r in fan_rows})
    fans = {(r[0], r[1]): int(r[2]) for r in fan_rows}
    complete = {m: all(r[8] for r in fan_rows if r[0] == m) for m in months}
    totals = {m: sum(v for (mm, _), v in fans.items() if mm == m) for m in months}
    known = {k for k, _, _ in FAN_SOURCES}
    sources = list(FAN_SOURCES) + [(k, k, "#64748b") for k in sorted({r[1] for r in fan_rows} - known)]
    W, H, L, R, T, B = 1100, 340, 70, 20, 44, 40
    pw, ph = W - L - R, H - T - B
    ticks, top = _nice_ticks(max(totals.values()))
    bw = pw / len(months)
    y = lambda v: T + ph - ph * float(v) / top  # noqa: E731
    body, marks = [], 0
    for t in ticks:
        body.append(f'<line x1="{L}" x2="{L + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>'
                    f'<text x="{L - 8}" y="{y(t) + 4:.1f}" text-anchor="end" class="tick">{esc(_short_num(t))}</text>')
    for i, m in enumerate(months):
        x = L + i * bw + bw * 0.15
        base, parts = 0, []
        for key, label, color in sources:
            v = fans.get((m, key), 0)
            if v <= 0:
                continue
            fill = "url(#fs-hatch)" if key == "paid" else color
            parts.append(f'<rect class="mark" x="{x:.1f}" y="{y(base + v):.1f}" width="{bw * 0.7:.1f}" '
                         f'height="{max(y(base) - y(base + v), 0.3):.1f}" fill="{fill}"/>')
            marks += 1
            base += v
        mix = " · ".join(f"{label} {fans[(m, k)]:,}" for k, label, _ in sources if fans.get((m, k)))
        tip = f"{m:%Y-%m}: {totals[m]:,} new fans 新增粉丝 · {mix}" + ("" if complete[m] else " · 30-day window open 窗口未满")
        body.append(f'<g data-month="{m:%Y-%m}"><title>{esc(tip)}</title>{"".join(parts)}</g>'
                    f'<text x="{L + i * bw + bw / 2:.1f}" y="{T + ph + 18}" text-anchor="middle" class="tick">{m:%Y-%m}'
                    f'{"" if complete[m] else "*"}</text>')
    body.append(f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/>'
                f'<text x="8" y="{T - 10}" class="axis-title">新增粉丝 new fans</text>')
    present = {r[1] for r in fan_rows}
    body += _legend([("url(#fs-hatch)" if k == "paid" else c, label) for k, label, c in sources if k in present], 160, 16, gap=14)
    defs = _hatch("fs-hatch", "#6b21a8", "#a855f7")
    desc = "Stacked monthly count of fan starts (a user's first follow of the brand) by the traffic source of that follow."
    return _svg("fan-sources", title, desc, W, H, body, marks, defs), marks


def chart_organic_share(trend: list[dict]) -> tuple[str, int]:
    title = "自然流量占比 Natural-traffic share of live viewers (7-day) beside paid follows (付费涨粉), per account"
    if not trend:
        return _empty("organic-share", title, "No live viewers 暂无直播观看数据 (or a warehouse without the v2 columns)"), 0
    first = min(a["days"][0][0] for a in trend)
    last = max(a["days"][-1][0] for a in trend)
    n_days = (last - first).days + 1
    W, PH, GAP, L, R, T = 1100, 120, 34, 70, 64, 56
    pw = W - L - R
    H = T + len(trend) * (PH + GAP) + 14
    bw = pw / n_days
    body, marks = [], 0
    for p, a in enumerate(trend):
        top_y = T + p * (PH + GAP)
        by_day = {d: (int(v or 0), int(vp or 0), int(nf or 0)) for d, v, vp, nf in a["days"]}
        follows_top = max([v[2] for v in by_day.values()] + [1])
        body.append(f'<text x="{L}" y="{top_y - 8}" class="axis-title">{esc(_truncate(str(a["account_name"]), 30))} '
                    f'<tspan class="muted">{esc(a["account_id"])} · {esc(a["brand"])}</tspan></text>'
                    f'<line x1="{L}" x2="{L + pw}" y1="{top_y + PH}" y2="{top_y + PH}" class="axis"/>'
                    f'<text x="{L - 8}" y="{top_y + 10}" text-anchor="end" class="tick">{follows_top:,}</text>'
                    f'<text x="{L - 8}" y="{top_y + PH}" text-anchor="end" class="tick">0</text>')
        for s_ in (0.0, 0.5, 1.0):
            yy = top_y + PH - PH * s_
            body.append(f'<line x1="{L}" x2="{L + pw}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
                        f'<text x="{L + pw + 8}" y="{yy + 4:.1f}" class="tick share">{s_:.0%}</text>')
        window: list[tuple[int, int]] = []
        pts = []
        for i in range(n_days):
            d = first + timedelta(days=i)
            v, vp, nf = by_day.get(d, (0, 0, 0))
            x = L + i * bw
            if nf > 0:
                h = PH * nf / follows_top
                body.append(f'<rect class="mark" x="{x:.1f}" y="{top_y + PH - h:.1f}" width="{max(bw * 0.8, 0.6):.1f}" '
                            f'height="{h:.1f}" fill="url(#os-hatch)"><title>{d} · 付费涨粉 paid follows {nf:,}</title></rect>')
                marks += 1
            # One day's share swings with one session's promotion; the 7-day share is the trend.
            window = (window + [(v, vp)])[-7:]
            viewers = sum(w[0] for w in window)
            if viewers > 0:
                pts.append((x + bw / 2, top_y + PH - PH * (viewers - sum(w[1] for w in window)) / viewers))
        if pts:
            path = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            share = _ratio(sum(v[0] - v[1] for v in by_day.values()), sum(v[0] for v in by_day.values()))
            body.append(f'<path class="mark share-line" d="{path}" fill="none" stroke="#15803d" stroke-width="2" '
                        f'stroke-linejoin="round"><title>{esc(a["account_id"])} natural-traffic share over the period '
                        f'{fmt_pct(share)}</title></path>')
            marks += 1
    bottom = T + (len(trend) - 1) * (PH + GAP) + PH
    for i in range(n_days):
        d = first + timedelta(days=i)
        if (n_days > 92 and d.day == 1) or (n_days <= 92 and d.weekday() == 0):
            label = d.strftime("%Y-%m") if n_days > 92 else d.strftime("%m-%d")
            body.append(f'<text x="{L + i * bw:.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{label}</text>')
    body += _legend([("line:#15803d", "自然流量占比 natural share of viewers, 7-day (right axis)"),
                     ("url(#os-hatch)", "付费涨粉 paid follows per day (left axis)")], 8, 16, gap=18)
    defs = _hatch("os-hatch", "#6b21a8", "#e9d5ff")
    desc = ("Per account with the most live viewers: the share of viewers not bought with promotion (7-day) and the "
            "daily follows won through paid promotion; a paid push that makes fans lifts the natural share later.")
    return _svg("organic-share", title, desc, W, H, body, marks, defs), marks


def _fan_table(by_source: list[dict]) -> str:
    labels = {k: label for k, label, _ in FAN_SOURCES}
    rows = []
    for r in by_source:
        rows.append(
            f'<tr data-source="{esc(r["source"])}"><td class="t">{esc(labels.get(r["source"], r["source"]))}</td>'
            f'<td>{fmt_int(r["new_fans"])}</td><td>{fmt_pct(r["bought_before_share"])}</td>'
            f'<td>{fmt_pct(r["purchase_rate_30d"])}</td><td>{fmt_money(r["gmv_per_fan_30d"])}</td>'
            f'<td>{fmt_pct(r["unfollow_rate_30d"])}</td><td>{fmt_pct(r["private_share_30d"])}</td></tr>')
    if not rows:
        rows.append('<tr><td class="t muted" colspan="7">no follow month with a complete 30-day window yet 暂无完整窗口</td></tr>')
    head = ("<tr><th class=t>涨粉渠道 Acquisition source</th><th>新增粉丝 New fans</th><th>新客转粉 Bought before</th>"
            "<th>30天购买率 30-day purchase rate</th><th>30天人均GMV GMV per fan</th><th>30天取关率 Unfollow rate</th>"
            "<th>关注页占比 Follow-page share of fan GMV</th></tr>")
    return f'<div class="scroll"><table id="fan-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


# --------------------------------------------------------------------------------------- page

CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--card:#ffffff;--bg:#f1f5f9;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);-webkit-print-color-adjust:exact;print-color-adjust:exact;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","Noto Sans SC","PingFang SC","Hiragino Sans GB","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 24px 40px}
header h1{font-size:24px;margin:0 0 2px}
header .sub{color:var(--muted);margin:0}
h2{font-size:18px;margin:0 0 4px}
h2 small{font-weight:400;color:var(--muted);font-size:13px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:18px 0;break-inside:avoid}
.note{color:var(--muted);font-size:12.5px;margin:4px 0 10px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px;margin-top:18px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;break-inside:avoid}
.kpi .label{font-size:12px;color:var(--muted)}
.kpi .value{font-size:22px;font-weight:650;letter-spacing:-.01em;font-variant-numeric:tabular-nums;white-space:nowrap}
.kpi .extra{font-size:12px;color:var(--muted)}
.kpi.wide{grid-column:span 2}
.dq{display:grid;grid-template-columns:1fr 1fr 1fr;gap:16px}
.dq ol,.dq ul{margin:4px 0 0;padding-left:20px;font-size:13px}
.bad{color:#b91c1c}.ok{color:#15803d}
.chart{display:block;width:100%;height:auto;max-width:100%}
.chart text{font-family:inherit;fill:var(--ink)}
.chart .tick{font-size:12px;fill:#334155}
.chart .share{fill:#0f172a}
.chart .legend{font-size:12px;fill:#334155}
.chart .axis-title{font-size:12px;font-weight:600;fill:#334155}
.chart .cell{font-size:12px;font-variant-numeric:tabular-nums}
.chart .muted,.muted{fill:var(--muted);color:var(--muted)}
.chart .point-label{font-size:11.5px;fill:#1e293b;paint-order:stroke;stroke:#fff;stroke-width:3px}
.chart .grid{stroke:#e2e8f0;stroke-width:1}
.chart .axis{stroke:#94a3b8;stroke-width:1}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-size:12px;color:#334155;background:#f8fafc;position:sticky;top:0;vertical-align:bottom;white-space:normal}
td.t,th.t{text-align:left}
td.name{max-width:220px;overflow:hidden;text-overflow:ellipsis}
td .id{color:var(--muted);font-size:11.5px}
td.bar{position:relative;min-width:120px}
td.bar span.b{position:absolute;left:0;top:6px;bottom:6px;background:#dbeafe;border-radius:2px;z-index:0}
td.bar span.v{position:relative;z-index:1}
.role{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px;vertical-align:middle}
.scroll{overflow-x:auto}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:24px}
@media print{body{background:#fff;font-size:12px}main{max-width:none;padding:0}section,.kpi{border-color:#cbd5e1}
 th{position:static}.scroll{overflow:visible}}
"""

# Measures what the browser actually laid out, so a headless --dump-dom can see it.
SCRIPT = """
(function(){function m(){document.querySelectorAll('svg[data-chart]').forEach(function(s){
var r=s.getBoundingClientRect();s.setAttribute('data-rendered-width',Math.round(r.width));
s.setAttribute('data-rendered-height',Math.round(r.height));var n=0;
s.querySelectorAll('.mark').forEach(function(e){var b=e.getBBox();if(b.width>0||b.height>0)n++;});
s.setAttribute('data-rendered-marks',n);});document.body.setAttribute('data-page-height',document.documentElement.scrollHeight);
document.body.setAttribute('data-measured','1');}
if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded',m);}else{m();}})();
"""


def _kpi(key: str, label: str, value: object, shown: str, extra: str = "", wide: bool = False) -> str:
    raw = "" if value is None else (value.isoformat() if isinstance(value, date) else str(value))
    return (f'<div class="kpi{" wide" if wide else ""}" data-kpi="{esc(key)}" data-value="{esc(raw)}">'
            f'<div class="label">{esc(label)}</div><div class="value">{esc(shown)}</div>'
            f'{f"<div class=extra>{esc(extra)}</div>" if extra else ""}</div>')


def _headline_html(h: dict) -> str:
    period = f"{h['first_date']} – {h['last_date']}" if h["first_date"] else DASH
    public = None if h["private_share"] is None else 1 - h["private_share"]
    organic = None if h["paid_share"] is None else 1 - h["paid_share"]
    net_share = _ratio(h["net_gmv"], h["gmv"])
    cards = [
        _kpi("period", "统计区间 Period (order dates)", period, period, f"{h['days']} days · 数据截至 horizon {h['horizon'] or DASH}", wide=True),
        _kpi("gmv", "成交额 GMV", h["gmv"], fmt_money(h["gmv"]), f"{h['orders']:,} orders 订单"),
        _kpi("net_gmv", "退款后成交额 Net GMV", h["net_gmv"], fmt_money(h["net_gmv"]), f"{fmt_pct(net_share)} of GMV kept after refunds"),
        _kpi("private_share", "私域占比 Private share", h["private_share"], fmt_pct(h["private_share"]), f"公域 public {fmt_pct(public)}"),
        _kpi("paid_share", "付费占比 Paid share", h["paid_share"], fmt_pct(h["paid_share"]), f"自然 organic {fmt_pct(organic)}"),
        _kpi("new_buyers", "新买家 New buyers", h["new_buyers"], fmt_int(h["new_buyers"]), "first order at the brand (T0)"),
        _kpi("returning_buyers", "老买家 Returning buyers", h["returning_buyers"], fmt_int(h["returning_buyers"]),
             "buyer-days at an account, summed"),
        _kpi("repurchase_rate_30d", "30天复购率 30-day repurchase", h["repurchase_rate_30d"], fmt_pct(h["repurchase_rate_30d"]),
             f"latest complete cohort {h['cohort_month']:%Y-%m}" if h["cohort_month"] else "no cohort with a complete window yet"),
        _kpi("cohort_month", "最新完整新客群组 Latest complete cohort", h["cohort_month"],
             f"{h['cohort_month']:%Y-%m}" if h["cohort_month"] else DASH, "30-day window closed by the horizon"),
    ]
    return f'<div class="kpis">{"".join(cards)}</div>'


def _short_runs(run_ids) -> str:
    """Run ids cut to 8 characters: one run, or a build's two (ingest + transform)."""
    return " + ".join(r[:8] for r in str(run_ids).split(" + "))


def _dq_html(h: dict) -> str:
    read = _kpi("rows_read", "读取行数 Rows read", h["rows_read"], fmt_int(h["rows_read"]),
                f"{fmt_int(h['files'])} files 文件" if h["files"] is not None else "audit.ingested_files missing")
    rejected = _kpi("rows_rejected", "拒收行数 Rows rejected", h["rows_rejected"], fmt_int(h["rows_rejected"]),
                    f"{fmt_pct(h['reject_share'], 2)} of rows read, quarantined in audit.rejected_rows")
    if h["checks_total"] is not None:
        ok = h["checks_passed"] == h["checks_total"]
        warned = h.get("checks_warned")
        if warned is not None:  # Dagster checks: warned ones are not failures
            failed_n = h["checks_total"] - h["checks_passed"] - warned
            status = f"{warned:,} warned 警告 · {failed_n:,} failed 失败"
        else:
            status = "all passed 全部通过" if ok else "some failed 有失败"
        checks = _kpi("checks_passed", "质量检查通过 Checks passed", h["checks_passed"],
                      f"{h['checks_passed']:,} / {h['checks_total']:,}",
                      f"run {_short_runs(h['dq_run_id'])} · " + status)
    else:
        checks = _kpi("checks_passed", "质量检查通过 Checks passed", None, DASH, "no audit.dq_results in this warehouse")
    reasons = "".join(f"<li>{esc(r)} <b>{n:,}</b></li>" for r, n in h["top_reasons"]) or "<li class=muted>none 无</li>"
    failed = "".join(f'<li><span class="{"bad" if s == "error" else ""}">{esc(s)}</span> {esc(e)}</li>'
                     for s, e in h["checks_failed"]) or '<li class="ok">none 无</li>'
    published = (f"Published {esc(str(h['published_at'])[:19])}, run {esc(str(h['published_run_id'] or DASH)[:8])}. "
                 if h["published_at"] else "")
    return (f'<section id="data-quality"><h2>数据质量 Data quality <small>latest published run</small></h2>'
            f'<p class="note">{published}Rows read/rejected cover every file the warehouse holds (a re-ingested file '
            f'replaces its earlier counts); checks are the asset checks of the published build (audit.check_results; '
            f'before it existed, the expectations of the latest run in audit.dq_results), counted as the CLI and the Dagster UI count them.</p>'
            f'<div class="kpis" style="margin-top:0">{read}{rejected}{checks}</div>'
            f'<div class="dq" style="margin-top:12px"><div><b>拒收原因 Top rejection reasons</b><ol>{reasons}</ol></div>'
            f'<div><b>未通过检查 Failed checks</b><ul>{failed}</ul></div></div></section>')


def _account_table(accounts: list[dict]) -> str:
    colors = {k: c for k, _, c in ROLES}
    role_label = {k: label for k, label, _ in ROLES}
    top = max([float(a["gmv"]) for a in accounts] + [1e-9])
    rows = []
    for i, a in enumerate(accounts, 1):
        w = 100 * float(a["gmv"]) / top
        if a["account_name"]:
            name = f'{esc(a["account_name"])} <span class="id">{esc(a["account_id"])}</span>'
        else:
            name = f'{esc(a["account_id"])} <span class="id">no name 未映射</span>'
        rows.append(
            f'<tr data-account="{esc(a["account_id"])}"><td>{i}</td><td class="t name">{name}</td>'
            f'<td class="t">{esc(a["brand"])}</td>'
            f'<td class="t"><span class="role" style="background:{colors.get(a["role"], "#9ca3af")}"></span>'
            f'{esc(role_label.get(a["role"], a["role"]))}</td><td class="t">{esc(a["city"] or DASH)}</td>'
            f'<td class="bar"><span class="b" style="width:{w:.1f}%"></span><span class="v">{fmt_money(a["gmv"], 0)}</span></td>'
            f'<td>{fmt_money(a["gpm"], 0)}</td><td>{fmt_money(a["uv_value"])}</td><td>{fmt_money(a["aov"])}</td>'
            f'<td>{fmt_pct(a["refund_rate"])}</td><td>{fmt_pct(a["private_share"])}</td>'
            f'<td>{a["net_follows"]:+,}</td></tr>')
    head = ("<tr><th>#</th><th class=t>账号 Account</th><th class=t>品牌 Brand</th><th class=t>类型 Role</th>"
            "<th class=t>城市 City</th><th>成交额 GMV</th><th>GPM 千次观看成交</th><th>UV价值 UV value</th>"
            "<th>笔单价 AOV</th><th>退款率 Refund rate</th><th>私域占比 Private share</th><th>净增粉 Net follows</th></tr>")
    return f'<div class="scroll"><table id="account-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def _session_table(sessions: list[dict]) -> str:
    rows = []
    for i, s in enumerate(sessions, 1):
        parts = (s["viewers"], s["avg_watch_minutes"], s["orders_per_watch_hour"], s["aov"])
        check = (None if any(p is None for p in parts)
                 else float(parts[0]) * float(parts[1]) * float(parts[2]) / 60 * float(parts[3]))
        rows.append(
            f'<tr><td>{i}</td><td class="t">{esc(s["live_session_id"])}</td>'
            f'<td class="t name">{esc(s["account_name"] or s["account_id"])}</td><td class="t">{esc(str(s["started_at"])[:16])}</td>'
            f'<td>{fmt_num(s["duration_minutes"], 0)}</td><td>{fmt_int(s["viewers"])}</td><td>{fmt_num(s["avg_watch_minutes"], 2)}</td>'
            f'<td>{fmt_num(s["orders_per_watch_hour"], 3)}</td><td>{fmt_money(s["aov"])}</td><td>{fmt_int(s["orders"])}</td>'
            f'<td>{fmt_money(s["gmv"])}</td><td class="muted">{fmt_money(check)}</td></tr>')
    head = ("<tr><th>#</th><th class=t>场次 Session</th><th class=t>账号 Account</th><th class=t>开播 Started</th>"
            "<th>时长(分) Minutes</th><th>观看人数 Viewers</th><th>人均观看(分) Avg watch</th><th>每观看小时订单 Orders/watch-h</th>"
            "<th>笔单价 AOV</th><th>订单 Orders</th><th>成交额 GMV</th><th>乘积校验 Product check</th></tr>")
    return f'<div class="scroll"><table id="session-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def build_report(warehouse: Path, out: Path) -> ReportSummary:
    """Render the published `warehouse` (DuckDB, read-only) into one self-contained HTML file `out`."""
    warehouse, out = Path(warehouse), Path(out)
    if not warehouse.exists():
        raise FileNotFoundError(f"{warehouse}: no published warehouse (run the pipeline first)")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = table_names(con)
        h = headline_figures(con, tables)
        daily = _daily(con)
        cohorts = _cohorts(con)
        sizes, active = _retention(con)
        accounts = account_leaderboard(con)
        sessions = _sessions(con)
        fan_rows = _fan_cohorts(con, tables)
        trend = _organic_trend(con, tables)

    charts = {
        "dual-wheel": chart_dual_wheel(daily),
        "cohort-heatmap": chart_cohort_heatmap(cohorts, h["horizon"]),
        "retention-triangle": chart_retention(sizes, active, h["horizon"]),
        "account-scatter": chart_account_scatter(accounts),
        "live-sessions": chart_live_sessions(sessions),
        "fan-sources": chart_fan_sources(fan_rows),
        "organic-share": chart_organic_share(trend),
    }
    svg = {k: v[0] for k, v in charts.items()}
    generated = datetime.now().strftime("%Y-%m-%d %H:%M")
    n_brands = len({a["brand"] for a in accounts})
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dualwheel 公私域双轮报告 · Dual-wheel report {esc(h['first_date'] or '')} – {esc(h['last_date'] or '')}</title>
<style>{CSS}</style></head>
<body><main>
<header><h1>快手直播电商 公私域双轮报告 <span style="font-weight:400">· Kuaishou live-commerce dual-wheel report</span></h1>
<p class="sub">{esc(h['first_date'] or DASH)} – {esc(h['last_date'] or DASH)} · {len(accounts)} accounts 账号 · {n_brands} brands 品牌 ·
warehouse <code>{esc(warehouse.name)}</code> · generated 生成于 {generated}</p></header>
{_headline_html(h)}
{_dq_html(h)}
<section id="dual-wheel"><h2>双轮走势 Dual wheel over time <small>daily GMV by traffic domain</small></h2>
<p class="note">私域 = orders from the follow page (关注页); 公域 = everything else, with discovery (发现页) and paid promotion
(付费推广/磁力金牛, hatched) split out. The bold line is the private share of the last 7 days, the dotted one the day's own (right axis). Hover a bar for exact figures.</p>
{svg['dual-wheel']}</section>
<section id="cohorts"><h2>新客复购 Cohort repurchase <small>first-time buyers (T0) by month and first-order domain</small></h2>
<p class="note">Rate = buyers with another order of the brand within N days of T0 ÷ cohort buyers, all brands together.
Hatched cells with * are windows that had not closed by the data horizon {esc(h['horizon'] or DASH)}.</p>
{svg['cohort-heatmap']}
<h2 style="margin-top:18px">月度留存 Monthly retention <small>active buyers ÷ cohort buyers</small></h2>
{svg['retention-triangle']}</section>
<section id="accounts"><h2>账号矩阵 Account matrix <small>period totals, ranked by GMV; ratios recomputed from sums, – = no denominator</small></h2>
{svg['account-scatter']}
{_account_table(accounts)}</section>
<section id="live"><h2>直播场次 Live sessions <small>top {len(sessions)} by GMV</small></h2>
<p class="note">GMV = viewers 观看人数 × avg watch minutes 人均观看时长 × orders per watch hour 每观看小时订单 ÷ 60 × AOV 笔单价.
The last column multiplies the factors back as a check.</p>
{svg['live-sessions']}
{_session_table(sessions)}</section>
<section id="fan-value"><h2>粉丝价值 Fan value <small>which traffic brings fans that buy again (fct_fan_cohort)</small></h2>
<p class="note">A fan start is a user's first follow of any account of the brand; its traffic source is the acquisition
source. The table covers follow months whose 30-day window closed by the horizon {esc(h['horizon'] or DASH)} (* in the
chart = still open); rates are recomputed from the summed counts, all brands together.</p>
{svg['fan-sources']}
{_fan_table(fan_value_by_source(fan_rows))}
<h2 style="margin-top:18px">自然流量占比 Natural-traffic share <small>per account: paid pushes and the organic viewers they leave behind</small></h2>
<p class="note">自然流量占比 = live viewers not bought with promotion ÷ all live viewers (7-day); bars = follows won through
paid promotion (付费涨粉). A brand whose paid push turns buyers into fans sees the natural share climb afterwards
(one brand went from 14% to 36% in ten days).</p>
{svg['organic-share']}</section>
<footer>dualwheel · figures from marts.* and audit.* of the published warehouse · ratios are NULL (–) where the denominator is 0</footer>
</main><script>{SCRIPT}</script></body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)  # never leave a half-written report where a browser might open it
    return ReportSummary(path=out, bytes=out.stat().st_size, charts=tuple(c for c in CHARTS if charts[c][1] > 0),
                         headline=h, marks={k: v[1] for k, v in charts.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dualwheel-report", description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("report.html"))
    args = parser.parse_args(argv)
    summary = build_report(args.warehouse, args.out)
    print(f"report written: {summary.path} ({summary.bytes / 1024:.0f} KiB; charts: {', '.join(summary.charts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
