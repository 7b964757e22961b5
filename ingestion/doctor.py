"""Inspect a landing folder without loading it: what a data engineer checks before the first run.

For every export file: which export it is, its format and encoding, which headers were mapped
(English or Chinese), which columns are extra (and dropped, receiver details included), how many
rows it has, how many would be rejected, and the first problems. Nothing is written anywhere.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

from .contract import DAILY_EXPORTS, ROSTER_EXPORT, get_export, normalize_header
from .errors import FileRejected
from .mapping import EMPTY_MAPPING, MerchantMapping, load_mapping
from .readers import batch_from_bytes, discover, read_bytes, read_headers, relative_posix


@dataclass
class FileDiagnosis:
    path: str
    export: str
    landing_date: dt.date | None
    file_format: str = "csv"
    encoding: str = ""
    header_language: str = ""
    mapped: dict[str, str] = field(default_factory=dict)  # contract column -> header in the file
    missing_optional: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    first_problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0


@dataclass
class LandingDiagnosis:
    landing: Path
    files: list[FileDiagnosis]
    dates: list[dt.date]
    ignored: list[str]

    @property
    def file_errors(self) -> list[FileDiagnosis]:
        return [f for f in self.files if f.error]


def _encoding_of(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-bom"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        return "undecodable"


def _headers(data: bytes, encoding: str, is_parquet: bool, path: Path | None = None) -> list[str]:
    if path is not None and path.suffix.lower() in (".xlsx", ".xls"):
        return read_headers(data, path, path.name)
    if is_parquet:
        return list(pl.read_parquet_schema(io.BytesIO(data)).keys())
    text = data.decode("utf-8-sig" if encoding.startswith("utf-8") else "gb18030")
    return pl.read_csv(io.BytesIO(text.encode("utf-8")), n_rows=0, infer_schema=False).columns


def _language(mapped_headers: list[str]) -> str:
    has_zh = any(any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in mapped_headers)
    has_en = any(h.isascii() for h in mapped_headers)
    return "mixed" if has_zh and has_en else "chinese" if has_zh else "english"


def diagnose_file(path: Path, export: str, *, landing_root: Path, max_problems: int = 3,
                  mapping: MerchantMapping | None = None) -> FileDiagnosis:
    rel = relative_posix(path, landing_root)
    diagnosis = FileDiagnosis(path=rel, export=export, landing_date=None)
    is_parquet = path.suffix.lower() == ".parquet"
    is_excel = path.suffix.lower() in (".xlsx", ".xls")
    diagnosis.file_format = "parquet" if is_parquet else path.suffix.lower()[1:] if is_excel else "csv"
    data, sha = read_bytes(path)
    diagnosis.encoding = "binary" if is_parquet or is_excel else _encoding_of(data)
    spec = get_export(export)
    if not is_parquet and not data.strip():
        diagnosis.error = "empty file (no header row)"
        return diagnosis
    try:
        headers = (_headers(data, diagnosis.encoding, is_parquet, path)
                   if diagnosis.encoding != "undecodable" else [])
        lookup = (mapping or EMPTY_MAPPING).header_lookup(spec)
        for header in headers:
            column = lookup.get(normalize_header(header))
            if column is None:
                diagnosis.extra_columns.append(header)
            else:
                diagnosis.mapped.setdefault(column, header)
        diagnosis.header_language = _language(list(diagnosis.mapped.values()))
        diagnosis.missing_optional = [c.name for c in spec.columns if not c.required and c.name not in diagnosis.mapped]
        batch = batch_from_bytes(data, sha, path, export, landing_root=landing_root, mapping=mapping)
    except FileRejected as exc:
        diagnosis.error = exc.problem
        return diagnosis
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not crash on a bad file
        # Plain words, never a library's exception name (NoDataError, ComputeError, ...).
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no details"
        diagnosis.error = f"cannot be read as {diagnosis.file_format.upper()}: {detail}"
        return diagnosis
    diagnosis.landing_date = batch.landing_date
    diagnosis.rows_read = batch.rows_read
    diagnosis.rows_rejected = batch.rows_rejected
    for row in batch.rejected.head(max_problems).iter_rows(named=True):
        diagnosis.first_problems.append(f"row {row['row_number']}: {'; '.join(row['reasons'])}")
    return diagnosis


def diagnose_landing(landing: Path, *, dates: list[dt.date] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> LandingDiagnosis:
    landing = Path(landing)
    mapping = load_mapping(landing)  # a bad mapping.yml is reported before any file is read
    found = discover(landing)
    chosen = [d for d in found.dates if dates is None or d in set(dates)]
    jobs: list[tuple[Path, str]] = []
    if found.roster is not None:
        jobs.append((found.roster, ROSTER_EXPORT))
    for day in chosen:
        for export in DAILY_EXPORTS:
            jobs.extend((p, export) for p in found.dates[day].get(export, ()))
    files = []
    for i, (path, export) in enumerate(jobs, 1):
        files.append(diagnose_file(path, export, landing_root=landing, mapping=mapping))
        if progress:
            progress(i, len(jobs))
    known = {p.resolve() for p, _ in jobs} | {p.resolve() for p in found.roster_files}
    ignored = sorted(relative_posix(p, landing) for p in landing.rglob("*")
                     if p.is_file() and p.resolve() not in known
                     and (dates is None or p.parent == landing or p.parent.name in {d.isoformat() for d in chosen}))
    return LandingDiagnosis(landing=landing, files=files, dates=chosen, ignored=ignored)
