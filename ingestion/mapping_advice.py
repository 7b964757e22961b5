"""From rejected to loaded in one step: unknown headers and values, and a mapping.yml to paste.

`advise_mapping(landing)` reads every export file of a landing folder the way ingestion would
(built-in names plus the current mapping.yml), collects per export the headers it does not know
and the enum values it does not know, with how many data rows each affects, and guesses the
closest contract column or value (built-in aliases, common Kuaishou platform words, then name
similarity). `MappingAdvice.yaml()` renders the guesses as a mapping.yml block, every line marked
as a guess. Nothing is written anywhere; this is what `dualwheel doctor` prints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .contract import DAILY_EXPORTS, EXPORTS, ROSTER_EXPORT, Export, get_export, normalize_header
from .errors import FileRejected
from .mapping import MerchantMapping, load_mapping, normalize_value
from .readers import discover, read_bytes, read_headers, read_strings, relative_posix

#: Below this similarity a header or value gets no guess (0.5: 付款时间 ~ 支付时间 is 0.75,
#: 实付款 ~ 实付金额 0.57, 收货人 ~ 账号名称 0.0).
MIN_SIMILARITY = 0.5

#: Words of Kuaishou's merchant back office (快手小店) that are not contract aliases, so that the
#: first guess is right for the common ones; still printed as guesses.
PLATFORM_HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "orders": {
        "order_id": ("订单编号", "订单ID", "子订单号", "主订单号"),
        "buyer_id": ("买家id", "用户ID", "买家账号"),
        "gmv": ("实付款", "实付金额(元)", "订单实付", "支付金额", "实收款"),
        "paid_at": ("付款时间", "支付成功时间"),
        "updated_at": ("最后更新时间", "修改时间"),
        "quantity": ("商品数量", "购买数量"),
        "status": ("订单状态", "交易状态"),
        "refund_amount": ("退款金额(元)", "售后退款金额"),
        "product_id": ("商品编号",),
        "traffic_source": ("流量渠道", "成交渠道"),
    },
    "follows": {"user_id": ("粉丝ID", "用户id"), "occurred_at": ("关注时间", "操作时间")},
    "live_traffic": {"viewers": ("观看人次", "进入直播间人数"), "watch_seconds": ("观看时长", "总观看时长(秒)")},
}
PLATFORM_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "status": {
        "completed": ("交易成功", "已签收", "已收货"),
        "cancelled": ("交易关闭", "已关闭", "订单关闭"),
        "paid": ("待发货", "已付款", "买家已付款"),
        "shipped": ("待收货", "卖家已发货"),
        "refunded": ("退款成功", "售后完成"),
    },
}
#: Receiver details (contract §3): never mapped; reported so nobody maps them by accident.
PERSONAL_HEADERS = ("收货人", "收件人", "手机号", "联系电话", "收货地址", "详细地址", "receiver")

_PLAIN_KEY = re.compile(r"^[\w\u4e00-\u9fff()（）]+$")


@dataclass
class UnknownHeader:
    export: str
    header: str
    files: int = 0
    rows: int = 0
    guess: str | None = None
    personal: bool = False
    #: carried by a file that lacks a required column: then even a header without a guess may be
    #: the missing one, and is worth a line in the suggested block.
    in_rejected_file: bool = False

    @property
    def actionable(self) -> bool:
        return not self.personal and (self.guess is not None or self.in_rejected_file)


@dataclass
class UnknownValue:
    export: str
    column: str
    value: str
    rows: int = 0
    guess: str | None = None


@dataclass
class MappingAdvice:
    headers: list[UnknownHeader] = field(default_factory=list)
    values: list[UnknownValue] = field(default_factory=list)
    #: files that could not be examined (unreadable, two headers for one column): path -> problem.
    unreadable: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        """Anything to map? Extra columns of readable files are ignored by design, not a problem."""
        return any(h.actionable for h in self.headers) or bool(self.values)

    def yaml(self) -> str:
        """A mapping.yml block of the guesses, to paste and edit (every entry is a guess)."""
        lines = ["# suggested mapping.yml entries: GUESSES, check each one before saving", ]
        for export in EXPORTS:
            headers = [h for h in self.headers if h.export == export and h.actionable]
            values = [v for v in self.values if v.export == export]
            if not headers and not values:
                continue
            lines.append(f"{export}:")
            if headers:
                lines.append("  headers:")
                for h in headers:
                    note = f"{h.rows:,} row(s) in {h.files} file(s)"
                    if h.guess:
                        lines.append(f"    {_key(h.header)}: {h.guess}    # guess; {note}")
                    else:
                        lines.append(f"    # {_key(h.header)}: ?    # no close contract column; {note} "
                                     "(extra columns are ignored)")
            if values:
                lines.append("  values:")
                for column in dict.fromkeys(v.column for v in values):
                    lines.append(f"    {column}:")
                    for v in (v for v in values if v.column == column):
                        if v.guess:
                            lines.append(f"      {_key(v.value)}: {v.guess}    # guess; {v.rows:,} row(s)")
                        else:
                            lines.append(f"      # {_key(v.value)}: ?    # no close value; {v.rows:,} row(s)")
        return "\n".join(lines)


def _key(text: str) -> str:
    return text if _PLAIN_KEY.match(text) else json.dumps(text, ensure_ascii=False)


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def guess_column(export: Export, header: str, taken: set[str]) -> str | None:
    """The contract column a header most likely means, or None (never one the file already has)."""
    norm = normalize_header(header)
    best, best_score = None, 0.0
    for c in export.columns:
        if c.name in taken:
            continue
        names = (c.name, *c.headers_zh, *PLATFORM_HEADERS.get(export.name, {}).get(c.name, ()))
        for name in names:
            score = _similarity(norm, normalize_header(name))
            if score > best_score:
                best, best_score = c.name, score
    return best if best_score >= MIN_SIMILARITY else None


def guess_value(column, value: str) -> str | None:
    norm = normalize_value(value)
    best, best_score = None, 0.0
    for canonical, aliases in column.values.items():
        platform = PLATFORM_VALUES.get(column.name, {}).get(canonical, ())
        for name in (canonical, *aliases, *platform):
            score = _similarity(norm, normalize_value(name))
            if score > best_score:
                best, best_score = canonical, score
    return best if best_score >= MIN_SIMILARITY else None


def _lenient(export: Export) -> Export:
    """The export with every column optional: a file missing required columns still reads."""
    return dataclasses.replace(export, columns=tuple(dataclasses.replace(c, required=False)
                                                     for c in export.columns))


def advise_mapping(landing: Path, *, dates: list[dt.date] | None = None,
                   mapping: MerchantMapping | None = None) -> MappingAdvice:
    landing = Path(landing)
    mapping = load_mapping(landing) if mapping is None else mapping
    found = discover(landing)
    jobs: list[tuple[Path, str]] = [(found.roster, ROSTER_EXPORT)] if found.roster else []
    for day, per_export in found.dates.items():
        if dates is None or day in dates:
            jobs.extend((p, e) for e in DAILY_EXPORTS for p in per_export.get(e, ()))
    headers: dict[tuple[str, str], UnknownHeader] = {}
    values: dict[tuple[str, str, str], UnknownValue] = {}
    advice = MappingAdvice()
    for path, export in jobs:
        spec = get_export(export)
        name = relative_posix(path, landing)
        data, _ = read_bytes(path)
        try:
            file_headers = read_headers(data, path, name)
            frame = read_strings(data, path, _lenient(spec), name, mapping)
        except FileRejected as e:
            advice.unreadable[name] = e.problem
            continue
        lookup = mapping.header_lookup(spec)
        taken = {lookup[normalize_header(h)] for h in file_headers if normalize_header(h) in lookup}
        lacks_required = any(c.required and c.name not in taken for c in spec.columns)
        trimmed = frame.select(pl.col(c).str.strip_chars().replace("", None) for c in spec.column_names)
        rows = trimmed.filter(~pl.all_horizontal(pl.all().is_null())).height
        for header in file_headers:
            header = str(header).strip()
            if not header or normalize_header(header) in lookup:
                continue
            entry = headers.get((export, normalize_header(header)))
            if entry is None:
                personal = any(p in header.lower() for p in PERSONAL_HEADERS)
                entry = headers[(export, normalize_header(header))] = UnknownHeader(
                    export, header, personal=personal,
                    guess=None if personal else guess_column(spec, header, taken))
            entry.files += 1
            entry.rows += rows
            entry.in_rejected_file |= lacks_required
        for column in spec.columns:
            if column.kind != "enum":
                continue
            known = mapping.value_aliases(export, column)
            counts = (trimmed.select(pl.col(column.name).alias("v")).drop_nulls()
                      .filter(~pl.col("v").str.to_lowercase().is_in(list(known)))
                      .group_by("v").len().sort("len", descending=True))
            for value, n in counts.iter_rows():
                entry = values.get((export, column.name, normalize_value(value)))
                if entry is None:
                    entry = values[(export, column.name, normalize_value(value))] = UnknownValue(
                        export, column.name, value, guess=guess_value(column, value))
                entry.rows += n
    advice.headers = sorted(headers.values(), key=lambda h: (list(EXPORTS).index(h.export), -h.rows, h.header))
    advice.values = sorted(values.values(), key=lambda v: (list(EXPORTS).index(v.export), v.column, -v.rows))
    return advice
