"""The published warehouse: the file BI reads, replaced atomically once every blocking check passed."""


from pathlib import Path

import dagster as dg

from orchestration.defs.resources import WarehouseResource
from ingestion.gates import unverified_files
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
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    _require_gate_verdicts(warehouse)
    result = publish(warehouse.work_db, Path(warehouse.warehouse), run_id=context.run_id)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(result.path)),
        "size_mb": round(result.bytes / 1e6, 2),
        "publish_seconds": round(result.seconds, 2),
        "tables": dg.MetadataValue.md("\n".join(f"- `{t}`: {n:,} rows" for t, n in sorted(result.tables.items()))),
    })
