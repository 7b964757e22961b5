"""Resources shared by every asset: where the files are, and the dbt CLI."""


import os
from contextlib import contextmanager
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Iterator, Optional

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging import version
from pydantic import PrivateAttr

from orchestration.settings import DBT_PROJECT_DIR, VENV_DBT, Settings, warehouse_lock


# Per DuckDB database instance (ingestion and dbt each have one); keeps a 10M-order full build
# well under the 6 GB peak-RSS budget on a 24 GB machine. DUALWHEEL_MEMORY_LIMIT overrides it.
MEMORY_LIMIT = os.environ.get("DUALWHEEL_MEMORY_LIMIT", "3GB")


class WarehouseResource(dg.ConfigurableResource):
    """The landing folder, the working database runs write into, and the published file BI reads.

    Defaults come from the environment (see orchestration/settings.py), so the UI, the daemon
    and the CLI point at the same files."""

    landing: str
    warehouse: str
    max_reject_share: float
    show_progress: bool = False

    _run_lock: object = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # One run at a time per warehouse, whoever starts it (CLI, UI, schedule): runs from the UI
        # wait here for a command-line build, and vice versa. The CLI already holds the lock when
        # it runs jobs in-process (the lock is re-entrant within a process).
        run_id = context.run.run_id if context.run else None
        lock = warehouse_lock(Path(self.warehouse), wait=True, what=f"Dagster run {run_id}",
                              on_wait=lambda holder: context.log.warning(
                                  f"waiting for the other run on {self.warehouse} to finish ({holder})"))
        lock.__enter__()
        self._run_lock = lock

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        lock, self._run_lock = self._run_lock, None
        if lock is not None:
            lock.__exit__(None, None, None)

    @classmethod
    def from_settings(cls, settings: Settings, *, show_progress: bool = False) -> "WarehouseResource":
        return cls(landing=str(settings.landing), warehouse=str(settings.warehouse),
                   max_reject_share=settings.max_reject_share, show_progress=show_progress)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(landing=self.landing, warehouse=self.warehouse,
                                 max_reject_share=self.max_reject_share)

    @property
    def landing_path(self) -> Path:
        return Path(self.landing)

    @property
    def work_db(self) -> Path:
        return self.settings.work_db

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the working database, closed on exit: dbt runs in a subprocess right
        after the ingestion steps and needs the file's single write lock."""
        path = self.work_db
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Bounded memory: DuckDB defaults to 80% of RAM; big sorts spill to <file>.tmp instead.
            con = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT})
        except duckdb.IOException as exc:
            raise RuntimeError(
                f"{path}: the working database is locked by another process ({exc}). "
                "Another dualwheel run is probably in progress; wait for it or stop it.") from None
        try:
            yield con
        finally:
            con.close()


class EngineResource(dg.ConfigurableResource):
    """Which engine the assets run on: `duckdb` (default) or `spark` (DUALWHEEL_ENGINE,
    DUALWHEEL_SPARK_MASTER, DUALWHEEL_LAKE; see orchestration/engines). The UI, the nightly
    schedule and the sensor all run on whichever engine is configured here."""

    engine: str = "duckdb"
    spark_master: Optional[str] = None
    lake: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> "EngineResource":
        from orchestration.engines import EngineSettings

        engine = EngineSettings.from_env(settings.warehouse)
        return cls(engine=engine.engine, spark_master=engine.spark_master, lake=str(engine.lake))

    @property
    def is_spark(self) -> bool:
        return self.engine == "spark"

    def engine_settings(self, warehouse: WarehouseResource):
        from orchestration.engines import EngineSettings

        return EngineSettings.from_env(Path(warehouse.warehouse), engine=self.engine,
                                       spark_master=self.spark_master, lake=self.lake or None)

    def spark(self, warehouse: WarehouseResource):
        """The run's SparkSession (one per process, shared by every step of the in-process executor)."""
        from orchestration.engines.spark import spark_session

        return spark_session(self.engine_settings(warehouse))


class VenvDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource, for the dbt-core installed in this venv.

    Two start-up costs of every dbt step that this project does not need (private hooks of
    dagster-dbt 0.29, pinned in uv.lock; tests/orchestration runs real builds through them):
    - dagster-dbt asks the executable for its version (`dbt --version`, a whole dbt start-up:
      3.2 s on 2 cores) only to tell dbt Core from dbt Fusion. The executable here is always
      the venv's own dbt-core (resources() below), so the version comes from package metadata.
    - it loads the dbt profile and adapter into the Dagster process (1.5 s) for
      `fetch_row_counts()` / `fetch_column_metadata()`, which dualwheel does not call: its row
      counts and previews come from orchestration/metadata.py after dbt exits.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


@dg.definitions
def resources() -> dg.Definitions:
    settings = Settings.from_env()
    settings.export_to_env()
    return dg.Definitions(resources={
        "warehouse": WarehouseResource.from_settings(
            settings, show_progress=os.environ.get("DUALWHEEL_PROGRESS") == "1"),
        "engine": EngineResource.from_settings(settings),
        "dbt": VenvDbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR),
                                  dbt_executable=str(VENV_DBT)),
    })
