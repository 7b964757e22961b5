"""Shared helpers for tests that run dualwheel as a real process (the way users and cron do)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
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


@pytest.fixture(scope="session")
def built_clean(small_clean_landing, tmp_path_factory) -> Path:
    """`small_clean_landing` built once by a real `dualwheel build` (read-only: use `built_copy`).

    A base folder as the tests lay it out: landing/, wh/dualwheel.duckdb (+ its working database and
    logs) and dagster_home/ (the run history of that build, what `cli_env(base)` points at). Every
    test that only needs "a warehouse already built from this landing" starts from a copy: copying
    ~30 MB takes well under a second, a build takes 30-60 s (each test used to run its own).
    """
    base = tmp_path_factory.mktemp("built_clean")
    shutil.copytree(small_clean_landing, base / "landing")
    run_cli("build", "--landing", str(base / "landing"), "--warehouse", str(base / "wh" / "dualwheel.duckdb"), "-q",
            env=cli_env(base), check=True)
    return base


@pytest.fixture
def built_copy(built_clean, tmp_path) -> Path:
    """A private copy of `built_clean` in tmp_path: tmp_path/landing, tmp_path/wh/dualwheel.duckdb and
    the Dagster home `cli_env(tmp_path)` uses; change anything in it."""
    for name in ("landing", "wh", "dagster_home"):
        shutil.copytree(built_clean / name, tmp_path / name)
    return tmp_path
