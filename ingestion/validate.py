"""Row validation: parse a frame of contract strings into canonical values, with every reason.

In the spirit of dataframely's ``filter()``: one pass of Polars expressions yields the accepted
rows (typed, in the raw table's column order) and the rejected rows with *all* their reasons.
Every rule is derived from the declarative specs in ``contract.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from .contract import Column, Export
from .mapping import MerchantMapping

#: Asia/Shanghai has been UTC+08:00 without DST since 1991, so a fixed offset converts exactly for
#: every date live commerce can have, and needs no time zone database.
SHANGHAI_UTC_OFFSET_MINUTES = 8 * 60

MONEY_DTYPE = pl.Decimal(18, 2)
TIMESTAMP_DTYPE = pl.Datetime("us")

# Integers are plain digits; a leading minus still parses so that "-3" is reported as below the
# minimum rather than as garbage. 18 digits always fit in BIGINT.
_INTEGER_RE = r"^-?\d{1,18}$"
# ¥/￥, thousands commas in groups of three, at most 2 decimals; the sign may precede or follow ¥.
_MONEY_RE = r"^-?(?:[¥￥]\s*)?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?$"
# DECIMAL(18,2) holds 16 integer digits.
_MONEY_MAX_INT_DIGITS = 16
# YYYY-MM-DD or YYYY/MM/DD, then ' ' or 'T', HH:MM:SS, optional fraction, optional Z/±hh:mm.
# Seconds stop at 59: chrono would otherwise roll a leap second into the next minute.
_TIMESTAMP_RE = (
    r"^\d{4}(?:-\d{2}-\d{2}|/\d{2}/\d{2})[Tt ]\d{2}:[0-5]\d:[0-5]\d"
    r"(?:\.\d{1,9})?\s?(?:[Zz]|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?$"
)
_OFFSET_RE = r"([Zz]|[+-]\d{2}(?::?\d{2})?)$"
_DATE_RE = r"^\d{4}(?:-\d{2}-\d{2}|/\d{2}/\d{2})$"
#: Id columns of every export (contract §6): a value in scientific notation is what Excel leaves
#: of an 18-digit id after a merchant opened and saved the export (2.02406E+18): already rounded.
ID_COLUMNS = frozenset(
    {"order_id", "buyer_id", "user_id", "account_id", "live_session_id", "event_id", "parent_account_id"}
)
_SCIENTIFIC_RE = r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)[eE][+-]?\d+$"
# Reasons quote the offending value; long garbage is cut so reasons stay short.
_QUOTE_MAX_CHARS = 40

REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "export": pl.String(),
    "source_file": pl.String(),
    "row_number": pl.Int64(),
    "reasons": pl.List(pl.String()),
    "raw_record": pl.String(),
    "landing_date": pl.Date(),
}

_ROW = "_row_number"
_SOURCE = "_source_file"
_LANDING = "_landing_date"


def _t(name: str) -> str:
    return f"__t__{name}"


def _p(name: str) -> str:
    return f"__p__{name}"


def output_dtype(col: Column) -> pl.DataType:
    return {
        "text": pl.String(),
        "enum": pl.String(),
        "integer": pl.Int64(),
        "money": MONEY_DTYPE,
        "timestamp": TIMESTAMP_DTYPE,
        "date": pl.Date(),
    }[col.kind]


def raw_schema(export: Export) -> dict[str, pl.DataType]:
    """Polars schema of the accepted frame, i.e. of the raw table."""
    schema = {c.name: output_dtype(c) for c in export.columns}
    schema.update({"_source_file": pl.String(), "_landing_date": pl.Date(), "_row_number": pl.Int64()})
    return schema


def _quoted(t: pl.Expr) -> pl.Expr:
    return (
        pl.when(t.str.len_chars() > _QUOTE_MAX_CHARS)
        .then(t.str.slice(0, _QUOTE_MAX_CHARS) + pl.lit("…"))
        .otherwise(t)
    )


def parse_money(t: pl.Expr) -> pl.Expr:
    """Trimmed money string -> DECIMAL(18,2), null when it is not a money amount.

    Validated by regex, stripped to canonical "-1299.5" and cast string -> decimal, which is
    exact: a float never touches the amount.
    """
    canonical = t.str.replace_all(r"[¥￥,\s]", "")
    ok = (
        t.str.contains(_MONEY_RE)
        # "-¥-5" passes the pattern's two optional signs; the digit limit keeps DECIMAL(18,2).
        & canonical.str.contains(rf"^-?\d{{1,{_MONEY_MAX_INT_DIGITS}}}(?:\.\d+)?$")
    )
    return pl.when(ok).then(canonical).cast(MONEY_DTYPE, strict=False)


def parse_timestamp(t: pl.Expr, *, has_tails: bool = True) -> pl.Expr:
    """Trimmed timestamp string -> naive Asia/Shanghai local timestamp (µs), null if unparsable.

    Once the regex has checked the shape, the first 19 characters are the date and time in fixed
    width; only the short tail (fraction, offset) needs regex work. `has_tails=False` promises
    that no value is longer than those 19 characters (validate_frame checks it per frame), which
    drops the tail work: 0.33 -> ~0.1 s per 1.8M values, ~40 % of validating an orders file.
    """
    ok = t.str.contains(_TIMESTAMP_RE)
    core = t.str.slice(0, 19).str.replace_many(["/", "T", "t"], ["-", " ", " "])
    # strict=False: impossible dates (02-30) and hours (24) come back null -> "not a timestamp".
    naive = pl.when(ok).then(core).str.strptime(TIMESTAMP_DTYPE, "%Y-%m-%d %H:%M:%S", strict=False)
    if not has_tails:
        # No fraction and no offset anywhere: every value is Asia/Shanghai local time as written.
        return naive
    tail = t.str.slice(19)
    # Fractions beyond microseconds are truncated: TIMESTAMP holds µs.
    micros = tail.str.extract(r"^\.(\d{1,6})", 1).str.pad_end(6, "0").cast(pl.Int64, strict=False)
    off = tail.str.extract(_OFFSET_RE, 1).str.replace(":", "", literal=True)
    off_minutes = (
        pl.when(off.str.to_uppercase() == "Z")
        .then(pl.lit(0, pl.Int64))
        .otherwise(
            (
                off.str.slice(1, 2).cast(pl.Int64, strict=False) * 60
                + off.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
            )
            * pl.when(off.str.starts_with("-")).then(-1).otherwise(1)
        )
    )
    shift = pl.duration(
        minutes=pl.lit(SHANGHAI_UTC_OFFSET_MINUTES, pl.Int64) - off_minutes.fill_null(
            SHANGHAI_UTC_OFFSET_MINUTES
        ),
        microseconds=micros.fill_null(0),
    )
    return naive + shift


def parse_date(t: pl.Expr) -> pl.Expr:
    ok = t.str.contains(_DATE_RE)
    return (
        pl.when(ok)
        .then(t.str.replace_all("/", "-", literal=True))
        .str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    )


def parse_column(
    col: Column, t: pl.Expr, *, has_tails: bool = True, aliases: dict[str, str] | None = None
) -> pl.Expr:
    """Typed value of a trimmed column: null when empty or unparsable, the default when empty.

    `has_tails=False` (timestamps only): no value is longer than 'YYYY-MM-DD HH:MM:SS'.
    `aliases` (enums only): lower-cased spelling -> contract value, the built-in aliases by default
    (MerchantMapping.value_aliases adds mapping.yml's values).
    """
    if col.kind == "text":
        parsed = t
    elif col.kind == "enum":
        parsed = t.str.to_lowercase().replace_strict(
            col.alias_map() if aliases is None else aliases, default=None, return_dtype=pl.String
        )
    elif col.kind == "integer":
        parsed = pl.when(t.str.contains(_INTEGER_RE)).then(t).cast(pl.Int64, strict=False)
    elif col.kind == "money":
        parsed = parse_money(t)
    elif col.kind == "timestamp":
        parsed = parse_timestamp(t, has_tails=has_tails)
    elif col.kind == "date":
        parsed = parse_date(t)
    else:  # pragma: no cover - guarded by the Kind literal
        raise ValueError(col.kind)
    return _with_default(col, t, parsed)


def _with_default(col: Column, t: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """`parsed`, or the column's contract default (parsed the exact way) where the trimmed value is empty."""
    if col.default is None:
        return parsed
    default = parse_column(Column(col.name, (), col.kind, False, col.values), pl.lit(col.default))
    return pl.when(t.is_null()).then(default).otherwise(parsed)


_NOT_A = {
    "integer": "not an integer",
    "money": "not a money amount",
    "timestamp": "not a timestamp",
    "date": "not a date",
}


def _reason_pairs(col: Column, *, maybe_scientific: bool = True) -> list[tuple[pl.Expr, pl.Expr]]:
    """(condition, message) per rule of one column: the row breaks the rule where condition is true.

    `maybe_scientific=False` promises that no value of the column holds an 'e' or 'E', so the
    scientific-notation rule cannot fire and is left out.
    """
    t, p = pl.col(_t(col.name)), pl.col(_p(col.name))
    out: list[tuple[pl.Expr, pl.Expr]] = []
    if col.required:
        out.append((t.is_null(), pl.lit(f"{col.name}: required value empty")))
    # Optional or not, a non-empty value must parse (contract 6).
    if col.kind == "enum":
        msg = pl.format(f"{col.name}: unknown value '{{}}'", _quoted(t))
        out.append((t.is_not_null() & p.is_null(), msg))
    elif col.kind in _NOT_A:
        msg = pl.format(f"{col.name}: {_NOT_A[col.kind]} ('{{}}')", _quoted(t))
        out.append((t.is_not_null() & p.is_null(), msg))
    if col.minimum is not None:
        out.append((p < col.minimum, pl.lit(f"{col.name} < {col.minimum}")))
    if col.name in ID_COLUMNS and maybe_scientific:
        # The value goes last in parentheses like every other reason, so that gates and metadata
        # group the rows by kind (gates.reason_kind). The check costs ~0.06 s per 1.8M values and
        # id column (regex, measured min of 7), ~1 % of validating an orders chunk.
        msg = pl.format(
            f"{col.name}: scientific notation, Excel has rounded this id; export the file again and "
            "load it without opening and saving it in Excel ('{}')",
            _quoted(t),
        )
        out.append((t.str.contains(_SCIENTIFIC_RE).fill_null(False), msg))
    return out


def column_reasons(col: Column) -> list[pl.Expr]:
    """Reason expressions for one column: a message where the row breaks a rule, else null."""
    return [pl.when(cond).then(msg) for cond, msg in _reason_pairs(col)]


# --------------------------------------------------------------------------- per-frame fast paths
#
# Most exports are machine-written: every value of a typed column is spelled canonically (no
# surrounding spaces, "82.70", "2026-06-01 00:00:00", "paid"). One cheap pass per frame proves
# that per column, and such a column then skips trimming (a copy of every value) and the regex
# work of its exact parse. The proof is that every non-empty value is canonical, and a canonical
# value is one the exact path trims to itself and parses to the same typed value, so the result
# is identical; a single value that is not canonical sends the whole column down the exact path.
# CPU per order row (benchmarks/profile_ingest.py --phase-cpu, 1.33M rows of 33 days, min of 3):
# 1.72-1.76 µs before, 0.64-0.66 µs with these paths, of which ~0.25 µs is the proving pass. On
# messy exports (¥, Chinese enum values, mixed timestamp shapes) most columns fall back and the
# pass costs ~1 % (3.00 vs 3.04 µs per row).

#: Exactly the values the exact timestamp path reads without slicing, replacing or a tail.
_CANONICAL_TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2} \d{2}:[0-5]\d:[0-5]\d$"
_CANONICAL_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# The exact integer pattern allows 18 digits; a round trip alone would also let a 19-digit one in.
_INTEGER_LIMIT = 10**18


def _canonical_enum_values(aliases: dict[str, str]) -> list[str]:
    """Contract values that the exact path (lower-case, then look up) maps to themselves.

    ASCII only, so that Polars' to_lowercase and Python's lower() agree; no surrounding spaces,
    so that trimming leaves them alone (Python's strip() removes a superset of what Rust's trim()
    does). A mapping.yml entry that sends a value elsewhere drops it from the set.
    """
    return sorted(
        v for v in set(aliases.values())
        if v.isascii() and v.strip() == v and aliases.get(v.lower()) == v
    )


def _canonical(col: Column, raw: pl.Expr, aliases: dict[str, str] | None) -> pl.Expr | None:
    """Per row: the untrimmed value is spelled so that `_fast_parse` gives the exact parse's value
    (null when the value is null or empty; None: no fast path for this kind)."""
    if col.kind == "money":
        # Decimal(18,2) prints as -?digits.dd: the exact pattern accepts it, and the exact path's
        # canonical string is then the value itself.
        return raw.cast(MONEY_DTYPE, strict=False).cast(pl.String) == raw
    if col.kind == "integer":
        value = raw.cast(pl.Int64, strict=False)
        return (value.cast(pl.String) == raw) & value.is_between(-_INTEGER_LIMIT, _INTEGER_LIMIT,
                                                                  closed="none")
    if col.kind == "enum":
        return raw.is_in(_canonical_enum_values(col.alias_map() if aliases is None else aliases))
    if col.kind == "timestamp":
        return raw.str.contains(_CANONICAL_TIMESTAMP_RE)
    if col.kind == "date":
        return raw.str.contains(_CANONICAL_DATE_RE)
    return None


def _fast_parse(col: Column, t: pl.Expr) -> pl.Expr:
    """parse_column for a column whose every non-empty value is canonical (see `_canonical`)."""
    if col.kind == "money":
        parsed = t.cast(MONEY_DTYPE, strict=False)
    elif col.kind == "integer":
        parsed = t.cast(pl.Int64, strict=False)
    elif col.kind == "enum":
        parsed = t
    elif col.kind == "timestamp":
        # The exact path's very call, on the same string (slice(0, 19) and the separator
        # replacements leave a canonical value unchanged, and it has no tail).
        parsed = t.str.strptime(TIMESTAMP_DTYPE, _TIMESTAMP_FORMAT, strict=False)
    elif col.kind == "date":
        parsed = t.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    else:  # pragma: no cover - _canonical returns None for text
        raise ValueError(col.kind)
    return _with_default(col, t, parsed)


@dataclass(frozen=True)
class FrameFacts:
    """What one cheap pass over a frame's raw strings proves, per contract column."""

    #: columns holding an empty string "" (else no value needs "" -> null).
    has_empty: frozenset[str]
    #: typed columns whose every non-empty value is canonical (see `_canonical`).
    canonical: frozenset[str]
    #: id columns where some value holds an 'e' or 'E' (else none is in scientific notation).
    maybe_scientific: frozenset[str]
    #: timestamp columns with a value longer than 'YYYY-MM-DD HH:MM:SS' (untrimmed).
    with_tails: frozenset[str]


def frame_facts(frame: pl.DataFrame, export: Export, mapping: MerchantMapping | None = None) -> FrameFacts:
    """One pass of aggregates over the raw strings (~0.25 µs of CPU per order row, 13 columns)."""
    exprs: list[pl.Expr] = []
    keys: list[tuple[str, str]] = []
    for col in export.columns:
        raw = pl.col(col.name)
        exprs.append((raw.str.len_bytes() == 0).any())
        keys.append(("has_empty", col.name))
        aliases = None if mapping is None or col.kind != "enum" else mapping.value_aliases(export.name, col)
        check = _canonical(col, raw, aliases)
        if check is not None:
            # A null check (unparsable) counts as not canonical; null and "" values need none.
            exprs.append((raw.is_null() | (raw.str.len_bytes() == 0) | check.fill_null(False)).all())
            keys.append(("canonical", col.name))
        if col.name in ID_COLUMNS:
            # One scan of the column joined into one string: ~4x cheaper than a regex per value.
            exprs.append(raw.str.join("").str.contains("[eE]"))
            keys.append(("maybe_scientific", col.name))
        if col.kind == "timestamp":
            # Untrimmed lengths: padding only makes a value longer, so <= 19 bytes means no tail.
            exprs.append(raw.str.len_bytes().max().fill_null(0) > 19)
            keys.append(("with_tails", col.name))
    values = frame.select(e.alias(f"__fact{i}") for i, e in enumerate(exprs)).row(0)
    found: dict[str, set[str]] = {"has_empty": set(), "canonical": set(), "maybe_scientific": set(),
                                  "with_tails": set()}
    for (fact, name), value in zip(keys, values):
        if value:
            found[fact].add(name)
    return FrameFacts(**{k: frozenset(v) for k, v in found.items()})


def exact_facts(export: Export) -> FrameFacts:
    """Facts that prove nothing: every column takes the exact path."""
    names = frozenset(export.column_names)
    return FrameFacts(has_empty=names, canonical=frozenset(), maybe_scientific=names & ID_COLUMNS,
                      with_tails=frozenset(c.name for c in export.columns if c.kind == "timestamp"))


def validate_frame(
    frame: pl.DataFrame,
    export: Export,
    *,
    source_file: str | None = None,
    landing_date: dt.date | None = None,
    mapping: MerchantMapping | None = None,
    fast_paths: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a frame of contract strings into (accepted, rejected).

    `frame` holds every contract column of `export` as String (values as read: untrimmed, null
    where the file has no value) and `_row_number` (1-based data-row number). Its lineage is
    either given as `source_file`/`landing_date` (one file) or carried per row in `_source_file`
    and `_landing_date` columns, so that many files can be validated as one frame: at ~40k rows
    per orders file, one Polars query per file left a core idle and paid the query's fixed cost
    ~1,100 times in a 10M-order backfill (benchmarks/results.md). Accepted rows come back typed
    in the raw table's column order; rejected rows as in ``REJECTED_SCHEMA`` with raw_record =
    JSON of the contract columns as read. Blank rows are dropped, so the rows read are exactly
    accepted + rejected. `mapping` (mapping.yml, parsed) adds the merchant's enum values.
    `fast_paths=False` sends every column down the exact path (tests compare the two: the
    results must be identical).
    """
    names = export.column_names
    if _SOURCE not in frame.columns:
        if source_file is None:
            raise ValueError("give source_file (and landing_date) or a frame with _source_file/_landing_date")
        frame = frame.with_columns(pl.lit(source_file, dtype=pl.String).alias(_SOURCE),
                                   pl.lit(landing_date, dtype=pl.Date).alias(_LANDING))
    missing = [n for n in (*names, _ROW, _LANDING) if n not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}")

    def trimmed(name: str) -> pl.Expr:
        return pl.col(_t(name))

    def parsed(name: str) -> pl.Expr:
        return pl.col(_p(name))

    facts = frame_facts(frame, export, mapping) if fast_paths and frame.height else exact_facts(export)

    pairs: list[tuple[pl.Expr, pl.Expr]] = []
    for col in export.columns:
        pairs.extend(_reason_pairs(col, maybe_scientific=col.name in facts.maybe_scientific))
    # A rule compares parsed values, which are null when a part did not parse: fill_null(False)
    # keeps those rows to their parse reasons instead of adding a misleading second one.
    pairs.extend(
        (rule.violation(trimmed, parsed).fill_null(False), pl.lit(rule.reason))
        for rule in export.rules
    )

    def trim(name: str) -> pl.Expr:
        raw = pl.col(name)
        if name in facts.canonical:
            # Canonical values have no surrounding spaces: only "" needs to become null.
            return raw.replace("", None) if name in facts.has_empty else raw
        # Trimmed, "" -> null. replace() is ~1.5x cheaper than when(s == "").then(None).otherwise(s).
        return raw.str.strip_chars().replace("", None)

    def parse(col: Column) -> pl.Expr:
        t = pl.col(_t(col.name))
        if col.name in facts.canonical:
            return _fast_parse(col, t)
        return parse_column(col, t, has_tails=col.name in facts.with_tails,
                            aliases=None if mapping is None or col.kind != "enum"
                            else mapping.value_aliases(export.name, col))

    annotated = (
        frame.lazy()
        .with_columns(trim(n).alias(_t(n)) for n in names)
        # Rows with every contract field empty are not data rows: blank lines, Excel's trailing
        # ',,,,' rows. They are neither counted nor quarantined; row numbers keep file positions.
        .filter(~pl.all_horizontal(pl.col(_t(n)).is_null() for n in names))
        .with_columns(parse(c).alias(_p(c.name)) for c in export.columns)
        # One cheap boolean per row; the list of reasons is built for the (few) bad rows only.
        # A null condition is no violation, as in `when(cond).then(msg)`.
        .with_columns((~pl.any_horizontal(cond for cond, _ in pairs).fill_null(False)).alias("__ok"))
        .collect()
    )

    accepted = annotated.filter(pl.col("__ok")).select(
        *(pl.col(_p(c.name)).cast(output_dtype(c)).alias(c.name) for c in export.columns),
        pl.col(_SOURCE).cast(pl.String),
        pl.col(_LANDING).cast(pl.Date),
        pl.col(_ROW).cast(pl.Int64),
    )
    rejected = annotated.filter(~pl.col("__ok")).with_columns(
        pl.concat_list(pl.when(cond).then(msg) for cond, msg in pairs).list.drop_nulls().alias("__reasons")
    ).select(
        pl.lit(export.name, dtype=pl.String).alias("export"),
        pl.col(_SOURCE).cast(pl.String).alias("source_file"),
        pl.col(_ROW).cast(pl.Int64).alias("row_number"),
        pl.col("__reasons").cast(pl.List(pl.String)).alias("reasons"),
        pl.struct(*(pl.col(n) for n in names)).struct.json_encode().alias("raw_record"),
        pl.col(_LANDING).cast(pl.Date).alias("landing_date"),
    )
    return accepted, rejected
