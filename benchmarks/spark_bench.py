"""`dualwheel build --engine spark`, full then nightly, measured like benchmarks/run.py measures the
DuckDB engine (its `measure()` and `parse_build()`, imported). Prints figures, asserts nothing.

    python benchmarks/spark_bench.py --landing DIR --workdir DIR [--master local[2]]

--landing: a simulated landing folder of N+1 day folders (e.g. benchmarks/.cache/1M/gen366, which
`benchmarks/run.py` generates, or `dualwheel generate --out DIR --days 31 ...`). The full build runs
on its first N days (hard links into --workdir, so the landing is never modified), the nightly build
on the same warehouse and lake after the last day folder is linked in: the nightly case of
benchmarks/run.py. --workdir is emptied first; it holds the landing links, the published warehouse,
the lake and the logs.

At 1M orders, on the exports `benchmarks/run.py --sizes 1M` caches (or generate them first with
`dualwheel generate --out benchmarks/.cache/1M/gen366 --days 366 --orders 1002740 --seed 616 -q`):

    .venv/bin/python benchmarks/spark_bench.py --landing benchmarks/.cache/1M/gen366 \
        --workdir benchmarks/.cache/1M/spark --master 'local[2]'

Prints, per case: `spark: <case> <wall s> s`, the build's own stage seconds (its `stages:` line) and
the peak RSS of the whole process tree (the Spark JVM is a child of the CLI process).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import link_tree, measure, parse_build  # noqa: E402  (benchmarks/ is not a package)

ROOT = HERE.parent


def prepare(landing: Path, workdir: Path) -> tuple[Path, Path]:
    """workdir/landing with every day folder but the last (hard links); returns (landing, last day)."""
    days = sorted(p for p in landing.iterdir() if p.is_dir() and p.name[:4].isdigit())
    if len(days) < 2:
        raise SystemExit(f"{landing}: need at least two landing-date folders (full + nightly), found {len(days)}")
    shutil.rmtree(workdir, ignore_errors=True)
    target = workdir / "landing"
    target.mkdir(parents=True)
    for p in landing.iterdir():  # the roster, mapping.yml: whatever lies beside the day folders
        if p.is_file():
            os.link(p, target / p.name)
    for d in days[:-1]:
        link_tree(d, target / d.name)
    return target, days[-1]


def run_case(case: str, landing: Path, workdir: Path, master: str) -> dict:
    warehouse = workdir / "warehouse" / "dualwheel.duckdb"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DAGSTER_HOME": str(workdir / "dagster_home")}
    for name in ("DUALWHEEL_LANDING", "DUALWHEEL_WAREHOUSE", "DUALWHEEL_LAKE", "DUALWHEEL_ENGINE"):
        env.pop(name, None)
    (workdir / "dagster_home").mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "orchestration.cli", "build", "--engine", "spark", "--spark-master", master,
           "--landing", str(landing), "--warehouse", str(warehouse), "-q"]
    r = measure(cmd, env=env, log=workdir / f"{case}.log", cwd=ROOT)
    r.update(parse_build(r["stdout"]))
    if r["rc"] != 0:
        print(r["stdout"][-3000:], file=sys.stderr)
    print(f"spark: {case} {r['wall_s']:.1f} s (rc {r['rc']})")
    print(f"spark: {case} stages " + (", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items()) or "—"))
    print(f"spark: {case} peak RSS {r['peak_tree_rss_mb']} MB (process tree), "
          f"{r['max_single_rss_mb']} MB (largest process)")
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--landing", type=Path, required=True, help="simulated landing, N+1 day folders")
    p.add_argument("--workdir", type=Path, required=True, help="emptied, then holds links, warehouse, lake, logs")
    p.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    args = p.parse_args(argv)
    landing, workdir = args.landing.resolve(), args.workdir.resolve()
    work_landing, last_day = prepare(landing, workdir)
    print(f"spark: master {args.master}, landing {landing} ({len(list(work_landing.iterdir()))} entries for full, "
          f"+{last_day.name} for nightly), loadavg {os.getloadavg()[0]:.1f}")
    full = run_case("full", work_landing, workdir, args.master)
    if full["rc"] != 0:
        return 1
    link_tree(last_day, work_landing / last_day.name)
    nightly = run_case("nightly", work_landing, workdir, args.master)
    print(f"spark: loadavg at end {os.getloadavg()[0]:.1f}")
    return 0 if nightly["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
