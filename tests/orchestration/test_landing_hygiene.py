"""What a run would otherwise skip without a word: odd date folders, unsupported export-like files,
files deleted after they were ingested (kept, said out loud, until `dualwheel forget`); and the
messages that name the real cause (delimiter, empty file, relative paths)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DUALWHEEL, cli_env, run_cli


def _dualwheel(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(DUALWHEEL), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def _add_odd_entries(landing: Path) -> None:
    first = sorted(p for p in landing.iterdir() if p.is_dir())[0]
    shutil.copytree(first, landing / "20260616")
    shutil.copytree(first, landing / "2026-13-45")
    shutil.copy(first / "orders.csv", first / "orders.txt")
    shutil.copy(first / "orders.csv", first / "orders_extra.json")
    (first / "notes.txt").write_text("not an export")


def test_doctor_names_odd_folders_and_unsupported_files_with_the_right_reason(tmp_path, landing_copy):
    _add_odd_entries(landing_copy)
    first = sorted(p.name for p in landing_copy.iterdir() if p.is_dir() and p.name[4] == "-" and p.name < "2026-13")[0]
    env = cli_env(tmp_path)
    result = run_cli("doctor", "--landing", str(landing_copy), "-q", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "warning: 20260616/: not a YYYY-MM-DD landing-date folder (rename it to 2026-06-16)" in out
    assert "warning: 2026-13-45/: not a valid date (month must be in 1..12)" in out
    assert f"warning: {first}/orders.txt: named like an export but .txt is not a supported type" in out
    assert f"warning: {first}/orders_extra.json: named like an export but .json" in out
    ignored = [line for line in out.splitlines() if line.startswith("ignored (not an export name)")]
    assert ignored == [f"ignored (not an export name): {first}/notes.txt"], out
    strict = run_cli("doctor", "--strict", "--landing", str(landing_copy), "-q", env=env)
    assert strict.returncode == 1
    assert strict.stderr.strip().splitlines()[-1].startswith("hint: ")
    assert "4 landing problem(s) would fail `dualwheel build --strict`" in strict.stderr


def test_doctor_names_a_semicolon_header_and_an_empty_file_in_plain_words(tmp_path, landing_copy):
    first = sorted(p for p in landing_copy.iterdir() if p.is_dir())[0]
    text = (first / "orders.csv").read_text(encoding="utf-8")
    (first / "orders_semicolon.csv").write_text(text.replace(",", ";"), encoding="utf-8")
    (first / "orders_tabs.csv").write_text(text.replace(",", "\t"), encoding="utf-8")
    (first / "follows_empty.csv").write_bytes(b"")
    result = run_cli("doctor", "--landing", str(landing_copy), "--date", first.name, "-q", env=cli_env(tmp_path))
    assert result.returncode == 1
    assert "orders_semicolon.csv: the header line is separated by semicolons (;), not commas" in result.stderr
    assert "orders_tabs.csv: the header line is separated by tabs, not commas" in result.stderr
    assert "follows_empty.csv: empty file (no header row)" in result.stderr
    assert "Error" not in result.stdout + result.stderr  # no library exception names (NoDataError, ...)


@pytest.mark.slow
def test_a_deleted_file_is_reported_until_forgotten_and_forget_equals_a_build_without_it(built_copy):
    # A copy of the session's build of the clean landing (tests/conftest.py: built_clean) is the
    # first build; the strict build and `forget` (which rebuilds and republishes) below still take
    # relative paths, so a first build of its own here proved nothing more (and cost ~40 s).
    tmp_path = built_copy
    landing_copy = tmp_path / "landing"
    env = cli_env(tmp_path)
    # Relative paths, from the folder the user is in (not the project folder).
    build = ("build", "--landing", "landing", "--warehouse", "wh/dualwheel.duckdb", "-q")
    warehouse = tmp_path / "wh" / "dualwheel.duckdb"
    assert warehouse.exists()

    days = sorted(p.name for p in landing_copy.iterdir() if p.is_dir())
    gone = f"{days[len(days) // 2]}/orders.csv"
    (landing_copy / gone).unlink()
    _add_odd_entries(landing_copy)

    strict = _dualwheel(*build, "--strict", cwd=tmp_path, env=env)
    assert strict.returncode == 1
    assert f"{gone}: ingested before, no longer in the landing folder" in strict.stderr
    assert "20260616/: not a YYYY-MM-DD landing-date folder" in strict.stderr
    assert strict.stderr.strip().splitlines()[-1].startswith("hint: ")

    forget = _dualwheel("forget", gone, "--landing", "landing", "--warehouse", "wh/dualwheel.duckdb", "-q",
                        cwd=tmp_path, env=env)
    assert forget.returncode == 0, forget.stdout + forget.stderr
    assert f"forgot {gone}:" in forget.stdout
    assert "no longer in the landing folder" not in forget.stdout

    # The same landing without that file, built from scratch.
    reference = tmp_path / "ref" / "dualwheel.duckdb"
    fresh = run_cli("build", "--landing", str(landing_copy), "--warehouse", str(reference), "-q",
                    env=cli_env(tmp_path / "ref"))
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    with duckdb.connect(str(warehouse), read_only=True) as a, duckdb.connect(str(reference), read_only=True) as b:
        marts = [t for (t,) in a.sql("select table_name from duckdb_tables() where schema_name = 'marts' "
                                     "order by 1").fetchall()]
        assert marts
        for table in marts:
            query = f"select * from marts.{table} order by all"
            assert a.sql(query).fetchall() == b.sql(query).fetchall(), table
        assert a.sql(f"select count(*) from audit.ingested_files where path = '{gone}'").fetchall() == [(0,)]


def test_forget_refuses_a_file_still_in_the_landing_folder(tmp_path, landing_copy):
    first = sorted(p.name for p in landing_copy.iterdir() if p.is_dir())[0]
    result = run_cli("forget", f"{first}/orders.csv", "--landing", str(landing_copy),
                     "--warehouse", str(tmp_path / "wh" / "dualwheel.duckdb"), env=cli_env(tmp_path))
    assert result.returncode == 1
    assert "is still in the landing folder; the next run would load it again" in result.stderr


def test_relative_landing_and_warehouse_are_taken_from_the_current_directory(tmp_path, small_clean_landing):
    shutil.copytree(small_clean_landing, tmp_path / "exports")
    env = cli_env(tmp_path)
    doctor = _dualwheel("doctor", "--landing", "exports", "--date", "2026-01-01", "-q", cwd=tmp_path, env=env)
    assert doctor.returncode == 0, doctor.stderr
    assert doctor.stdout.startswith(f"landing {tmp_path / 'exports'}:")
    report = _dualwheel("report", "--warehouse", "wh/none.duckdb", cwd=tmp_path, env=env)
    assert report.returncode == 1
    assert f"{tmp_path / 'wh' / 'none.duckdb'}: published warehouse not found" in report.stderr
