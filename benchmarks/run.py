"""dualwheel at 1M and 10M orders, measured against a hand-written DuckDB floor (`make bench`).

Prints figures and writes benchmarks/results.md; asserts nothing.

    python benchmarks/run.py [--sizes 1M,10M] [--skip-generate] [--cache-dir benchmarks/.cache]
                             [--only floor,full,nightly]

Per size, in one run and on the same files:
- the exports are generated once and cached: ONE seeded simulation of 366 days
  (`<cache>/<size>/gen366`, orders = size x 366/365). The 365-day landing is hard links to its
  first 365 day folders; the 366th folder is a genuine next day of the same simulation (new
  orders, status updates and refunds of older orders, sessions finishing past midnight), added
  for the nightly case;
- floor: benchmarks/floor.py (one DuckDB process, plain SQL, the seven marts) on the 365 days;
- full: `dualwheel build` from an empty warehouse (fresh DAGSTER_HOME) on the 365 days;
- nightly: the 366th day added, `dualwheel build` again on the same warehouse;
- floor366: the floor again on the 366 days (the floor has no incremental mode: its "nightly" is a
  full recompute) with a mart-by-mart comparison against the nightly warehouse.
Wall time, peak RSS (sampled sum over the process tree, and the largest single process from
/usr/bin/time -v) and the per-stage times that `dualwheel build` prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = Path(sys.executable)
SEED = 616
DAYS = 365
TARGETS = {"full_over_floor": 3.0, "nightly_over_full": 0.25, "peak_rss_gb": 6.0, "generate_10M_s": 180.0}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 1M, 250k, 10M)")
    return int(float(m.group(1)) * {"": 1, "k": 10**3, "m": 10**6}[m.group(2).lower()])


# ------------------------------------------------------------------------------ measuring


def _tree_rss_kb(root_pid: int) -> int:
    """Sum of VmRSS over root_pid and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def measure(cmd: list[str], *, env: dict | None = None, log: Path, cwd: Path | None = None) -> dict:
    """Run cmd, return wall seconds, stdout, tree peak RSS (sampled) and max single RSS."""
    time_bin = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    time_file = log.with_suffix(".time")
    full = [time_bin, "-v", "-o", str(time_file), *cmd] if time_bin else cmd
    started = time.perf_counter()
    proc = subprocess.Popen(full, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read()
    rc = proc.wait()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    log.write_text(out)
    single = None
    if time_bin and time_file.exists():
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_file.read_text())
        single = int(m.group(1)) if m else None
    return {"cmd": " ".join(map(str, cmd)), "rc": rc, "wall_s": round(wall, 2), "stdout": out,
            "peak_tree_rss_mb": round(peak[0] / 1024), "max_single_rss_mb": round(single / 1024) if single else None,
            "loadavg_after": os.getloadavg()}


def parse_build(out: str) -> dict:
    stages: dict[str, float] = {}
    m = re.search(r"^\s*stages: (.*)$", out, re.M)
    if m:
        for name, secs in re.findall(r"([\w./\-]+) ([\d.]+) s", m.group(1)):
            stages[name] = float(secs)
    m = re.search(r"build succeeded in ([\d.]+) s", out)
    return {"stages": stages, "run_s": float(m.group(1)) if m else None}


def parse_floor(out: str) -> dict:
    steps = {k: float(v) for k, v in re.findall(r"^floor: (\S+) ([\d.]+) s$", out, re.M)}
    m = re.search(r"^floor total ([\d.]+) s", out, re.M)
    compare = re.findall(r"^compare (\S+): .* (OK|DIFF)$", out, re.M)
    return {"steps": steps, "total_s": float(m.group(1)) if m else None, "compare": dict(compare)}


# ------------------------------------------------------------------------------ data


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link the files of src into dst (same filesystem: instant, no extra space)."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.is_file():
            os.link(p, dst / p.name)


def generate(size: int, base: Path, env: dict, skip: bool) -> dict | None:
    gen = base / "gen366"
    info_file = base / "generate.json"
    if (gen / "accounts.csv").exists() and info_file.exists():
        return json.loads(info_file.read_text())
    if skip:
        raise SystemExit(f"--skip-generate but no cached exports in {gen}")
    shutil.rmtree(gen, ignore_errors=True)
    orders = round(size * (DAYS + 1) / DAYS)
    print(f"generating {orders:,} orders over {DAYS + 1} days into {gen} ...", flush=True)
    r = measure([str(PY), "-m", "orchestration.cli", "generate", "--out", str(gen), "--days", str(DAYS + 1),
                 "--orders", str(orders), "--seed", str(SEED), "-q"], env=env, log=base / "generate.log",
                cwd=env.get("PYTHONPATH"))
    if r["rc"] != 0:
        raise SystemExit(f"generate failed:\n{r['stdout'][-3000:]}")
    r.pop("stdout")
    r["orders"] = orders
    info_file.write_text(json.dumps(r, indent=1))
    return r


def prepare_landing(base: Path, name: str = "run") -> tuple[Path, Path, Path]:
    """A fresh run folder: landing with the first 365 day folders linked; returns (run, landing, day366)."""
    gen = base / "gen366"
    run = base / name
    shutil.rmtree(run, ignore_errors=True)
    landing = run / "landing"
    landing.mkdir(parents=True)
    os.link(gen / "accounts.csv", landing / "accounts.csv")
    days = sorted(p for p in gen.iterdir() if p.is_dir())
    assert len(days) == DAYS + 1, f"expected {DAYS + 1} day folders in {gen}, found {len(days)}"
    for d in days[:DAYS]:
        link_tree(d, landing / d.name)
    return run, landing, days[DAYS]


# ------------------------------------------------------------------------------ machine


def machine() -> dict:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    versions = subprocess.run(
        [str(PY), "-c", "import importlib.metadata as m, sys; print(sys.version.split()[0]); "
         "[print(p, m.version(p)) for p in ('duckdb','polars','pyarrow','dagster','dagster-dbt','dbt-core','dbt-duckdb')]"],
        capture_output=True, text=True).stdout.split("\n")
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "ingestion", "orchestration", "dbt_project"],
                           capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "ram_gb": round(mem_kb / 2**20, 1), "cpu": cpu,
            "kernel": platform.release(), "python": versions[0],
            "versions": dict(line.split(" ", 1) for line in versions[1:] if " " in line),
            "git": rev + (" (+ uncommitted changes)" if dirty else ""), "loadavg_start": os.getloadavg()}


# ------------------------------------------------------------------------------ run


def bench_size(label: str, size: int, cache: Path, only: set[str], skip_generate: bool, src: Path,
               suffix: str = "") -> dict:
    base = cache / label
    base.mkdir(parents=True, exist_ok=True)
    # The project is installed editable; with cwd = src, `python -m orchestration.cli` imports the
    # packages of src (sys.path[0]) before the editable finder, so a snapshot can be measured.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(src)}
    env.pop("DUALWHEEL_LANDING", None)
    env.pop("DUALWHEEL_WAREHOUSE", None)
    res: dict = {"size": size, "label": label + suffix, "src": str(src), "started": dt.datetime.now().isoformat(timespec="seconds"),
                 "loadavg_start": os.getloadavg()}
    res["generate"] = generate(size, base, env, skip_generate)
    run, landing, day366 = prepare_landing(base, "run" + suffix)
    wh = run / "warehouse" / "dualwheel.duckdb"
    env_build = {**env, "DAGSTER_HOME": str(run / "dagster_home")}
    cli = [str(PY), "-m", "orchestration.cli"]
    if "floor" in only:
        print(f"[{label}] floor (365 days) ...", flush=True)
        r = measure([str(PY), str(HERE / "floor.py"), "--landing", str(landing), "--db", str(run / "floor.duckdb")],
                    env=env, log=run / "floor.log")
        r.update(parse_floor(r.pop("stdout")))
        res["floor"] = r
        print(f"[{label}] floor {r['wall_s']} s, peak {r['peak_tree_rss_mb']} MB", flush=True)
    if "full" in only:
        print(f"[{label}] full build (365 days, empty warehouse) ...", flush=True)
        r = measure([*cli, "build", "--landing", str(landing), "--warehouse", str(wh), "-q"], env=env_build,
                    log=run / "full.log", cwd=src)
        r.update(parse_build(r["stdout"]))
        if r["rc"] != 0:
            print(r["stdout"][-3000:])
        r.pop("stdout")
        res["full"] = r
        print(f"[{label}] full {r['wall_s']} s rc={r['rc']}, peak {r['peak_tree_rss_mb']} MB, stages {r['stages']}",
              flush=True)
    if "nightly" in only:
        link_tree(day366, landing / day366.name)
        print(f"[{label}] nightly build (+{day366.name}) ...", flush=True)
        r = measure([*cli, "build", "--landing", str(landing), "--warehouse", str(wh), "-q"], env=env_build,
                    log=run / "nightly.log", cwd=src)
        r.update(parse_build(r["stdout"]))
        if r["rc"] != 0:
            print(r["stdout"][-3000:])
        r.pop("stdout")
        res["nightly"] = r
        print(f"[{label}] nightly {r['wall_s']} s rc={r['rc']}, peak {r['peak_tree_rss_mb']} MB, stages {r['stages']}",
              flush=True)
        if "floor" in only:
            print(f"[{label}] floor (366 days) + comparison with the nightly warehouse ...", flush=True)
            r = measure([str(PY), str(HERE / "floor.py"), "--landing", str(landing), "--db", str(run / "floor366.duckdb"),
                         *(["--compare", str(wh)] if wh.exists() else [])], env=env, log=run / "floor366.log")
            r.update(parse_floor(r.pop("stdout")))
            res["floor366"] = r
            print(f"[{label}] floor366 {r['wall_s']} s; compare {r['compare']}", flush=True)
    res["loadavg_end"] = os.getloadavg()
    (cache / f"results-{label}{suffix}.json").write_text(json.dumps(res, indent=1))
    return res


# ------------------------------------------------------------------------------ report


def _f(x, fmt="{:.1f}"):
    return "—" if x is None else fmt.format(x)


def _non_step(r: dict | None) -> float | None:
    if not r or not r.get("stages"):
        return None
    return r["wall_s"] - sum(r["stages"].values())


def render(cache: Path, mach: dict) -> str:
    results = []
    for p in sorted(cache.glob("results-*.json"), key=lambda p: (parse_size(p.stem.split("-")[1]), p.stem)):
        results.append(json.loads(p.read_text()))
    L = ["# dualwheel benchmark: 1M / 10M orders against a hand-written DuckDB floor", "",
         "Generated by `benchmarks/run.py` (`make bench`); figures only, nothing is asserted. "
         "Clean simulated exports (seed 616), 365 landing dates; the nightly case adds day 366 of the "
         "same simulation (new orders plus status updates/refunds of older ones).", "",
         "## Machine", "",
         f"- {mach['cores']} cores, {mach['ram_gb']} GB RAM, {mach['cpu']}, Linux {mach['kernel']} — "
         "**shared with other sessions**: load averages are given per run",
         f"- Python {mach['python']}; " + ", ".join(f"{k} {v}" for k, v in mach["versions"].items()),
         f"- code: git {mach['git']} at render time; measured checkouts: "
         + "; ".join(f"{r['label']} → `{r.get('src', '?')}` (started {r.get('started', '?')})" for r in results), ""]
    L += ["## Figures", "",
          "| size | case | wall s | peak RSS tree / single process (MB) | load avg 1/5/15 at end | notes |",
          "|---|---|---:|---:|---|---|"]
    for r in results:
        g = r.get("generate") or {}
        if g:
            L.append(f"| {r['label']} | generate ({g.get('orders', 0):,} orders, 366 days) | {g['wall_s']:.1f} | "
                     f"{g['peak_tree_rss_mb']} / {g.get('max_single_rss_mb')} | {_la(g.get('loadavg_after'))} | cached; timed when first generated |")
        for case in ("floor", "full", "nightly", "floor366"):
            c = r.get(case)
            if not c:
                continue
            note = ""
            if case in ("full", "nightly"):
                note = f"rc {c['rc']}; job {_f(c.get('run_s'), '{:.0f}')} s; non-step overhead {_f(_non_step(c))} s"
            if case == "floor366" and c.get("compare"):
                bad = [k for k, v in c["compare"].items() if v != "OK"]
                note = "marts match the nightly warehouse (rows, gmv)" if not bad else f"differs: {', '.join(bad)}"
            L.append(f"| {r['label']} | {case} | {c['wall_s']:.1f} | {c['peak_tree_rss_mb']} / {c.get('max_single_rss_mb')} | "
                     f"{_la(c.get('loadavg_after'))} | {note} |")
    L += ["", "## Ratios against the targets", "",
          "| size | full / floor (≤ 3.0) | nightly / full (≤ 0.25) | nightly / floor366 | peak RSS GB, tree (≤ 6) | generate 10M s (< 180) |",
          "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        fl, fu, ni = r.get("floor"), r.get("full"), r.get("nightly")
        ratio1 = fu["wall_s"] / fl["wall_s"] if fl and fu else None
        ratio2 = ni["wall_s"] / fu["wall_s"] if ni and fu else None
        peak = max((c["peak_tree_rss_mb"] for c in (fu, ni) if c), default=None)
        gen = r["generate"]["wall_s"] if r.get("generate") and r["size"] >= 10**7 else None
        f366 = r.get("floor366")
        ratio3 = ni["wall_s"] / f366["wall_s"] if ni and f366 else None
        L.append(f"| {r['label']} | {_f(ratio1, '{:.2f}')} | {_f(ratio2, '{:.2f}')} | {_f(ratio3, '{:.2f}')} | "
                 f"{_f(peak / 1024 if peak else None, '{:.2f}')} | {_f(gen)} |")
    L += ["", "## Per-stage times (seconds, from `dualwheel build`'s `stages:` line)", ""]
    for r in results:
        for case in ("full", "nightly"):
            c = r.get(case)
            if c and c.get("stages"):
                parts = ", ".join(f"{k} {v:.1f}" for k, v in c["stages"].items())
                L.append(f"- **{r['label']} {case}**: {parts}; sum {sum(c['stages'].values()):.1f}, "
                         f"wall {c['wall_s']:.1f} → non-step {_non_step(c):.1f} (process start, imports, "
                         f"definitions load, Dagster run bookkeeping)")
        fl = r.get("floor")
        if fl and fl.get("steps"):
            top = sorted(fl["steps"].items(), key=lambda kv: -kv[1])[:6]
            L.append(f"- **{r['label']} floor** (largest statements): " + ", ".join(f"{k} {v:.2f}" for k, v in top))
    notes = HERE / "top_costs.md"
    if notes.exists():
        L += ["", notes.read_text().strip()]
    return "\n".join(L) + "\n"


def _la(la) -> str:
    return "—" if not la else "/".join(f"{x:.1f}" for x in la)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1M,10M", help="comma-separated order counts (default 1M,10M)")
    p.add_argument("--skip-generate", action="store_true", help="use the cached exports; fail if missing")
    p.add_argument("--cache-dir", type=Path, default=HERE / ".cache")
    p.add_argument("--only", default="floor,full,nightly", help="cases to run (default floor,full,nightly)")
    p.add_argument("--results", type=Path, default=HERE / "results.md")
    p.add_argument("--src", type=Path, default=ROOT,
                   help="project checkout to measure (default this one); a snapshot keeps concurrent edits out")
    p.add_argument("--suffix", default="", help="label suffix for this variant, e.g. --suffix=-baseline (with the =)")
    args = p.parse_args(argv)
    cache = args.cache_dir.resolve()
    only = set(args.only.split(","))
    mach = machine()
    print(f"machine: {mach['cores']} cores, {mach['ram_gb']} GB, {mach['cpu']}, load {mach['loadavg_start']}")
    for label in args.sizes.split(","):
        bench_size(label.strip(), parse_size(label), cache, only, args.skip_generate, args.src.resolve(), args.suffix)
        args.results.write_text(render(cache, mach))
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
