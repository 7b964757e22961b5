"""The `dualwheel` command line as a user meets it: help, doctor, ingest, demo, and clean errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import cli_env, run_cli

COMMANDS = ("generate", "ingest", "build", "demo", "report", "doctor", "ui")


def test_help_lists_every_command_and_each_has_help(tmp_path):
    env = cli_env(tmp_path)
    top = run_cli("--help", env=env, check=True).stdout
    for command in COMMANDS:
        assert command in top
        sub = run_cli(command, "--help", env=env, check=True).stdout
        assert "usage: dualwheel " + command in sub


def test_errors_are_one_line_plus_hint_without_traceback(tmp_path):
    proc = run_cli("build", "--landing", str(tmp_path / "nowhere"), env=cli_env(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.startswith("dualwheel: error: ")
    assert "hint: " in proc.stderr and "Traceback" not in proc.stderr
    bad_share = run_cli("build", "--max-reject-share", "2", env=cli_env(tmp_path))
    assert bad_share.returncode == 1 and "[0, 1]" in bad_share.stderr


def test_doctor_reports_encodings_headers_and_problems_without_writing(tmp_path):
    landing = tmp_path / "landing"
    run_cli("generate", "--out", str(landing), "--days", "8", "--orders", "1500", "--messy", "-q",
            env=cli_env(tmp_path), check=True)
    before = sorted(p.relative_to(landing) for p in landing.rglob("*"))
    proc = run_cli("doctor", "--landing", str(landing), "-q", env=cli_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "gb18030" in proc.stdout and "chinese" in proc.stdout
    assert "extra columns (dropped, never stored)" in proc.stdout
    assert "would be rejected" in proc.stdout
    assert sorted(p.relative_to(landing) for p in landing.rglob("*")) == before

    day = sorted(p for p in landing.iterdir() if p.is_dir())[0]
    (day / "orders_part9.csv").write_bytes(b"\xff\xfe\xff\x80\x80\xff")
    broken = run_cli("doctor", "--landing", str(landing), "-q", "--date", day.name, env=cli_env(tmp_path))
    assert broken.returncode == 1
    assert f"{day.name}/orders_part9.csv" in broken.stderr and "Traceback" not in broken.stderr


@pytest.mark.slow
def test_clean_simulated_exports_ingest_with_zero_rejects(tmp_path, landing_copy):
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    proc = run_cli("ingest", "--landing", str(landing_copy), "--warehouse", str(warehouse), "-q",
                   env=cli_env(tmp_path), check=True)
    assert "published raw + audit" in proc.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        read, rejected = con.execute("select sum(rows_read), sum(rows_rejected) from audit.ingested_files").fetchall()[0]
        assert read > 0 and rejected == 0
        assert con.execute("select count(*) from raw.orders").fetchall()[0][0] > 0


@pytest.mark.slow
def test_demo_on_messy_exports_prints_headline_and_writes_report(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "wh" / "dualwheel.duckdb"
    proc = run_cli("demo", "--landing", str(landing), "--warehouse", str(warehouse), "--days", "40",
                   "--orders", "4000", "-q", env=cli_env(tmp_path), check=True)
    out = proc.stdout
    for figure in ("GMV", "private share", "paid vs organic", "new ", "T30 repurchase", "top matrix accounts"):
        assert figure in out, figure
    report = warehouse.parent / "report.html"
    assert report.exists() and f"report (open in a browser): {report.resolve()}" in out
    with duckdb.connect(str(warehouse), read_only=True) as con:
        read, rejected = con.execute("select sum(rows_read), sum(rows_rejected) from audit.ingested_files").fetchall()[0]
        assert 0 < rejected < 0.05 * read  # messy data: some quarantined, gate not tripped
        # The demo judges freshness at its data's horizon, not by today's clock (issue 14).
        fresh = con.execute("select passed from audit.check_results where check_name = 'landing_is_fresh'").fetchall()
        assert fresh == [(True,)]
    assert "warn  raw/orders:landing_is_fresh" not in out and "freshness judged as of 2026-02-10T02:30:00" in out
