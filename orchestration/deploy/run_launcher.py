"""A run launcher whose runs can be health-checked, so Dagster's run monitoring fails dead runs.

Why: the instance allows one run at a time (every run writes the same working DuckDB file). A
run whose process was killed (SIGKILL, OOM killer, a reboot) stays STARTED forever, and with it
every queued run: the UI's, the nightly schedule's. Dagster's run monitoring only detects a dead
worker when the launcher can check it, and its DefaultRunLauncher cannot; `dualwheel build` runs
jobs in its own process, with no launcher at all.

Every dualwheel run, wherever it started, reports its process id in an engine event ("Executing
steps in process (pid: N)" from the in-process executor; "Started process for run (pid: N)" from
a code server). This launcher launches runs like the default one and answers the monitoring
daemon's health check from that pid: a run whose process is gone is reported FAILED, and the
daemon marks it failed within one `run_monitoring.poll_interval_seconds`.

Limits: the check assumes the daemon runs on the machine that ran the run (dualwheel is a
one-machine deployment: the working database is a local file). A run that has not yet reported
a pid counts as running; `run_monitoring.start_timeout_seconds` covers runs that never start.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterEventType, DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus


def _process_start_time(pid: int) -> float | None:
    """Epoch seconds at which process `pid` started, None if it does not exist or is a zombie.

    Linux only (/proc); elsewhere None is never returned for a live pid (see _alive)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    # Fields after the command name (which may contain spaces) start at field 3 (state).
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):  # a killed child not yet reaped by its parent is dead too
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_is_alive(pid: int, since: float | None = None) -> bool:
    """Whether `pid` runs and (when `since` is given, on Linux) started no later than `since`,
    i.e. it is not another process that reused the number."""
    if Path("/proc/self/stat").exists():
        started = _process_start_time(pid)
        # 2 s of slack: /proc's start time is rounded to clock ticks and btime to seconds.
        return started is not None and (since is None or started <= since + 2)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_worker_pid(instance, run_id: str) -> tuple[int, float] | None:
    """The pid of the process executing a run and when it said so, from the run's engine events."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        pid = (data.metadata or {}).get("pid") if data is not None else None
        if pid is not None:
            try:
                return int(getattr(pid, "value", pid)), record.timestamp
            except (TypeError, ValueError):
                continue
    return None


class DualwheelRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher plus a worker health check from the run's reported pid."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        found = run_worker_pid(self._instance, run.run_id)
        if found is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no process reported yet")
        pid, reported_at = found
        if process_is_alive(pid, since=reported_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the process that ran this run (pid {pid}) is gone (killed or crashed) without ending the run")
