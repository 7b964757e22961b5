"""Jobs, the nightly schedule and the new-landing-date sensor.

`refresh_job` covers everything: ingestion for a range of landing dates (one run thanks to the
single-run backfill policy), the dbt build with its tests, and publishing. Runs carry the range
as partition-range tags.
"""


import dagster as dg

from ingestion.load import discover
from orchestration.defs.ingestion.assets import accounts, follows, landing_is_fresh, live_traffic, orders
from orchestration.defs.warehouse.dbt_models import dbt_models
from orchestration.defs.warehouse.publish import published_warehouse
from orchestration.partitions import range_tags
from orchestration.settings import TIMEZONE, Settings

INGESTION = dg.AssetSelection.assets(orders, follows, live_traffic, accounts) - dg.AssetSelection.checks(landing_is_fresh)
TRANSFORM = dg.AssetSelection.assets(dbt_models, published_warehouse) | dg.AssetSelection.checks(landing_is_fresh)

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
    cron_schedule="30 2 * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:30 Asia/Shanghai: ingest the landing dates not ingested yet (at least the newest) and rebuild the marts.",
)
def nightly_refresh_schedule(context: dg.ScheduleEvaluationContext):
    dates = _landing_dates()
    if not dates:
        return dg.SkipReason(f"no landing-date folders under {Settings.from_env().landing}")
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
    seen = context.cursor or ""
    new = [d for d in dates if d > seen]
    if not new:
        return dg.SkipReason(f"no landing date newer than {seen or 'none'}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"landing-{new[0]}-{new[-1]}", tags=range_tags(new[0], new[-1]))],
        cursor=new[-1])
