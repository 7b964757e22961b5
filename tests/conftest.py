"""Shared helpers for tests that run dualwheel as a real process (the way users and cron do)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DUALWHEEL = Path(sys.executable).with_name("dualwheel")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUALWHEEL_")}
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 600, check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(DUALWHEEL), *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"dualwheel {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def small_clean_landing(tmp_path_factory) -> Path:
    """A small, clean simulated landing folder shared by the end-to-end tests (read-only: copy it
    before changing anything)."""
    from simulator.exports import generate

    out = tmp_path_factory.mktemp("landing") / "clean"
    generate(out, days=45, orders=4_000, seed=7, messy=False, progress=False)
    return out


@pytest.fixture
def landing_copy(small_clean_landing, tmp_path) -> Path:
    target = tmp_path / "landing"
    shutil.copytree(small_clean_landing, target)
    return target


SALE_BRAND = "大促测试"


def add_616_sale(landing: Path) -> None:
    """A hand-built 616 sale: brand 大促测试 sells ¥550 via discovery and ¥450 via the follow page on
    2026-06-16 (a new landing date, after the simulated ones; tests/orchestration/test_build_end_to_end.py)."""
    with open(landing / "accounts.csv", "a", encoding="utf-8") as f:
        f.write("S616,大促旗舰,大促测试,flagship,,,2026-01-01\n")
    day = landing / "2026-06-16"
    day.mkdir()
    header = ("order_id,buyer_id,account_id,live_session_id,traffic_source,product_id,category,quantity,gmv,"
              "refund_amount,status,paid_at,updated_at\n")
    rows = [
        "S-1,SB1,S616,S616-L1,discovery,p1,美妆,1,300.00,,paid,2026-06-16 20:01:00,2026-06-16 20:01:00\n",
        "S-2,SB2,S616,S616-L1,discovery,p1,美妆,1,250.00,,paid,2026-06-16 20:05:00,2026-06-16 20:05:00\n",
        "S-3,SB3,S616,S616-L1,follow,p2,美妆,2,450.00,,paid,2026-06-16 20:09:00,2026-06-16 20:09:00\n",
        "S-4,SB4,S616,S616-L1,follow,p2,美妆,1,99.00,,cancelled,,2026-06-16 20:30:00\n",
    ]
    (day / "orders.csv").write_text(header + "".join(rows), encoding="utf-8")
    (day / "follows.csv").write_text(
        "event_id,user_id,account_id,action,traffic_source,live_session_id,occurred_at\n"
        "S-F1,SB1,S616,follow,discovery,S616-L1,2026-06-16 20:02:00\n", encoding="utf-8")
    (day / "live_traffic.csv").write_text(
        "live_session_id,account_id,started_at,ended_at,traffic_source,viewers,watch_seconds\n"
        "S616-L1,S616,2026-06-16 20:00:00,2026-06-16 22:00:00,discovery,800,48000\n"
        "S616-L1,S616,2026-06-16 20:00:00,2026-06-16 22:00:00,follow,200,36000\n", encoding="utf-8")


@dataclass
class Built:
    base: Path  # landing/, wh/dualwheel.duckdb (+ working database, logs), dagster_home/
    proc: subprocess.CompletedProcess  # the build's own output


@pytest.fixture(scope="session")
def built_clean(small_clean_landing, tmp_path_factory) -> Built:
    """`small_clean_landing` plus the 616 sale, built once by a real `dualwheel build` (read-only:
    `built_copy` gives a test its own copy).

    The end-to-end test checks every mart of this build against an independent computation; the
    tests that need "a warehouse already built from a clean landing" (safe publishing, interrupts,
    forget) start from a copy of it: copying its ~30 MB takes well under a second, a build 30-60 s
    (each of those modules used to run its own, the end-to-end test too).
    """
    base = tmp_path_factory.mktemp("built_clean")
    shutil.copytree(small_clean_landing, base / "landing")
    add_616_sale(base / "landing")
    # dbt's debug file log (every statement; the project's default is info): test_dbt_prestart
    # reads its parse messages, and a failing test's dbt.log then shows each query.
    proc = run_cli("build", "--landing", str(base / "landing"), "--warehouse", str(base / "wh" / "dualwheel.duckdb"),
                   "-q", env=cli_env(base, DBT_LOG_LEVEL_FILE="debug"), check=True)
    return Built(base, proc)


@pytest.fixture
def built_copy(built_clean, tmp_path) -> Path:
    """A private copy of `built_clean` in tmp_path: tmp_path/landing, tmp_path/wh/dualwheel.duckdb and
    the Dagster home `cli_env(tmp_path)` uses; change anything in it."""
    for name in ("landing", "wh", "dagster_home"):
        shutil.copytree(built_clean.base / name, tmp_path / name)
    return tmp_path


# --------------------------------------------------------------------------- quiet exit
# When Spark (py4j) and DuckDB share the test process, DuckDB's nanobind bindings print ~100
# lines of "nanobind: leaked instances" at interpreter teardown, after pytest's summary line:
# noise below a green run (exit status 0), and the last thing a reader sees. Everything pytest
# reports has been printed when pytest_unconfigure runs last, so the process ends there with
# pytest's own exit status instead of tearing the interpreter down.
def pytest_sessionfinish(session, exitstatus):
    session.config._dualwheel_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    status = getattr(config, "_dualwheel_exitstatus", None)
    if status is None or os.environ.get("DUALWHEEL_TEST_FULL_TEARDOWN"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
