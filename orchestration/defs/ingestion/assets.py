"""Ingestion assets: one per export, each a thin call into the `ingestion` library.

The three daily exports are partitioned by landing date with a single-run backfill policy, so a
backfill of 365 days is one run (one DuckDB connection, one dbt invocation) instead of 365.
Each carries two blocking checks, evaluated in the same step so that nothing downstream (dbt,
publishing) runs when either fails:
- `<export>_pass_great_expectations`: the GX suite of the export on every batch loaded this run;
- `<export>_reject_share_within_threshold`: no landing date rejects more than the allowed share.
"""


import os
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

import dagster as dg

from ingestion import gates, quality  # quality imports GX only when a batch is validated
from ingestion.errors import FilesRejected
from ingestion.load import discover, ensure_schema, ingest_files, ingest_roster
from orchestration.defs.resources import EngineResource, WarehouseResource
from orchestration.metadata import table_metadata
from orchestration.partitions import landing_date_partitions
from orchestration.settings import TIMEZONE

DAILY_EXPORTS = ("orders", "follows", "live_traffic")
OWNERS = ["team:data-engineering"]
# The nightly export of day D lands early on D+1; 36 hours past the end of the newest landing
# date means at least one nightly export is missing.
FRESHNESS_HOURS = 36

_DESCRIPTIONS = {
    "orders": "Accepted order rows (订单) of every ingested file, one row per file row; deduplicated in dbt staging.",
    "follows": "Accepted follow/unfollow events (粉丝关注) of every ingested file, one row per file row.",
    "live_traffic": "Accepted live-traffic rows (直播流量来源): one row per live session, traffic source and file row.",
    "accounts": "The account-matrix roster (账号矩阵) from the newest accounts file; one row per accepted roster row.",
}


def gx_check_name(export: str) -> str:
    return f"{export}_pass_great_expectations"


def reject_check_name(export: str) -> str:
    return f"{export}_reject_share_within_threshold"


def _ingest_metadata(results) -> dict:
    statuses = Counter(r.status for r in results)
    return {
        "files_loaded": statuses.get("loaded", 0),
        "files_replaced": statuses.get("replaced", 0),
        "files_unchanged": statuses.get("unchanged", 0),
        "rows_read": sum(r.rows_read for r in results if r.status != "unchanged"),
        "rows_accepted": sum(r.rows_accepted for r in results if r.status != "unchanged"),
        "rows_rejected": sum(r.rows_rejected for r in results if r.status != "unchanged"),
    }


def _table_metadata(con, export: str) -> dict:
    # Reasons carry the offending value ("gmv: not a money amount ('12.3.4')"); group by the rule.
    top = con.execute(
        r"""select regexp_replace(reason, '\s*\(.*\)\s*$', '') kind, count(*) n
            from (select unnest(reasons) reason from audit.rejected_rows where export = ?)
            group by 1 order by n desc, kind limit 5""", [export]).fetchall()
    rejected = con.execute("select count(*) from audit.rejected_rows where export = ?", [export]).fetchall()[0][0]
    # For the daily exports table_metadata's date_range is the landing-date range (_landing_date is
    # their only DATE column); for the roster it is the opened_on range.
    meta = {**table_metadata(con, export), "rejected_rows": int(rejected)}
    if top:
        meta["top_reject_reasons"] = dg.MetadataValue.md("\n".join(f"- {kind} ×{n}" for kind, n in top))
    return meta


class GreatExpectationsOnLoad:
    """`on_batch` hook of the loader: runs the export's GX suite on every chunk of accepted rows it
    validates (~1M rows, see ingestion.load.CHUNK_ROWS) just before writing it, while the loader's
    reader thread validates the next chunk. Checking the frames already in memory replaced reading each
    batch back from DuckDB after loading (0.3 s per 1.4M order rows, plus the wait)."""

    def __init__(self) -> None:
        self.results: list = []
        # `dualwheel build` starts GX in a background process before loading Dagster (its import
        # then costs this run nothing); elsewhere (UI, daemon) GX is imported in this process at
        # the first batch (10–20 s), and only when there is data to check.
        self._remote = quality.background_process()

    def __call__(self, export: str, accepted) -> None:
        if self._remote is not None:
            self._remote.submit(export, accepted)
        else:
            self.results.extend(quality.validate_batch(export, accepted))

    def finish(self, con, changed: list, run_id: str):
        """Store the results; returns the blocking failures and the number of expectations evaluated."""
        if self._remote is not None:
            self.results.extend(self._remote.results())
        if not self.results:
            return [], 0
        quality.store_results(con, run_id, self.results)
        failures = quality.blocking_failures(self.results)
        # A file that failed a blocking expectation is validated again next run even if it has not
        # changed (its verdict is 'failed', see gates.record_verdicts), or the bad rows would slip
        # through on a retry.
        return failures, len(self.results)


def _gate_results(con, export: str, warehouse: WarehouseResource, changed: list,
                  gx: GreatExpectationsOnLoad, run_id: str) -> list[dg.AssetCheckResult]:
    failures, evaluated = gx.finish(con, changed, run_id)
    gx_result = dg.AssetCheckResult(
        check_name=gx_check_name(export), passed=not failures, severity=dg.AssetCheckSeverity.ERROR,
        description=("; ".join(f"{f.expectation} ({f.column_name or 'table'}): observed {f.observed_value}"
                               for f in failures[:5]) or None),
        metadata={"expectations_evaluated": evaluated, "failed_expectations": len(failures),
                  "files_validated": len(changed)})
    violations = gates.reject_share_violations(con, export, warehouse.max_reject_share)
    # The files of this run are 'pending' until here; only 'passed' ones are skipped by later runs.
    gates.record_verdicts(con, passed=[r.path for r in changed],
                          failed=([r.path for r in changed] if failures else []) + [f for v in violations for f in v.files])
    worst = max((v.share for v in violations), default=None)
    reject = dg.AssetCheckResult(
        check_name=reject_check_name(export), passed=not violations, severity=dg.AssetCheckSeverity.ERROR,
        description=("\n".join(v.describe(warehouse.max_reject_share) for v in violations[:10]) or None),
        metadata={"max_reject_share": warehouse.max_reject_share,
                  "landing_dates_over_threshold": len(violations),
                  "worst_reject_share": worst if worst is not None else 0.0})
    return [gx_result, reject]


def _gate_specs(export: str) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey(["raw", export])
    return [
        dg.AssetCheckSpec(gx_check_name(export), asset=key, blocking=True,
                          description=f"Every {export} batch ingested this run passes its Great Expectations suite "
                                      "(error-severity expectations block the run)."),
        dg.AssetCheckSpec(reject_check_name(export), asset=key, blocking=True,
                          description=f"No landing date rejects more than the allowed share of {export} rows "
                                      "(--max-reject-share / DUALWHEEL_MAX_REJECT_SHARE, default 5%)."),
    ]


def _progress(warehouse: WarehouseResource, total: int, label: str):
    if not warehouse.show_progress:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="file", leave=False)
    return bar, (lambda *_args: bar.update(1))


def build_daily_export_asset(export: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", export],
        partitions_def=landing_date_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="ingestion",
        kinds={"polars", "duckdb"},
        owners=OWNERS,
        description=_DESCRIPTIONS[export],
        check_specs=_gate_specs(export),
    )
    def _daily_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      engine: EngineResource) -> Iterator:
        landing = discover(warehouse.landing_path)
        wanted = set(context.partition_keys)
        dates = [d for d in landing.dates if d.isoformat() in wanted]
        # All the run's dates in one call: the loader validates and writes ~1M-row chunks across
        # files and dates instead of one small batch per file.
        jobs = [(path, export) for d in dates for path in landing.dates[d].get(export, ())]
        if engine.is_spark:  # the same files, parsed on Spark executors (orchestration/engines)
            from orchestration.engines import dagster_spark

            yield from dagster_spark.ingest_export(context, warehouse, engine, export, jobs,
                                                   gx_check=gx_check_name(export),
                                                   reject_check=reject_check_name(export))
            return
        bar, tick = _progress(warehouse, len(jobs), f"ingest {export}")
        gx = GreatExpectationsOnLoad()
        try:
            with warehouse.connect() as con:
                # Every file is attempted, so one run names every bad file.
                results, rejected_files = ingest_files(con, jobs, warehouse.landing_path,
                                                       progress=tick, on_batch=gx, awaiting_gates=True)
                if rejected_files:
                    raise FilesRejected(rejected_files)
                changed = [r for r in results if r.status != "unchanged"]
                checks = _gate_results(con, export, warehouse, changed, gx, context.run.run_id or uuid.uuid4().hex)
                table_meta = _table_metadata(con, export)
        finally:
            if bar is not None:
                bar.close()
        if not dates:
            context.log.warning(f"no {export} files under {warehouse.landing_path} for partitions "
                                f"{min(wanted)} .. {max(wanted)}")
        yield dg.MaterializeResult(metadata={**_ingest_metadata(results), **table_meta,
                                             "landing_dates_in_run": len(dates)})
        yield from checks

    return _daily_export


orders = build_daily_export_asset("orders")
follows = build_daily_export_asset("follows")
live_traffic = build_daily_export_asset("live_traffic")


@dg.asset(
    key=["raw", "accounts"],
    group_name="ingestion",
    kinds={"polars", "duckdb"},
    owners=OWNERS,
    description=_DESCRIPTIONS["accounts"],
    check_specs=[dg.AssetCheckSpec(gx_check_name("accounts"), asset=dg.AssetKey(["raw", "accounts"]),
                                   blocking=True, description="The roster passes its Great Expectations suite.")],
)
def accounts(context: dg.AssetExecutionContext, warehouse: WarehouseResource, engine: EngineResource) -> Iterator:
    if engine.is_spark:
        from ingestion.readers import find_roster_files
        from orchestration.engines import dagster_spark

        roster = find_roster_files(warehouse.landing_path)[-1:]
        yield from dagster_spark.ingest_export(context, warehouse, engine, "accounts",
                                               [(p, "accounts") for p in roster],
                                               gx_check=gx_check_name("accounts"), reject_check=None)
        return
    with warehouse.connect() as con:
        ensure_schema(con)
        gx = GreatExpectationsOnLoad()
        result = ingest_roster(con, warehouse.landing_path, on_batch=gx, awaiting_gates=True)
        if result is None:
            context.log.warning(f"no accounts roster under {warehouse.landing_path}: every account will be (unmapped)")
        changed = [result] if result is not None and result.status != "unchanged" else []
        failures, evaluated = gx.finish(con, changed, context.run.run_id)
        gates.record_verdicts(con, **{"failed" if failures else "passed": [r.path for r in changed]})
        meta = _table_metadata(con, "accounts")
    yield dg.MaterializeResult(metadata={**_ingest_metadata([result] if result else []), **meta})
    yield dg.AssetCheckResult(
        check_name=gx_check_name("accounts"), passed=not failures, severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f"{f.expectation}: observed {f.observed_value}" for f in failures[:5]) or None,
        metadata={"expectations_evaluated": evaluated, "failed_expectations": len(failures)})


# When freshness is judged (ISO date-time, Asia/Shanghai); unset means now. `dualwheel demo` sets
# it to the morning after its newest simulated landing date, because simulated exports end on a
# fixed past date and "now" would make every demo end with a freshness warning.
AS_OF_ENV = "DUALWHEEL_AS_OF"


def freshness_now() -> tuple[datetime, str | None]:
    """The moment freshness is judged at, and the override it came from (None: the clock)."""
    as_of = os.environ.get(AS_OF_ENV, "").strip()
    if as_of:
        try:
            return datetime.fromisoformat(as_of).replace(tzinfo=None), as_of
        except ValueError:
            raise ValueError(f"{AS_OF_ENV}={as_of!r} is not an ISO date-time (e.g. 2026-06-30T02:30)") from None
    return datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None), None


@dg.asset_check(asset=dg.AssetKey(["raw", "orders"]), blocking=False,
                description=f"A new landing date arrived within {FRESHNESS_HOURS} hours (warn only).")
def landing_is_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    landing = discover(warehouse.landing_path)
    newest = max(landing.dates, default=None)
    now, as_of = freshness_now()
    if newest is None:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description=f"no landing-date folder under {warehouse.landing_path}")
    # Day D's data is complete at the end of D (local time).
    age_hours = (now - datetime.combine(newest + timedelta(days=1), datetime.min.time())).total_seconds() / 3600
    return dg.AssetCheckResult(
        passed=age_hours <= FRESHNESS_HOURS, severity=dg.AssetCheckSeverity.WARN,
        description=None if age_hours <= FRESHNESS_HOURS else
        f"newest landing date {newest} is {age_hours:.0f} h old (> {FRESHNESS_HOURS} h): is the nightly export missing?",
        metadata={"newest_landing_date": newest.isoformat(), "hours_since_newest_landing_date": round(age_hours, 1),
                  "judged_at": now.isoformat(timespec="minutes") + (f" ({AS_OF_ENV})" if as_of else " (now)")})
