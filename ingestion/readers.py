"""Landing discovery and file reading: bytes -> contract strings -> validated batches.

Privacy by construction: only the contract's columns are ever selected from a file, so receiver
details (收货人, 手机号, 收货地址, ...) never reach a DataFrame, a raw table or raw_record.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .contract import DAILY_EXPORTS, ROSTER_EXPORT, Export, get_export, normalize_header
from .errors import FileRejected
from .validate import validate_frame

_DAY_FOLDER_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SUFFIXES = (".csv", ".parquet")


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Landing:
    root: Path
    #: every roster file at the root, sorted by name; the last one is the one that counts.
    roster_files: tuple[Path, ...]
    #: landing date (sorted) -> export -> files sorted by name.
    dates: dict[dt.date, dict[str, tuple[Path, ...]]]

    @property
    def roster(self) -> Path | None:
        return self.roster_files[-1] if self.roster_files else None

    def files(self, dates: Iterable[dt.date] | None = None) -> list[tuple[dt.date, str, Path]]:
        """(landing_date, export, path) for the given dates (all by default), in load order."""
        wanted = None if dates is None else {as_date(d) for d in dates}
        return [
            (day, export, path)
            for day, per_export in self.dates.items()
            if wanted is None or day in wanted
            for export, paths in per_export.items()
            for path in paths
        ]


def as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def export_of(name: str, exports: Iterable[str]) -> str | None:
    """The export a file name belongs to (`<export>*.csv|parquet`), matched case-insensitively."""
    lower = name.lower()
    if not lower.endswith(_SUFFIXES):
        return None
    # Longest prefix first so one export name being a prefix of another can never misroute.
    for export in sorted(exports, key=len, reverse=True):
        if lower.startswith(export):
            return export
    return None


def _name_key(p: Path) -> str:
    return p.name


def scan_day_folder(folder: Path, exports: Iterable[str] = DAILY_EXPORTS) -> dict[str, tuple[Path, ...]]:
    exports = tuple(exports)
    found: dict[str, list[Path]] = {e: [] for e in exports}
    for entry in folder.iterdir():
        export = export_of(entry.name, exports)
        if export is not None and entry.is_file():
            found[export].append(entry)
    return {e: tuple(sorted(ps, key=_name_key)) for e, ps in found.items() if ps}


def find_roster_files(landing: Path) -> tuple[Path, ...]:
    """`accounts*.csv|parquet` at the landing root, sorted by name (the last one counts)."""
    root = Path(landing)
    found = [
        e for e in root.iterdir() if export_of(e.name, (ROSTER_EXPORT,)) is not None and e.is_file()
    ]
    return tuple(sorted(found, key=_name_key))


def discover(landing: Path) -> Landing:
    """Roster file(s) at the root and, per landing date (sorted), the files per export.

    Day folders are `YYYY-MM-DD` (a real date); anything else is ignored.
    """
    root = Path(landing)
    if not root.is_dir():
        raise FileNotFoundError(f"landing folder {root} does not exist")
    dates: dict[dt.date, dict[str, tuple[Path, ...]]] = {}
    for entry in root.iterdir():
        if entry.is_dir() and _DAY_FOLDER_RE.match(entry.name):
            try:
                day = dt.date.fromisoformat(entry.name)
            except ValueError:  # 2026-02-30 and the like
                continue
            per_export = scan_day_folder(entry)
            if per_export:
                dates[day] = per_export
    return Landing(
        root=root,
        roster_files=find_roster_files(root),
        dates=dict(sorted(dates.items())),
    )


def landing_date_of(path: Path, export: str, name: str) -> dt.date | None:
    if export == ROSTER_EXPORT:
        return None
    try:
        return dt.date.fromisoformat(path.parent.name)
    except ValueError:
        raise FileRejected(
            name, f"not inside a YYYY-MM-DD landing-date folder ({path.parent.name!r})"
        ) from None


def relative_posix(path: Path, landing_root: Path) -> str:
    path, root = Path(path), Path(landing_root)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        # One side may be relative or go through a symlink.
        return path.resolve().relative_to(root.resolve()).as_posix()


# --------------------------------------------------------------------------- decoding


def read_bytes(path: Path) -> tuple[bytes, str]:
    """File content and its sha256 (hex). The content is needed anyway, so it is read once."""
    data = Path(path).read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def decode_csv_bytes(data: bytes, name: str) -> bytes:
    """UTF-8 bytes without BOM for a UTF-8, UTF-8-with-BOM or GB18030/GBK text file."""
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FileRejected(name, f"undecodable: UTF-8 BOM but invalid UTF-8 at byte {e.start + 3}") from None
        return body
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected(name, "undecodable: UTF-16 text is not supported (save as UTF-8 or GBK)")
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    try:
        # GB18030 is a superset of GBK that also holds ¥; decode strictly so garbage is refused.
        text = data.decode("gb18030")
    except UnicodeDecodeError as e:
        raise FileRejected(
            name, f"undecodable: neither UTF-8 nor GBK/GB18030 (invalid byte at offset {e.start})"
        ) from None
    return text.encode("utf-8")


# --------------------------------------------------------------------------- header mapping


def map_headers(headers: list[str], export: Export, name: str) -> dict[str, str]:
    """Contract column -> the file's header for it; extra columns are left out (and so dropped)."""
    lookup = export.header_map()
    mapping: dict[str, str] = {}
    for header in headers:
        column = lookup.get(normalize_header(header))
        if column is None:
            continue
        if column in mapping:
            raise FileRejected(
                name, f"columns {mapping[column]!r} and {header!r} both map to '{column}'"
            )
        mapping[column] = header
    missing = [c for c in export.columns if c.required and c.name not in mapping]
    wrong_delimiter = header_delimiter_problem(headers) if missing else None
    if wrong_delimiter:
        raise FileRejected(name, wrong_delimiter)
    if len(missing) == 1:
        raise FileRejected(name, f"required column {missing[0].label} missing")
    if missing:
        labels = ", ".join(c.label for c in missing)
        raise FileRejected(name, f"required columns {labels} missing")
    return mapping


def header_delimiter_problem(headers: list[str]) -> str | None:
    """A header line separated by ';' or tabs reads as one or two long columns, and would
    otherwise be reported as every required column missing (Excel in many locales saves CSV with
    semicolons)."""
    for delimiter, label in ((";", "semicolons (;)"), ("\t", "tabs")):
        if any(h.count(delimiter) >= 2 for h in headers):
            return (f"the header line is separated by {label}, not commas: save the file as "
                    "comma-separated CSV (UTF-8 or GBK)")
    return None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _frame_from_mapping(df: pl.DataFrame, mapping: dict[str, str], export: Export) -> pl.DataFrame:
    """Contract columns in contract order, absent optional ones as null, plus _row_number."""
    return df.select(
        *(
            pl.col(mapping[c.name]).alias(c.name)
            if c.name in mapping
            else pl.lit(None, dtype=pl.String).alias(c.name)
            for c in export.columns
        ),
        pl.col("_row_number").cast(pl.Int64),
    )


def read_csv_strings(data: bytes, export: Export, name: str) -> pl.DataFrame:
    utf8 = decode_csv_bytes(data, name)
    if not utf8.strip():
        raise FileRejected(name, "empty file (no header row)")
    try:
        headers = pl.read_csv(io.BytesIO(utf8), n_rows=0, infer_schema=False).columns
    except pl.exceptions.PolarsError as e:
        raise FileRejected(name, f"unreadable CSV header: {_first_line(e)}") from None
    mapping = map_headers(headers, export, name)
    try:
        df = pl.read_csv(
            io.BytesIO(utf8),
            columns=list(mapping.values()),
            infer_schema=False,
            # Keep "" distinct from null in raw_record; both count as empty when validating.
            empty_string_is_null=False,
            row_index_name="_row_number",
            row_index_offset=1,
        )
    except pl.exceptions.PolarsError as e:
        raise FileRejected(name, f"malformed CSV: {_first_line(e)}") from None
    return _frame_from_mapping(df, mapping, export)


def _to_string(expr: pl.Expr, dtype: pl.DataType, kind: str) -> pl.Expr:
    """Typed parquet value -> the string it would have been in a CSV, for uniform validation."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            # Keep the instant: UTC plus 'Z' is converted to Shanghai local by the parser.
            return expr.dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
        return expr.dt.to_string("%Y-%m-%d %H:%M:%S%.f")
    if isinstance(dtype, pl.Date):
        return expr.dt.to_string("%Y-%m-%d")
    if dtype.is_float() and kind == "integer":
        # Writers such as pandas store nullable integer columns as float: 5.0 is the integer 5.
        # Cast each branch to String first: a supertype would turn the Int64 back into 5.0.
        as_int = expr.cast(pl.Int64, strict=False).cast(pl.String)
        return pl.when(expr == expr.floor()).then(as_int).otherwise(expr.cast(pl.String))
    return expr.cast(pl.String)


def read_parquet_strings(data: bytes, export: Export, name: str) -> pl.DataFrame:
    if not data:
        raise FileRejected(name, "empty file (no header row)")
    try:
        schema = pl.read_parquet_schema(io.BytesIO(data))
    except Exception as e:  # Polars and pyarrow raise various types for a corrupt footer
        raise FileRejected(name, f"not a readable parquet file: {_first_line(e)}") from None
    mapping = map_headers(list(schema.keys()), export, name)
    nested = [h for h in mapping.values() if schema[h].is_nested()]
    if nested:
        raise FileRejected(name, f"column {nested[0]!r} has unsupported type {schema[nested[0]]}")
    try:
        df = pl.read_parquet(io.BytesIO(data), columns=list(mapping.values()))
    except Exception as e:
        raise FileRejected(name, f"not a readable parquet file: {_first_line(e)}") from None
    kinds = {mapping[c.name]: c.kind for c in export.columns if c.name in mapping}
    df = df.select(
        _to_string(pl.col(h), schema[h], kinds[h]).alias(h) for h in mapping.values()
    ).with_row_index("_row_number", offset=1)
    return _frame_from_mapping(df, mapping, export)


def read_strings(data: bytes, path: Path, export: Export, name: str) -> pl.DataFrame:
    """Contract columns of a landing file as strings (values as read), `_row_number` 1-based."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return read_parquet_strings(data, export, name)
    if suffix == ".csv":
        return read_csv_strings(data, export, name)
    raise FileRejected(name, f"unsupported file type {suffix!r} (expected .csv or .parquet)")


# --------------------------------------------------------------------------- batches


@dataclass
class FileBatch:
    export: str
    source_file: str
    landing_date: dt.date | None
    sha256: str
    rows_read: int
    #: typed rows in the raw table's column order, lineage columns included.
    accepted: pl.DataFrame
    #: export, source_file, row_number, reasons, raw_record (JSON), landing_date.
    rejected: pl.DataFrame

    @property
    def rows_accepted(self) -> int:
        return self.accepted.height

    @property
    def rows_rejected(self) -> int:
        return self.rejected.height


def batch_from_bytes(
    data: bytes, sha256: str, path: Path, export: str, *, landing_root: Path
) -> FileBatch:
    spec = get_export(export)
    source_file = relative_posix(path, landing_root)
    landing_date = landing_date_of(Path(path), export, source_file)
    frame = read_strings(data, Path(path), spec, source_file)
    accepted, rejected = validate_frame(
        frame, spec, source_file=source_file, landing_date=landing_date
    )
    return FileBatch(
        export=export,
        source_file=source_file,
        landing_date=landing_date,
        sha256=sha256,
        rows_read=accepted.height + rejected.height,
        accepted=accepted,
        rejected=rejected,
    )


def read_export_file(path: Path, export: str, *, landing_root: Path) -> FileBatch:
    """Read, decode, map, parse and validate one landing file (raises FileRejected)."""
    data, sha256 = read_bytes(path)
    return batch_from_bytes(data, sha256, Path(path), export, landing_root=landing_root)
