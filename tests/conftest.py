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
