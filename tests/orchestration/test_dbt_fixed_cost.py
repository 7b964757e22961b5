"""The fixed cost of a `dualwheel build`: what the orchestrating process leaves to dbt's own.

dbt runs in its own subprocess (dagster-dbt's `dbt build`), so the Dagster process imports
dagster-dbt without dbt-core (orchestration/dbt_manifest.py: ~1 s of CPU per build). These tests
load the real definitions in fresh interpreters, both ways, and require the same asset graph.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import PROJECT_ROOT, cli_env

# Prints one JSON line: whether dbt was imported, dagster-dbt's mode, and every asset and check
# spec as the UI shows them (key, group, deps, description, owners, metadata keys; check name,
# blocking, description, extra deps).
LOAD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    mode, landing, warehouse = sys.argv[1:4]
    if mode == "with-dbt-core":
        import dbt.version  # already loaded: dagster-dbt imports it as it does by default
    from orchestration import cli
    from orchestration.settings import Settings
    settings = Settings.from_env(landing=landing, warehouse=warehouse)
    defs = cli._load_definitions(settings, show_progress=False)  # what `dualwheel build` loads
    dbt_loaded = "dbt" in sys.modules
    import dagster_dbt
    specs = {}
    for assets_def in defs.get_repository_def().assets_defs_by_key.values():
        for spec in assets_def.specs:
            specs[spec.key.to_user_string()] = {
                "group": spec.group_name, "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
                "description": spec.description, "owners": sorted(spec.owners),
                "metadata": sorted(k for k in (spec.metadata or {}) if k != "dagster_dbt/dagster_dbt_translator"),
                "kinds": sorted(spec.kinds or [])}
        for check in assets_def.check_specs:
            specs["check " + check.asset_key.to_user_string() + ":" + check.name] = {
                "blocking": check.blocking, "description": check.description,
                "deps": sorted(d.asset_key.to_user_string() for d in check.additional_deps)}
    import dbt.version  # still importable afterwards (the Spark engine runs dbtRunner in-process)
    print(json.dumps({"dbt_loaded_by_definitions": dbt_loaded,
                      "dagster_dbt_sees_dbt_core": dagster_dbt.compat.DBT_PYTHON_VERSION is not None,
                      "dbt_version": dbt.version.__version__, "specs": specs}))
""")


def _load(mode: str, tmp_path) -> dict:
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", LOAD, mode, str(landing), str(tmp_path / "wh" / "dualwheel.duckdb")],
                          env=cli_env(tmp_path / mode), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cli_loads_dagster_dbt_without_dbt_core_and_the_same_asset_graph(tmp_path):
    lean = _load("as-the-cli", tmp_path)
    full = _load("with-dbt-core", tmp_path)
    assert not lean["dbt_loaded_by_definitions"] and not lean["dagster_dbt_sees_dbt_core"]
    assert full["dbt_loaded_by_definitions"] and full["dagster_dbt_sees_dbt_core"]
    assert lean["dbt_version"] == full["dbt_version"]  # dbt is hidden only while dagster_dbt loads
    assert lean["specs"] == full["specs"]
    # the dbt models, the dbt tests as checks (blocking unless warn-only), and the multi-parent
    # source tests (orchestration/defs/warehouse/dbt_models.py) are all there
    assert "marts/fct_dual_wheel_daily" in lean["specs"]
    checks = {k: v for k, v in lean["specs"].items() if k.startswith("check ")}
    assert len(checks) > 100
    assert any(v["blocking"] for v in checks.values()) and any(not v["blocking"] for v in checks.values())
    assert any(k.startswith("check raw/") and v["deps"] for k, v in checks.items())
