"""mapping.yml: the merchant's own export headers and values mapped onto the contract (contract §1, §6).

The landing folder may hold a `mapping.yml`:

    orders:
      headers:   {订单编号: order_id, 实付款: gmv}
      values:    {status: {交易成功: completed}}

It is parsed and validated once per run (`load_mapping`), before any file is read, into a
`MerchantMapping`: a plain, picklable value that the per-file functions (readers, validator) take
as an argument. Nothing here keeps global state, so a Spark executor can run those functions with
the mapping it was handed instead of re-reading the YAML by path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .contract import EXPORTS, Column, Export, normalize_header
from .errors import FileRejected

MAPPING_FILE = "mapping.yml"
_SECTIONS = ("headers", "values")


class MappingError(FileRejected):
    """mapping.yml is not valid: the run fails before any file is read (one line: file and key)."""


def normalize_value(value: str) -> str:
    """Enum spellings match ignoring case and surrounding spaces, as validate.parse_column does."""
    return str(value).strip().lower()


@dataclass(frozen=True)
class MerchantMapping:
    """Parsed mapping.yml. Plain dicts of strings only: picklable and cheap to ship to workers.

    headers: export -> normalized header (normalize_header) -> contract column.
    values:  export -> column -> normalized value (normalize_value) -> contract value.
    """

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    values: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def applies_to(self, export: str) -> bool:
        return bool(self.headers.get(export) or self.values.get(export))

    def header_lookup(self, export: Export) -> dict[str, str]:
        """Normalized header -> contract column: the built-in names plus this mapping's headers.

        A mapped header wins over a built-in alias of the same spelling: the merchant said what
        the column means in their files.
        """
        lookup = export.header_map()
        lookup.update(self.headers.get(export.name, {}))
        return lookup

    def value_aliases(self, export: str, column: Column) -> dict[str, str]:
        """Lower-cased accepted spelling -> contract value, built-in aliases plus this mapping's."""
        aliases = column.alias_map()
        aliases.update(self.values.get(export, {}).get(column.name, {}))
        return aliases

    def digest(self, export: Export, file_headers: Iterable[str]) -> str:
        """Digest of the entries that can change how a file with these headers reads ('' if none).

        Stored per ingested file: when it differs on a later run the file is read again (its rows
        may change); files of other exports, and files whose headers no entry names and whose
        mapped enum columns have no value entries, keep '' and are not re-read.
        """
        if not self.applies_to(export.name):
            return ""
        mapped = self.headers.get(export.name, {})
        normalized = {normalize_header(str(h)) for h in file_headers}
        header_entries = sorted((h, c) for h, c in mapped.items() if h in normalized)
        builtin = export.header_map()
        columns = {mapped.get(h, builtin.get(h)) for h in normalized} - {None}
        value_entries = sorted(
            (c, sorted(v.items())) for c, v in self.values.get(export.name, {}).items() if c in columns
        )
        if not header_entries and not value_entries:
            return ""
        blob = json.dumps([header_entries, value_entries], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


EMPTY_MAPPING = MerchantMapping()


def _fail(key: str, problem: str) -> MappingError:
    return MappingError(MAPPING_FILE, f"{key}: {problem}" if key else problem)


def _as_text(value: object, key: str, what: str) -> str:
    # YAML turns 123 into an int and yes/no into booleans; numbers are harmless as headers or
    # values, booleans almost always a quoting slip.
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise _fail(key, f"{what} must be text (got {value!r}; put it in quotes)")
    return str(value)


def _dict(value: object, key: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(key, f"expected {what}, got {type(value).__name__} {str(value)[:40]!r}")
    return value


def parse_mapping(text: str) -> MerchantMapping:
    """Parse and validate mapping.yml text (raises MappingError naming the offending key)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise _fail("", f"not valid YAML{where}: {problem}") from None
    if doc is None:
        return EMPTY_MAPPING
    doc = _dict(doc, "", "a mapping of export names (orders, follows, live_traffic, accounts)")
    headers: dict[str, dict[str, str]] = {}
    values: dict[str, dict[str, dict[str, str]]] = {}
    for export_key, section in doc.items():
        name = _as_text(export_key, str(export_key), "an export name")
        export = EXPORTS.get(name)
        if export is None:
            raise _fail(name, f"unknown export (expected one of {', '.join(sorted(EXPORTS))})")
        if section is None:
            continue
        section = _dict(section, name, "'headers:' and/or 'values:'")
        for part in section:
            if part not in _SECTIONS:
                raise _fail(f"{name}.{part}", "unknown key (expected 'headers' or 'values')")
        columns = export.column_names
        seen: dict[str, str] = {}
        for raw_header, target in _dict(section.get("headers") or {}, f"{name}.headers",
                                        "header: column pairs").items():
            header = _as_text(raw_header, f"{name}.headers.{raw_header}", "a header")
            key = f"{name}.headers.{header}"
            column = _as_text(target, key, "a contract column")
            if column not in columns:
                raise _fail(key, f"unknown column {column!r} of {name} (expected one of {', '.join(columns)})")
            norm = normalize_header(header)
            if not norm:
                raise _fail(key, "empty header")
            if norm in seen and seen[norm] != column:
                raise _fail(key, f"maps to {column!r} but the same header (ignoring case and spaces) "
                                 f"also maps to {seen[norm]!r}")
            seen[norm] = column
        if seen:
            headers[name] = seen
        for raw_column, entries in _dict(section.get("values") or {}, f"{name}.values",
                                         "column: {value: contract value} pairs").items():
            column_name = _as_text(raw_column, f"{name}.values.{raw_column}", "a column")
            key = f"{name}.values.{column_name}"
            if entries is None:  # every entry commented out, as doctor's block leaves unguessed ones
                entries = {}
            if column_name not in columns:
                raise _fail(key, f"unknown column of {name} (expected one of {', '.join(columns)})")
            column = export.column(column_name)
            if column.kind != "enum":
                enums = [c.name for c in export.columns if c.kind == "enum"]
                raise _fail(key, f"not an enumerated column; values can be mapped for {', '.join(enums)}")
            out: dict[str, str] = {}
            for raw_value, target in _dict(entries, key, "value: contract value pairs").items():
                value = _as_text(raw_value, f"{key}.{raw_value}", "a value")
                vkey = f"{key}.{value}"
                canonical = _as_text(target, vkey, "a contract value")
                if canonical not in column.values:
                    raise _fail(vkey, f"unknown value {canonical!r} of {column_name} "
                                      f"(expected one of {', '.join(column.values)})")
                norm = normalize_value(value)
                if not norm:
                    raise _fail(vkey, "empty value")
                if out.get(norm, canonical) != canonical:
                    raise _fail(vkey, f"maps to {canonical!r} but the same value also maps to {out[norm]!r}")
                out[norm] = canonical
            if out:
                values.setdefault(name, {})[column_name] = out
    return MerchantMapping(headers=headers, values=values)


def load_mapping(landing_root: Path) -> MerchantMapping:
    """The landing folder's mapping.yml, validated (EMPTY_MAPPING when there is none)."""
    path = Path(landing_root) / MAPPING_FILE
    if not path.is_file():
        return EMPTY_MAPPING
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            # Saved by a Chinese-Windows editor: same rule as the exports (contract §6).
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise _fail("", "undecodable: neither UTF-8 nor GBK/GB18030") from None
    return parse_mapping(text)
