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
    os.environ.setdefault("DAGSTER_HOME", str(_default_dagster_home()))
    _prepare_dagster_home(Path(os.environ["DAGSTER_HOME"]))
    if _DEFINITIONS is None:  # loading costs seconds; a build runs two jobs
        from orchestration.definitions import defs

        _DEFINITIONS = defs()
    return _DEFINITIONS


def _default_dagster_home() -> Path:
    from orchestration.settings import PROJECT_ROOT

    return PROJECT_ROOT / ".dagster_home"


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
            asset_selection: list[list[str]] | None = None) -> RunOutcome:
    import dagster as dg

    from orchestration.partitions import range_tags

    definitions = _load_definitions(settings, show_progress=show_progress)
    job = definitions.resolve_job_def(job_name)
    tags = range_tags(dates[0], dates[-1]) if dates else {}
    selection = [dg.AssetKey(k) for k in asset_selection] if asset_selection else None
    started = time.perf_counter()
    instance = dg.DagsterInstance.get()
    # dagster-dbt echoes dbt's whole log to stdout; keep it in a file and show only the outcome.
    log_file = settings.warehouse.parent / "logs" / f"{job_name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(
            instance=instance, tags=tags, raise_on_error=False, asset_selection=selection,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
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


def _failed_dbt_nodes(limit: int = 10) -> list[str]:
    """The dbt tests/models that failed in the last dbt run, from its run_results.json."""
    import json

    from orchestration.settings import DBT_PROJECT_DIR

    path = DBT_PROJECT_DIR / "target" / "dagster_run" / "run_results.json"
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


# New files will be validated, so Great Expectations must be imported (~6 s of one core). For a
# nightly-sized run a background process imports it while this one loads Dagster, and gets the
# batches to validate (quality.start_background_process). Handing it batches costs ~0.6 s per 1M
# rows (pickling, a second copy), so a big backfill validates in-process: at 10M orders the
# background process made the 365-day build ~8 s slower and the one-day nightly ~5 s faster.
# 512 MB of CSV is ~4M order rows: at most ~2.4 s of hand-over against the 6 s saved.
BACKGROUND_GX_MAX_BYTES = 512 * 2**20


def _pending_bytes(settings, dates: list[str]) -> int:
    from ingestion.readers import discover

    landing = discover(settings.landing)
    wanted = set(dates)
    return sum(path.stat().st_size for day, _, path in landing.files() if day.isoformat() in wanted)


def _ingest(settings, *, show_progress: bool) -> RunOutcome:
    """Run ingestion for the pending landing dates only (the roster always)."""
    pending = _pending_dates(settings)
    if pending:
        print(f"  {len(pending)} landing date(s) with new or changed files: {pending[0]} .. {pending[-1]}")
        from ingestion import quality

        if _pending_bytes(settings, pending) <= BACKGROUND_GX_MAX_BYTES:
            quality.start_background_process()
        try:
            return run_job("ingest_job", settings, pending, show_progress=show_progress)
        finally:
            quality.stop_background_process()
    print("  no new or changed export files; checking the roster only")
    return run_job("ingest_job", settings, [], show_progress=show_progress, asset_selection=[["raw", "accounts"]])


def _report_outcome(outcome: RunOutcome, what: str) -> None:
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
            failed_tests = _failed_dbt_nodes()
            if failed_tests:
                lines.extend(f"  dbt failed    {line}" for line in failed_tests)
                continue
        lines.append(f"  step failed   {step}: {message[:2000]}")
    if outcome.log_file is not None:
        lines.append(f"  full log: {outcome.log_file}")
    raise CliError("\n".join(lines), hint="fix the input named above (or the threshold) and run the same command again")


# ---------------------------------------------------------------------------------------------
# commands


def _settings(args):
    from orchestration.settings import Settings

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
    if dates[0] < settings.partitions_start:
        raise CliError(f"landing date {dates[0]} is before the first partition {settings.partitions_start}",
                       hint=f"set DUALWHEEL_PARTITIONS_START={dates[0]} (or earlier)")
    return dates


def cmd_generate(args) -> int:
    from simulator.exports import generate

    summary = generate(Path(args.out), days=args.days, orders=args.orders, seed=args.seed, messy=args.messy,
                       progress=not args.quiet)
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
    outcome = _ingest(settings, show_progress=not args.quiet)
    _report_outcome(outcome, "ingestion")
    import duckdb

    with duckdb.connect(str(settings.work_db), read_only=True) as con:
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
    outcome = _ingest(settings, show_progress=not args.quiet)
    if outcome.success:  # a failed gate stops here: nothing downstream runs, nothing is published
        outcome = _merge(outcome, run_job("transform_job", settings, [], show_progress=not args.quiet))
    _report_outcome(outcome, "build")
    print(f"build succeeded in {outcome.seconds:.0f} s: {outcome.passed_checks} checks passed, "
          f"{len(outcome.warned_checks)} warning(s); published {settings.warehouse}")
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
        run.stages["spark session"] = time.perf_counter() - started
        result = spark_engine.ingest(spark, settings, engine, run)
        print(f"  ingested on {len(set(w.split(' task=')[0] for w in result.workers.values()))} executor "
              f"process(es): {len(result.changed)} file(s) loaded, "
              f"{len(result.results) - len(result.changed)} unchanged")
        if with_dbt:
            spark_engine.run_dbt(spark, run)
        schemas = ("marts", "audit") if with_dbt else ("raw", "audit")
        spark_engine.publish_from_lake(spark, settings, engine, run, schemas=schemas)
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
    print(f"{what} on Spark succeeded in {time.perf_counter() - started:.0f} s; published {settings.warehouse}")
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
    if diagnosis.ignored:
        print(f"ignored (not an export name): {', '.join(diagnosis.ignored[:10])}"
              + (" …" if len(diagnosis.ignored) > 10 else ""))
    total = sum(f.rows_read for f in diagnosis.files)
    rejected = sum(f.rows_rejected for f in diagnosis.files)
    print(f"total: {total:,} rows, {rejected:,} would be rejected ({rejected / total:.2%})" if total else "total: no rows")
    if diagnosis.file_errors or worst:
        problems = [f"{f.path}: {f.error}" for f in diagnosis.file_errors]
        problems += [f"{f.path}: {f.reject_share:.1%} of rows rejected (> {settings.max_reject_share:.0%})" for f in worst]
        raise CliError(f"{len(problems)} file(s) would fail a build:\n  " + "\n  ".join(problems),
                       hint="fix these files (or raise --max-reject-share) before `dualwheel build`")
    print("no problems that would stop a build")
    return 0


def cmd_ui(args) -> int:
    import subprocess

    from orchestration.settings import PROJECT_ROOT

    settings = _settings(args)
    settings.export_to_env()
    os.environ.setdefault("DAGSTER_HOME", str(_default_dagster_home()))
    _prepare_dagster_home(Path(os.environ["DAGSTER_HOME"]))
    from orchestration.dbt_manifest import ensure_manifest

    ensure_manifest()
    dagster = Path(sys.executable).with_name("dagster")
    print(f"Dagster UI on http://{args.host}:{args.port} (Ctrl-C to stop)")
    return subprocess.call([str(dagster), "dev", "-m", "orchestration.definitions", "-h", args.host,
                            "-p", str(args.port)], cwd=PROJECT_ROOT)


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
    gen.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=cmd_generate)

    ing = sub.add_parser("ingest", help="load every landing date into raw/audit (no marts)",
                         description="Validate and load all exports into the raw and audit schemas, then publish them.")
    _add_paths(ing, gate=True, engine=True)
    ing.set_defaults(func=cmd_ingest)

    bld = sub.add_parser("build", help="ingest, build and test every mart, publish atomically",
                         description="Run the whole refresh job headless: ingest every landing date, build and "
                                     "test the dbt marts, run every gate, and publish only if all blocking checks pass.")
    _add_paths(bld, gate=True, engine=True)
    bld.set_defaults(func=cmd_build)

    demo = sub.add_parser("demo", help="generate sample exports, build everything, print the headline figures")
    _add_paths(demo, gate=True)
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
    doc.add_argument("-v", "--verbose", action="store_true", help="show header mapping and problems of every file")
    doc.set_defaults(func=cmd_doctor)

    ui = sub.add_parser("ui", help="start the Dagster UI (lineage, materializations, checks, schedule)")
    _add_paths(ui)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    return parser


# Commands that load Dagster, dbt's manifest and DuckDB: tearing that interpreter down (module
# dicts, ~10^6 objects) took ~1 s after the work was done, 3 % of a 10M-order nightly refresh.
# Every file they write is closed and every child process stopped by the time they return.
_EXIT_WITHOUT_TEARDOWN = {"build", "demo", "ingest"}


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
    try:
        return args.func(args) or 0
    except CliError as exc:
        print(f"dualwheel: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dualwheel: interrupted; the published warehouse is unchanged", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence for a CLI
        if args.debug:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"dualwheel: error: {type(exc).__name__}: {first}", file=sys.stderr)
        if not args.debug:
            print("hint: run again with --debug for the full traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
