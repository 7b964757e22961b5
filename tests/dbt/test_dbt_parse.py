"""`dbt parse` needs no database: it must succeed with DUALWHEEL_DB_PATH pointing nowhere."""

from __future__ import annotations

import pytest

from ._dbt_runner import invoke_dbt

pytestmark = pytest.mark.slow

MARTS = {"fct_gmv_by_source_daily", "fct_dual_wheel_daily", "fct_cohort_repurchase",
         "fct_cohort_retention_monthly", "fct_account_matrix_daily", "fct_live_session", "dim_accounts"}


def test_parse_without_database(tmp_path):
    db_path = tmp_path / "absent" / "work.duckdb"
    res = invoke_dbt(["parse"], db_path, tmp_path)
    assert res.success, res.exception
    assert not db_path.exists() and not db_path.parent.exists()

    manifest = res.result
    models = {n.name: n for n in manifest.nodes.values() if n.resource_type == "model"}
    assert MARTS <= set(models)
    for name, node in models.items():
        layer = name.split("_")[0]
        expected_schema = {"stg": "staging", "int": "intermediate"}.get(layer, "marts")
        assert node.schema == expected_schema, name
        assert "grain" in node.description.lower(), f"{name}: description must state its grain"
    for name in MARTS:
        node = models[name]
        assert node.config.contract.enforced, name
        assert all(c.description for c in node.columns.values()), f"{name}: undocumented column"
