"""The one Dagster code location: everything under orchestration/defs/, in-process executor.

The in-process executor is deliberate: the multiprocess one re-imports everything per step
(~10 s each on 2 cores) and its steps would fight over the working database's single write lock.
"""

import warnings
from pathlib import Path

import dagster as dg

from orchestration.dbt_manifest import import_dagster_dbt_without_dbt_core
from orchestration.deploy.sqlite_sync import relax_sqlite_fsync

# Every process that loads these definitions writes Dagster events (see the module for why).
relax_sqlite_fsync()
# Before the defs import dagster_dbt: the UI's code server and the runs the schedule launches
# skip dbt-core's imports too (~1 s of CPU per process; dbt runs in its own subprocess).
import_dagster_dbt_without_dbt_core()

_HERE = Path(__file__).parent


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=_HERE),
        dg.Definitions(executor=dg.in_process_executor),
    )


def defs_for_cli() -> dg.Definitions:
    """The same definitions, without what only `dg` and the UI's component browser read.

    load_from_defs_folder also snapshots the schema of every installed component type
    (dagster-dbt's, ...) into the repository's metadata. This project declares no components, and
    the CLI executes its runs in-process: loading the definitions takes 0.35 s instead of
    0.45-0.56 s (one process, quiet), at every command. tests/orchestration/test_definitions.py
    holds both to the same assets, checks, jobs, schedules, sensors and resources.
    """
    with warnings.catch_warnings():  # the loaders it calls are "preview"; load_from_defs_folder hides that too
        warnings.simplefilter("ignore", dg.PreviewWarning)
        folder = dg.ComponentTree.for_project(path_within_project=_HERE).build_defs(".")
    return dg.Definitions.merge(folder, dg.Definitions(executor=dg.in_process_executor))
