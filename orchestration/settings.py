"""Where things live, resolved once from the environment so that the CLI, the Dagster UI and the
nightly daemon all agree on the same files.

| setting | env variable | default |
|---|---|---|
| landing folder | DUALWHEEL_LANDING | data/landing |
| published warehouse (what BI reads) | DUALWHEEL_WAREHOUSE | warehouse/dualwheel.duckdb |
| reject-share gate | DUALWHEEL_MAX_REJECT_SHARE | 0.05 |

Relative paths in these variables are taken from the project root, not the current directory,
because `dagster dev` and the daemon start code servers in directories of their own (the CLI
resolves its own --landing/--warehouse flags against the current directory before they get here).

Also here: the Dagster home of a warehouse (`dagster_home_for`) and the one-run-at-a-time lock
of a warehouse (`warehouse_lock`), which the CLI and every Dagster run (UI, schedule, sensor) take.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# The venv's dbt, not whatever is on PATH: the Dagster UI may be started from a shell where
# .venv/bin is not on PATH.
VENV_DBT = Path(sys.executable).with_name("dbt")

DEFAULT_LANDING = "data/landing"
DEFAULT_WAREHOUSE = "warehouse/dualwheel.duckdb"
DEFAULT_MAX_REJECT_SHARE = 0.05
TIMEZONE = "Asia/Shanghai"


def _resolve(path: str | os.PathLike[str]) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (PROJECT_ROOT / candidate)


def work_db_for(warehouse: Path) -> Path:
    """The working database that runs write into; BI never opens it.

    It sits beside the published file (same filesystem, so the final os.replace is atomic) and
    keeps raw/staging/intermediate state between runs, which is what lets a nightly run ingest
    only new files."""
    return warehouse.with_name(warehouse.stem + ".work.duckdb")


#: Environment for every process that creates Dagster runs (the CLI, `dagster dev`, the daemon;
#: the systemd units set it too). A run over N landing dates otherwise writes one
#: ASSET_MATERIALIZATION_PLANNED event per asset per date before any step starts: 1,460 SQLite
#: events, 10.9 s of a 10M-order full build (benchmarks/results.md). With it, one event per asset
#: carries the date range. Dagster's documented cost: when such a run fails, its dates show as
#: missing rather than failed in the partition view (the run itself still shows as failed).
DAGSTER_ENV = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}


@dataclass(frozen=True)
class Settings:
    landing: Path
    warehouse: Path
    max_reject_share: float

    @property
    def work_db(self) -> Path:
        return work_db_for(self.warehouse)

    @classmethod
    def from_env(cls, *, landing: str | None = None, warehouse: str | None = None,
                 max_reject_share: float | None = None) -> "Settings":
        share = max_reject_share
        if share is None:
            raw_share = os.environ.get("DUALWHEEL_MAX_REJECT_SHARE", str(DEFAULT_MAX_REJECT_SHARE))
            try:
                share = float(raw_share)
            except ValueError:
                raise ValueError(f"DUALWHEEL_MAX_REJECT_SHARE must be a number in [0, 1], got {raw_share!r}") from None
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"the maximum reject share must be in [0, 1], got {share}")
        return cls(
            landing=_resolve(landing or os.environ.get("DUALWHEEL_LANDING", DEFAULT_LANDING)),
            warehouse=_resolve(warehouse or os.environ.get("DUALWHEEL_WAREHOUSE", DEFAULT_WAREHOUSE)),
            max_reject_share=share,
        )

    def export_to_env(self) -> None:
        """Make these settings visible to everything this process starts (dbt subprocesses,
        Dagster code servers)."""
        os.environ["DUALWHEEL_LANDING"] = str(self.landing)
        os.environ["DUALWHEEL_WAREHOUSE"] = str(self.warehouse)
        os.environ["DUALWHEEL_MAX_REJECT_SHARE"] = repr(self.max_reject_share)
        os.environ["DUALWHEEL_DB_PATH"] = str(self.work_db)
        for name, value in DAGSTER_ENV.items():
            os.environ.setdefault(name, value)


def dbt_target_for(warehouse: Path) -> Path:
    """dbt's target folder for one warehouse's runs: `<stem>.dbt` beside it.

    dbt re-parses the whole project when the profile changed since the target's last parse, and
    the profile holds the working database's path: one shared target folder made every run after
    a run on another warehouse (a test, a benchmark, a second brand) parse 31 models, 140 tests
    and 546 macros from scratch ("Unable to do partial parsing because profile has changed"),
    and two warehouses building at once overwrote each other's run_results.json, which the CLI
    reads to name failed tests."""
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.stem + ".dbt")


def dagster_home_for(warehouse: Path) -> Path:
    """The Dagster home (run history, schedules, event logs) of one warehouse: a folder beside it
    named `<stem>.dagster` (warehouse/dualwheel.duckdb -> warehouse/dualwheel.dagster), so the
    histories of two warehouses never mix. DAGSTER_HOME, when set, wins (a server's systemd
    units set it, see orchestration/deploy)."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured).expanduser()
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.stem + ".dagster")


# --------------------------------------------------------------------------- one run at a time


def lock_path_for(warehouse: Path) -> Path:
    return Path(warehouse).with_name(Path(warehouse).name + ".lock")


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse's run lock (and the caller chose not to wait)."""

    def __init__(self, warehouse: Path, holder: str):
        super().__init__(f"{warehouse}: another dualwheel run is using this warehouse ({holder})")
        self.warehouse = warehouse
        self.holder = holder


#: Lock files this process holds, with their depth: the CLI takes the lock for the whole command
#: and the Dagster runs it starts in-process take it again through the warehouse resource.
_HELD: dict[Path, int] = {}


def _holder(fd: int) -> str:
    """What the holder wrote into the lock file: 'pid 123, `dualwheel build`, since 08:01:02'."""
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if text:
            return text
    return "pid unknown"


@contextlib.contextmanager
def warehouse_lock(warehouse: Path, *, wait: bool = True, what: str | None = None,
                   on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the warehouse's run lock (`<warehouse>.lock`, an flock) for the duration.

    One run at a time per warehouse: two runs would fight over the working database's single
    write lock half-way through (DuckDB fails the second opener at once) and publish in either
    order. The kernel drops an flock when its process dies, SIGKILL included, so a crashed run
    never leaves a stale lock behind. `wait`: block until the other run ends (calling
    `on_wait(holder)` first); otherwise raise WarehouseBusy naming the holder's pid.
    Re-entrant within a process.
    """
    path = lock_path_for(warehouse)
    if path in _HELD:
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write in the warehouse folder {path.parent} (creating the run lock "
                                 f"{path.name}): {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise WarehouseBusy(Path(warehouse), holder) from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        label = what or " ".join(["dualwheel", *sys.argv[1:2]])
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {label}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        _HELD[path] = 1
        try:
            yield
        finally:
            _HELD.pop(path, None)
    finally:
        os.close(fd)  # releases the flock
