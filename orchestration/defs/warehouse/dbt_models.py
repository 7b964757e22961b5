"""The dbt project as Dagster assets: staging, intermediate and marts groups, dbt tests as checks.

One `dbt build` per run (dbt's own start costs ~4–10 s on 2 cores, so it is never invoked per
model). Error-severity dbt tests fail the step, which stops publishing; warn-severity tests show
in the UI as failed-with-warning checks and block nothing.
"""


import contextlib
import os
import re
from typing import Any, Mapping
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from dagster_dbt.dbt_manifest import read_manifest_path

from orchestration import dbt_prestart
from orchestration.dbt_manifest import ensure_manifest
from orchestration.deploy.sqlite_sync import stored_together
from orchestration.metadata import table_metadata
from orchestration.defs.resources import EngineResource, WarehouseResource
from orchestration.settings import dbt_target_for

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

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # The model's own words; its Jinja SQL goes to the `sql` metadata entry (get_metadata),
        # not into the description, where it buried the grain under a page of code.
        return (dbt_resource_props.get("description") or "").strip() or \
            f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}"

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        grain = model_grain(dbt_resource_props.get("description") or "")
        if grain:
            metadata["grain"] = grain
        code = dbt_resource_props.get("raw_code") or dbt_resource_props.get("raw_sql")
        if code and dbt_resource_props["resource_type"] == "model":
            metadata["sql"] = dg.MetadataValue.md(f"```sql\n{code.strip()}\n```")
        return metadata

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            spec = _multi_parent_source_test_spec(self, asset_spec, manifest, unique_id)
        if spec is None:
            return None
        test = manifest["nodes"][unique_id]
        return dg.AssetCheckSpec(name=spec.name, asset=spec.asset_key, description=check_description(test),
                                 additional_deps=spec.additional_deps, blocking=spec.blocking,
                                 metadata=spec.metadata)


# dbt's source tests (not_null, accepted_values, relationships on raw.*, 17 of them) are checks on
# the raw/* asset they test, declared by this multi-asset (enable_source_tests_as_checks below) and
# run inside its one `dbt build`, so they run with dbt, never with ingestion:
# - the CLI's and the schedule's jobs place them with the dbt step (DBT_CHECKS in
#   orchestration/defs/automation/jobs.py), not in ingest_job;
# - Dagster adds every check of an asset to any UI materialization or backfill of that asset
#   (asset_check_selection=None means "all checks of the selected assets"; no spec option opts out
#   in dagster 1.13.27). Such a run therefore carries this step with only raw/* checks selected;
#   it then does not start dbt (_ingestion_only_run) and the checks end as "skipped" for that run.
#   Running them there failed a UI backfill on a fresh warehouse (the relationships tests read the
#   traffic_sources seed dbt had not built yet) and would add a dbt start (~7 s) to every ingestion.
# Not restated on stg_orders/stg_follows instead: those are views that deduplicate (the latest
# version of each order, the first copy of each event), so a test there checks the winners only,
# re-ranks all of raw.* per test (3 tests = 5.3 s of a 1M-order build, dbt_project/README.md) and
# loses the scoping of macros/test_scope.sql to the rows of newly ingested files.
def _multi_parent_source_test_spec(translator, asset_spec, manifest, unique_id: str):
    """A check on raw/<table> for a source test that also reads another node (relationships to the
    traffic_sources seed): dagster-dbt attaches a test to a node only when it has one parent, is
    attached to a model, or names a model in `meta.dagster.ref` — none fits a source's relationships
    test, which dagster-dbt would log as an observation with a warning (_dbt_events reports it)."""
    key = MULTI_PARENT_SOURCE_TESTS.get(unique_id)
    if key is None or key.asset_key != asset_spec.key:
        return None
    test = manifest["nodes"][unique_id]
    others = [n for n in test["depends_on"]["nodes"] if not n.startswith("source.")]
    severity = ((test.get("config") or {}).get("severity") or "error").lower()
    return dg.AssetCheckSpec(name=key.name, asset=key.asset_key, blocking=severity == "error",
                             additional_deps=[translator.get_asset_key(manifest["nodes"][n]) for n in others],
                             metadata={"dagster_dbt/unique_id": unique_id})


def _multi_parent_source_tests(manifest: Mapping[str, Any]) -> dict[str, dg.AssetCheckKey]:
    tests = {}
    for unique_id, node in manifest["nodes"].items():
        parents = node["depends_on"]["nodes"] if node["resource_type"] == "test" else []
        sources = [p for p in parents if p.startswith("source.")]
        if len(sources) == 1 and len(parents) > 1:
            source = manifest["sources"][sources[0]]
            tests[unique_id] = dg.AssetCheckKey(dg.AssetKey([source["source_name"], source["name"]]), node["name"])
    return tests


# dagster-dbt's own cached parse of the manifest, which @dbt_assets below reads too: one parse per
# process instead of two (json.loads of the 1.3 MB file: ~30 ms).
MULTI_PARENT_SOURCE_TESTS = _multi_parent_source_tests(read_manifest_path(ensure_manifest().resolve()))


def _dbt_events(invocation, context: dg.AssetExecutionContext):
    """dagster-dbt's events for each dbt result, except a check result of our own for the
    MULTI_PARENT_SOURCE_TESTS (dagster-dbt would log an observation and a warning for them)."""
    for event in invocation.stream_raw_events():
        unique_id = event.raw_event["data"].get("node_info", {}).get("unique_id")
        if event.is_result_event and unique_id in MULTI_PARENT_SOURCE_TESTS:
            key = MULTI_PARENT_SOURCE_TESTS[unique_id]
            data = event.raw_event["data"]
            status = str(data["node_info"].get("node_status") or data.get("status") or "").lower()
            failures = data.get("num_failures")
            yield dg.AssetCheckResult(
                asset_key=key.asset_key, check_name=key.name, passed=status == "pass",
                severity=dg.AssetCheckSeverity.WARN if status == "warn" else dg.AssetCheckSeverity.ERROR,
                metadata={"unique_id": unique_id, "status": status,
                          **({} if failures is None else {"dagster_dbt/failed_row_count": failures})})
        else:
            yield from event.to_default_asset_events(manifest=invocation.manifest,
                                                     dagster_dbt_translator=invocation.dagster_dbt_translator,
                                                     context=context, target_path=invocation.target_path,
                                                     project=invocation.project)


def _ingestion_only_run(context: dg.AssetExecutionContext) -> bool:
    """This step is in the run only for the dbt source tests' checks on raw/* assets the run
    materializes (a UI materialization or backfill of ingestion assets): no model, no seed."""
    own = set(context.assets_def.keys)
    if context.selected_asset_keys or any(k.asset_key in own for k in context.selected_asset_check_keys):
        return False
    # A run of checks alone (the UI's "Execute checks" on raw/orders) still runs these tests.
    return any(key not in own for key in (context.run.asset_selection or ()))


def model_grain(description: str) -> str | None:
    """The "Grain: one row per …" sentence every model description states (dbt_project/README.md)."""
    found = re.search(r"Grain:\s*(.+?)(?:\.\s+(?=[A-Z(])|\.?\s*$)", " ".join(description.split()))
    return found.group(1).rstrip(".") if found else None


def _sql_comment_summary(code: str) -> str | None:
    """The first sentence of a singular test's leading `--` comment (each states what it asserts)."""
    lines = []
    for line in code.strip().splitlines():
        if not line.strip().startswith("--"):
            break
        lines.append(line.strip()[2:].strip())
    text = " ".join(lines)
    if not text:
        return None
    first = re.split(r"(?<=[.;])\s+(?=[A-Za-z])", text, maxsplit=1)[0]
    return first.rstrip(":;")


def check_description(test: Mapping[str, Any]) -> str:
    """One line for the UI's check list: what a dbt test asserts, and whether it only warns."""
    meta = test.get("test_metadata") or {}
    kwargs = meta.get("kwargs") or {}
    column = kwargs.get("column_name") or test.get("column_name")
    name = meta.get("name")
    explicit = (test.get("description") or "").strip()
    if explicit:
        text = explicit
    elif name == "not_null":
        text = f"`{column}` is never NULL"
    elif name == "unique":
        text = f"`{column}` is unique (the key)"
    elif name == "unique_combination":
        text = f"({', '.join(kwargs.get('combination_of_columns') or [])}) is unique: the grain holds"
    elif name == "accepted_values":
        text = f"`{column}` is one of {', '.join(map(str, kwargs.get('values') or []))}"
    elif name == "relationships":
        target = re.sub(r"^ref\('([^']+)'\)$|^source\('[^']+',\s*'([^']+)'\)$",
                        lambda m: m.group(1) or m.group(2), str(kwargs.get("to", "")))
        text = f"every `{column}` exists in {target}.{kwargs.get('field')}"
    elif name == "within_range":
        low, high = kwargs.get("min_value", 0), kwargs.get("max_value", 1)
        text = f"`{column}` lies in [{low}, {high}] (NULL allowed)"
    elif name:
        text = f"dbt test {name}" + (f" on `{column}`" if column else "")
    else:
        text = _sql_comment_summary(test.get("raw_code") or "") or f"dbt test {test['name']}"
    severity = (test.get("config") or {}).get("severity") or "error"
    return text + (" (warns, blocks nothing)" if severity.lower() == "warn" else "")


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
    nodes = read_manifest_path(ensure_manifest().resolve())["nodes"].values()
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

TRANSLATOR = DualwheelDbtTranslator(settings=DagsterDbtTranslatorSettings(
    enable_asset_checks=True, enable_source_tests_as_checks=True))


@dbt_assets(manifest=ensure_manifest(), dagster_dbt_translator=TRANSLATOR, name="dbt_models")
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
               engine: EngineResource):
    if _ingestion_only_run(context):
        source_checks = sorted({k.asset_key.to_user_string() for k in context.selected_asset_check_keys})
        context.log.info(f"dbt not started: this run materializes ingestion assets only; the dbt source "
                         f"tests on {', '.join(source_checks)} run with the next dbt build")
        return
    if engine.is_spark:  # in this process, on the run's SparkSession (orchestration/engines)
        from orchestration.engines import dagster_spark

        yield from dagster_spark.dbt_build(context, warehouse, engine)
        return
    # The dbt subprocess finds the working database through profiles.yml's env_var().
    os.environ["DUALWHEEL_DB_PATH"] = str(warehouse.work_db)
    # Every event is held until dbt exits, then yielded in dbt's order: while dbt runs, its
    # subprocess holds the working database's only write lock, and the row count, date range and
    # preview belong in each model's materialization (the asset page's "latest materialization"),
    # not in a separate observation behind the Events tab. The cost: the UI shows the models'
    # materializations at the end of the dbt step rather than one by one.
    events = []
    failure = None
    bar = None
    if warehouse.show_progress:
        from tqdm import tqdm

        bar = tqdm(total=_dbt_node_count(), desc="dbt build (models + tests)", unit="node", leave=False)
    try:
        # A fixed target path per warehouse (settings.dbt_target_for): dagster-dbt otherwise leaves a
        # ~1.5 MB folder per run, and dbt's partial parsing needs the previous parse of this profile.
        target = dbt_target_for(Path(warehouse.warehouse))
        prestarted = dbt_prestart.take(warehouse.warehouse)  # `dualwheel build` started one (cli.py)
        if prestarted is not None:
            dbt = dbt.model_copy(update={"dbt_executable": str(prestarted)})
        for event in _dbt_events(dbt.cli(DBT_BUILD_ARGS, context=context, target_path=target), context):
            if bar is not None:
                bar.update(1)
            events.append(event)
    except Exception as exc:  # dbt failed: report what it did build and test first, then fail the step
        failure = exc
    finally:
        if bar is not None:
            bar.close()
    with contextlib.ExitStack() as stack:
        try:
            con = stack.enter_context(warehouse.connect(read_only=True))
        except Exception:
            if failure is None:
                raise
            con = None  # the figures are extras; the dbt failure is what the user needs to see
        # All of them at once, so Dagster's SQLite event log stores them in batches.
        stack.enter_context(stored_together(context.instance, context.run.run_id))
        figures = stack.enter_context(_figures_ahead(context, con, events)) if con is not None else {}
        for index, event in enumerate(events):
            yield _with_figures(context, event, figures[index].result()) if index in figures else event
    if failure is not None:
        raise failure


def _figures_query(context: dg.AssetExecutionContext, event):
    """What the UI shows beside a dbt event, as a function of a connection (None: nothing): the
    figures of the warn-only contract checks; row count, date range and preview of each model."""
    if isinstance(event, dg.AssetCheckResult) and event.check_name in OBSERVED_FIGURES:
        return OBSERVED_FIGURES[event.check_name]
    if isinstance(event, dg.Output):
        name = context.asset_key_for_output(event.output_name).path[-1]
        return lambda con: table_metadata(con, name)
    return None


@contextlib.contextmanager
def _figures_ahead(context: dg.AssetExecutionContext, con, events: list):
    """{event index: future of its figures}, queried in event order by one thread with a cursor of
    its own while this one hands the events before it to Dagster. They used to be queried one by
    one between the events: in a 10M-order nightly the loop over the ~340 events took 0.64-0.73 s
    that way, 0.52-0.61 s this way (3 runs each)."""
    from concurrent.futures import ThreadPoolExecutor

    cursor = con.cursor()  # a DuckDB connection is not for two threads at once; a cursor is its own
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dualwheel-figures")
    try:
        futures = {}
        for index, event in enumerate(events):
            query = _figures_query(context, event)
            if query is not None:
                futures[index] = pool.submit(query, cursor)
        yield futures
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        cursor.close()


def _with_figures(context: dg.AssetExecutionContext, event, figures):
    """A dbt event with its figures (from _figures_query) and, for a model, its grain."""
    if isinstance(event, dg.AssetCheckResult):
        figures, description = figures
        return dg.AssetCheckResult(asset_key=event.asset_key, check_name=event.check_name, passed=event.passed,
                                   severity=event.severity, metadata={**event.metadata, **figures},
                                   description=None if event.passed else description)
    key = context.asset_key_for_output(event.output_name)
    grain = context.assets_def.specs_by_key[key].metadata.get("grain")
    return event.with_metadata({**event.metadata, **({"grain": grain} if grain else {}), **figures})


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
