"""An independent, plain-Python reading of the contract (sections 3, 4 and 6), computed over the
same raw rows the dbt project reads. Tests compare every mart row against it.

Deliberately written without SQL and without looking at the models, so a shared mistake is
unlikely.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

UNMAPPED = "(unmapped)"
ZERO = Decimal("0.00")
DAY = dt.timedelta(days=1)


def _ratio(num, den):
    return None if not den else float(num) / float(den)


def _dedupe(rows, key, order, pick_max):
    """One row per key: the max (or min) by the ordering tuple."""
    groups = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    pick = max if pick_max else min
    return [pick(g, key=order) for g in groups.values()]


def build(accounts_raw, orders_raw, follows_raw, live_raw):
    # --- staging -------------------------------------------------------------------------
    acc_cols = ["account_id", "account_name", "brand", "role", "city", "parent_account_id", "opened_on",
                "_source_file", "_landing_date", "_row_number"]
    accounts = [dict(zip(acc_cols, r)) for r in accounts_raw]
    roster = {}
    for a in sorted(accounts, key=lambda a: a["_row_number"]):
        roster.setdefault(a["account_id"], a)

    ord_cols = ["order_id", "buyer_id", "account_id", "live_session_id", "traffic_source", "product_id",
                "category", "quantity", "gmv", "refund_amount", "status", "paid_at", "updated_at",
                "_source_file", "_landing_date", "_row_number"]
    orders = _dedupe(
        [dict(zip(ord_cols, r)) for r in orders_raw],
        key=lambda o: o["order_id"],
        order=lambda o: (o["updated_at"], o["_landing_date"], o["_source_file"], o["_row_number"]),
        pick_max=True,
    )
    fol_cols = ["event_id", "user_id", "account_id", "action", "traffic_source", "live_session_id",
                "occurred_at", "_source_file", "_landing_date", "_row_number"]
    follows = _dedupe(
        [dict(zip(fol_cols, r)) for r in follows_raw],
        key=lambda f: f["event_id"],
        order=lambda f: (f["_landing_date"], f["_source_file"], f["_row_number"]),
        pick_max=False,
    )
    live_cols = ["live_session_id", "account_id", "started_at", "ended_at", "traffic_source", "viewers",
                 "watch_seconds", "_source_file", "_landing_date", "_row_number"]
    live_order = lambda r: (r["_landing_date"], r["_source_file"], r["_row_number"])  # noqa: E731
    live = _dedupe(
        [dict(zip(live_cols, r)) for r in live_raw],
        key=lambda r: (r["live_session_id"], r["traffic_source"]),
        order=live_order,
        pick_max=True,
    )

    def brand_of(account_id):
        return roster[account_id]["brand"] if account_id in roster else UNMAPPED

    # --- counted orders ------------------------------------------------------------------
    counted = []
    for o in orders:
        if o["status"] == "cancelled" or o["paid_at"] is None:
            continue
        o = dict(o)
        o["brand"] = brand_of(o["account_id"])
        o["domain"] = "private" if o["traffic_source"] == "follow" else "public"
        o["is_paid"] = o["traffic_source"] == "paid"
        o["order_date"] = o["paid_at"].date()
        o["order_month"] = o["order_date"].replace(day=1)
        counted.append(o)

    # --- T0 per (brand, buyer) -----------------------------------------------------------
    t0 = {}
    for o in sorted(counted, key=lambda o: (o["paid_at"], o["order_id"])):
        t0.setdefault((o["brand"], o["buyer_id"]), o)
    t0_ids = {o["order_id"] for o in t0.values()}

    marts = {}

    # --- fct_gmv_by_source_daily ---------------------------------------------------------
    g = defaultdict(list)
    for o in counted:
        g[(o["order_date"], o["account_id"], o["traffic_source"])].append(o)
    marts["fct_gmv_by_source_daily"] = {
        k: dict(
            domain=os_[0]["domain"], is_paid=os_[0]["is_paid"], orders=len(os_),
            buyers=len({o["buyer_id"] for o in os_}),
            gmv=sum((o["gmv"] for o in os_), ZERO),
            refund_amount=sum((o["refund_amount"] for o in os_), ZERO),
            net_gmv=sum((o["gmv"] - o["refund_amount"] for o in os_), ZERO),
        )
        for k, os_ in g.items()
    }

    # --- fct_dual_wheel_daily ------------------------------------------------------------
    g = defaultdict(list)
    for o in counted:
        g[(o["order_date"], o["account_id"])].append(o)
    dw = {}
    for k, os_ in g.items():
        gmv = sum((o["gmv"] for o in os_), ZERO)
        priv = sum((o["gmv"] for o in os_ if o["domain"] == "private"), ZERO)
        pub = sum((o["gmv"] for o in os_ if o["domain"] == "public"), ZERO)
        paid = sum((o["gmv"] for o in os_ if o["domain"] == "public" and o["is_paid"]), ZERO)
        buyers = {o["buyer_id"] for o in os_}
        new = {o["buyer_id"] for o in os_ if o["order_id"] in t0_ids}
        dw[k] = dict(
            brand=os_[0]["brand"], orders=len(os_), buyers=len(buyers), new_buyers=len(new),
            returning_buyers=len(buyers) - len(new), gmv=gmv,
            refund_amount=sum((o["refund_amount"] for o in os_), ZERO),
            net_gmv=sum((o["gmv"] - o["refund_amount"] for o in os_), ZERO),
            gmv_private=priv, gmv_public=pub, gmv_public_paid=paid, gmv_public_organic=pub - paid,
            private_share=_ratio(priv, gmv), organic_share=_ratio(gmv - paid, gmv),
        )
    marts["fct_dual_wheel_daily"] = dw

    # --- cohorts -------------------------------------------------------------------------
    horizon = max(o["order_date"] for o in counted)
    first_follow = {}
    for f in follows:
        if f["action"] != "follow":
            continue
        k = (brand_of(f["account_id"]), f["user_id"])
        first_follow[k] = min(first_follow.get(k, f["occurred_at"]), f["occurred_at"])

    def last_day_of_month(m):
        nxt = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return nxt - DAY

    cohorts = defaultdict(list)
    for (brand, buyer), first in t0.items():
        cohorts[(brand, first["order_month"], first["domain"])].append((buyer, first))
    rep = {}
    for (brand, month, domain), members in cohorts.items():
        row = dict(cohort_buyers=len(members), t0_gmv=ZERO, fans_by_t30=0, repurchasers_30d=0,
                   repurchasers_60d=0, repurchasers_90d=0, repurchase_orders_30d=0,
                   repurchase_gmv_30d=ZERO, repurchase_gmv_30d_private=ZERO)
        for buyer, first in members:
            t = first["paid_at"]
            row["t0_gmv"] += first["gmv"]
            ff = first_follow.get((brand, buyer))
            if ff is not None and ff <= t + 30 * DAY:
                row["fans_by_t30"] += 1
            later = [o for o in counted if o["brand"] == brand and o["buyer_id"] == buyer and o["paid_at"] > t]
            for n in (30, 60, 90):
                within = [o for o in later if o["paid_at"] <= t + n * DAY]
                if within:
                    row[f"repurchasers_{n}d"] += 1
                if n == 30:
                    row["repurchase_orders_30d"] += len(within)
                    row["repurchase_gmv_30d"] += sum((o["gmv"] for o in within), ZERO)
                    row["repurchase_gmv_30d_private"] += sum(
                        (o["gmv"] for o in within if o["domain"] == "private"), ZERO)
        row["repurchase_rate_30d"] = _ratio(row["repurchasers_30d"], row["cohort_buyers"])
        row["repurchase_rate_90d"] = _ratio(row["repurchasers_90d"], row["cohort_buyers"])
        row["window_30d_complete"] = last_day_of_month(month) + 30 * DAY <= horizon
        rep[(brand, month, domain)] = row
    marts["fct_cohort_repurchase"] = rep

    ret = defaultdict(lambda: dict(buyers=set(), orders=0, gmv=ZERO))
    for o in counted:
        first = t0[(o["brand"], o["buyer_id"])]
        cm, om = first["order_month"], o["order_month"]
        months = (om.year - cm.year) * 12 + (om.month - cm.month)
        r = ret[(o["brand"], cm, months)]
        r["buyers"].add(o["buyer_id"])
        r["orders"] += 1
        r["gmv"] += o["gmv"]
    marts["fct_cohort_retention_monthly"] = {
        k: dict(active_buyers=len(v["buyers"]), orders=v["orders"], gmv=v["gmv"]) for k, v in ret.items()
    }

    # --- live sessions -------------------------------------------------------------------
    sessions = {}
    for sid in {r["live_session_id"] for r in live}:
        rows = [r for r in live if r["live_session_id"] == sid]
        head = max(rows, key=live_order)
        viewers = sum(r["viewers"] for r in rows)
        watch = sum(r["watch_seconds"] for r in rows) / 60.0
        sess_orders = [o for o in counted if o["live_session_id"] == sid]
        gmv = sum((o["gmv"] for o in sess_orders), ZERO)
        n = len(sess_orders)
        buyers = len({o["buyer_id"] for o in sess_orders})
        paid_v = sum(r["viewers"] for r in rows if r["traffic_source"] == "paid")
        sessions[sid] = dict(
            account_id=head["account_id"], brand=brand_of(head["account_id"]),
            started_at=head["started_at"], ended_at=head["ended_at"],
            duration_minutes=None if head["ended_at"] is None
            else (head["ended_at"] - head["started_at"]).total_seconds() / 60.0,
            viewers=viewers,
            viewers_private=sum(r["viewers"] for r in rows if r["traffic_source"] == "follow"),
            viewers_paid=paid_v, watch_minutes=watch, orders=n, buyers=buyers, gmv=gmv,
            gmv_private=sum((o["gmv"] for o in sess_orders if o["domain"] == "private"), ZERO),
            avg_watch_minutes=_ratio(watch, viewers), orders_per_watch_hour=_ratio(n * 60, watch),
            aov=_ratio(gmv, n), gmv_per_buyer=_ratio(gmv, buyers), uv_value=_ratio(gmv, viewers),
            gpm=_ratio(gmv * 1000, viewers), organic_viewer_share=_ratio(viewers - paid_v, viewers),
        )
    marts["fct_live_session"] = {(k,): v for k, v in sessions.items()}

    # --- dim_accounts --------------------------------------------------------------------
    seen = {o["account_id"] for o in counted} | {f["account_id"] for f in follows} | {
        s["account_id"] for s in sessions.values()}
    dim = {}
    for a in roster.values():
        dim[(a["account_id"],)] = {c: a[c] for c in acc_cols[1:7]}
    for acc in seen - set(roster):
        dim[(acc,)] = dict(account_name=None, brand=UNMAPPED, role=UNMAPPED, city=None,
                           parent_account_id=None, opened_on=None)
    marts["dim_accounts"] = dim

    # --- fct_account_matrix_daily --------------------------------------------------------
    days = defaultdict(lambda: dict(live_sessions=0, live_minutes=0.0, viewers=0, watch_minutes=0.0,
                                    orders=[], new_follows=0, unfollows=0, viewers_paid=0,
                                    new_follows_paid=0))
    for s in sessions.values():
        r = days[(s["started_at"].date(), s["account_id"])]
        r["live_sessions"] += 1
        r["live_minutes"] += s["duration_minutes"] or 0.0
        r["viewers"] += s["viewers"]
        r["watch_minutes"] += s["watch_minutes"]
        r["viewers_paid"] += s["viewers_paid"]
    for o in counted:
        days[(o["order_date"], o["account_id"])]["orders"].append(o)
    for f in follows:
        r = days[(f["occurred_at"].date(), f["account_id"])]
        r["new_follows" if f["action"] == "follow" else "unfollows"] += 1
        if f["action"] == "follow" and f["traffic_source"] == "paid":
            r["new_follows_paid"] += 1
    brand_gmv = defaultdict(lambda: ZERO)
    for (day, acc), r in days.items():
        brand_gmv[(day, dim[(acc,)]["brand"])] += sum((o["gmv"] for o in r["orders"]), ZERO)
    matrix = {}
    for (day, acc), r in days.items():
        a = dim[(acc,)]
        os_ = r["orders"]
        gmv = sum((o["gmv"] for o in os_), ZERO)
        refund = sum((o["refund_amount"] for o in os_), ZERO)
        buyers = len({o["buyer_id"] for o in os_})
        matrix[(day, acc)] = dict(
            account_name=a["account_name"], brand=a["brand"], role=a["role"], city=a["city"],
            live_sessions=r["live_sessions"], live_minutes=r["live_minutes"], viewers=r["viewers"],
            watch_minutes=r["watch_minutes"], orders=len(os_), buyers=buyers, gmv=gmv,
            refund_amount=refund,
            gmv_private=sum((o["gmv"] for o in os_ if o["domain"] == "private"), ZERO),
            new_follows=r["new_follows"], unfollows=r["unfollows"],
            net_follows=r["new_follows"] - r["unfollows"],
            gpm=_ratio(gmv * 1000, r["viewers"]), uv_value=_ratio(gmv, r["viewers"]),
            aov=_ratio(gmv, len(os_)), gmv_per_buyer=_ratio(gmv, buyers),
            refund_rate=_ratio(refund, gmv), brand_gmv_share=_ratio(gmv, brand_gmv[(day, a["brand"])]),
            viewers_paid=r["viewers_paid"],
            organic_viewer_share=_ratio(r["viewers"] - r["viewers_paid"], r["viewers"]),
            new_follows_paid=r["new_follows_paid"],
        )
    marts["fct_account_matrix_daily"] = matrix

    # --- fct_fan_cohort ------------------------------------------------------------------
    # Fan start per (brand, user): the earliest follow, ties to the smallest event_id.
    starts = {}
    for f in sorted(follows, key=lambda f: (f["occurred_at"], f["event_id"])):
        if f["action"] == "follow":
            starts.setdefault((brand_of(f["account_id"]), f["user_id"]), f)
    fan = defaultdict(lambda: dict(new_fans=0, fans_bought_before=0, fans_buying_30d=0, fan_orders_30d=0,
                                   fan_gmv_30d=ZERO, fan_gmv_30d_private=ZERO, fan_gmv_90d=ZERO,
                                   unfollowed_30d=0))
    for (brand, user), f in starts.items():
        start = f["occurred_at"]
        key = (brand, start.date().replace(day=1), f["traffic_source"] or "other")
        row = fan[key]
        row["new_fans"] += 1
        mine = [o for o in counted if o["brand"] == brand and o["buyer_id"] == user]
        if any(o["paid_at"] <= start for o in mine):
            row["fans_bought_before"] += 1
        in30 = [o for o in mine if start < o["paid_at"] <= start + 30 * DAY]
        row["fans_buying_30d"] += bool(in30)
        row["fan_orders_30d"] += len(in30)
        row["fan_gmv_30d"] += sum((o["gmv"] for o in in30), ZERO)
        row["fan_gmv_30d_private"] += sum((o["gmv"] for o in in30 if o["traffic_source"] == "follow"), ZERO)
        row["fan_gmv_90d"] += sum((o["gmv"] for o in mine if start < o["paid_at"] <= start + 90 * DAY), ZERO)
        row["unfollowed_30d"] += any(
            u["action"] == "unfollow" and u["user_id"] == user and u["account_id"] == f["account_id"]
            and start < u["occurred_at"] <= start + 30 * DAY for u in follows)
    for (brand, month, source), row in fan.items():
        row["purchase_rate_30d"] = _ratio(row["fans_buying_30d"], row["new_fans"])
        row["unfollow_rate_30d"] = _ratio(row["unfollowed_30d"], row["new_fans"])
        row["gmv_per_fan_30d"] = _ratio(row["fan_gmv_30d"], row["new_fans"])
        row["private_share_30d"] = _ratio(row["fan_gmv_30d_private"], row["fan_gmv_30d"])
        row["window_30d_complete"] = last_day_of_month(month) + 30 * DAY <= horizon
        row["window_90d_complete"] = last_day_of_month(month) + 90 * DAY <= horizon
    marts["fct_fan_cohort"] = dict(fan)
    return marts
