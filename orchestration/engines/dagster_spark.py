"""The Dagster assets' Spark branch: what `raw/<export>`, `dbt_models` and `published_warehouse` do
when the engine resource says `spark`. Same asset keys, same blocking checks (names and meaning),
so the UI, the nightly schedule and the sensor are engine-agnostic."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Iterator

import dagster as dg

from ingestion import quality
from ingestion.errors import FilesRejected


def _metadata(result) -> dict:
    statuses = Counter(r.status for r in result.results)
    changed = result.changed
    return {"engine": "spark", "files_loaded": statuses.get("loaded", 0),
            "files_replaced": statuses.get("replaced", 0), "files_unchanged": statuses.get("unchanged", 0),
            "rows_read": sum(r.rows_read for r in changed), "rows_accepted": sum(r.rows_accepted for r in changed),
            "rows_rejected": sum(r.rows_rejected for r in changed),
            "executor_processes": len({w.split(" task=")[0] for w in result.workers.values()}),
            "ingest_phases_seconds": {k: round(v, 2) for k, v in result.phases.items()}}


def ingest_export(context, warehouse, engine, export: str, jobs: list[tuple[Path, str]], *,
                  gx_check: str, reject_check: str | None) -> Iterator:
    """Ingest `jobs` of one export on Spark and yield its materialization and blocking checks."""
    from ingestion.spark_ingest import ingest_on_spark, record_verdicts, reject_share_violations

    spark = engine.spark(warehouse)
    settings = engine.engine_settings(warehouse)
    result = ingest_on_spark(spark, warehouse.landing_path, jobs, staging_root=settings.lake / "_staging",
                             run_id=context.run.run_id or uuid.uuid4().hex, awaiting_gates=True)
    if result.rejected_files:
        raise FilesRejected(result.rejected_files)
    dq = result.dq.get(export, [])
    failures = quality.blocking_failures(dq)
    changed = [r.path for r in result.changed]
    violations = [] if reject_check is None else reject_share_violations(spark, export, warehouse.max_reject_share)
    # As the DuckDB assets (_gate_results): this run's files are 'pending' until here.
    record_verdicts(spark, passed=changed,
                    failed=(changed if failures else []) + [f for v in violations for f in v.files])
    yield dg.MaterializeResult(metadata=_metadata(result))
    yield dg.AssetCheckResult(
        check_name=gx_check, passed=not failures, severity=dg.AssetCheckSeverity.ERROR,
        description=("; ".join(f"{f.expectation} ({f.column_name or 'table'}): observed {f.observed_value}"
                               for f in failures[:5]) or None),
        metadata={"expectations_evaluated": len(dq), "failed_expectations": len(failures),
                  "files_validated": len(result.changed)})
    if reject_check is None:
        return
    yield dg.AssetCheckResult(
        check_name=reject_check, passed=not violations, severity=dg.AssetCheckSeverity.ERROR,
        description=("\n".join(v.describe(warehouse.max_reject_share) for v in violations[:10]) or None),
        metadata={"max_reject_share": warehouse.max_reject_share,
                  "landing_dates_over_threshold": len(violations),
                  "worst_reject_share": max((v.share for v in violations), default=0.0)})


def publish(context, warehouse, engine, record_checks=None):
    """Marts + audit from the lake into the published DuckDB file (warehouse/publish.py swap).

    As on DuckDB, only rows of files whose gates passed are published (a transform run started
    on its own must not carry a failed or interrupted ingestion to BI), and record_checks(con)
    writes the build's audit.check_results into the new file before the swap; returns
    (PublishResult, what record_checks returned)."""
    from ingestion.spark_ingest import unverified_files
    from orchestration.engines.spark import SparkRun, publish_from_lake

    spark = engine.spark(warehouse)
    pending = unverified_files(spark)
    if pending:
        names = "; ".join(f"{p} ({v})" for p, v in pending[:5]) + (" …" if len(pending) > 5 else "")
        raise RuntimeError(f"{len(pending)} landing file(s) have no passing gate verdict: {names}; "
                           "their dates must pass ingestion first (`dualwheel build` re-checks them)")
    recorded = []
    result = publish_from_lake(spark, warehouse.settings, engine.engine_settings(warehouse),
                               SparkRun(run_id=context.run.run_id),
                               on_work_db=None if record_checks is None else
                               (lambda con: recorded.append(record_checks(con))))
    return result, (recorded[0] if recorded else None)


def dbt_build(context, warehouse, engine) -> Iterator:
    """`dbt build --target spark` in this process, reported as dagster-dbt would report it: a
    materialization per model/seed built and a check result per dbt test (same check names).

    dagster-dbt runs dbt in a subprocess, which cannot use this process's SparkSession (dbt-spark
    `method: session`) and would collide with it on the lake's single-JVM Derby metastore.
    """
    from dbt.cli.main import dbtRunner

    from orchestration.engines.spark import DbtFailed
    from orchestration.settings import DBT_PROJECT_DIR

    engine.spark(warehouse)  # dbt-spark picks up this session
    res = dbtRunner().invoke(["--quiet", "build", "--exclude-resource-type", "unit_test", "--target", "spark",
                              "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                              "--target-path", str(DBT_PROJECT_DIR / "target" / "spark_run")])
    if res.exception is not None:
        raise DbtFailed(f"dbt on Spark: {str(res.exception).strip().splitlines()[0]}")
    keys = {key.path[-1]: key for key in context.selected_asset_keys}
    checks: dict[str, list] = {}
    for check in context.selected_asset_check_keys:
        checks.setdefault(check.name, []).append(check)
    failed = []
    for r in res.result or []:
        node, status = r.node, str(r.status)
        if node.resource_type == "test":
            for check in checks.get(node.name, []):
                yield dg.AssetCheckResult(
                    asset_key=check.asset_key, check_name=check.name, passed=status == "pass",
                    severity=dg.AssetCheckSeverity.WARN if status == "warn" else dg.AssetCheckSeverity.ERROR,
                    metadata={"status": status, "failures": int(getattr(r, "failures", 0) or 0)})
        elif status == "success" and node.name in keys:
            yield dg.MaterializeResult(asset_key=keys[node.name], metadata={"engine": "spark",
                                                                            "seconds": round(r.execution_time, 2)})
        if status in ("error", "fail"):
            failed.append(f"{node.name} ({status})")
    if failed or not res.success:
        raise DbtFailed(f"dbt on Spark failed: {', '.join(failed[:10]) or 'see dbt_project/logs/dbt.log'}")
