"""Landing-date partitions shared by the ingestion assets, the schedule and the sensor."""

from __future__ import annotations

import dagster as dg

from orchestration.settings import TIMEZONE, Settings

# end_offset=1: today's folder may already exist (an intraday export); ingesting it is harmless
# and the nightly run re-ingests it when the complete file replaces it.
landing_date_partitions = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start, timezone=TIMEZONE, end_offset=1)

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make one run cover a whole range of landing dates (single-run backfill)."""
    return {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}
