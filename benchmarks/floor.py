"""The hand-written DuckDB floor: the eight marts straight from the landing CSVs in one process.

    python benchmarks/floor.py --landing L --db floor.duckdb [--profile-dir D] [--compare W]

Runs benchmarks/floor.sql statement by statement and prints one `floor: <label> <seconds> s`
line per statement and a `floor total <seconds> s` line (what benchmarks/run.py parses).
--profile-dir writes DuckDB's EXPLAIN ANALYZE (json profiling output) per statement;
--compare checks row counts and gmv sums of the marts against a dualwheel warehouse.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import duckdb

SQL = Path(__file__).with_name("floor.sql")


def statements(landing: Path, sql: Path = SQL) -> list[tuple[str, str]]:
    text = sql.read_text().replace("{landing}", landing.as_posix())
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    out = []
    for stmt in (s.strip() for s in text.split(";")):
        if not stmt:
            continue
        m = re.search(r"(?:table|schema)(?: if not exists)?\s+([\w.]+)", stmt)
        out.append((m.group(1) if m else stmt[:30], stmt))
    return out


MARTS = ("dim_accounts", "fct_gmv_by_source_daily", "fct_dual_wheel_daily", "fct_cohort_repurchase",
         "fct_cohort_retention_monthly", "fct_account_matrix_daily", "fct_live_session", "fct_fan_cohort")


def compare(con: duckdb.DuckDBPyConnection, warehouse: Path) -> list[str]:
    """Every mart row for row: the warehouse's columns, in both directions (EXCEPT ALL), with
    DOUBLE ratios rounded to 8 decimals (the two sum in different orders); money is exact."""
    con.execute(f"attach '{warehouse.as_posix()}' as dw (read_only)")
    lines = []
    for mart in MARTS:
        cols = con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = 'dw' "
            "and schema_name = 'marts' and table_name = ? order by column_index", [mart]).fetchall()
        sel = ", ".join(f"round({c}, 8) as {c}" if ty in ("DOUBLE", "FLOAT") else c for c, ty in cols)
        ours = f"select {sel} from memory.marts.{mart}" if _in_memory(con) else f"select {sel} from marts.{mart}"
        theirs = f"select {sel} from dw.marts.{mart}"
        only_floor = con.execute(f"select count(*) from ({ours} except all {theirs})").fetchone()[0]
        only_dw = con.execute(f"select count(*) from ({theirs} except all {ours})").fetchone()[0]
        n = con.execute(f"select count(*) from ({theirs})").fetchone()[0]
        ok = only_floor == 0 and only_dw == 0
        lines.append(f"compare {mart}: {n:,} rows; only in floor {only_floor:,}, only in dualwheel {only_dw:,} "
                     f"{'OK' if ok else 'DIFF'}")
    con.execute("detach dw")
    return lines


def _in_memory(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("select current_database()").fetchone()[0] == "memory"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--landing", type=Path, required=True)
    p.add_argument("--db", type=Path, required=True, help="DuckDB file to write the marts into (recreated)")
    p.add_argument("--profile-dir", type=Path, help="write EXPLAIN ANALYZE json per statement here")
    p.add_argument("--sql", type=Path, default=SQL, help="the floor's SQL (default benchmarks/floor.sql)")
    p.add_argument("--compare", type=Path, help="a dualwheel published warehouse to compare marts with")
    args = p.parse_args(argv)
    for suffix in ("", ".wal"):
        Path(str(args.db) + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(args.db))
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
        con.execute("pragma enable_profiling = 'json'")
    for i, (label, stmt) in enumerate(statements(args.landing.resolve(), args.sql)):
        if args.profile_dir:
            con.execute(f"pragma profiling_output = '{(args.profile_dir / f'{i:02d}_{label}.json').as_posix()}'")
        t = time.perf_counter()
        con.execute(stmt).fetchall()
        print(f"floor: {label} {time.perf_counter() - t:.2f} s", flush=True)
    con.execute("checkpoint")
    con.close()
    print(f"floor total {time.perf_counter() - started:.2f} s", flush=True)
    if args.compare:
        con = duckdb.connect(str(args.db), read_only=True)
        for line in compare(con, args.compare):
            print(line)
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
