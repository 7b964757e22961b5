"""`dualwheel`: the command line for people and for cron-less servers.

Every command prints one clear line plus a hint on error (the traceback only with --debug) and
exits non-zero, so it can sit in a shell script or a CI job.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path


class CliError(Exception):
    """An error for the person at the terminal: a message and a hint, no traceback."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


# ---------------------------------------------------------------------------------------------
# running Dagster jobs in-process


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    seconds: float
    failed_checks: list[tuple[str, str]] = field(default_factory=list)  # (check, description)
    warned_checks: list[tuple[str, str]] = field(default_factory=list)
    passed_checks: int = 0
    step_errors: list[tuple[str, str]] = field(default_factory=list)  # (step, message)
    skipped_steps: list[str] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    log_file: Path | None = None

    def stages(self) -> str:
        return ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.step_seconds.items())


_DEFINITIONS = None


def _load_definitions(settings, *, show_progress: bool):
    global _DEFINITIONS
    settings.export_to_env()
    os.environ["DUALWHEEL_PROGRESS"] = "1" if show_progress else "0"
    from orchestration.settings import dagster_home_for

    os.environ["DAGSTER_HOME"] = str(dagster_home_for(settings.warehouse))  # the home `dualwheel ui` shows
    _prepare_dagster_home(Path(os.environ["DAGSTER_HOME"]))
    _open_dagster_instance(Path(os.environ["DAGSTER_HOME"]))
    if _DEFINITIONS is None:  # loading costs seconds; a build runs two jobs
        # (importing it also imports dagster-dbt without dbt-core: see orchestration/definitions.py)
        from orchestration.definitions import defs_for_cli

        _DEFINITIONS = defs_for_cli()
    return _DEFINITIONS


_INSTANCE_OPENED = False


def _cli_instance():
    """The Dagster instance of DAGSTER_HOME, without compute-log capture for the CLI's runs.

    Dagster's local compute-log manager mirrors a run's stdout/stderr through a `tail -F` and a
    Python watcher process it starts per run; a Ctrl-C at the terminal reaches them too, and the
    watcher printed a KeyboardInterrupt traceback before dualwheel's own line. The CLI keeps its
    run's output in warehouse/logs/ already (runs launched from the UI keep their compute logs).
    """
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef  # public InstanceRef has no `overrides`

    ref = InstanceRef.from_dir(os.environ["DAGSTER_HOME"], overrides={"compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}})
    return dg.DagsterInstance.from_ref(ref)


def _open_dagster_instance(home: Path) -> None:
    """Create (first time) or open the Dagster instance's storages, one process at a time.

    Two processes starting on a fresh home both created the SQLite storages and stamped their
    schema version at once, which left "alembic_version has more than one head" in them for good
    (every later run failed). An flock in the home serialises the first opening; a damaged home
    is named in one line with what to do.
    """
    global _INSTANCE_OPENED
    if _INSTANCE_OPENED:
        return
    import fcntl

    import dagster as dg

    with open(home / ".dualwheel-init.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)
            instance.dispose()
        except Exception as exc:  # noqa: BLE001 - any failure here means the home is unusable
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CliError(f"{home}: the Dagster home (run history) cannot be opened: {first[:300]}",
                           hint=f"move it aside (`mv {home} {home}.broken`) and run again: a new one is created; "
                                "only the Dagster run history is lost, the warehouse is untouched") from None
    _INSTANCE_OPENED = True


def _prepare_dagster_home(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # Telemetry off (Dagster would otherwise write under ~/.dagster and try the network) and
        # one run at a time (the working database has a single writer): the production config.
        config.write_text((Path(__file__).parent / "deploy" / "dagster.yaml").read_text())


def _step_error_message(event) -> str:
    data = event.event_specific_data
    error = getattr(data, "error", None)
    if error is None:
        return event.message or "failed"
    # The user-facing cause is the innermost error; Dagster wraps it once or twice.
    while getattr(error, "cause", None) is not None:
        error = error.cause
    # "ingestion.errors.FilesRejected: 2026-06-30/orders.csv: ..." → the part a person acts on.
    return re.sub(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Rejected): ", "", (error.message or "").strip())


def run_job(job_name: str, settings, dates: list[str], *, show_progress: bool = True,
            asset_selection: list[list[str]] | None = None, extra_tags: dict[str, str] | None = None) -> RunOutcome:
    import dagster as dg

    from orchestration.partitions import range_tags

    definitions = _load_definitions(settings, show_progress=show_progress)
    job = definitions.resolve_job_def(job_name)
    tags = {**(range_tags(dates[0], dates[-1]) if dates else {}), **(extra_tags or {}), **_own_run_tags()}
    selection = [dg.AssetKey(k) for k in asset_selection] if asset_selection else None
    started = time.perf_counter()
    instance = _cli_instance()
    _sync_partitions(instance, settings)
    # dagster-dbt echoes dbt's whole log to stdout; keep it in a file and show only the outcome.
    log_file = settings.warehouse.parent / "logs" / f"{job_name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as log, contextlib.redirect_stdout(log), _runs_listed_in_ui(instance, definitions, job_name):
        result = job.execute_in_process(
            instance=instance, tags=tags, raise_on_error=False, asset_selection=selection,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    _raise_if_interrupted()  # Dagster turns an interrupt into a failed run; it is not the input's fault
    outcome = RunOutcome(success=result.success, run_id=result.run_id, seconds=time.perf_counter() - started,
                         log_file=log_file)
    for stats in instance.get_run_step_stats(result.run_id):
        if stats.start_time and stats.end_time:
            outcome.step_seconds[stats.step_key] = stats.end_time - stats.start_time
    for event in result.all_events:
        kind = event.event_type_value
        if kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.passed:
                outcome.passed_checks += 1
                continue
            description = evaluation.description or ""
            if not description:
                meta = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
                description = ", ".join(f"{k}={v}" for k, v in meta.items() if not str(k).startswith("dagster"))[:300]
            severity = getattr(evaluation.severity, "value", str(evaluation.severity))
            (outcome.failed_checks if severity == "ERROR" else outcome.warned_checks).append((name, description))
        elif kind == "STEP_FAILURE":
            outcome.step_errors.append((event.step_key, _step_error_message(event)))
        elif kind == "STEP_SKIPPED" or (kind == "ENGINE_EVENT" and "Not executing" in (event.message or "")):
            outcome.skipped_steps.append(event.step_key or "")
    return outcome


def _sync_partitions(instance, settings) -> None:
    """Every landing date present is a partition (the range tags of a run select among them)."""
    from ingestion.load import discover
    from orchestration.partitions import sync_landing_dates

    if settings.landing.is_dir():
        sync_landing_dates(instance, [d.isoformat() for d in discover(settings.landing).dates])


@contextlib.contextmanager
def _runs_listed_in_ui(instance, definitions, job_name: str):
    """Runs created meanwhile carry the UI's origin for `job_name`, so the job page and the
    Overview timeline list them (execute_in_process has no parameter for it)."""
    from orchestration.defs.automation.jobs import ui_job_origin

    origin = ui_job_origin(job_name, definitions.get_repository_def().name)
    create = instance.create_run_for_job
    instance.create_run_for_job = lambda **kwargs: create(**{**kwargs, "remote_job_origin": origin})
    try:
        yield
    finally:
        del instance.create_run_for_job


def _failed_dbt_nodes(warehouse: Path, limit: int = 10) -> list[str]:
    """The dbt tests/models that failed in the warehouse's last dbt run, from its run_results.json."""
    import json

    from orchestration.settings import dbt_target_for

    path = dbt_target_for(warehouse) / "run_results.json"
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    failed = [r for r in results if r.get("status") in ("error", "fail")]
    lines = []
    for r in failed[:limit]:
        name = r["unique_id"].split(".", 2)[-1]
        detail = f"{r['failures']} failing row(s)" if r.get("failures") else (r.get("message") or "").splitlines()[0:1]
        lines.append(f"{name}: {detail if isinstance(detail, str) else ''.join(detail)}")
    if len(failed) > limit:
        lines.append(f"… and {len(failed) - limit} more")
    return lines


def _merge(first: RunOutcome, second: RunOutcome) -> RunOutcome:
    return RunOutcome(success=first.success and second.success, run_id=second.run_id,
                      seconds=first.seconds + second.seconds, failed_checks=first.failed_checks + second.failed_checks,
                      warned_checks=first.warned_checks + second.warned_checks,
                      passed_checks=first.passed_checks + second.passed_checks,
                      step_errors=first.step_errors + second.step_errors,
                      skipped_steps=first.skipped_steps + second.skipped_steps,
                      step_seconds={**first.step_seconds, **second.step_seconds}, log_file=second.log_file)


def _pending_dates(settings) -> list[str]:
    """Landing dates with new or changed files, read from the working database (read-only)."""
    import duckdb

    from ingestion.load import pending_landing_dates

    if not settings.work_db.exists():
        return [d.isoformat() for d in pending_landing_dates(None, settings.landing)]
    try:
        con = duckdb.connect(str(settings.work_db), read_only=True)
    except duckdb.Error as exc:
        raise CliError(f"{settings.work_db}: cannot open the working database ({str(exc).splitlines()[0]})",
                       hint="another dualwheel run (or the Dagster UI) is writing it; wait for it to finish") from None
    try:
        return [d.isoformat() for d in pending_landing_dates(con, settings.landing)]
    finally:
        con.close()


# New files will be validated, so Great Expectations must be imported and its suites built (~3 s
# of one core in the 10M-order build's first step). A background process does that while this
# one loads Dagster, and then validates the batches sent to it (quality.start_background_process).
# What travels is quality.prepare_batch's output: a 1M-row chunk of a backfill goes as its
# 50k-row sample of the suite's columns (the exact recounts stay here), so the hand-over no
# longer grows with the backfill. (It used to be the whole chunk: ~0.6 s per 1M rows, which made
# the 365-day 10M build ~8 s slower in the background and kept big backfills in-process.)


def _ingest(settings, *, show_progress: bool) -> RunOutcome:
    """Run ingestion for the pending landing dates only (the roster always)."""
    pending = _pending_dates(settings)
    if pending:
        print(f"  {len(pending)} landing date(s) with new or changed files: {pending[0]} .. {pending[-1]}")
        from ingestion import quality

        quality.start_background_process()
        try:
            return run_job("ingest_job", settings, pending, show_progress=show_progress)
        finally:
            quality.stop_background_process()
    print("  no new or changed export files; checking the roster only")
    return run_job("ingest_job", settings, [], show_progress=show_progress, asset_selection=[["raw", "accounts"]])


def _report_outcome(outcome: RunOutcome, what: str, warehouse: Path) -> None:
    for name, description in outcome.warned_checks:
        print(f"  warn  {name}: {description}", file=sys.stdout if outcome.success else sys.stderr)
    if outcome.success:
        return
    lines = [f"{what} failed (run {outcome.run_id[:8]}, {outcome.seconds:.0f} s); the published warehouse is unchanged."]
    for name, description in outcome.failed_checks:
        lines.append(f"  check failed  {name}: {description}")
    for step, message in outcome.step_errors:
        if "blocking asset check" in message and outcome.failed_checks:
            continue  # already listed above, with its figures
        if step == "dbt_models":
            failed_tests = _failed_dbt_nodes(warehouse)
            if failed_tests:
                lines.extend(f"  dbt failed    {line}" for line in failed_tests)
                continue
        lines.append(f"  step failed   {step}: {message[:2000]}")
    if outcome.log_file is not None:
        lines.append(f"  full log: {outcome.log_file}")
    raise CliError("\n".join(lines), hint=_machine_problem_hint("\n".join(lines))
                   or "fix the input named above (or the threshold) and run the same command again")


# ---------------------------------------------------------------------------------------------
# interrupts (Ctrl-C, SIGTERM) and one run at a time


class Interrupted(Exception):
    """The run was stopped by a signal; main() prints one line and exits 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# Dagster replaces the SIGINT/SIGTERM handlers while a run executes and turns the interrupt into
# a failed run (raise_on_error=False then returns normally), so which signal arrived is recorded
# below the handlers: Python writes the number of every signal it handles to the wakeup fd.
_SIGNAL_PIPE: int | None = None
_SIGNALS_SEEN: list[int] = []


def _watch_signals() -> None:
    global _SIGNAL_PIPE
    import signal

    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    _SIGNAL_PIPE = read_end

    def interrupt(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)  # as Ctrl-C: stop children, roll back, one line


def _interrupt_signal() -> int | None:
    import signal

    if _SIGNAL_PIPE is not None:
        with contextlib.suppress(BlockingIOError, OSError):
            _SIGNALS_SEEN.extend(os.read(_SIGNAL_PIPE, 64))
    seen = [n for n in _SIGNALS_SEEN if n in (signal.SIGINT, signal.SIGTERM)]
    return seen[0] if seen else None


def _raise_if_interrupted() -> None:
    signum = _interrupt_signal()
    if signum is not None:
        raise Interrupted(signum)


def _own_run_tags() -> dict[str, str]:
    """Tags the runs this process starts, so an interrupted command can close its own runs."""
    return {"dualwheel/cli_pid": str(os.getpid())}


def _close_own_runs() -> None:
    """Mark this process's unfinished Dagster runs CANCELED: a run left STARTED with no process
    behind it would hold the UI's and the schedule's one-run queue (issue 14)."""
    if not _INSTANCE_OPENED:
        return
    import dagster as dg

    with contextlib.suppress(Exception):  # best effort while stopping; never hide the interrupt
        instance = dg.DagsterInstance.get()
        unfinished = instance.get_runs(filters=dg.RunsFilter(
            tags=_own_run_tags(),
            statuses=[dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                      dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]))
        for run in unfinished:
            instance.report_run_canceled(run, message="dualwheel was interrupted")


def _stop_children() -> None:
    from ingestion import quality

    with contextlib.suppress(Exception):
        quality.stop_background_process(wait=False)


def _published_state(settings) -> tuple | None:
    try:
        stat = settings.warehouse.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _interrupted_message(signum: int, settings, before: tuple | None) -> str:
    import signal

    name = signal.Signals(signum).name
    if settings is not None and _published_state(settings) != before:
        return (f"dualwheel: interrupted ({name}) after publishing {settings.warehouse}: "
                "BI sees the new warehouse, whose every gate passed")
    return f"dualwheel: interrupted ({name}); the published warehouse is unchanged"


#: Commands that write the working database and publish: one at a time per warehouse.
_LOCKED_COMMANDS = {"build", "demo", "ingest", "forget"}


def _add_strict_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true",
                        help="fail on landing problems that are otherwise warnings: folders that look like "
                             "dates but are not YYYY-MM-DD, export-like files of an unsupported type, "
                             "ingested files that have disappeared")


def _add_wait_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--wait", dest="wait", action="store_true", default=True,
                       help="if another run is using this warehouse, wait for it to finish (default)")
    group.add_argument("--no-wait", dest="wait", action="store_false",
                       help="if another run is using this warehouse, fail at once naming its pid")


def _run_locked(args, settings) -> int:
    from orchestration.settings import WarehouseBusy, warehouse_lock

    def waiting(holder: str) -> None:
        print(f"waiting for the other run on {settings.warehouse} to finish ({holder}); "
              "Ctrl-C to stop waiting, --no-wait to fail instead", file=sys.stderr, flush=True)

    try:
        with warehouse_lock(settings.warehouse, wait=getattr(args, "wait", True),
                            what=f"dualwheel {args.command}", on_wait=waiting):
            return args.func(args) or 0
    except WarehouseBusy as exc:
        raise CliError(str(exc), hint="wait for it (or run with --wait), or stop that process") from None


_MACHINE_PROBLEMS = {
    "No space left on device": "the disk is full: free space where the path above lives, then run the same command again",
    "Disk quota exceeded": "the disk quota is used up: free space, then run the same command again",
    "Permission denied": "this user may not write the path above: fix its permissions (or point --warehouse elsewhere)",
    "Read-only file system": "the path above is on a read-only file system: point --warehouse at a writable folder",
}


def _machine_problem_hint(text: str) -> str | None:
    """A failed step caused by the machine (disk, permissions), not by the input files."""
    for marker, hint in _MACHINE_PROBLEMS.items():
        if marker in text:
            return hint
    return None


def _resolve_path_args(args) -> None:
    """Relative --landing / --warehouse are the user's, relative to where they typed the command
    (defaults and the environment variables keep their documented project-relative meaning)."""
    for name in ("landing", "warehouse"):
        value = getattr(args, name, None)
        if value:
            setattr(args, name, str(Path(value).expanduser().absolute()))


def _os_error_message(exc: OSError) -> str:
    """'cannot write warehouse/x.duckdb: Permission denied' rather than a bare PermissionError."""
    import errno

    reason = exc.strerror or str(exc)
    target = exc.filename if exc.filename is not None else None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the disk{f' writing {target}' if target else ''} ({reason})"
    if target is None:
        return reason if exc.strerror else str(exc)
    return f"{target}: {reason}" + (f" (and {exc.filename2})" if exc.filename2 else "")


# ---------------------------------------------------------------------------------------------
# commands


def _settings(args):
    from orchestration.settings import Settings

    _resolve_path_args(args)
    try:
        return Settings.from_env(landing=getattr(args, "landing", None), warehouse=getattr(args, "warehouse", None),
                                 max_reject_share=getattr(args, "max_reject_share", None))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _landing_dates(settings) -> list[str]:
    from ingestion.load import discover

    if not settings.landing.is_dir():
        raise CliError(f"{settings.landing}: landing folder not found",
                       hint="point --landing (or DUALWHEEL_LANDING) at your exports, or run `dualwheel generate --out DIR`")
    dates = [d.isoformat() for d in discover(settings.landing).dates]
    if not dates:
        raise CliError(f"{settings.landing}: no landing-date folders (YYYY-MM-DD/) found",
                       hint="exports go in <landing>/<YYYY-MM-DD>/orders*.csv, follows*.csv, live_traffic*.csv")
    return dates


def _landing_problems(settings, *, with_missing: bool = True):
    """Odd date folders, unsupported export-like files and ingested files gone from the landing."""
    from ingestion.hygiene import missing_files, scan_landing

    problems = scan_landing(settings.landing)
    if with_missing and settings.work_db.exists():
        import duckdb

        try:
            con = duckdb.connect(str(settings.work_db), read_only=True)
        except duckdb.Error:
            return problems  # busy or unreadable: the run itself reports that
        try:
            problems += missing_files(con, settings.landing)
        finally:
            con.close()
    return problems


def _warn_about_landing(settings, args) -> None:
    """Print what this run will not load (or will keep though it is gone); --strict: fail."""
    problems = _landing_problems(settings)
    if not problems:
        return
    if getattr(args, "strict", False):
        raise CliError(f"{len(problems)} landing problem(s) (--strict):\n  "
                       + "\n  ".join(p.describe() for p in problems),
                       hint="rename or remove these (or `dualwheel forget PATH` a vanished file), or run without --strict")
    for problem in problems:
        print(f"  warning: {problem.describe()}")


def cmd_forget(args) -> int:
    """Remove one vanished file's rows (raw, rejected, audit), then rebuild and publish."""
    import duckdb

    from ingestion.load import forget_file
    from ingestion.readers import relative_posix

    settings = _settings(args)
    target = Path(args.path)
    candidate = target if target.is_absolute() else Path.cwd() / target
    if candidate.is_relative_to(settings.landing):
        name = relative_posix(candidate, settings.landing)
    else:
        name = target.as_posix()
    if (settings.landing / name).exists():
        raise CliError(f"{settings.landing / name} is still in the landing folder; the next run would load it again",
                       hint="move or delete the file first, then forget it")
    if not settings.work_db.exists():
        raise CliError(f"{settings.work_db}: no working database yet, nothing to forget")
    with duckdb.connect(str(settings.work_db)) as con:
        try:
            gone = forget_file(con, name)
        except KeyError:
            known = [p for (p,) in con.execute("select path from audit.ingested_files order by path").fetchall()]
            close = [p for p in known if Path(p).name == Path(name).name][:5]
            raise CliError(f"{name}: not an ingested file of {settings.warehouse}",
                           hint=("paths are relative to the landing folder, e.g. " + ", ".join(close)) if close
                           else "paths are relative to the landing folder, as `dualwheel build` prints them") from None
    print(f"forgot {gone.path}: {gone.raw_rows:,} {gone.export} row(s) and {gone.rejected_rows:,} rejected row(s) "
          f"removed; rebuilding every date (the marts must no longer count them)")
    return cmd_build(args)


def cmd_generate(args) -> int:
    from simulator.exports import Knobs, generate

    if args.format == "merchant" and args.messy:
        raise CliError("--messy and --format merchant cannot be combined",
                       hint="--format merchant already writes workbooks with the platform's own headers and words")
    if not 0 <= args.reexport_share <= 1 or args.files_per_day < 1:
        raise CliError("--reexport-share must be between 0 and 1 and --files-per-day at least 1")
    knobs = Knobs(reexport_share=args.reexport_share, files_per_day=args.files_per_day)
    summary = generate(Path(args.out), days=args.days, orders=args.orders, seed=args.seed, messy=args.messy,
                       progress=not args.quiet, fmt=args.format, knobs=knobs)
    print(summary.describe())
    return 0


def cmd_ingest(args) -> int:
    from warehouse.publish import publish

    settings = _settings(args)
    engine = _engine(args, settings)
    dates = _landing_dates(settings)
    if engine.is_spark:
        return _run_on_spark(settings, engine, dates, with_dbt=False)
    print(f"ingesting from {settings.landing} ({len(dates)} landing date(s) {dates[0]} .. {dates[-1]})")
    _warn_about_landing(settings, args)
    outcome = _ingest(settings, show_progress=not args.quiet)
    _report_outcome(outcome, "ingestion", settings.warehouse)
    import duckdb

    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        from ingestion.gates import unverified_files

        unverified = unverified_files(con)  # e.g. a failed file deleted since: its rows are still in raw
        if unverified:
            raise CliError(f"{len(unverified)} landing file(s) have no passing gate verdict: "
                           + ", ".join(f"{p} ({v})" for p, v in unverified[:5]) + "; the published warehouse is unchanged",
                           hint="fix those files, or `dualwheel forget PATH` the ones deleted from the landing folder")
        schemas = {s for (s,) in con.sql("select distinct schema_name from duckdb_tables()").fetchall()}
        summary = con.sql(
            "select export, count(*) files, sum(rows_read), sum(rows_accepted), sum(rows_rejected) "
            "from audit.ingested_files group by export order by export").fetchall()
    published = publish(settings.work_db, settings.warehouse, run_id=outcome.run_id,
                        schemas=tuple(s for s in ("raw", "audit", "marts") if s in schemas))
    print(f"{'export':<14}{'files':>7}{'rows read':>12}{'accepted':>12}{'rejected':>10}")
    for export, files, read, accepted, rejected in summary:
        print(f"{export:<14}{files:>7}{read:>12,}{accepted:>12,}{rejected:>10,}")
    print(f"published raw + audit to {published.path} in {outcome.seconds:.0f} s")
    return 0


def cmd_build(args) -> int:
    settings = _settings(args)
    engine = _engine(args, settings)
    dates = _landing_dates(settings)
    if engine.is_spark:
        return _run_on_spark(settings, engine, dates, with_dbt=True)
    print(f"building from {len(dates)} landing date(s) {dates[0]} .. {dates[-1]} → {settings.warehouse}")
    _warn_about_landing(settings, args)
    from orchestration import dbt_prestart

    # dbt imports and parses for this warehouse while ingestion runs (orchestration/dbt_prestart.py).
    if os.environ.get("DUALWHEEL_DBT_PRESTART", "1") != "0":
        dbt_prestart.start(settings.warehouse, settings.work_db)
    try:
        outcome = _ingest(settings, show_progress=not args.quiet)
        if outcome.success:  # a failed gate stops here: nothing downstream runs, nothing is published
            from orchestration.defs.warehouse.publish import INGEST_RUN_TAG

            outcome = _merge(outcome, run_job("transform_job", settings, [], show_progress=not args.quiet,
                                              extra_tags={INGEST_RUN_TAG: outcome.run_id}))
    finally:
        dbt_prestart.stop(settings.warehouse)
    _report_outcome(outcome, "build", settings.warehouse)
    # Counted per check evaluation, as the report (audit.check_results) and the UI's run pages count.
    print(f"build succeeded in {outcome.seconds:.0f} s: checks {outcome.passed_checks} passed, "
          f"{len(outcome.warned_checks)} warned, {len(outcome.failed_checks)} failed; published {settings.warehouse}")
    print(f"  stages: {outcome.stages()}")
    return 0


def _engine(args, settings):
    from orchestration.engines import EngineSettings

    try:
        engine = EngineSettings.from_env(settings.warehouse, engine=getattr(args, "engine", None),
                                         spark_master=getattr(args, "spark_master", None),
                                         lake=getattr(args, "lake", None))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    engine.export_to_env()
    return engine


def _run_on_spark(settings, engine, dates: list[str], *, with_dbt: bool) -> int:
    """`build` / `ingest` on Spark (orchestration/engines/spark.py); same messages as on DuckDB."""
    import uuid
    import warnings

    from ingestion.errors import FileRejected
    from orchestration.engines import spark as spark_engine
    from orchestration.spark_session import SparkUnavailable

    what = "build" if with_dbt else "ingestion"
    warnings.filterwarnings("ignore", category=FutureWarning)  # pyspark on pandas 3 (see stack notes)
    master = engine.spark_master or "local[*]"
    print(f"{what} on Spark ({master}, lake {engine.lake}) from {len(dates)} landing date(s) "
          f"{dates[0]} .. {dates[-1]} → {settings.warehouse}")
    started = time.perf_counter()
    run = spark_engine.SparkRun(run_id=uuid.uuid4().hex)
    unchanged = "; the published warehouse is unchanged."
    try:
        spark = spark_engine.spark_session(engine)
        run.stages["session"] = time.perf_counter() - started
        result = spark_engine.ingest(spark, settings, engine, run)
        print(f"  ingested on {len(set(w.split(' task=')[0] for w in result.workers.values()))} executor "
              f"process(es): {len(result.changed)} file(s) loaded, "
              f"{len(result.results) - len(result.changed)} unchanged")
        if with_dbt:
            spark_engine.run_dbt(spark, run)
            spark_engine.record_freshness_check(settings, run)
        schemas = ("marts", "audit") if with_dbt else ("raw", "audit")
        # A build publishes its checks (audit.check_results) as the DuckDB engine's build does.
        spark_engine.publish_from_lake(spark, settings, engine, run, schemas=schemas, with_checks=with_dbt)
    except SparkUnavailable as exc:
        raise CliError(str(exc), hint="start the master (or fix --spark-master / DUALWHEEL_SPARK_MASTER), "
                                      "or leave it unset to run Spark locally") from None
    except FileRejected as exc:
        raise CliError(f"{what} failed on Spark{unchanged}\n  step failed   ingest: {exc}",
                       hint="fix the input named above (or the threshold) and run the same command again") from None
    except spark_engine.GateFailed as exc:
        lines = "\n".join(f"  check failed  {line}" for line in str(exc).splitlines())
        raise CliError(f"{what} failed on Spark{unchanged}\n{lines}",
                       hint="fix the input named above (or the threshold) and run the same command again") from None
    except spark_engine.DbtFailed as exc:
        raise CliError(f"{what} failed on Spark{unchanged}\n  dbt failed    {exc}",
                       hint="see dbt_project/logs/dbt.log") from None
    finally:
        spark_engine.stop_spark_session()
    checks = ""
    if with_dbt:  # counted per check evaluation, as audit.check_results and the DuckDB engine count
        counts = run.check_counts()
        checks = f": checks {counts['passed']} passed, {counts['warned']} warned, {counts['failed']} failed"
    print(f"{what} on Spark succeeded in {time.perf_counter() - started:.0f} s{checks}; published {settings.warehouse}")
    print(f"  stages: {run.describe_stages()}")
    return 0


def cmd_demo(args) -> int:
    from warehouse.headline import print_headline

    settings = _settings(args)
    if args.regenerate or not settings.landing.exists() or not any(settings.landing.iterdir()):
        from simulator.exports import generate

        print(f"generating sample exports (messy: Chinese headers, GBK, bad rows) into {settings.landing}")
        generate(settings.landing, days=args.days, orders=args.orders, seed=args.seed, messy=True,
                 progress=not args.quiet)
    # Simulated exports end on a fixed past date: judge landing_is_fresh as the nightly run after
    # the newest landing date would, not by today's clock (which made every demo end with a warning).
    from datetime import timedelta

    from ingestion.load import discover

    newest = max(discover(settings.landing).dates, default=None)
    if newest is not None and "DUALWHEEL_AS_OF" not in os.environ:
        os.environ["DUALWHEEL_AS_OF"] = f"{newest + timedelta(days=1)}T02:30:00"
        print(f"freshness judged as of {os.environ['DUALWHEEL_AS_OF']}, the nightly run after the newest "
              f"simulated landing date (set DUALWHEEL_AS_OF to change)")
    cmd_build(args)
    print()
    print_headline(settings.warehouse)
    from warehouse.report import build_report

    report = build_report(settings.warehouse, settings.warehouse.parent / "report.html")
    print(f"\nreport (open in a browser): {report.path.resolve()}")
    print("explore the lineage and checks: make ui  →  http://127.0.0.1:3000")
    return 0


def cmd_report(args) -> int:
    from warehouse.report import build_report

    settings = _settings(args)
    if not settings.warehouse.exists():
        raise CliError(f"{settings.warehouse}: published warehouse not found",
                       hint="run `dualwheel build` first (or point --warehouse at a published file)")
    summary = build_report(settings.warehouse, Path(args.out))
    print(f"report written: {summary.path.resolve()} ({summary.bytes / 1024:.0f} KB, "
          f"{len(summary.charts)} charts) — open it in any browser, no network needed")
    return 0


def cmd_doctor(args) -> int:
    from datetime import date

    from ingestion.doctor import diagnose_landing

    settings = _settings(args)
    if not settings.landing.is_dir():
        raise CliError(f"{settings.landing}: landing folder not found",
                       hint="point --landing (or DUALWHEEL_LANDING) at your exports")
    try:
        dates = [date.fromisoformat(d) for d in args.date] if args.date else None
    except ValueError as exc:
        raise CliError(f"--date: {exc}", hint="dates are YYYY-MM-DD") from None
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(desc="checking files", unit="file", leave=False)

    def tick(done: int, total: int) -> None:
        bar.total = total
        bar.update(1)

    diagnosis = diagnose_landing(settings.landing, dates=dates, progress=tick if bar else None)
    if bar:
        bar.close()
    print(f"landing {settings.landing}: {len(diagnosis.dates)} landing date(s)"
          + (f" {diagnosis.dates[0]} .. {diagnosis.dates[-1]}" if diagnosis.dates else "")
          + f", {len(diagnosis.files)} export file(s)")
    print(f"{'file':<38}{'export':<13}{'format':<9}{'encoding':<12}{'headers':<9}{'rows':>9}{'rejected':>10}")
    worst = []
    for f in diagnosis.files:
        rows = "-" if f.error else f"{f.rows_read:,}"
        rejected = "-" if f.error else f"{f.rows_rejected:,}"
        print(f"{f.path:<38}{f.export:<13}{f.file_format:<9}{f.encoding:<12}{f.header_language or '-':<9}"
              f"{rows:>9}{rejected:>10}")
        if f.error:
            print(f"    FILE REJECTED: {f.error}")
        if args.verbose and f.mapped:
            print("    mapped: " + ", ".join(f"{h!r}→{c}" for c, h in f.mapped.items()))
        if f.extra_columns and (args.verbose or f is diagnosis.files[0] or f.export == "orders"):
            print(f"    extra columns (dropped, never stored): {', '.join(f.extra_columns)}")
        for problem in f.first_problems if (args.verbose or f.reject_share > 0) else []:
            print(f"    {problem}")
        if not f.error and f.rows_read and f.reject_share > settings.max_reject_share:
            worst.append(f)
    hygiene = _landing_problems(settings)
    ignored = _not_hygiene(diagnosis.ignored, hygiene)
    if ignored:
        print(f"ignored (not an export name): {', '.join(ignored[:10])}"
              + (" …" if len(ignored) > 10 else ""))
    for problem in hygiene:
        print(f"warning: {problem.describe()}")
    _print_mapping_advice(settings.landing, dates)
    total = sum(f.rows_read for f in diagnosis.files)
    rejected = sum(f.rows_rejected for f in diagnosis.files)
    print(f"total: {total:,} rows, {rejected:,} would be rejected ({rejected / total:.2%})" if total else "total: no rows")
    if diagnosis.file_errors or worst:
        problems = [f"{f.path}: {f.error}" for f in diagnosis.file_errors]
        problems += [f"{f.path}: {f.reject_share:.1%} of rows rejected (> {settings.max_reject_share:.0%})" for f in worst]
        raise CliError(f"{len(problems)} file(s) would fail a build:\n  " + "\n  ".join(problems),
                       hint="fix these files (or raise --max-reject-share) before `dualwheel build`")
    if hygiene and args.strict:
        raise CliError(f"{len(hygiene)} landing problem(s) would fail `dualwheel build --strict`",
                       hint="rename or remove the folders and files named above")
    print("no problems that would stop a build" + (" (see the warnings above)" if hygiene else ""))
    return 0


def _print_mapping_advice(landing: Path, dates) -> None:
    """Unknown headers and values per export, and a mapping.yml block to paste (issue 12)."""
    from ingestion.mapping_advice import advise_mapping

    advice = advise_mapping(landing, dates=dates)
    if not advice:
        return
    for export in dict.fromkeys([h.export for h in advice.headers if h.actionable]
                                + [v.export for v in advice.values]):
        headers = [h for h in advice.headers if h.export == export and h.actionable]
        values = [v for v in advice.values if v.export == export]
        print(f"{export}: unknown headers and values")
        for h in headers:
            print(f"    header {h.header!r}: {h.rows:,} row(s) in {h.files} file(s)"
                  + (f" (closest contract column: {h.guess}?)" if h.guess else " (no close contract column)"))
        for v in values:
            print(f"    {v.column} value {v.value!r}: {v.rows:,} row(s)"
                  + (f" (closest contract value: {v.guess}?)" if v.guess else " (no close contract value)"))
    print(f"paste into {landing / 'mapping.yml'} (merge with what it already holds), check each guess, then build:")
    print("    " + advice.yaml().replace("\n", "\n    "))


def _not_hygiene(ignored: list[str], problems) -> list[str]:
    """Ignored paths not already explained by a hygiene problem (with its real reason)."""
    covered = [p.path for p in problems]
    return [path for path in ignored
            if not any(path == c or (c.endswith("/") and path.startswith(c)) for c in covered)]


def cmd_ui(args) -> int:
    import subprocess

    from orchestration.settings import PROJECT_ROOT

    settings = _settings(args)
    settings.export_to_env()
    from orchestration.settings import dagster_home_for

    os.environ["DAGSTER_HOME"] = str(dagster_home_for(settings.warehouse))
    _prepare_dagster_home(Path(os.environ["DAGSTER_HOME"]))
    from orchestration.dbt_manifest import ensure_manifest

    ensure_manifest()
    import dagster as dg

    with dg.DagsterInstance.get() as instance:  # the launch dialog offers the landing dates at once
        _sync_partitions(instance, settings)
    dagster = Path(sys.executable).with_name("dagster")
    print(f"Dagster UI on http://{args.host}:{args.port} (Ctrl-C to stop); Dagster home {os.environ['DAGSTER_HOME']}")
    # `dagster dev` in its own process group, stopped as a group: started from a script it ignored
    # SIGINT, and SIGTERM to this process left the webserver, daemon and code servers running
    # (still alive 40 s later). Now Ctrl-C or SIGTERM stops all of them within seconds.
    proc = subprocess.Popen([str(dagster), "dev", "-m", "orchestration.definitions", "-h", args.host,
                             "-p", str(args.port)], cwd=PROJECT_ROOT, start_new_session=True)
    return _wait_then_stop_group(proc)


def _wait_then_stop_group(proc, grace_seconds: float = 20.0) -> int:
    import signal

    stop_requested: list[int] = []

    def stop(signum, _frame):
        stop_requested.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not stop_requested:
        return rc
    # `dagster dev` has exited; its webserver, daemon and code servers may still be shutting down.
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    print("Dagster UI stopped")
    return 0


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("duckdb", "spark"),
                        help="where raw, staging and marts are computed (env DUALWHEEL_ENGINE; default duckdb)")
    parser.add_argument("--spark-master", metavar="URL",
                        help="Spark master, e.g. spark://host:7077 or yarn (env DUALWHEEL_SPARK_MASTER; "
                             "default local[*], Spark inside this process)")
    parser.add_argument("--lake", metavar="DIR",
                        help="Spark's Parquet tables and metastore (env DUALWHEEL_LAKE; default "
                             "<warehouse stem>.lake beside the warehouse file)")


def _add_paths(parser: argparse.ArgumentParser, *, landing: bool = True, gate: bool = False,
               engine: bool = False) -> None:
    if landing:
        parser.add_argument("--landing", metavar="DIR",
                            help="landing folder with accounts.csv and YYYY-MM-DD/ folders "
                                 "(env DUALWHEEL_LANDING; default data/landing)")
    parser.add_argument("--warehouse", metavar="FILE",
                        help="published DuckDB file BI reads (env DUALWHEEL_WAREHOUSE; default warehouse/dualwheel.duckdb)")
    if gate:
        parser.add_argument("--max-reject-share", type=float, metavar="SHARE",
                            help="fail when a landing date rejects more than this share of an export's rows "
                                 "(env DUALWHEEL_MAX_REJECT_SHARE; default 0.05)")
    if engine:
        _add_engine_options(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualwheel",
        description="Kuaishou live-commerce warehouse: public/private dual wheel (公私域双轮循环) analytics "
                    "from raw exports to BI-ready DuckDB marts.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="write realistic simulated Kuaishou exports into a landing folder",
                         description="Write seeded, realistic Kuaishou exports (accounts, orders, follows, live traffic).")
    gen.add_argument("--out", required=True, metavar="DIR", help="landing folder to write")
    gen.add_argument("--days", type=int, default=180, help="number of landing dates (default 180, from 2026-01-01)")
    gen.add_argument("--orders", type=int, default=100_000, help="orders to simulate (default 100,000)")
    gen.add_argument("--seed", type=int, default=616, help="random seed (default 616)")
    gen.add_argument("--messy", action="store_true",
                     help="real-world mess: GBK/BOM, Chinese headers and values, ¥ money, mixed timestamps, "
                          "split and parquet files, duplicates, PII columns and ~1%% invalid rows")
    gen.add_argument("--format", choices=("contract", "merchant"), default="contract",
                     help="contract: CSVs with the contract's headers (default); merchant: the same rows as a "
                          "shop's own exports (.xlsx workbooks, a GBK CSV, headers such as 订单编号/实付款/付款时间, "
                          "status words such as 交易成功/交易关闭/待发货) plus the mapping.yml that loads them")
    gen.add_argument("--reexport-share", type=float, default=0.0, metavar="S",
                     help="export shape: share of each day's order rows exported again, unchanged, the next day "
                          "(a trailing-window export, 0-1; 0.3 gives ~2.1 rows per order, 1 ~3.2; default 0)")
    gen.add_argument("--files-per-day", type=int, default=1, metavar="N",
                     help="export shape: split each clean export into N files per day (default 1)")
    gen.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=cmd_generate)

    ing = sub.add_parser("ingest", help="load every landing date into raw/audit (no marts)",
                         description="Validate and load all exports into the raw and audit schemas, then publish them.")
    _add_paths(ing, gate=True, engine=True)
    _add_wait_flags(ing)
    _add_strict_flag(ing)
    ing.set_defaults(func=cmd_ingest)

    bld = sub.add_parser("build", help="ingest, build and test every mart, publish atomically",
                         description="Run the whole refresh job headless: ingest every landing date, build and "
                                     "test the dbt marts, run every gate, and publish only if all blocking checks pass.")
    _add_paths(bld, gate=True, engine=True)
    _add_wait_flags(bld)
    _add_strict_flag(bld)
    bld.set_defaults(func=cmd_build)

    demo = sub.add_parser("demo", help="generate sample exports, build everything, print the headline figures")
    _add_paths(demo, gate=True)
    _add_wait_flags(demo)
    _add_strict_flag(demo)
    demo.add_argument("--regenerate", action="store_true", help="overwrite the sample landing folder")
    demo.add_argument("--days", type=int, default=180)
    demo.add_argument("--orders", type=int, default=60_000)
    demo.add_argument("--seed", type=int, default=616)
    demo.set_defaults(func=cmd_demo)

    rep = sub.add_parser("report", help="write the self-contained HTML dual-wheel report from the published warehouse",
                         description="Charts of the dual wheel, cohorts, the account matrix and live sessions, "
                                     "in one HTML file that opens without network.")
    _add_paths(rep, landing=False)
    rep.add_argument("--out", default="report.html", metavar="FILE", help="HTML file to write (default report.html)")
    rep.set_defaults(func=cmd_report)

    doc = sub.add_parser("doctor", help="check a landing folder without loading it",
                         description="For every export file: export, format, encoding, header mapping, row count, "
                                     "rows that would be rejected and the first problems. Writes nothing.")
    _add_paths(doc, gate=True)
    doc.add_argument("--date", action="append", metavar="YYYY-MM-DD", help="only this landing date (repeatable)")
    _add_strict_flag(doc)
    doc.add_argument("-v", "--verbose", action="store_true", help="show header mapping and problems of every file")
    doc.set_defaults(func=cmd_doctor)

    fgt = sub.add_parser("forget", help="remove a vanished landing file's rows from the warehouse and rebuild",
                         description="For a file that was ingested and has since been deleted from the landing "
                                     "folder: remove its raw, rejected and audit rows, then rebuild every mart "
                                     "and publish (as `build`). Until then every run warns that its rows stay.")
    fgt.add_argument("path", metavar="PATH", help="the file, relative to the landing folder (e.g. 2026-06-16/orders.csv)")
    _add_paths(fgt, gate=True)
    _add_wait_flags(fgt)
    _add_strict_flag(fgt)
    fgt.set_defaults(func=cmd_forget)

    ui = sub.add_parser("ui", help="start the Dagster UI (lineage, materializations, checks, schedule)")
    _add_paths(ui)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    return parser


# Commands that load Dagster, dbt's manifest and DuckDB: tearing that interpreter down (module
# dicts, ~10^6 objects) took ~1 s after the work was done, 3 % of a 10M-order nightly refresh.
# Every file they write is closed and every child process stopped by the time they return.
_EXIT_WITHOUT_TEARDOWN = {"build", "demo", "ingest", "forget"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rc = _run_command(args)
    if argv is None and args.command in _EXIT_WITHOUT_TEARDOWN:  # the `dualwheel` program itself
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(rc)
    return rc


def _run_command(args: argparse.Namespace) -> int:
    # Library loggers would repeat, line by line, what the command summarises at the end.
    level = logging.DEBUG if args.debug else logging.CRITICAL
    logging.basicConfig(level=level, format="%(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # GX sets its loggers' levels itself; filter at the handler
        handler.setLevel(level)
    settings = before = None
    try:
        if args.command in _LOCKED_COMMANDS:
            _watch_signals()
            settings = _settings(args)
            before = _published_state(settings)
            return _run_locked(args, settings)
        return args.func(args) or 0
    except (KeyboardInterrupt, Interrupted) as exc:
        return _on_interrupt(args, exc, settings, before)
    except CliError as exc:
        if _interrupt_signal() is not None:  # an error caused by the interrupt (a child stopped by it)
            return _on_interrupt(args, exc, settings, before)
        print(f"dualwheel: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    except OSError as exc:
        if _interrupt_signal() is not None:
            return _on_interrupt(args, exc, settings, before)
        if args.debug:
            traceback.print_exc()
        print(f"dualwheel: error: {_os_error_message(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence for a CLI
        if _interrupt_signal() is not None:
            return _on_interrupt(args, exc, settings, before)
        if args.debug:
            traceback.print_exc()
        from ingestion.errors import IngestionError

        if isinstance(exc, IngestionError):  # "mapping.yml: orders.headers.X: ..." says it all
            print(f"dualwheel: error: {exc}", file=sys.stderr)
            return 1
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"dualwheel: error: {type(exc).__name__}: {first}", file=sys.stderr)
        if not args.debug:
            print("hint: run again with --debug for the full traceback", file=sys.stderr)
        return 1


def _on_interrupt(args, exc: BaseException, settings, before) -> int:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signum = exc.signum if isinstance(exc, Interrupted) else (_interrupt_signal() or signal.SIGINT)
    _stop_children()
    _close_own_runs()
    if args.debug:
        traceback.print_exception(exc)
    print(_interrupted_message(signum, settings, before), file=sys.stderr)
    return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
