"""The one Dagster code location: everything under orchestration/defs/, in-process executor.

The in-process executor is deliberate: the multiprocess one re-imports everything per step
(~10 s each on 2 cores) and its steps would fight over the working database's single write lock.
"""

from pathlib import Path

import dagster as dg

from orchestration.dbt_manifest import import_dagster_dbt_without_dbt_core
from orchestration.deploy.sqlite_sync import relax_sqlite_fsync

# Every process that loads these definitions writes Dagster events (see the module for why).
relax_sqlite_fsync()
# Before the defs import dagster_dbt: the UI's code server and the runs the schedule launches
# skip dbt-core's imports too (~1 s of CPU per process; dbt runs in its own subprocess).
import_dagster_dbt_without_dbt_core()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=dg.in_process_executor),
    )
