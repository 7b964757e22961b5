"""Landing-date partitions shared by the ingestion assets, the schedule and the sensors.

The partitions are the landing dates present, not a calendar: daily partitions from a fixed
start (2024-01-01) to today numbered 1,064 while the demo's data covers 180 days, so the UI
showed a successful build as "51% filled" and its launch dialog offered "Last 90 days", a range
without data. They are dynamic partitions, registered in date order by `sync_landing_dates`,
which the CLI calls before every run, `dualwheel ui` at start, and the `landing_dates_sensor`
(on by default, every minute), the nightly schedule and `new_landing_date_sensor` at each tick.
"""

from __future__ import annotations

import dagster as dg

LANDING_DATES = "landing_dates"

landing_date_partitions = dg.DynamicPartitionsDefinition(name=LANDING_DATES)

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make one run cover a whole range of landing dates (single-run backfill)."""
    return {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}


def sync_landing_dates(instance: dg.DagsterInstance, dates: list[str]) -> list[str]:
    """Register the landing dates not yet partitions; returns those added.

    Dagster orders dynamic partitions by insertion, and a run's range tags select every key
    between its first and last date in that order. A date older than the newest registered one
    (a late export) is therefore inserted by re-registering the dates after it, so ranges and
    the UI's partition bar stay in date order. Registered dates whose folder disappeared are
    kept: their materializations are history."""
    existing = list(instance.get_dynamic_partitions(LANDING_DATES))
    new = sorted(set(dates) - set(existing))
    if not new:
        return []
    later = [d for d in existing if d > new[0]]
    for date in later:
        instance.delete_dynamic_partition(LANDING_DATES, date)
    instance.add_dynamic_partitions(LANDING_DATES, sorted(set(later) | set(new)))
    return new
