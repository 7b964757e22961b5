"""The published warehouse: the file BI reads, replaced atomically once every blocking check passed."""


from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from ingestion.gates import unverified_files
from orchestration.defs.resources import EngineResource, WarehouseResource
from warehouse.publish import publish


def _require_gate_verdicts(warehouse: WarehouseResource) -> None:
    """Publish only rows whose files passed their gates: a run interrupted after loading (or one
    whose gate failed) leaves files without a passing verdict, and a transform run started on its
    own (UI, CLI) must not carry them to BI; the next ingestion run re-checks them."""
    with warehouse.connect(read_only=True) as con:
        pending = unverified_files(con)
    if pending:
        def describe(path: str, verdict: str) -> str:
            if (warehouse.landing_path / path).exists():
                return f"{path} ({verdict})"
            return f"{path} ({verdict}; deleted from the landing folder: `dualwheel forget {path}` removes its rows)"

        names = "; ".join(describe(*p) for p in pending[:5]) + (" …" if len(pending) > 5 else "")
        raise RuntimeError(f"{len(pending)} landing file(s) have no passing gate verdict: {names}; "
                           "their dates must pass ingestion first (`dualwheel build` re-checks them)")

MARTS = ("fct_gmv_by_source_daily", "fct_dual_wheel_daily", "fct_cohort_repurchase",
         "fct_cohort_retention_monthly", "fct_account_matrix_daily", "fct_live_session", "dim_accounts",
         "fct_fan_cohort")


# `dualwheel build` runs ingest_job, then transform_job tagged with the ingestion run's id: one
# build, two runs, one count of checks.
INGEST_RUN_TAG = "dualwheel/ingest_run_id"


def record_check_results(context: dg.AssetExecutionContext, con) -> dict[str, int]:
    """Store every asset check evaluated by this build in audit.check_results (published with
    the marts), so the report counts exactly what the CLI summary and the UI's run pages count:
    GX suites, reject-share gates, dbt tests, freshness, one row per evaluation.

    Every check of a build has been evaluated by now: this asset depends on every mart, so it runs
    after the dbt step (all dbt tests) and the steps that depend on nothing (landing_is_fresh)."""
    run_ids = [context.run.run_id] + [r for r in context.run.tags.get(INGEST_RUN_TAG, "").split(",") if r]
    rows = []
    for run_id in run_ids:
        for record in context.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = record.dagster_event.event_specific_data
            severity = getattr(evaluation.severity, "value", str(evaluation.severity))
            rows.append((run_id, evaluation.asset_key.to_user_string(), evaluation.check_name, bool(evaluation.passed),
                         severity, evaluation.description, datetime.fromtimestamp(record.timestamp, timezone.utc)))
    con.execute("create schema if not exists audit")
    con.execute("""create or replace table audit.check_results (run_id varchar, asset_key varchar, check_name varchar,
                   passed boolean, severity varchar, description varchar, evaluated_at timestamptz)""")
    if rows:
        con.executemany("insert into audit.check_results values (?, ?, ?, ?, ?, ?, ?)", rows)
    return {"passed": sum(r[3] for r in rows),
            "warned": sum(1 for r in rows if not r[3] and r[4] == "WARN"),
            "failed": sum(1 for r in rows if not r[3] and r[4] != "WARN")}


@dg.asset(
    key=["published_warehouse"],
    deps=[dg.AssetKey(["marts", m]) for m in MARTS],
    group_name="marts",
    kinds={"duckdb"},
    owners=["team:data-engineering"],
    description="The DuckDB file BI tools read (marts + audit schemas). Replaced in one atomic rename "
                "after every blocking check passed; BI readers never block a run and never see a half-built file.",
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                        engine: EngineResource) -> dg.MaterializeResult:
    if engine.is_spark:  # marts + audit read from the lake's Parquet, then the same atomic swap
        from orchestration.engines import dagster_spark

        result, counts = dagster_spark.publish(context, warehouse, engine,
                                               record_checks=lambda con: record_check_results(context, con))
    else:
        _require_gate_verdicts(warehouse)
        with warehouse.connect() as con:
            counts = record_check_results(context, con)
        result = publish(warehouse.work_db, Path(warehouse.warehouse), run_id=context.run.run_id)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(result.path)),
        "size_mb": round(result.bytes / 1e6, 2),
        "publish_seconds": round(result.seconds, 2),
        "checks_passed": counts["passed"], "checks_warned": counts["warned"], "checks_failed": counts["failed"],
        "tables": dg.MetadataValue.md("\n".join(f"- `{t}`: {n:,} rows" for t, n in sorted(result.tables.items()))),
    })
