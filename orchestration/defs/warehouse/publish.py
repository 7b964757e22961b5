"""The published warehouse: the file BI reads, replaced atomically once every blocking check passed."""


from pathlib import Path

import dagster as dg

from orchestration.defs.resources import EngineResource, WarehouseResource
from warehouse.publish import publish

MARTS = ("fct_gmv_by_source_daily", "fct_dual_wheel_daily", "fct_cohort_repurchase",
         "fct_cohort_retention_monthly", "fct_account_matrix_daily", "fct_live_session", "dim_accounts")


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

        result = dagster_spark.publish(context, warehouse, engine)
    else:
        result = publish(warehouse.work_db, Path(warehouse.warehouse), run_id=context.run_id)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(result.path)),
        "size_mb": round(result.bytes / 1e6, 2),
        "publish_seconds": round(result.seconds, 2),
        "tables": dg.MetadataValue.md("\n".join(f"- `{t}`: {n:,} rows" for t, n in sorted(result.tables.items()))),
    })
