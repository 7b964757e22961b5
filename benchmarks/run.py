"""dualwheel against a hand-written DuckDB floor, on several shapes of export (`make bench`).

Prints figures and writes benchmarks/results.md; asserts nothing.

    python benchmarks/run.py [--profiles reexport:10M,base:2M,triple:2M,messy:2M] [--repeat 3]
                             [--only floor,full,nightly] [--cache-dir benchmarks/.cache]
                             [--spark 1M] [--src CHECKOUT]

A profile is a shape of the same seeded simulation (366 days, seed 616): how often an order is
exported again (re-exports: 1-3 versions per order), how many files per export and day, clean or
messy (GB18030, Chinese headers, ¥ money, mixed timestamps, split and parquet files, PII columns,
~1 % invalid rows). Per profile and size the exports are generated once and cached; the 365-day
landing is hard links to the first 365 day folders, the 366th is the genuine next day (new
orders, status updates, re-exports) added for the nightly case. Every repetition runs:
- floor: benchmarks/floor.py (one DuckDB process, plain SQL, the eight marts) on the 365 days.
  For the messy profile the floor reads the clean rendition of the same simulation (a hand-written
  floor cannot read the messy files; the difference is what dualwheel's ingestion is for);
- full: `dualwheel build` from an empty warehouse (fresh DAGSTER_HOME) on the 365 days;
- nightly: the 366th day added, `dualwheel build` again on the same warehouse;
- no-op: `dualwheel build` once more with nothing new (the fixed cost every run pays);
and the first repetition also runs floor366 (the floor on 366 days) with a row-for-row comparison
of every mart against the nightly warehouse (not for messy: its roster leaves accounts unmapped
on purpose, so its marts differ from the clean twin's by design). Reported: medians over the repetitions (and the
spread), peak RSS (sampled over the process tree, and the largest single process), the 1-minute
load average before each run, and the per-stage seconds `dualwheel build` prints.
--spark SIZE adds the Spark engine (benchmarks/spark_bench.py, local[2]) on the base profile.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
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
#: issue 15: full <= 2.5x the floor on the re-export-heavy profile at 10M; nightly <= 20 % of
#: the full build; peak RSS <= 4 GB.
TARGETS = {"full_over_floor": 2.5, "nightly_over_full": 0.20, "peak_rss_gb": 4.0}

#: name -> (generator flags, description). `reexport` is the shape the targets are judged on: the
#: independent measurement's ~2 rows per order, one file per export per day.
PROFILES: dict[str, tuple[list[str], str]] = {
    "base": ([], "status updates only (~1.6 rows per order), one clean file per export per day"),
    "reexport": (["--reexport-share", "0.3"],
                 "30 % of each day's order rows exported again the next day (~2.1 rows per order), "
                 "one clean file per export per day"),
    "triple": (["--reexport-share", "1", "--files-per-day", "3"],
               "every order row exported again the next day (~3.2 rows per order), 3 clean files "
               "per export per day"),
    "messy": (["--reexport-share", "0.3", "--messy"],
              "the reexport shape rendered messy: encodings, Chinese headers/values, ¥ money, mixed "
              "timestamps, split and parquet files, PII and extra columns, duplicates, ~1 % invalid rows"),
}


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
    m = re.search(r"build (?:on Spark )?succeeded in ([\d.]+) s", out)
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


def generate(size: int, base: Path, env: dict, flags: list[str], name: str = "gen366") -> dict:
    gen = base / name
    info_file = base / f"{name}.json"
    if (gen / "accounts.csv").exists() and info_file.exists():
        return json.loads(info_file.read_text())
    shutil.rmtree(gen, ignore_errors=True)
    orders = round(size * (DAYS + 1) / DAYS)
    print(f"generating {orders:,} orders over {DAYS + 1} days into {gen} ({' '.join(flags) or 'defaults'}) ...",
          flush=True)
    r = measure([str(PY), "-m", "orchestration.cli", "generate", "--out", str(gen), "--days", str(DAYS + 1),
                 "--orders", str(orders), "--seed", str(SEED), "-q", *flags], env=env, log=base / f"{name}.log",
                cwd=env.get("PYTHONPATH"))
    if r["rc"] != 0:
        raise SystemExit(f"generate failed:\n{r['stdout'][-3000:]}")
    out = r.pop("stdout")
    r["orders"] = orders
    r["rows"] = {k: int(v.replace(",", "")) for k, v in re.findall(r"^\s+(orders|follows|live_traffic)\s+([\d,]+) rows",
                                                                   out, re.M)}
    r["files"] = sum(1 for p in gen.rglob("*") if p.is_file())
    r["bytes"] = sum(p.stat().st_size for p in gen.rglob("*") if p.is_file())
    info_file.write_text(json.dumps(r, indent=1))
    return r


def prepare_landing(gen: Path, run: Path) -> tuple[Path, Path]:
    """A fresh landing in `run` with the first 365 day folders of gen linked; returns (landing, day366)."""
    shutil.rmtree(run, ignore_errors=True)
    landing = run / "landing"
    landing.mkdir(parents=True)
    for f in gen.iterdir():
        if f.is_file():          # accounts.csv, and mapping.yml where a profile has one
            os.link(f, landing / f.name)
    days = sorted(p for p in gen.iterdir() if p.is_dir())
    assert len(days) == DAYS + 1, f"expected {DAYS + 1} day folders in {gen}, found {len(days)}"
    for d in days[:DAYS]:
        link_tree(d, landing / d.name)
    return landing, days[DAYS]


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
    return {"cores": os.cpu_count(), "ram_gb": round(mem_kb / 2**20, 1), "cpu": cpu,
            "kernel": platform.release(), "python": versions[0],
            "versions": dict(line.split(" ", 1) for line in versions[1:] if " " in line),
            "git": git_rev(ROOT), "loadavg_start": os.getloadavg()}


def git_rev(src: Path) -> str:
    """The checkout's commit, marked when the measured code (not only docs) has uncommitted edits."""
    rev = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "ingestion", "orchestration", "dbt_project"],
                           capture_output=True, text=True).stdout.strip()
    return rev + (" (+ uncommitted changes)" if dirty else "")


# ------------------------------------------------------------------------------ run


def _load1() -> float:
    return round(os.getloadavg()[0], 2)


def _case(label: str, cmd: list[str], *, env: dict, log: Path, cwd: Path | None = None, build: bool) -> dict:
    load_before = _load1()
    r = measure(cmd, env=env, log=log, cwd=cwd)
    r["load_before"] = load_before
    out = r.pop("stdout")
    if build:
        r.update(parse_build(out))
        if r["rc"] != 0:
            print(out[-3000:])
    else:
        r.update(parse_floor(out))
    print(f"  {label}: {r['wall_s']} s (rc {r['rc']}, peak {r['peak_tree_rss_mb']} MB, load {load_before})"
          + (f" stages {r['stages']}" if build else "")
          + (f" compare {r['compare']}" if r.get("compare") else ""), flush=True)
    return r


def _dbt_nodes(warehouse: Path, top: int = 8) -> dict:
    """dbt's own elapsed time and its slowest nodes, from the warehouse's dbt target folder."""
    path = warehouse.with_name(warehouse.stem + ".dbt") / "run_results.json"
    try:
        rr = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    res = rr.get("results", [])
    slow = sorted(res, key=lambda x: -x.get("execution_time", 0))[:top]
    return {"elapsed_s": round(rr.get("elapsed_time", 0), 1),
            "models_s": round(sum(x["execution_time"] for x in res if x["unique_id"].startswith("model.")), 1),
            "tests_s": round(sum(x["execution_time"] for x in res if x["unique_id"].startswith("test.")), 1),
            "slowest": [(x["unique_id"].split(".")[-1], round(x["execution_time"], 1)) for x in slow]}


def bench_profile(profile: str, size_label: str, cache: Path, only: set[str], repeat: int, src: Path) -> dict:
    flags, _ = PROFILES[profile]
    size = parse_size(size_label)
    base = cache / f"{profile}-{size_label}"
    base.mkdir(parents=True, exist_ok=True)
    # The project is installed editable; with cwd = src, `python -m orchestration.cli` imports the
    # packages of src (sys.path[0]) before the editable finder, so a snapshot can be measured.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(src)}
    for var in ("DUALWHEEL_LANDING", "DUALWHEEL_WAREHOUSE", "DUALWHEEL_ENGINE", "DAGSTER_HOME"):
        env.pop(var, None)
    res: dict = {"profile": profile, "size": size, "label": size_label, "src": str(src), "git": git_rev(src),
                 "started": dt.datetime.now().isoformat(timespec="seconds"), "runs": []}
    res["generate"] = generate(size, base, env, flags)
    gen = base / "gen366"
    # The floor cannot read messy exports: it reads the clean rendition of the same simulation.
    floor_gen = gen
    if "--messy" in flags:
        res["generate_clean_twin"] = generate(size, base, env, [f for f in flags if f != "--messy"], "clean366")
        floor_gen = base / "clean366"
    cli = [str(PY), "-m", "orchestration.cli"]
    for rep in range(1, repeat + 1):
        print(f"[{profile} {size_label}] repetition {rep}/{repeat}", flush=True)
        run = base / f"run{rep}"
        landing, day366 = prepare_landing(gen, run / "x")
        floor_landing, floor_day366 = (landing, day366) if floor_gen == gen else prepare_landing(floor_gen, run / "floor")
        wh = run / "warehouse" / "dualwheel.duckdb"
        env_build = {**env, "DAGSTER_HOME": str(run / "dagster_home")}
        r: dict = {"rep": rep}
        if "floor" in only:
            r["floor"] = _case("floor", [str(PY), str(HERE / "floor.py"), "--landing", str(floor_landing),
                                         "--db", str(run / "floor.duckdb")], env=env, log=run / "floor.log", build=False)
            (run / "floor.duckdb").unlink(missing_ok=True)
        if "full" in only:
            r["full"] = _case("full", [*cli, "build", "--landing", str(landing), "--warehouse", str(wh), "-q"],
                              env=env_build, log=run / "full.log", cwd=src, build=True)
            r["full"]["dbt_nodes"] = _dbt_nodes(wh)
        if "nightly" in only and "full" in only:
            link_tree(day366, landing / day366.name)
            r["nightly"] = _case("nightly", [*cli, "build", "--landing", str(landing), "--warehouse", str(wh), "-q"],
                                 env=env_build, log=run / "nightly.log", cwd=src, build=True)
            r["nightly"]["dbt_nodes"] = _dbt_nodes(wh)
            # The fixed cost every run pays: the same build again with nothing new to load.
            r["noop"] = _case("no-op", [*cli, "build", "--landing", str(landing), "--warehouse", str(wh), "-q"],
                              env=env_build, log=run / "noop.log", cwd=src, build=True)
            # The messy roster drops and invalidates accounts on purpose (their orders become
            # `(unmapped)`), so its marts cannot equal the clean twin's: no comparison there.
            if rep == 1 and "floor" in only and wh.exists() and floor_gen == gen:
                if floor_landing != landing:
                    link_tree(floor_day366, floor_landing / floor_day366.name)
                r["floor366"] = _case("floor366 + comparison", [
                    str(PY), str(HERE / "floor.py"), "--landing", str(floor_landing), "--db",
                    str(run / "floor366.duckdb"), "--compare", str(wh)], env=env, log=run / "floor366.log", build=False)
                (run / "floor366.duckdb").unlink(missing_ok=True)
        res["runs"].append(r)
        # Keep the cache small: a 10M run folder (warehouse + Dagster home) is several GB.
        shutil.rmtree(run, ignore_errors=True)
        (cache / f"results-{profile}-{size_label}.json").write_text(json.dumps(res, indent=1))
    return res


def bench_spark(size_label: str, cache: Path, src: Path) -> dict | None:
    script = HERE / "spark_bench.py"
    if not script.exists():
        print("no benchmarks/spark_bench.py: Spark not measured")
        return None
    flags, _ = PROFILES["base"]
    base = cache / f"base-{size_label}"
    base.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(src)}
    gen_info = generate(parse_size(size_label), base, env, flags)
    work = cache / f"spark-{size_label}"
    shutil.rmtree(work, ignore_errors=True)
    r = _case(f"spark {size_label}", [str(PY), str(script), "--landing", str(base / "gen366"), "--workdir", str(work)],
              env=env, log=cache / f"spark-{size_label}.log", cwd=src, build=True)
    text = (cache / f"spark-{size_label}.log").read_text()
    r["lines"] = [line for line in text.splitlines() if line.startswith("spark:")]
    res = {"size": parse_size(size_label), "label": size_label, "generate": gen_info, "spark": r,
           "started": dt.datetime.now().isoformat(timespec="seconds")}
    (cache / f"spark-{size_label}.json").write_text(json.dumps(res, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return res


# ------------------------------------------------------------------------------ report


def _med(runs: list[dict], case: str, key: str = "wall_s") -> float | None:
    vals = [r[case][key] for r in runs if case in r and r[case].get(key) is not None]
    return statistics.median(vals) if vals else None


def _spread(runs: list[dict], case: str) -> str:
    vals = sorted(r[case]["wall_s"] for r in runs if case in r)
    return "—" if not vals else f"{vals[0]:.0f}–{vals[-1]:.0f}" if len(vals) > 1 else f"{vals[0]:.0f}"


def _f(x, fmt="{:.1f}"):
    return "—" if x is None else fmt.format(x)


def _stage_medians(runs: list[dict], case: str) -> dict[str, float]:
    names = {k for r in runs if case in r for k in r[case].get("stages", {})}
    out = {}
    for n in sorted(names):
        vals = [r[case]["stages"][n] for r in runs if case in r and n in r[case].get("stages", {})]
        out[n] = statistics.median(vals)
    return out


def render(cache: Path, mach: dict) -> str:
    results = [json.loads(p.read_text()) for p in sorted(cache.glob("results-*.json"))]
    results.sort(key=lambda r: (list(PROFILES).index(r["profile"]) if r["profile"] in PROFILES else 99, r["size"]))
    L = ["# dualwheel against a hand-written DuckDB floor, on several shapes of export", "",
         "Generated by `benchmarks/run.py` (`make bench`); figures only, nothing is asserted. Seeded "
         "simulated exports (seed 616): 365 landing dates for the full build, the 366th for the nightly "
         "refresh. Medians over the repetitions; the spread is min–max. The floor is "
         "`benchmarks/floor.sql` (one typed scan per export, the dedupe in the scan's statement, shared "
         "intermediates, the eight marts), checked row for row against dualwheel's marts.", "",
         "## Machine", "",
         f"- {mach['cores']} cores, {mach['ram_gb']} GB RAM, {mach['cpu']}, Linux {mach['kernel']}",
         f"- Python {mach['python']}; " + ", ".join(f"{k} {v}" for k, v in mach["versions"].items()),
         f"- code measured: " + (", ".join(f"{r['profile']} {r['label']} at git {r['git']}" for r in results if r.get("git"))
                                 or "not recorded") + f"; this file rendered at git {mach['git']}", "",
         "## Profiles (the shape of the exports)", "",
         "| profile | size | order rows / orders | files | CSV+parquet GB | shape |", "|---|---|---:|---:|---:|---|"]
    for r in results:
        g = r["generate"]
        rows = g.get("rows", {}).get("orders")
        L.append(f"| {r['profile']} | {r['label']} | {_f(rows / g['orders'] if rows else None, '{:.2f}')} | "
                 f"{g.get('files', '—')} | {_f(g.get('bytes', 0) / 1e9, '{:.2f}')} | {PROFILES.get(r['profile'], ('', ''))[1]} |")
    L += ["", "## Results (medians)", "",
          f"Targets (issue 15, on `reexport` at 10M): full / floor ≤ {TARGETS['full_over_floor']}, "
          f"nightly / full ≤ {TARGETS['nightly_over_full']:.2f}, peak RSS ≤ {TARGETS['peak_rss_gb']:.0f} GB.", "",
          "| profile | size | runs | floor s | full s | **full / floor** | nightly s | **nightly / full** | "
          "no-op build s | peak RSS GB (tree) | load before runs | marts equal the floor's |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in results:
        runs = r["runs"]
        fl, fu, ni = _med(runs, "floor"), _med(runs, "full"), _med(runs, "nightly")
        peak = max((x[c]["peak_tree_rss_mb"] for x in runs for c in ("full", "nightly") if c in x), default=None)
        loads = [x[c]["load_before"] for x in runs for c in ("floor", "full", "nightly") if c in x]
        cmp_ = next((x["floor366"].get("compare") for x in runs if "floor366" in x), None)
        eq = "— (messy roster: accounts unmapped on purpose)" if r["profile"] == "messy" else "—" if not cmp_ else ("yes, all 8" if all(v == "OK" for v in cmp_.values())
                                   else "NO: " + ", ".join(k for k, v in cmp_.items() if v != "OK"))
        L.append(f"| {r['profile']} | {r['label']} | {len(runs)} | {_f(fl)} ({_spread(runs, 'floor')}) | "
                 f"{_f(fu)} ({_spread(runs, 'full')}) | **{_f(fu / fl if fu and fl else None, '{:.2f}')}** | "
                 f"{_f(ni)} ({_spread(runs, 'nightly')}) | **{_f(ni / fu if ni and fu else None, '{:.2f}')}** | "
                 f"{_f(_med(runs, 'noop'))} | "
                 f"{_f(peak / 1024 if peak else None, '{:.2f}')} | "
                 f"{_f(min(loads) if loads else None, '{:.1f}')}–{_f(max(loads) if loads else None, '{:.1f}')} | {eq} |")
    L += ["", "## Per-stage medians (seconds, from `dualwheel build`'s `stages:` line)", ""]
    for r in results:
        for case in ("full", "nightly", "noop"):
            st = _stage_medians(r["runs"], case)
            wall = _med(r["runs"], case)
            if st and wall:
                L.append(f"- **{r['profile']} {r['label']} {case}** ({wall:.1f} s): "
                         + ", ".join(f"{k} {v:.1f}" for k, v in st.items())
                         + f"; outside the steps {wall - sum(st.values()):.1f} (process start, imports, run bookkeeping)")
        for case in ("full", "nightly"):
            # The run with the median wall time (the first repetition may have met a busier machine).
            ranked = sorted((x for x in r["runs"] if x.get(case, {}).get("dbt_nodes")), key=lambda x: x[case]["wall_s"])
            nodes = ranked[len(ranked) // 2][case]["dbt_nodes"] if ranked else None
            if nodes:
                L.append(f"- **{r['profile']} {r['label']} {case}, dbt** (median run): elapsed {nodes['elapsed_s']} s; "
                         f"models {nodes['models_s']} s and tests {nodes['tests_s']} s of execution on 2 threads; slowest: "
                         + ", ".join(f"{n} {s}" for n, s in nodes["slowest"]))
        steps = [x["floor"]["steps"] for x in r["runs"] if "floor" in x and x["floor"].get("steps")]
        if steps:
            med = {k: statistics.median(s[k] for s in steps if k in s) for k in steps[0]}
            top = sorted(med.items(), key=lambda kv: -kv[1])[:6]
            L.append(f"- **{r['profile']} {r['label']} floor** (largest statements): "
                     + ", ".join(f"{k} {v:.1f}" for k, v in top))
    spark = [json.loads(p.read_text()) for p in sorted(cache.glob("spark-*.json"))]
    if spark:
        L += ["", "## Spark engine (`dualwheel build --engine spark`, local[2], base profile)", ""]
        for s in spark:
            duck = next((r for r in results if r["profile"] == "base" and r["label"] == s["label"]), None)
            L.append(f"- {s['label']}: " + "; ".join(line.removeprefix("spark: ") for line in s["spark"].get("lines", []))
                     + (f" — DuckDB engine on the same data: full {_f(_med(duck['runs'], 'full'))} s, nightly "
                        f"{_f(_med(duck['runs'], 'nightly'))} s" if duck else ""))
    notes = HERE / "top_costs.md"
    if notes.exists():
        L += ["", notes.read_text().strip()]
    # No machine paths in the published figures: paths under the checkout become relative.
    return "\n".join(L).replace(str(ROOT) + os.sep, "") + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", default="reexport:10M,base:2M,triple:2M,messy:2M",
                   help="comma-separated profile:size (profiles: " + ", ".join(PROFILES) + ")")
    p.add_argument("--repeat", type=int, default=3, help="repetitions per profile (medians are reported)")
    p.add_argument("--only", default="floor,full,nightly", help="cases to run (default floor,full,nightly)")
    p.add_argument("--spark", metavar="SIZE", help="also measure the Spark engine at SIZE (e.g. 1M) on the base profile")
    p.add_argument("--cache-dir", type=Path, default=HERE / ".cache")
    p.add_argument("--results", type=Path, default=HERE / "results.md")
    p.add_argument("--render-only", action="store_true", help="rewrite results.md from the cached results")
    p.add_argument("--src", type=Path, default=ROOT,
                   help="project checkout to measure (default this one); a snapshot keeps concurrent edits out")
    args = p.parse_args(argv)
    cache = args.cache_dir.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    mach = machine()
    print(f"machine: {mach['cores']} cores, {mach['ram_gb']} GB, {mach['cpu']}, load {mach['loadavg_start']}")
    if not args.render_only:
        for item in filter(None, (s.strip() for s in args.profiles.split(","))):
            profile, _, size = item.partition(":")
            if profile not in PROFILES:
                raise SystemExit(f"unknown profile {profile!r} (profiles: {', '.join(PROFILES)})")
            bench_profile(profile, size or "1M", cache, only, args.repeat, args.src.resolve())
            args.results.write_text(render(cache, mach))
        if args.spark:
            bench_spark(args.spark, cache, args.src.resolve())
    args.results.write_text(render(cache, mach))
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
