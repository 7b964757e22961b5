"""Tests of the export simulator (simulator/exports.py): layout, contract conformance of the clean
output, dual-wheel shape (private share, T30, 616), messy features, determinism."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from simulator.exports import (
    ACTION_ZH, ACTIONS, COLUMNS, EXPORTS, HEADERS_ZH, INVALID_KINDS, ROLES, SOURCE_ZH, SOURCES,
    STATUS_ZH, STATUSES, generate,
)

TS_RE = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
MONEY_RE = r"^\d+\.\d{2}$"
PII_HEADERS = {"receiver_name", "receiver_phone", "receiver_address", "收货人", "手机号", "联系电话",
               "收货地址"}


def _read_export(root: Path, export: str) -> pl.DataFrame:
    """All clean files of one export as strings, with the landing day."""
    return pl.concat([
        pl.read_csv(f, infer_schema=False).with_columns(pl.lit(f.parent.name).alias("_day"))
        for f in sorted(root.glob(f"*/{export}*.csv"))])


def _ts(col: str) -> pl.Expr:
    return pl.col(col).str.strptime(pl.Datetime, "%Y-%m-%d %H:%M:%S", strict=True)


def _counted_orders(root: Path) -> pl.DataFrame:
    """Contract section 4: dedupe by latest updated_at (ties: later landing day), then counted."""
    orders = _read_export(root, "orders").with_columns(
        _ts("paid_at"), _ts("updated_at"), pl.col("gmv").cast(pl.Float64))
    roster = pl.read_csv(root / "accounts.csv", infer_schema=False)
    return (orders.sort("updated_at", "_day").group_by("order_id").last()
            .filter((pl.col("status") != "cancelled") & pl.col("paid_at").is_not_null())
            .join(roster.select("account_id", "brand"), on="account_id", how="left"))


def _private_share(counted: pl.DataFrame) -> float:
    return counted.filter(pl.col("traffic_source") == "follow")["gmv"].sum() / counted["gmv"].sum()


def _repurchase_rate_30d(counted: pl.DataFrame) -> tuple[float, int]:
    """Buyers with another counted order of the brand within (T0, T0 + 30x24h], over buyers whose
    window ends inside the data horizon."""
    t0 = (counted.sort("paid_at", "order_id").group_by("brand", "buyer_id")
          .agg(pl.col("paid_at").first().alias("t0")))
    window = pl.duration(days=30)
    repeaters = (counted.join(t0, on=["brand", "buyer_id"])
                 .filter((pl.col("paid_at") > pl.col("t0")) & (pl.col("paid_at") <= pl.col("t0") + window))
                 .select("brand", "buyer_id").unique().with_columns(pl.lit(1).alias("rep")))
    complete = t0.filter(pl.col("t0") + window <= counted["paid_at"].max())
    rate = complete.join(repeaters, on=["brand", "buyer_id"], how="left")["rep"].fill_null(0).mean()
    return rate, complete.height


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    return root, generate(root, days=60, orders=5_000, seed=11, progress=False)


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = tmp_path_factory.mktemp("messy")
    return root, generate(root, days=40, orders=5_000, seed=11, messy=True, progress=False)


# ------------------------------------------------------------------------------------------
def test_layout_and_summary(clean):
    root, s = clean
    assert s.landing == root and s.orders == 5_000 and not s.messy
    assert s.dates == [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    assert sorted(p.name for p in root.iterdir()) == [d.isoformat() for d in s.dates] + ["accounts.csv"]
    for d in s.dates:
        assert sorted(p.name for p in (root / d.isoformat()).iterdir()) == \
            ["follows.csv", "live_traffic.csv", "orders.csv"]
    assert s.files_written == 1 + 3 * 60 and all(p.exists() for p in s.files)
    for export in EXPORTS:
        assert _read_export(root, export).height == s.rows[export] > 0
    assert s.invalid_total == 0 and s.unmapped_account_ids == []
    assert _read_export(root, "orders")["order_id"].n_unique() == 5_000
    assert s.wall_seconds > 0


def test_clean_output_follows_contract(clean):
    root, _ = clean
    for f in root.rglob("*.csv"):
        raw = f.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        raw.decode("utf-8")

    roster = pl.read_csv(root / "accounts.csv", infer_schema=False)
    assert roster.columns == list(COLUMNS["accounts"])
    assert roster["account_id"].is_unique().all()
    assert set(roster["role"]) == set(ROLES)
    assert roster["brand"].n_unique() >= 2
    assert roster.filter(pl.col("role") == "store")["city"].null_count() == 0
    assert set(roster["parent_account_id"].drop_nulls()) <= set(roster["account_id"])
    assert roster["opened_on"].str.strptime(pl.Date, "%Y-%m-%d").null_count() == 0
    known = set(roster["account_id"])

    o = _read_export(root, "orders")
    assert o.columns[:-1] == list(COLUMNS["orders"])
    assert o.select([pl.col(c).null_count() for c in
                     ("order_id", "buyer_id", "account_id", "traffic_source", "quantity", "gmv",
                      "status", "updated_at")]).sum_horizontal().item() == 0
    assert set(o["traffic_source"]) <= set(SOURCES) and set(o["status"]) <= set(STATUSES)
    assert o["gmv"].str.contains(MONEY_RE).all()
    assert o["refund_amount"].drop_nulls().str.contains(MONEY_RE).all()
    assert o["quantity"].str.contains(r"^\d+$").all() and (o["quantity"].cast(pl.Int64) >= 1).all()
    assert o["updated_at"].str.contains(TS_RE).all()
    assert o["paid_at"].drop_nulls().str.contains(TS_RE).all()
    o = o.with_columns(_ts("paid_at"), _ts("updated_at"), pl.col("gmv").cast(pl.Float64),
                       pl.col("refund_amount").cast(pl.Float64))
    assert (o["refund_amount"].fill_null(0) <= o["gmv"]).all()
    assert o.filter(pl.col("status") != "cancelled")["paid_at"].null_count() == 0
    assert o.filter(pl.col("paid_at").is_null())["status"].unique().to_list() == ["cancelled"]
    assert set(o["account_id"]) <= known
    # A first appearance is 'paid' in the paid day's folder; updates come later, in later days.
    first = o.sort("updated_at").group_by("order_id").first().filter(pl.col("paid_at").is_not_null())
    assert set(first["status"]) == {"paid"}
    assert (first["_day"] == first["paid_at"].dt.date().cast(pl.String)).all()
    assert set(o.filter(pl.col("updated_at") > pl.col("paid_at"))["status"]) >= \
        {"shipped", "completed", "refunded", "cancelled"}

    f = _read_export(root, "follows")
    assert f.columns[:-1] == list(COLUMNS["follows"])
    assert set(f["action"]) == set(ACTIONS)
    assert set(f["traffic_source"].drop_nulls()) <= set(SOURCES)
    assert f["event_id"].is_unique().all() and f["occurred_at"].str.contains(TS_RE).all()
    assert set(f["account_id"]) <= known
    assert (f["_day"] == f["occurred_at"].str.slice(0, 10)).all()

    lt = _read_export(root, "live_traffic")
    assert lt.columns[:-1] == list(COLUMNS["live_traffic"])
    assert set(lt["traffic_source"]) == set(SOURCES)
    assert lt["started_at"].str.contains(TS_RE).all()
    assert lt["ended_at"].drop_nulls().str.contains(TS_RE).all()
    assert lt["viewers"].str.contains(r"^\d+$").all() and lt["watch_seconds"].str.contains(r"^\d+$").all()
    lt = lt.with_columns(_ts("started_at"), _ts("ended_at"))
    assert lt.filter(pl.col("ended_at") < pl.col("started_at")).height == 0
    assert set(lt.group_by("live_session_id", "_day").len()["len"]) == {7}
    assert set(lt["account_id"]) <= known


def test_orders_sit_inside_their_live_session(clean):
    root, _ = clean
    o = _read_export(root, "orders").filter(pl.col("paid_at").is_not_null()) \
        .with_columns(_ts("paid_at"))
    final = (_read_export(root, "live_traffic").sort("_day")
             .group_by("live_session_id").last()
             .select("live_session_id", pl.col("account_id").alias("session_account"),
                     _ts("started_at"), _ts("ended_at")))
    in_session = o.filter(pl.col("live_session_id").is_not_null())
    assert 0.5 < in_session.height / o.height < 0.95        # most, not all (short video / shelf)
    j = in_session.join(final, on="live_session_id", how="left")
    assert j["started_at"].null_count() == 0
    assert (j["account_id"] == j["session_account"]).all()
    assert (j["paid_at"] >= j["started_at"]).all()
    assert (j.filter(pl.col("ended_at").is_not_null())
            .select((pl.col("paid_at") <= pl.col("ended_at")).all()).item())


def test_live_traffic_is_plausible(clean):
    root, _ = clean
    lt = (_read_export(root, "live_traffic").sort("_day").group_by("live_session_id", "traffic_source")
          .last().with_columns(pl.col("viewers").cast(pl.Int64), pl.col("watch_seconds").cast(pl.Int64)))
    per_source = lt.group_by("traffic_source").agg(
        (pl.col("watch_seconds").sum() / pl.col("viewers").sum() / 60).alias("minutes"))
    minutes = dict(per_source.iter_rows())
    assert 1.0 <= sum(lt["watch_seconds"]) / sum(lt["viewers"]) / 60 <= 6.0
    assert minutes["follow"] == max(minutes.values())           # fans watch longest


def test_dual_wheel_shape(clean):
    counted = _counted_orders(clean[0])
    assert 0.40 <= _private_share(counted) <= 0.55
    rate, buyers = _repurchase_rate_30d(counted)
    assert buyers > 1_000
    assert 0.20 <= rate <= 0.45
    # new buyers mostly come from the public domain: first orders are mostly not via follow
    firsts = counted.sort("paid_at").group_by("brand", "buyer_id").first()
    late = firsts.filter(pl.col("paid_at") >= pl.datetime(2026, 2, 1))   # past left-censoring
    assert (late["traffic_source"] != "follow").mean() > 0.75


def test_616_sale_spike(tmp_path):
    generate(tmp_path, days=30, orders=8_000, seed=5, start=dt.date(2026, 6, 1), progress=False)
    daily = (_counted_orders(tmp_path).group_by(pl.col("paid_at").dt.date().alias("d"), "traffic_source")
             .agg(pl.col("gmv").sum())
             .pivot(on="traffic_source", index="d", values="gmv").fill_null(0)
             .with_columns(pl.sum_horizontal(SOURCES).alias("total")).sort("d"))
    median = daily["total"].median()
    sale = daily.filter(pl.col("d") == dt.date(2026, 6, 16)).row(0, named=True)
    assert sale["total"] > 2 * median
    assert daily.filter(pl.col("d") == dt.date(2026, 6, 18))["total"].item() > 1.5 * median
    assert 0.35 <= sale["follow"] / sale["total"] <= 0.55
    public = {s: sale[s] for s in SOURCES if s != "follow"}
    assert max(public, key=public.get) == "discovery"


def test_deterministic_by_seed(tmp_path):
    def snapshot(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(tmp_path / name, days=8, orders=800, seed=seed, messy=True, progress=False)
        runs[name] = snapshot(tmp_path / name)
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_messy_renders_the_same_truth(tmp_path):
    """Messy rendering has its own random streams: the clean and messy runs of a seed hold the same
    orders (same ids, same paid_at instant) once invalid rows are left out."""
    generate(tmp_path / "c", days=6, orders=600, seed=9, progress=False)
    s = generate(tmp_path / "m", days=6, orders=600, seed=9, messy=True, progress=False)
    clean_ids = set(_read_export(tmp_path / "c", "orders")["order_id"])
    messy_ids = set()
    for f in (tmp_path / "m").glob("*/orders*"):
        df = _read_any(f)
        col = "order_id" if "order_id" in df.columns else "订单号"
        messy_ids |= {v.strip() for v in df[col].drop_nulls() if v.strip()}
    assert messy_ids == clean_ids
    assert s.rows["orders"] > _read_export(tmp_path / "c", "orders").height


def _read_any(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        df = pl.read_parquet(path)
    else:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030")
        df = pl.read_csv(text.lstrip("\ufeff").encode(), infer_schema=False)
    renamed = {c: c.strip().lower() if c.strip().lower() in HEADERS_ZH else c.strip() for c in df.columns}
    return df.rename(renamed)


def test_messy_files(messy):
    root, s = messy
    csvs = sorted(root.rglob("*.csv"))
    gbk, bom, zh_headers, pii = [], [], [], []
    for f in csvs:
        raw = f.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            gbk.append(f)
            text = raw.decode("gb18030")
        else:
            text = raw.decode("utf-8")
            if raw.startswith(b"\xef\xbb\xbf"):
                bom.append(f)
        header = {h.strip().strip('"') for h in text.lstrip("\ufeff").splitlines()[0].split(",")}
        if header & set(HEADERS_ZH.values()):
            zh_headers.append(f)
        if header & PII_HEADERS:
            pii.append(f)
    assert gbk and bom and zh_headers and pii
    assert (root / "accounts.csv") in gbk
    assert list(root.glob("*/orders.parquet"))
    assert list(root.glob("*/orders_part2.csv"))

    orders = pl.concat([_read_any(f).select(pl.all().cast(pl.String)) for f in root.glob("*/orders*")],
                       how="diagonal")
    values = set(orders["traffic_source"].drop_nulls()) | set(orders["订单状态"].drop_nulls()) \
        if "订单状态" in orders.columns else set(orders["traffic_source"].drop_nulls())
    zh_enums = {v for t in SOURCE_ZH + STATUS_ZH for v in t}
    assert values & zh_enums
    money = pl.concat([orders[c] for c in ("gmv", "实付金额") if c in orders.columns]).drop_nulls()
    assert money.str.starts_with("¥").any()
    stamps = pl.concat([orders[c] for c in ("updated_at", "更新时间") if c in orders.columns]).drop_nulls()
    for pattern in (r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$", r"T.*\+08:00$", r"Z$", r"\.\d{3}", r"\+00:00$"):
        assert stamps.str.contains(pattern).any(), pattern
    phones = pl.concat([orders[c] for c in ("receiver_phone", "手机号", "联系电话") if c in orders.columns])
    assert phones.drop_nulls().str.contains(r"^1[3-9]\d{9}$").all()
    follows = pl.concat([_read_any(f).select(pl.all().cast(pl.String)) for f in root.glob("*/follows*")],
                        how="diagonal")
    actions = set(pl.concat([follows[c] for c in ("action", "行为") if c in follows.columns]).drop_nulls())
    assert actions & {a for t in ACTION_ZH for a in t}


def test_messy_injections_are_counted(messy):
    root, s = messy
    for export in EXPORTS:
        kinds = s.invalid_by_kind[export]
        assert all(n >= 1 for n in kinds.values()), (export, kinds)
        assert 0 < s.invalid_rows[export] < 0.03 * s.rows[export]
        assert s.duplicate_rows[export] >= 1
    covered = {k for kinds in s.invalid_by_kind.values() for k in kinds}
    assert covered == set(INVALID_KINDS)
    assert s.invalid_rows["accounts"] == 1

    roster = _read_any(root / "accounts.csv")
    assert roster["账号ID"].n_unique() == roster.height - 1             # one duplicate account_id
    assert len(s.unmapped_account_ids) == 2
    missing = [a for a in s.unmapped_account_ids if a not in set(roster["账号ID"])]
    assert len(missing) == 1
    used = set()
    for f in root.glob("*/orders*"):
        df = _read_any(f)
        used |= set(df["account_id" if "account_id" in df.columns else "账号ID"].drop_nulls())
    assert missing[0] in used


def test_messy_rows_add_up(messy):
    root, s = messy
    for export in EXPORTS:
        n = sum(_read_any(f).height for f in root.glob(f"*/{export}*"))
        assert n == s.rows[export]
