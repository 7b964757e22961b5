"""The dbt project as Dagster assets: staging, intermediate and marts groups, dbt tests as checks.

One `dbt build` per run (dbt's own start costs ~4–10 s on 2 cores, so it is never invoked per
model). Error-severity dbt tests fail the step, which stops publishing; warn-severity tests show
in the UI as failed-with-warning checks and block nothing.
"""


import os
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.dbt_manifest import ensure_manifest
from orchestration.metadata import table_metadata
from orchestration.defs.resources import EngineResource, WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR

LAYERS = ("staging", "intermediate", "marts")


def dbt_layer(props: Mapping[str, Any]) -> str:
    if props["resource_type"] == "seed":
        return "staging"  # reference data read by staging/intermediate models
    fqn = props.get("fqn") or []
    for part in fqn:
        if part in LAYERS:
            return part
    return props.get("config", {}).get("schema") or "marts"


class DualwheelDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # raw/<export>: the same keys as the ingestion assets, so lineage runs from files to marts.
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        if dbt_resource_props["resource_type"] == "seed":
            return dg.AssetKey(["seeds", dbt_resource_props["name"]])
        return dg.AssetKey([dbt_layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_layer(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return ["team:analytics-engineering"]


def _unmapped_accounts(con) -> tuple[dict, str]:
    ids = [r[0] for r in con.execute(
        "select account_id from marts.dim_accounts where brand = '(unmapped)' order by 1").fetchall()]
    gmv, total = con.execute(
        "select coalesce(sum(gmv) filter (where brand = '(unmapped)'), 0), coalesce(sum(gmv), 0) "
        "from marts.fct_dual_wheel_daily").fetchall()[0]
    share = float(gmv) / float(total) if total else 0.0
    return ({"unmapped_accounts": len(ids), "unmapped_gmv_share": round(share, 6),
             "unmapped_account_ids": ", ".join(ids[:20])},
            f"{len(ids)} account(s) not in the roster carry {share:.2%} of GMV: {', '.join(ids[:5])}"
            + (" …" if len(ids) > 5 else "") + " — add them to accounts.csv")


def _orders_with_unknown_sessions(con) -> tuple[dict, str]:
    orders, sessions, gmv = con.execute(
        """select count(*), count(distinct o.live_session_id), coalesce(sum(o.gmv), 0)
           from intermediate.int_orders_counted o
           left join intermediate.int_live_sessions s using (live_session_id)
           where o.live_session_id is not null and s.live_session_id is null""").fetchall()[0]
    return ({"orders_with_unknown_session": int(orders), "unknown_sessions": int(sessions),
             "gmv_of_those_orders": float(gmv)},
            f"{orders} counted order(s) (¥{float(gmv):,.2f}) point at {sessions} live session(s) missing from "
            "live_traffic: is a live_traffic export missing?")


def _dbt_node_count() -> int:
    """Models, seeds and data tests: the nodes whose results dagster-dbt streams back."""
    import json

    nodes = json.loads(ensure_manifest().read_text())["nodes"].values()
    return sum(1 for n in nodes if n["resource_type"] in ("model", "seed", "test"))


# Warn-only contract checks whose dbt test says only pass/warn; the UI and CLI show their figures.
OBSERVED_FIGURES = {
    "accounts_are_all_mapped": _unmapped_accounts,
    "orders_reference_known_live_sessions": _orders_with_unknown_sessions,
}

# dbt unit tests check SQL logic on fixed inputs, not data: they run in `make test` (tests/dbt
# runs a plain `dbt build`) and, as dbt recommends, not in production runs, where the 14 of them
# cost ~1.7 s of every build (0.25 s each on 2 threads, 10M-order nightly).
DBT_BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]

TRANSLATOR = DualwheelDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
DBT_TARGET_PATH = DBT_PROJECT_DIR / "target" / "dagster_run"


@dbt_assets(manifest=ensure_manifest(), dagster_dbt_translator=TRANSLATOR, name="dbt_models")
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
               engine: EngineResource):
    if engine.is_spark:  # in this process, on the run's SparkSession (orchestration/engines)
        from orchestration.engines import dagster_spark

        yield from dagster_spark.dbt_build(context, warehouse, engine)
        return
    # The dbt subprocess finds the working database through profiles.yml's env_var().
    os.environ["DUALWHEEL_DB_PATH"] = str(warehouse.work_db)
    # A fixed target path: dagster-dbt otherwise leaves a ~1.5 MB folder per run.
    held_back = []
    bar = None
    if warehouse.show_progress:
        from tqdm import tqdm

        bar = tqdm(total=_dbt_node_count(), desc="dbt build (models + tests)", unit="node", leave=False)
    try:
        for event in dbt.cli(DBT_BUILD_ARGS, context=context, target_path=DBT_TARGET_PATH).stream():
            if bar is not None:
                bar.update(1)
            if isinstance(event, dg.AssetCheckResult) and event.check_name in OBSERVED_FIGURES:
                held_back.append(event)  # enriched below, once dbt has released the database
                continue
            yield event
    finally:
        if bar is not None:
            bar.close()
    # Figures, row counts, date ranges and previews for the UI are read after dbt exited: while
    # it runs, the dbt subprocess holds the working database's only write lock.
    with warehouse.connect(read_only=True) as con:
        for check in held_back:
            figures, description = OBSERVED_FIGURES[check.check_name](con)
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.check_name, passed=check.passed,
                                      severity=check.severity, metadata={**check.metadata, **figures},
                                      description=None if check.passed else description)
        for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
            metadata = table_metadata(con, key.path[-1])
            if metadata:
                context.log_event(dg.AssetObservation(asset_key=key, metadata=metadata))



# Tables dbt reads that no model builds: declared so the UI shows them in their layer with a
# description instead of as anonymous external assets.
audit_ingested_files = dg.AssetSpec(
    key=["audit", "ingested_files"], group_name="ingestion", kinds={"duckdb"},
    description="One row per ingested landing file (path, export, landing date, sha256, rows read/accepted/"
                "rejected, status, ingested_at); written by every ingestion asset, read by dbt's change detection.")
dbt_watermark = dg.AssetSpec(
    key=["dw_state", "dbt_watermark"], group_name="intermediate", kinds={"duckdb"},
    description="When the last successful dbt build started: files ingested after it are what the next "
                "incremental build recomputes.")
t0_snapshot = dg.AssetSpec(
    key=["dw_snapshot", "t0_snapshot"], group_name="intermediate", kinds={"duckdb"},
    description="Each (brand, buyer)'s T0 as of the last successful build; diffed to find T0s that moved.")
