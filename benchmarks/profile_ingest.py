"""Ingestion throughput on ~100 landing files, with a per-phase breakdown and an optional cProfile.

    python benchmarks/profile_ingest.py --landing benchmarks/.cache/10M/gen366 --days 33 [--cprofile out.txt]
    python benchmarks/profile_ingest.py --landing benchmarks/.cache/10M/gen366 --days 18 --phase-cpu

--phase-cpu measures CPU time (process_time: every thread of this process, so a shared machine's
other load does not count) per order row of each phase, run one after the other on ~1M-row chunks
of the first N days' orders files: read+sha256, CSV parse, validate, DuckDB write+commit (into a
file-backed database, as the build does), min of --repeat runs. Run it against older code with
PYTHONPATH=<checkout> to compare (it prints which ingestion package it measured).

Phase timings (read+hash, CSV parse, validate, DuckDB write incl. commit) are measured by wrapping
the library's own functions, so the numbers describe exactly the code `dualwheel build` runs
(without Great Expectations, which the orchestrator adds per chunk).
A second `ingest_all` over the same files (all unchanged) measures the nightly no-op cost.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import polars as pl

import ingestion.load as load

PHASES: dict[str, float] = defaultdict(float)


def _wrap(module, name: str, phase: str):
    fn = getattr(module, name)

    def wrapped(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            PHASES[phase] += time.perf_counter() - t

    setattr(module, name, wrapped)


def phase_cpu(landing: Path, days: int, repeat: int) -> None:
    """CPU µs per order row of each ingestion phase, serially (see the module docstring)."""
    from ingestion.contract import get_export
    from ingestion.readers import read_bytes, read_strings
    from ingestion.validate import validate_frame

    spec = get_export("orders")
    folders = sorted(d for d in landing.iterdir() if d.is_dir())[:days]
    paths = [d / "orders.csv" for d in folders if (d / "orders.csv").exists()]
    tmp = Path(tempfile.mkdtemp(prefix="dw-phase-cpu-"))
    best: dict[str, float] = {}

    def timed(phase: str, fn):
        t = time.process_time()
        out = fn()
        PHASES[phase] += time.process_time() - t
        return out

    rows = 0
    for run in range(repeat):
        PHASES.clear()
        con = duckdb.connect(str(tmp / f"w{run}.duckdb"))
        load.ensure_schema(con)
        pending: list = []
        rows = pending_rows = 0

        def flush() -> None:
            strings = pl.concat([f.strings for f in pending], how="vertical")
            accepted, rejected = timed("validate", lambda: validate_frame(strings, spec))
            timed("duckdb write+commit", lambda: load._write_chunk(con, load._Chunk("orders", list(pending),
                                                                                     accepted, rejected)))
            pending.clear()

        for path in paths:
            data, sha = timed("read+sha256", lambda: read_bytes(path))
            name = f"{path.parent.name}/{path.name}"
            strings = timed("csv parse", lambda: read_strings(data, path, spec, name).with_columns(
                pl.lit(name, dtype=pl.String).alias("_source_file"),
                pl.lit(dt.date.fromisoformat(path.parent.name), dtype=pl.Date).alias("_landing_date")))
            pending.append(load._ReadFile(path, "orders", name, dt.date.fromisoformat(path.parent.name), sha,
                                          len(data), 0, None, strings, 0.0))
            rows += strings.height
            pending_rows += strings.height
            if pending_rows >= load.CHUNK_ROWS:
                flush()
                pending_rows = 0
        if pending:
            flush()
        con.close()
        for k, v in PHASES.items():
            best[k] = min(best.get(k, v), v)
    shutil.rmtree(tmp)
    print(f"ingestion from {load.__file__}")
    print(f"orders files {len(paths)}, rows {rows:,}; CPU µs per order row, min of {repeat}; "
          f"load {os.getloadavg()[0]:.1f}")
    for k, v in best.items():
        print(f"  {k:<22} {v / rows * 1e6:6.3f}")
    print(f"  {'total':<22} {sum(best.values()) / rows * 1e6:6.3f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--landing", type=Path, required=True)
    p.add_argument("--days", type=int, default=33, help="first N day folders (3 files each)")
    p.add_argument("--cprofile", type=Path)
    p.add_argument("--phase-cpu", action="store_true", help="CPU per order row per phase, serially")
    p.add_argument("--repeat", type=int, default=3, help="--phase-cpu: runs (the minimum is reported)")
    args = p.parse_args()
    if args.phase_cpu:
        phase_cpu(args.landing, args.days, args.repeat)
        return
    tmp = Path(tempfile.mkdtemp(prefix="dw-prof-"))
    landing = tmp / "landing"
    landing.mkdir()
    days = sorted(d for d in args.landing.iterdir() if d.is_dir())[: args.days]
    (landing / "accounts.csv").hardlink_to(args.landing / "accounts.csv")
    for d in days:
        (landing / d.name).mkdir()
        for f in d.iterdir():
            (landing / d.name / f.name).hardlink_to(f)
    # Wall time per phase; read/parse/validate run in the loader's background thread, writing in
    # the calling thread, so the phases overlap and may add up to more than the wall time.
    for mod, name, phase in [(load, "read_bytes", "read+sha256"), (load, "read_strings", "csv parse"),
                             (load, "validate_frame", "validate (per chunk)"),
                             (load, "_write_chunk", "duckdb write+commit (per chunk)")]:
        _wrap(mod, name, phase)
    con = duckdb.connect(str(tmp / "w.duckdb"))
    print(f"ingestion from {load.__file__}")
    prof = cProfile.Profile() if args.cprofile else None
    t, cpu = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    summary = load.ingest_all(con, landing)
    if prof:
        prof.disable()
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu
    n = len(summary.results)
    orders = [r for r in summary.files if r.export == "orders"]
    print(f"files {n}, rows {summary.rows_read:,}, wall {wall:.2f} s ({wall / n * 1000:.0f} ms/file, "
          f"{summary.rows_read / wall:,.0f} rows/s); cpu {cpu:.2f} s; load {os.getloadavg()[0]:.1f}")
    print(f"orders files: {len(orders)}, mean rows {sum(r.rows_read for r in orders) / len(orders):,.0f}, "
          f"mean {sum(r.seconds for r in orders) / len(orders) * 1000:.0f} ms/file")
    for k, v in PHASES.items():
        print(f"  {k:<22} {v:6.2f} s  {v / n * 1000:5.0f} ms/file")
    PHASES.clear()
    t = time.perf_counter()
    load.ingest_all(con, landing)
    t2 = time.perf_counter()
    con.close()
    print(f"close (final checkpoint) {time.perf_counter() - t2:.2f} s")
    con = duckdb.connect(str(tmp / "w.duckdb"))
    print(f"re-run, all unchanged (incl. close + reopen): {time.perf_counter() - t:.2f} s")
    con.close()
    print(f"db size {(tmp / 'w.duckdb').stat().st_size / 2**20:.0f} MB")
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(35)
        s.write("\n---- by tottime\n")
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
        args.cprofile.write_text(s.getvalue())
        print(f"cProfile written to {args.cprofile}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
