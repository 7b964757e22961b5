"""Keep dbt's manifest.json current, because dagster-dbt builds the asset graph from it.

A fresh clone has no `dbt_project/target/`; `dbt parse` (~10 s on 2 cores) runs only when a
model, macro, seed or yml file is newer than the manifest, so loading definitions stays instant
on every later start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, VENV_DBT

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_SOURCE_DIRS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
_SOURCE_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml")


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _SOURCE_FILES:
        path = project_dir / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    for sub in _SOURCE_DIRS:
        for path in (project_dir / sub).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / "target" / "manifest.json"
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(project_dir)


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    manifest = project_dir / "target" / "manifest.json"
    if manifest_is_stale(project_dir):
        env = {**os.environ}
        # Parsing renders profiles.yml, which needs the path even though parse never opens it.
        env.setdefault("DUALWHEEL_DB_PATH", str(project_dir.parent / "warehouse" / "dualwheel.work.duckdb"))
        proc = subprocess.run(
            [str(VENV_DBT), "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--quiet"],
            cwd=project_dir, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip().splitlines()
            # dbt prints the cause on the lines after "Error"; one line of it is what a person needs.
            detail = next((line.strip() for line in output if "error" in line.lower()), output[-1] if output else "")
            raise RuntimeError(f"dbt parse failed in {project_dir}: {detail}")
    return manifest


def import_dagster_dbt_without_dbt_core() -> None:
    """Import dagster-dbt in its mode for a machine without dbt-core, in a process that only
    orchestrates: dbt itself runs as a subprocess (dagster-dbt's `dbt build`), which imports it.

    Installed, dbt-core is imported by `dagster_dbt` at import time (its compat module: dbt's
    adapter, result and node-type classes) and again by its node selection (dbt's graph selector
    over the manifest for the default `fqn:*`). Measured on 2 cores, CPU, min of 3: import dagster
    + dagster_dbt 2.0 s -> 1.0 s; the Dagster process of a no-op `dualwheel build` (20k orders)
    6.4 s -> 5.2 s, its dbt subprocess unchanged (~9 s). Without dbt-core, dagster-dbt falls back
    to the same node statuses and types as plain strings (its supported dbt Fusion mode) and
    selects every manifest node for `fqn:*`. What this project uses of dagster-dbt does not otherwise need
    dbt-core in-process: VenvDbtCliResource (orchestration/defs/resources.py) takes the dbt
    version from package metadata and loads no adapter. The asset graph is the same either way
    (tests/orchestration/test_dbt_fixed_cost.py compares them).

    Only `dbt.version` is hidden, and only while dagster_dbt is first imported; a later
    `import dbt` works as usual (the Spark engine runs dbt in-process with dbtRunner). Does
    nothing when dagster_dbt or dbt is already loaded, so the process stays on one mode.
    """
    if "dagster_dbt" in sys.modules or "dbt" in sys.modules:
        return
    sys.modules["dbt.version"] = None  # `from dbt.version import ...` raises ImportError
    try:
        import dagster_dbt  # noqa: F401
    finally:
        del sys.modules["dbt.version"]
