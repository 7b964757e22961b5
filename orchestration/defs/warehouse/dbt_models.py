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
from orchestration.defs.resources import WarehouseResource
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


TRANSLATOR = DualwheelDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
DBT_TARGET_PATH = DBT_PROJECT_DIR / "target" / "dagster_run"


@dbt_assets(manifest=ensure_manifest(), dagster_dbt_translator=TRANSLATOR, name="dbt_models")
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    # The dbt subprocess finds the working database through profiles.yml's env_var().
    os.environ["DUALWHEEL_DB_PATH"] = str(warehouse.work_db)
    # A fixed target path: dagster-dbt otherwise leaves a ~1.5 MB folder per run.
    yield from dbt.cli(["build"], context=context, target_path=DBT_TARGET_PATH).stream()
