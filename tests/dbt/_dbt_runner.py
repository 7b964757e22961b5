"""Running dbt in-process for the tests, against a given DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"


def invoke_dbt(args: list[str], db_path: Path, work_dir: Path):
    """Run dbt in-process against db_path, keeping target/ and logs/ out of the source tree."""
    from dbt.cli.main import dbtRunner

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DUALWHEEL_DB_PATH", str(db_path))
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        try:
            return dbtRunner().invoke(
                [
                    *args,
                    "--project-dir", str(DBT_PROJECT),
                    "--profiles-dir", str(DBT_PROJECT),
                    "--target-path", str(work_dir / "target"),
                    "--log-path", str(work_dir / "logs"),
                    "--quiet",
                ]
            )
        finally:
            _release_duckdb_file()


def _release_duckdb_file() -> None:
    """dbt-duckdb keeps its DuckDB connection in a process-wide singleton after an in-process
    run; that holds the file lock and blocks a read-only connection from this same process."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()
