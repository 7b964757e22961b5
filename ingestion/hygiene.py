"""Landing-folder hygiene: what a run would otherwise skip or keep without a word.

- a folder that looks like a landing date but is not a valid `YYYY-MM-DD` (`20260616`,
  `2026-13-45`, `2026-6-1`): its files would never be loaded;
- a file named like an export whose type is not supported (`orders.txt`, `orders.json`);
- a file that was ingested and has since disappeared from the landing folder: its rows stay in
  the warehouse until `dualwheel forget PATH` removes them.

`dualwheel build` and `dualwheel doctor` print these as warnings (failures under --strict).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import readers
from .contract import DAILY_EXPORTS, ROSTER_EXPORT

# Eight digits, or three runs of digits with any common separator: a date meant as a landing date.
_DATE_LIKE = re.compile(r"^(\d{4})[-_./]?(\d{1,2})[-_./]?(\d{1,2})$")
_EXPORTS = (ROSTER_EXPORT, *DAILY_EXPORTS)


@dataclass(frozen=True)
class HygieneProblem:
    kind: str  # "date_folder" | "file_type" | "missing_file"
    path: str  # relative to the landing root, POSIX separators
    reason: str

    def describe(self) -> str:
        return f"{self.path}: {self.reason}"


def _date_folder_problem(name: str) -> str | None:
    match = _DATE_LIKE.match(name)
    if match is None:
        return None
    year, month, day = (int(g) for g in match.groups())
    try:
        real = dt.date(year, month, day)
    except ValueError as exc:
        return f"not a valid date ({exc}); its files are not loaded"
    if name == real.isoformat():
        return None
    return f"not a YYYY-MM-DD landing-date folder (rename it to {real.isoformat()}); its files are not loaded"


def _file_type_problem(name: str) -> str | None:
    lower = name.lower()
    if lower.startswith(".") or readers.export_of(name, _EXPORTS) is not None:
        return None
    stem, _, suffix = lower.rpartition(".")
    if not stem or not any(stem.startswith(export) for export in _EXPORTS):
        return None
    supported = " or ".join(readers._SUFFIXES)
    return f"named like an export but .{suffix} is not a supported type (expected {supported}); not loaded"


def scan_landing(landing: Path) -> list[HygieneProblem]:
    """Odd date folders and unsupported export-like files, in path order."""
    root = Path(landing)
    problems: list[HygieneProblem] = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            reason = _date_folder_problem(entry.name)
            if reason is not None:
                problems.append(HygieneProblem("date_folder", entry.name + "/", reason))
                continue
            if not readers._DAY_FOLDER_RE.match(entry.name):
                continue
            for child in sorted(entry.iterdir()):
                reason = _file_type_problem(child.name) if child.is_file() else None
                if reason is not None:
                    problems.append(HygieneProblem("file_type", f"{entry.name}/{child.name}", reason))
        elif entry.is_file():
            reason = _file_type_problem(entry.name)
            if reason is not None and entry.name.lower().startswith(ROSTER_EXPORT):
                problems.append(HygieneProblem("file_type", entry.name, reason))
    return problems


def missing_files(con: duckdb.DuckDBPyConnection | None, landing: Path) -> list[HygieneProblem]:
    """Files recorded in audit.ingested_files that are no longer in the landing folder."""
    if con is None:
        return []
    tables = {t for (t,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'audit'").fetchall()}
    if "ingested_files" not in tables:
        return []
    root = Path(landing)
    problems = []
    for path, rows in con.execute(
            "select path, rows_accepted from audit.ingested_files order by path").fetchall():
        if not (root / path).exists():
            problems.append(HygieneProblem(
                "missing_file", path,
                f"ingested before, no longer in the landing folder; its {rows:,} row(s) stay in the warehouse "
                f"(`dualwheel forget {path}` removes them)"))
    return problems
