"""Jobs, the nightly schedule and the new-landing-date sensor.

`refresh_job` covers everything: ingestion for a range of landing dates (one run thanks to the
single-run backfill policy), the dbt build with its tests, and publishing. Runs carry the range
as partition-range tags.
"""

import os

import dagster as dg

from ingestion.load import discover
from orchestration.defs.ingestion.assets import accounts, follows, landing_is_fresh, live_traffic, orders
from orchestration.defs.warehouse.dbt_models import dbt_models
from orchestration.defs.warehouse.publish import published_warehouse
from orchestration.partitions import range_tags, sync_landing_dates
from orchestration.settings import TIMEZONE, Settings

# dbt's checks include its source tests, which are checks on raw/* but run inside `dbt build`: they
# belong with the dbt step (transform), never in ingest_job, which would otherwise carry the dbt
# step just for them (see the source-test note in orchestration/defs/warehouse/dbt_models.py).
DBT_CHECKS = dg.AssetSelection.checks(*dbt_models.check_keys)
INGESTION = (dg.AssetSelection.assets(orders, follows, live_traffic, accounts)
             - dg.AssetSelection.checks(landing_is_fresh) - DBT_CHECKS)
TRANSFORM = dg.AssetSelection.assets(dbt_models, published_warehouse) | dg.AssetSelection.checks(landing_is_fresh) | DBT_CHECKS

refresh_job = dg.define_asset_job(
    name="refresh_job",
    selection=INGESTION | TRANSFORM,
    description="Ingest landing dates, build and test every dbt model, and publish the warehouse.",
)

ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=INGESTION,
    description="Ingest landing dates into raw/audit only (no dbt, no publishing).",
)

# The CLI runs ingest_job for the pending dates, then this job without partitions: keeping the
# ~190 unpartitioned dbt assets and checks out of a multi-partition run avoids Dagster planning
# each of them once per partition (~190 s for 365 dates at 10M orders, benchmarks/results.md).
transform_job = dg.define_asset_job(
    name="transform_job",
    selection=TRANSFORM,
    description="Build and test every dbt model (incrementally) and publish the warehouse.",
)


@dg.sensor(
    name="landing_dates_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the landing-date partitions in step with the landing folder (one partition per "
                "YYYY-MM-DD folder present); starts no run.",
)
def landing_dates_sensor(context: dg.SensorEvaluationContext):
    added = sync_landing_dates(context.instance, _landing_dates())
    return dg.SkipReason(f"registered {len(added)} new landing date(s): {added[0]} .. {added[-1]}" if added
                         else "every landing date is a partition already")


def _landing_dates() -> list[str]:
    return [d.isoformat() for d in discover(Settings.from_env().landing).dates]


def _materialized_dates(instance) -> set[str]:
    try:
        return set(instance.get_materialized_partitions(dg.AssetKey(["raw", "orders"])))
    except Exception:  # an instance without partition status yet (fresh DAGSTER_HOME)
        return set()


@dg.schedule(
    name="nightly_refresh_schedule",
    job=refresh_job,
    # DUALWHEEL_NIGHTLY_CRON: another time of day, or "* * * * *" for a test that needs a real tick.
    cron_schedule=os.environ.get("DUALWHEEL_NIGHTLY_CRON", "30 2 * * *"),
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:30 Asia/Shanghai: ingest the landing dates not ingested yet (at least the newest) and rebuild the marts.",
)
def nightly_refresh_schedule(context: dg.ScheduleEvaluationContext):
    dates = _landing_dates()
    if not dates:
        return dg.SkipReason(f"no landing-date folders under {Settings.from_env().landing}")
    sync_landing_dates(context.instance, dates)
    done = _materialized_dates(context.instance)
    new = [d for d in dates if d not in done] or [dates[-1]]
    return dg.RunRequest(tags=range_tags(new[0], new[-1]))


@dg.sensor(
    name="new_landing_date_sensor",
    job=refresh_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Starts a refresh when a new landing-date folder appears (turn on for intraday loads; "
                "the nightly schedule covers the usual once-a-day export).",
)
def new_landing_date_sensor(context: dg.SensorEvaluationContext):
    dates = _landing_dates()
    sync_landing_dates(context.instance, dates)
    seen = context.cursor or ""
    new = [d for d in dates if d > seen]
    if not new:
        return dg.SkipReason(f"no landing date newer than {seen or 'none'}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"landing-{new[0]}-{new[-1]}", tags=range_tags(new[0], new[-1]))],
        cursor=new[-1])


# The code location the UI and the daemon load (`dagster dev|dagster-webserver -m
# orchestration.definitions`, pyproject's [tool.dg.project] code_location_name).
CODE_LOCATION = "orchestration.definitions"


def ui_job_origin(job_name: str, repository_name: str = "__repository__"):
    """Where the UI finds `job_name`, for runs the CLI executes in its own process.

    A run created by `execute_in_process` has no origin: the job pages (which filter on the
    `.dagster/repository` tag) said "No runs found" and the Overview timeline (which groups runs
    by origin) left such runs out. Stamped with this origin they show on both, like UI runs."""
    import sys

    from dagster._core.remote_origin import (ManagedGrpcPythonEnvCodeLocationOrigin, RemoteJobOrigin,
                                             RemoteRepositoryOrigin)
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from orchestration.settings import PROJECT_ROOT

    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=CODE_LOCATION,
                             working_directory=str(PROJECT_ROOT)),
        location_name=CODE_LOCATION)
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, repository_name), job_name)
