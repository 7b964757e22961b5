"""Great Expectations suites for the raw exports, kept in the repo as code.

The suites run on every ingested batch of ACCEPTED rows, i.e. after row validation, so values
are already canonical (raw table DDL in docs/architecture.md). Row validation rejects each
illegal row on its own; the row-level expectations here are a second line of defence against a
regression in that validator, and the batch-level ones catch what no single row can show: an
export whose rows are each legal but whose whole is implausible (reversed timestamp pairs, a
clock bug putting data in the future, a refund storm).

Results go to ``audit.dq_results``; ``blocking_failures`` tells the orchestrator whether to stop
before publishing (severity ``error``) or only report (severity ``warn``).

Cost: ``import great_expectations`` takes seconds, so it happens lazily and once, in
``_get_runtime()``, which also builds the ephemeral context, data source, assets and suites once
per process (measured 6-10 s on 2 cores). Per batch, only the columns a suite reads are
converted to pandas. A batch then costs mostly GX's fixed Python overhead per expectation (metric
graph building, pydantic), not rows: 0.12 s for a 30k-row orders batch (22 expectations,
~0.02 s of it the pandas conversion) and 0.055 s for 5k live_traffic rows (16 expectations) on
an idle 2-core machine, about twice that when the machine is busy.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import duckdb
import polars as pl

__all__ = [
    "DQResult",
    "EXPORT_COLUMNS",
    "MAX_VALIDATED_ROWS",
    "blocking_failures",
    "store_results",
    "suite_names",
    "validate_batch",
]

ERROR = "error"
WARN = "warn"

# Canonical enum values (docs/architecture.md, "Enum values"). Spelled out here instead of
# imported from ingestion.contract on purpose: a check that reuses the validator's own constants
# cannot notice when those constants drift from the product contract.
TRAFFIC_SOURCES = ("follow", "discovery", "nearby", "search", "short_video", "paid", "other")
ORDER_STATUSES = ("paid", "shipped", "completed", "refunded", "cancelled")
ACCOUNT_ROLES = ("flagship", "store", "anchor", "distributor")
FOLLOW_ACTIONS = ("follow", "unfollow")

# Columns of each raw table without the lineage columns, which the loader adds and which may or
# may not be present yet when a batch is checked.
EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "account_name", "brand", "role", "city", "parent_account_id",
                 "opened_on"),
    "orders": ("order_id", "buyer_id", "account_id", "live_session_id", "traffic_source",
               "product_id", "category", "quantity", "gmv", "refund_amount", "status", "paid_at",
               "updated_at"),
    "follows": ("event_id", "user_id", "account_id", "action", "traffic_source",
                "live_session_id", "occurred_at"),
    "live_traffic": ("live_session_id", "account_id", "started_at", "ended_at", "traffic_source",
                     "viewers", "watch_seconds"),
}

# An export for landing day D is cut at the end of D or in the small hours of D+1, so nothing in
# it can be later than D+1. A timestamp at or beyond D+2 00:00 — a full day of slack after the
# landing day ended — is not late data but a clock or time-zone bug (a day/month swap moves data
# by weeks), and it would put orders on days that have not happened yet, so it blocks.
FUTURE_SLACK_DAYS = 2

# Average watch time per viewer (sum watch_seconds / sum viewers) at or above 4 h (14,400 s) is
# not a real audience: live-commerce sessions average minutes per viewer, and even all-day store
# streams stay far below 4 h per unique viewer. It points at watch time exported in ms or at
# truncated viewer counts; legal row by row, so only a warning.
MAX_AVG_WATCH_SECONDS_PER_VIEWER = 4 * 3600

# Batches above this many rows are validated by GX on an evenly spaced sample (deterministic, so
# a re-run gives the same results) while every row-level check (each one with a `bad`: all but
# the table-level schema, row-count, uniqueness and watch-time-sum checks) is recounted exactly
# in Polars over the whole batch, so one bad row can never hide outside the sample and no
# verdict of a row check depends on it. The loader hands GX ~1M-row chunks (ingestion.load), so
# a backfill is sampled, while a nightly's day of orders (~57k rows in the 10M re-export
# benchmark) is checked whole or nearly (every 2nd row). Per 1M-row orders chunk, GX took 0.53 s
# on a 200k sample and 0.17 s on 50k, and the 40 MB pickle sent to it 0.12 s against 0.01 s:
# the 10M build's orders step went from 38-41 s to 34-36 s (x3 each, interleaved).
MAX_VALIDATED_ROWS = 50_000

# Derived column for the watch-time check: sum(watch_seconds - 14400 * viewers) <= 0 is the same
# inequality as sum(watch_seconds) / sum(viewers) <= 4 h without dividing, so it stays defined
# for a batch with no viewers. Built during the pandas conversion.
_EXCESS_WATCH = "_excess_watch_seconds_over_4h_per_viewer"

_PARAM_LATEST = "latest_plausible_timestamp"
_SHANGHAI = timezone(timedelta(hours=8))
_EXAMPLES = 3  # unexpected values quoted in observed_value; GX lists them in row order


@dataclass(frozen=True)
class DQResult:
    """One expectation's outcome on one batch; a row of audit.dq_results minus run_id/checked_at.

    ``expectation`` is a stable name that reads as the sentence that holds when it passes.
    """

    suite: str
    expectation: str
    column_name: str | None
    severity: str
    success: bool
    observed_value: str


@dataclass(frozen=True)
class _Check:
    """One expectation: our stable name and severity plus a builder for the GX object.

    The builder receives ``great_expectations.expectations`` so that nothing from GX is imported
    until a suite is first used. ``bad``/``scope`` restate a row-level check in Polars for
    batches GX only sees a sample of: ``bad`` marks unexpected rows among the rows in ``scope``
    (defaults to rows where ``column`` is set, which is what GX's map expectations count).
    """

    name: str
    severity: str
    column: str | None
    reads: tuple[str, ...]
    build: Callable[[Any], Any]
    bad: Callable[[dict[str, Any]], pl.Expr] | None = None
    scope: Callable[[], pl.Expr] | None = None
    mostly: float = 1.0
    share_label: str | None = None  # for share checks: what the unexpected rows are
    max_vs_latest: bool = False  # column max compared with the latest plausible timestamp


# --------------------------------------------------------------------------- suite definitions


def _schema(export: str) -> _Check:
    cols = list(EXPORT_COLUMNS[export])
    # A missing column means the reader/validator contract broke and dbt would read NULLs (or
    # fail). exact_match=False: lineage columns (_source_file, ...) may ride along.
    return _Check(
        f"{export}_has_all_contract_columns", ERROR, None, (),
        lambda gxe: gxe.ExpectTableColumnsToMatchSet(column_set=cols, exact_match=False),
    )


def _not_empty(export: str) -> _Check:
    # An empty accepted batch is legal (a quiet day, or every row quarantined, which the reject
    # share gate reports on its own) but worth a look, so it warns and never blocks.
    return _Check(
        f"{export}_batch_is_not_empty", WARN, None, (),
        lambda gxe: gxe.ExpectTableRowCountToBeBetween(min_value=1),
    )


def _not_null(export: str, col: str) -> _Check:
    # Required by the contract and NOT NULL in the raw DDL: a null would fail the load or drop
    # the row out of every join on it.
    return _Check(
        f"{export}_{col}_is_not_null", ERROR, col, (col,),
        lambda gxe: gxe.ExpectColumnValuesToNotBeNull(column=col),
        bad=lambda p: pl.col(col).is_null(), scope=lambda: pl.lit(True),
    )


def _in_set(export: str, col: str, values: Sequence[str]) -> _Check:
    # Marts branch on these exact lower-case English values (domain, is_paid, counted orders);
    # any other spelling would silently fall out of every CASE.
    vals = list(values)
    return _Check(
        f"{export}_{col}_is_canonical", ERROR, col, (col,),
        lambda gxe: gxe.ExpectColumnValuesToBeInSet(column=col, value_set=vals),
        bad=lambda p: ~pl.col(col).is_in(vals),
    )


def _at_least(export: str, col: str, minimum: int, name: str) -> _Check:
    return _Check(
        f"{export}_{col}_{name}", ERROR, col, (col,),
        lambda gxe: gxe.ExpectColumnValuesToBeBetween(column=col, min_value=minimum),
        bad=lambda p: pl.col(col) < minimum,
    )


def _a_not_less_than_b(name: str, a: str, b: str, mostly: float = 1.0) -> _Check:
    """a >= b on rows where both are set, for at least ``mostly`` of those rows."""
    def build(gxe: Any) -> Any:
        kwargs: dict[str, Any] = {"mostly": mostly} if mostly < 1.0 else {}
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing",
            **kwargs,
        )

    return _Check(
        name, ERROR, a, (a, b), build,
        bad=lambda p: pl.col(a) < pl.col(b),
        scope=lambda: pl.col(a).is_not_null() & pl.col(b).is_not_null(),
        mostly=mostly,
    )


def _not_in_future(export: str, col: str) -> _Check:
    # See FUTURE_SLACK_DAYS. The bound depends on the batch's landing date, hence a suite
    # parameter. Checked on the column max: 2 ms per 30k rows, where the per-row
    # ExpectColumnValuesToBeBetween on datetimes costs ~100 ms. GX fails a max on an empty batch
    # or an all-empty optional column (every session still live) because the max is NaT;
    # validate_batch reads that as a pass, since no timestamp means none in the future.
    return _Check(
        f"{export}_{col}_not_after_landing_date_plus_{FUTURE_SLACK_DAYS}_days", ERROR, col, (col,),
        lambda gxe: gxe.ExpectColumnMaxToBeBetween(
            column=col, max_value={"$PARAMETER": _PARAM_LATEST}
        ),
        bad=lambda p: pl.col(col) > p[_PARAM_LATEST],
        max_vs_latest=True,
    )


def _share_at_most_half(export: str, col: str, value: str, why_name: str) -> _Check:
    # "value" rows must be at most 50% of the batch: GX's mostly=0.5 on NOT in {value}; the
    # exact recount of a sampled batch reads the same `mostly`.
    mostly = 0.5
    return _Check(
        f"{export}_{why_name}", WARN, col, (col,),
        lambda gxe: gxe.ExpectColumnValuesToNotBeInSet(column=col, value_set=[value],
                                                       mostly=mostly),
        bad=lambda p: pl.col(col) == value,
        mostly=mostly,
        share_label=f"{col} = {value}",
    )


def _define_suites() -> dict[str, list[_Check]]:
    accounts = [
        _schema("accounts"),
        _not_empty("accounts"),
        *(_not_null("accounts", c) for c in ("account_id", "account_name", "brand", "role")),
        _in_set("accounts", "role", ACCOUNT_ROLES),
        # The roster keeps the first row of a repeated account_id, so a duplicate silently
        # drops the other row's brand/role. Legal per contract, hence warn; usually a paste slip.
        _Check(
            "accounts_account_id_is_unique", WARN, "account_id", ("account_id",),
            lambda gxe: gxe.ExpectColumnValuesToBeUnique(column="account_id"),
        ),
    ]

    orders = [
        _schema("orders"),
        _not_empty("orders"),
        *(_not_null("orders", c) for c in ("order_id", "buyer_id", "account_id", "traffic_source",
                                           "quantity", "gmv", "refund_amount", "status",
                                           "updated_at")),
        # paid_at may be empty only for a cancelled order; a counted order without it would
        # vanish from every daily mart (order_date = date of paid_at).
        _Check(
            "orders_paid_at_is_set_unless_cancelled", ERROR, "paid_at", ("paid_at", "status"),
            lambda gxe: gxe.ExpectColumnValuesToNotBeNull(
                column="paid_at", row_condition=_gx_column("status") != "cancelled"
            ),
            bad=lambda p: pl.col("paid_at").is_null(),
            scope=lambda: pl.col("status") != "cancelled",
        ),
        _in_set("orders", "traffic_source", TRAFFIC_SOURCES),
        _in_set("orders", "status", ORDER_STATUSES),
        # Contract: quantity >= 1 — an order line of zero items is not an order.
        _at_least("orders", "quantity", 1, "is_at_least_1"),
        # Contract: money >= 0; a negative amount would turn net_gmv and every share upside down.
        _at_least("orders", "gmv", 0, "is_not_negative"),
        _at_least("orders", "refund_amount", 0, "is_not_negative"),
        # Contract: refund_amount <= gmv — nobody is refunded more than they paid.
        _a_not_less_than_b("orders_refund_at_most_gmv", "gmv", "refund_amount"),
        # An order is updated at or after it is paid. Row validation does not compare the two,
        # and one reversed row is a tolerable back-dated manual correction; but when more than
        # 1% of a batch (at 27k orders/day, > ~270 rows) has updated_at < paid_at, the export
        # swapped the columns or shifted one by a time-zone bug. That also breaks dedupe
        # (latest updated_at wins), so it blocks.
        _a_not_less_than_b("orders_updated_at_not_before_paid_at_for_99pct_of_orders",
                           "updated_at", "paid_at", mostly=0.99),
        _not_in_future("orders", "paid_at"),
        _not_in_future("orders", "updated_at"),
        # Live-commerce refund rates run ~10-30% of orders; more than 50% refunded in one export
        # is possible (a recall, a failed promotion) but more often a mis-mapped status column
        # (e.g. 退款中 "refund pending" mapped to refunded). Warn only.
        _share_at_most_half("orders", "status", "refunded", "refunded_share_at_most_50pct"),
    ]

    follows = [
        _schema("follows"),
        _not_empty("follows"),
        *(_not_null("follows", c) for c in ("event_id", "user_id", "account_id", "action",
                                            "traffic_source", "occurred_at")),
        _in_set("follows", "action", FOLLOW_ACTIONS),
        _in_set("follows", "traffic_source", TRAFFIC_SOURCES),
        _not_in_future("follows", "occurred_at"),
        # Follows feed the private-domain wheel and normally far outnumber unfollows; a batch of
        # more than 50% unfollows usually means 关注/取关 were mapped the wrong way round. A real
        # backlash day is possible, so warn only.
        _share_at_most_half("follows", "action", "unfollow", "unfollow_share_at_most_50pct"),
    ]

    live_traffic = [
        _schema("live_traffic"),
        _not_empty("live_traffic"),
        *(_not_null("live_traffic", c) for c in ("live_session_id", "account_id", "started_at",
                                                 "traffic_source", "viewers", "watch_seconds")),
        _in_set("live_traffic", "traffic_source", TRAFFIC_SOURCES),
        # Contract: head counts and seconds cannot be negative.
        _at_least("live_traffic", "viewers", 0, "is_not_negative"),
        _at_least("live_traffic", "watch_seconds", 0, "is_not_negative"),
        # Contract: a session ends at or after it starts (no ended_at = still live, skipped);
        # otherwise duration_minutes and live_minutes go negative.
        _a_not_less_than_b("live_traffic_ended_at_not_before_started_at",
                           "ended_at", "started_at"),
        _not_in_future("live_traffic", "started_at"),
        _not_in_future("live_traffic", "ended_at"),
        # See MAX_AVG_WATCH_SECONDS_PER_VIEWER and _EXCESS_WATCH.
        _Check(
            "live_traffic_avg_watch_per_viewer_at_most_4h", WARN, "watch_seconds",
            ("watch_seconds", "viewers"),
            lambda gxe: gxe.ExpectColumnSumToBeBetween(column=_EXCESS_WATCH, max_value=0),
        ),
    ]
    return {"accounts": accounts, "orders": orders, "follows": follows,
            "live_traffic": live_traffic}


def _gx_column(name: str) -> Any:
    from great_expectations.expectations.row_conditions import Column

    return Column(name)


_SUITES: dict[str, list[_Check]] = _define_suites()


def suite_names() -> list[str]:
    return list(_SUITES)


# --------------------------------------------------------------------------- GX runtime (cached)


@dataclass
class _CompiledSuite:
    batch_definition: Any
    suite: Any
    by_id: dict[str, _Check]  # GX expectation id -> our check
    columns: tuple[str, ...]  # batch columns converted to pandas


_runtime_lock = threading.Lock()
_runtime: dict[str, _CompiledSuite] | None = None


def _get_runtime() -> dict[str, _CompiledSuite]:
    """Import GX and build the ephemeral context with every suite, once per process."""
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            return _runtime
        # GX imports pyspark when it is installed (the Spark engine's pin), and pyspark warns on
        # pandas 3 at import: noise in every DuckDB build's output (pandas 3.1 works for what GX
        # and the Spark engine use; the tests run both).
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)
        # pyspark.sql.connect (imported by GX when pyspark is installed) takes a __main__ with
        # neither __spec__ nor __file__ (a spawned child of `python -m pytest`, Dagster's run
        # worker processes) for a doctest run and calls sys.exit(0): the GX process and every
        # UI-launched run ended silently. A name for __main__ keeps pyspark out of that path.
        main = sys.modules.get("__main__")
        if main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
            main.__file__ = "<dualwheel>"
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.expectations.metadata_types import FailureSeverity

        # GX logs its ephemeral docs-site temp dir at INFO through a handler of its own; noise in a run.
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        context = gx.get_context(mode="ephemeral")
        # tqdm bars on stderr for every batch would bury the run log.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas(name="dualwheel_batches")
        compiled: dict[str, _CompiledSuite] = {}
        for export, checks in _SUITES.items():
            batch_def = source.add_dataframe_asset(name=export) \
                .add_batch_definition_whole_dataframe(f"{export}_batch")
            suite = context.suites.add(gx.ExpectationSuite(name=export))
            by_id: dict[str, _Check] = {}
            for check in checks:
                exp = check.build(gxe)
                exp.severity = (FailureSeverity.CRITICAL if check.severity == ERROR
                                else FailureSeverity.WARNING)
                exp.meta = {"dualwheel_check": check.name}
                exp = suite.add_expectation(exp)
                by_id[str(exp.id)] = check
            compiled[export] = _CompiledSuite(batch_def, suite, by_id, _suite_columns(export))
        _runtime = compiled
        return _runtime


def _suite_columns(export: str) -> tuple[str, ...]:
    """The batch columns an export's suite reads. The schema check needs every contract column's
    name, so those are included too (~6 ms per 30k orders for the three otherwise unread text
    columns in the pandas conversion)."""
    return tuple(dict.fromkeys([*EXPORT_COLUMNS[export], *(c for k in _SUITES[export] for c in k.reads)]))


def _run_suite(compiled: _CompiledSuite, pdf: Any, params: dict[str, Any]) -> Any:
    # GX's own v1 Validator, i.e. ValidationDefinition.run() minus storing every result in the
    # context's in-memory results store: that store grows ~18 KB per run (≈26 MB over the
    # ~1,460 batches of the yearly benchmark) and serialising into it is ~10% of the run time.
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(batch_definition=compiled.batch_definition, result_format="BASIC",
                          batch_parameters={"dataframe": pdf})
    return validator.validate_expectation_suite(compiled.suite, params)


# --------------------------------------------------------------------------- validation


def _latest_plausible(df: pl.DataFrame, landing_date: date | None) -> datetime:
    """The latest timestamp a batch may hold (see FUTURE_SLACK_DAYS).

    Without an explicit landing date, the batch's own ``_landing_date`` lineage column stands
    in; failing that (the roster, ad-hoc calls), today's Asia/Shanghai date: nothing can be later
    than now plus the slack.
    """
    if landing_date is None and "_landing_date" in df.columns and df.height:
        landing_date = df.get_column("_landing_date").max()  # type: ignore[assignment]
    if landing_date is None:
        landing_date = datetime.now(_SHANGHAI).date()
    return datetime.combine(landing_date + timedelta(days=FUTURE_SLACK_DAYS), time.min)


def _to_pandas(df: pl.DataFrame, columns: Iterable[str]) -> Any:
    """The suite's columns only, in dtypes GX handles fast.

    Decimal(18,2) would arrive in pandas as an object column of Python Decimals that GX compares
    one by one. Float64 is exact enough for every check here: rounding is monotonic and distinct
    2-decimal amounts below 10^13 stay distinct doubles, so ``>= 0`` and ``refund <= gmv`` give
    the same answers as on the decimals.
    """
    present = [c for c in columns if c in df.columns]
    frame = df.select(
        pl.col(c).cast(pl.Float64) if isinstance(df.schema[c], pl.Decimal) else pl.col(c)
        for c in present
    )
    if {"watch_seconds", "viewers"} <= set(present):
        frame = frame.with_columns(
            (pl.col("watch_seconds").cast(pl.Int64)
             - MAX_AVG_WATCH_SECONDS_PER_VIEWER * pl.col("viewers").cast(pl.Int64))
            .alias(_EXCESS_WATCH)
        )
    pdf = frame.to_pandas()
    if not present:
        # A frame with no contract column still has rows; keep the count for the row checks.
        import pandas as pd

        pdf = pd.DataFrame(index=pd.RangeIndex(df.height))
    return pdf


def _is_missing(v: Any) -> bool:
    # None, NaN and pandas' NaT (NaT != NaT, like NaN)
    return v is None or v != v


def _fmt(v: Any) -> str:
    if isinstance(v, (tuple, list)):  # column-pair examples
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    if _is_missing(v):
        return "null"
    if hasattr(v, "item") and not isinstance(v, (datetime, date)):
        v = v.item()  # numpy scalar -> Python (np.datetime64[us] -> datetime)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, datetime):  # also pandas.Timestamp
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _exception_message(res: Any) -> str | None:
    """GX catches metric errors per expectation; the message sits at top level or per metric."""
    info = res.exception_info or {}
    candidates = [info, *(v for v in info.values() if isinstance(v, dict))]
    for c in candidates:
        if c.get("raised_exception") or c.get("exception_message"):
            return str(c.get("exception_message") or "")
    return None


def _observed(export: str, check: _Check, res: Any, df: pl.DataFrame,
              params: dict[str, Any]) -> str:
    """A short, deterministic, human-readable account of what was seen."""
    result = res.result or {}
    if check.name.endswith("_has_all_contract_columns"):
        missing = [c for c in EXPORT_COLUMNS[export] if c not in df.columns]
        if missing:
            return "missing columns: " + ", ".join(missing)
        return f"all {len(EXPORT_COLUMNS[export])} contract columns present"
    missing_cols = [c for c in check.reads if c not in df.columns]
    if missing_cols:
        return "not evaluated: missing column(s) " + ", ".join(missing_cols)
    error = _exception_message(res)
    if error is not None:
        return f"not evaluated: {error.splitlines()[0][:300] if error else 'exception'}"
    if check.name.endswith("_batch_is_not_empty"):
        return f"{df.height} rows"
    if check.name == "live_traffic_avg_watch_per_viewer_at_most_4h":
        viewers = int(df.get_column("viewers").sum() or 0)
        watch = int(df.get_column("watch_seconds").sum() or 0)
        avg = f"{watch / viewers:.1f} s" if viewers else "n/a (0 viewers)"
        return (f"avg watch per viewer {avg} (sum watch_seconds {watch}, sum viewers {viewers}; "
                f"limit {MAX_AVG_WATCH_SECONDS_PER_VIEWER} s)")
    if "unexpected_count" in result:
        checked = (result.get("element_count") or 0) - (result.get("missing_count") or 0)
        bad = result.get("unexpected_count") or 0
        text = _counted(check, bad, checked)
        if check.share_label:
            return text
        if check.mostly < 1.0:
            text += f"; tolerated {100 * (1 - check.mostly):.0f}%"
        examples = (result.get("partial_unexpected_list") or [])[:_EXAMPLES]
        if bad and examples:
            text += "; e.g. " + ", ".join(_fmt(e) for e in examples)
        return text
    if check.max_vs_latest:
        latest = result.get("observed_value")
        return f"latest {_fmt(latest)}; limit {_fmt(params[_PARAM_LATEST])}"
    if "observed_value" in result:
        return _fmt(result["observed_value"])
    return "n/a"


def _counted(check: _Check, bad: int, checked: int) -> str:
    """How many rows a row-level check found unexpected, worded alike by GX and the exact recount."""
    pct = 100.0 * bad / checked if checked else 0.0
    if check.share_label:
        return f"{check.share_label} in {bad} of {checked} rows ({pct:.2f}%; limit 50%)"
    return f"{bad} of {checked} rows unexpected ({pct:.2f}%)"


def _sample(df: pl.DataFrame, limit: int) -> pl.DataFrame:
    # Evenly spaced rows, not random: the same batch always yields the same results.
    return df.gather_every(math.ceil(df.height / limit))


def _exact(checks: Sequence[_Check], df: pl.DataFrame,
           params: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    """Recount the row-level checks over the whole batch in Polars (used when GX saw a sample):
    check name -> (success, observed). One pass over the batch for all of them: one query per
    check cost 0.06-0.10 s per 1M-row orders chunk, in the loading process."""
    exact = [c for c in checks if c.bad is not None and all(r in df.columns for r in c.reads)]
    if not exact:
        return {}
    counts = []
    for i, check in enumerate(exact):
        scope = (check.scope() if check.scope is not None
                 else pl.col(check.column).is_not_null()).fill_null(False)
        counts += [scope.sum().alias(f"checked{i}"),
                   (scope & check.bad(params).fill_null(False)).sum().alias(f"bad{i}")]
    row = df.lazy().select(counts).collect().row(0)
    out = {}
    for i, check in enumerate(exact):
        checked, bad = int(row[2 * i]), int(row[2 * i + 1])
        success = checked == 0 or (checked - bad) / checked >= check.mostly
        out[check.name] = (success, f"{_counted(check, bad, checked)} [exact, whole batch]")
    return out


@dataclass(frozen=True)
class PreparedBatch:
    """A batch made ready for GX without importing it: what GX will see and what it will not.

    ``batch`` is the whole batch, or its evenly spaced sample above MAX_VALIDATED_ROWS, cut to the
    columns the suite reads; ``exact`` holds the row-level checks recounted over the whole batch
    (sampled batches only). Small enough to send to the background process: a 1M-row chunk of a
    backfill travels as its 50k-row sample, not as 1M rows.
    """

    export: str
    batch: pl.DataFrame
    rows: int
    sampled: bool
    params: dict[str, Any]
    exact: dict[str, tuple[bool, str]]


def prepare_batch(export: str, df: pl.DataFrame, *, landing_date: date | None = None) -> PreparedBatch:
    if export not in _SUITES:
        raise ValueError(f"no data-quality suite for export {export!r}; known: {suite_names()}")
    checks = _SUITES[export]
    sampled = df.height > MAX_VALIDATED_ROWS
    batch = _sample(df, MAX_VALIDATED_ROWS) if sampled else df
    params = {_PARAM_LATEST: _latest_plausible(df, landing_date)}
    exact = _exact(checks, df, params) if sampled else {}
    return PreparedBatch(export, batch.select(c for c in _suite_columns(export) if c in batch.columns),
                         df.height, sampled, params, exact)


def validate_batch(export: str, df: pl.DataFrame, *,
                   landing_date: date | None = None) -> list[DQResult]:
    """Run the export's suite over a batch of accepted rows: one result per expectation.

    Results come in the suite's definition order and carry no timestamps, so the same batch
    always gives the same list. Batches above MAX_VALIDATED_ROWS are sampled (see there).
    """
    return validate_prepared(prepare_batch(export, df, landing_date=landing_date))


def validate_prepared(prepared: PreparedBatch) -> list[DQResult]:
    """validate_batch's GX half (prepare_batch is the other)."""
    export, batch, params = prepared.export, prepared.batch, prepared.params
    compiled = _get_runtime()[export]
    suite_result = _run_suite(compiled, _to_pandas(batch, compiled.columns), params)

    by_name = {}
    for res in suite_result.results:
        check = compiled.by_id.get(str(res.expectation_config.id))
        if check is not None:
            by_name[check.name] = res

    out: list[DQResult] = []
    for check in _SUITES[export]:
        res = by_name.get(check.name)
        if res is None:  # never expected; surface it rather than drop a check silently
            out.append(DQResult(export, check.name, check.column, check.severity, False,
                                "not evaluated: no result from Great Expectations"))
            continue
        success = bool(res.success)
        if check.max_vs_latest and not success and _is_missing((res.result or {}).get("observed_value")) \
                and check.column in batch.columns and _exception_message(res) is None:
            success = True  # no timestamp at all, so none from the future (see _not_in_future)
        observed = _observed(export, check, res, batch, params)
        if prepared.sampled:
            exact = prepared.exact.get(check.name)
            if exact is not None:
                success, observed = exact
            elif check.name.endswith("_batch_is_not_empty"):
                observed = f"{prepared.rows} rows"
            elif check.reads:
                observed += f" [GX on an evenly spaced sample of {batch.height} of {prepared.rows} rows]"
        out.append(DQResult(export, check.name, check.column, check.severity, success, observed))
    return out


# --------------------------------------------------------------------------- background process
#
# `import great_expectations` costs ~6 s of one core (scipy, pandas, altair ...), ~15 % of a
# 10M-order nightly refresh, and Python imports hold the GIL, so a thread cannot hide it. A
# command that knows it will validate (`dualwheel build` with pending files) calls
# start_background_process() first: a spawned process imports GX on the other core while this
# one imports Dagster, then validates the batches sent to it, in order, while this process goes
# on loading. Without it (the Dagster UI, the daemon, a library caller) everything stays
# in-process, as before.


#: Batches handed to the background process and not yet answered; submit() waits beyond this so
#: that a loader faster than GX cannot pile up pickled ~1M-row batches in memory.
_MAX_PENDING = 2


def _serve(inbox, outbox, parent: int, started=None) -> None:
    """The background process: build the runtime, then answer (export, frame) with results.

    Exits when told to (None) or when its parent is gone: a parent killed mid-run (SIGKILL, OOM)
    cannot send None, and the queue never reports end-of-file because this process holds a copy
    of its writing end too.
    """
    # `parent` comes from the parent itself: read here, it could already be init's pid if the
    # parent died while this process was still starting.
    if started is not None:  # the queues' semaphores are open here: the parent may unlink their names
        with contextlib.suppress(OSError):
            started.send(True)
            started.close()
    # GX treats pyspark and SQLAlchemy as optional (great_expectations/compatibility) but imports
    # them when they are installed, as here for the Spark engine and for Dagster. This process
    # validates pandas batches only; without them it is ready in 2.7 s instead of 3.2 s (one
    # core, quiet), and a nightly run's first ingestion step waits for it.
    for optional in ("pyspark", "py4j", "sqlalchemy"):
        sys.modules.setdefault(optional, None)
    _get_runtime()
    while True:
        try:
            message = inbox.get(timeout=2.0)
        except queue.Empty:
            if os.getppid() != parent:
                return
            continue
        if message is None:
            # Every result is in the outbox's pipe once its feeder thread is joined. Then exit
            # without the interpreter's teardown, which freed GX's modules and objects for ~1 s
            # while the build waited in close() (10M-order nightly, py-spy); multiprocessing's
            # own exit handlers still run (they unlink the semaphore tqdm made here: skipped,
            # the resource tracker printed a "leaked semaphore" warning after the run's last line).
            outbox.close()
            outbox.join_thread()
            from multiprocessing import util

            util._exit_function()
            os._exit(0)
        if isinstance(message, str):  # the parent could not prepare this batch: keep its place
            outbox.put(("error", message))
            continue
        try:
            outbox.put(("ok", validate_prepared(message)))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            outbox.put(("error", f"{type(exc).__name__}: {exc}"))


class BackgroundValidator:
    """Great Expectations in a separate process; results come back in submission order.

    submit() returns at once: multiprocessing queues pickle and send from a feeder thread, so
    the loader goes on writing while the batch travels and is validated. Used from one thread: the
    loader calls its on_batch hook on the writing thread only.
    """

    def __init__(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # never fork a process holding DuckDB/threads
        self._inbox = ctx.Queue()
        self._outbox = ctx.Queue()
        # A pipe, not a queue: it has no named semaphore of its own (see _release_semaphores).
        started_r, started_w = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_serve, args=(self._inbox, self._outbox, os.getpid(), started_w),
                                    name="dualwheel-gx", daemon=True)
        # Started with SIGINT ignored (inherited through exec): a Ctrl-C at the terminal reaches the
        # whole process group, and this process, busy importing GX, printed ~60 lines of
        # KeyboardInterrupt traceback. The parent stops it (close(), or it sees the parent gone).
        import signal

        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
        try:
            self._process.start()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        started_w.close()
        self._pending = 0
        self._received: list[list[DQResult]] = []
        threading.Thread(target=self._release_once_started, args=(started_r,), name="dualwheel-gx-started",
                         daemon=True).start()

    def _release_once_started(self, started) -> None:
        # Once the process has opened the queues' semaphores their names are no longer needed;
        # unlinking them then means a parent killed with SIGKILL (which runs no clean-up) leaves
        # nothing for the resource tracker to report as "leaked" after the run's last line.
        with contextlib.suppress(EOFError, OSError):
            if started.poll(120) and started.recv():
                _release_semaphores(self._inbox, self._outbox)
        started.close()

    def _take(self) -> None:
        while True:
            try:
                kind, payload = self._outbox.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError("the Great Expectations process exited unexpectedly "
                                       f"(exit code {self._process.exitcode})") from None
        self._pending -= 1
        if kind == "error":
            raise RuntimeError(f"Great Expectations failed: {payload}")
        self._received.append(payload)

    def submit(self, export: str, df: pl.DataFrame) -> None:
        """Prepared here (sampled, exact recounts: Polars), validated there (GX)."""
        try:
            message: PreparedBatch | str = prepare_batch(export, df)
        except Exception as exc:  # noqa: BLE001 - raised by results(), in this batch's place
            message = f"{type(exc).__name__}: {exc}"
        while self._pending >= _MAX_PENDING:
            self._take()
        self._inbox.put(message)
        self._pending += 1

    def results(self) -> list[DQResult]:
        """Every result submitted so far (waits for the outstanding batches), in order."""
        while self._pending:
            self._take()
        out = [r for batch in self._received for r in batch]
        self._received.clear()
        return out

    def close(self, *, wait: bool = True) -> None:
        """Stop the process: politely (it finishes its batch), or at once with wait=False (an
        interrupted run: it may still be importing GX, which takes 10-20 s)."""
        if wait:
            with contextlib.suppress(OSError, ValueError):
                self._inbox.put(None)
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        for q in (self._inbox, self._outbox):
            q.cancel_join_thread()  # never hang at exit on a batch nobody will read
            q.close()
        _release_semaphores(self._inbox, self._outbox)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _release_semaphores(*queues) -> None:
    """Unlink the queues' named semaphores now that both processes are done with them.

    multiprocessing unlinks them only when the queues are garbage-collected or at interpreter
    exit; the CLI ends with os._exit (no teardown) and a failed run keeps the queues referenced
    from its traceback, so its resource tracker found them "leaked" and printed a warning after
    the run's last line. Running each semaphore's own finalizer unlinks it exactly once.
    """
    from multiprocessing import util

    locks = [lock for q in queues for lock in (q._rlock, q._wlock, q._sem) if lock is not None]
    for finalizer in list(util._finalizer_registry.values()):
        target = finalizer._weakref() if finalizer._weakref is not None else None
        if any(target is lock for lock in locks):
            finalizer()


_background: BackgroundValidator | None = None


def start_background_process() -> BackgroundValidator:
    """Start importing GX in a background process now (idempotent); see the comment above."""
    global _background
    if _background is None:
        _background = BackgroundValidator()
    return _background


def background_process() -> BackgroundValidator | None:
    """The process started by start_background_process(), if any."""
    return _background


def stop_background_process(*, wait: bool = True) -> None:
    global _background
    if _background is not None:
        background, _background = _background, None
        background.close(wait=wait)


def blocking_failures(results: Iterable[DQResult]) -> list[DQResult]:
    return [r for r in results if not r.success and r.severity == ERROR]


# --------------------------------------------------------------------------- audit table

_DQ_DDL = """
create table if not exists audit.dq_results (run_id varchar, suite varchar, expectation varchar,
  column_name varchar, severity varchar, success boolean, observed_value varchar,
  checked_at timestamp)
"""


def store_results(con: duckdb.DuckDBPyConnection, run_id: str,
                  results: list[DQResult]) -> None:
    """Append results to audit.dq_results, creating it per docs/architecture.md if missing.

    checked_at is naive Asia/Shanghai wall-clock time like every timestamp in the warehouse; one
    call's rows share it so a batch's results group cleanly.
    """
    con.execute("create schema if not exists audit")
    con.execute(_DQ_DDL)
    if not results:
        return
    checked_at = datetime.now(_SHANGHAI).replace(tzinfo=None)
    rows = [(run_id, r.suite, r.expectation, r.column_name, r.severity, r.success,
             r.observed_value, checked_at) for r in results]
    con.executemany("insert into audit.dq_results values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
