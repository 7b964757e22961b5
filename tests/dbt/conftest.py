"""Fixtures for the dbt project tests: one temp DuckDB per module, loaded with the small
hand-made raw dataset, and ONE `dbt build` over it (each dbt invocation costs ~10 s here)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import _dbt_dataset as dataset
from ._dbt_runner import invoke_dbt


@dataclass
class DbtRun:
    db_path: Path
    result: object  # dbtRunnerResult
    seconds: float


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory) -> DbtRun:
    work = tmp_path_factory.mktemp("dbt_build")
    db_path = work / "work.duckdb"
    dataset.load(str(db_path))
    started = time.perf_counter()
    result = invoke_dbt(["build"], db_path, work)
    return DbtRun(db_path=db_path, result=result, seconds=time.perf_counter() - started)
