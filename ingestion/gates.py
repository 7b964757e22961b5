"""Run-level gates computed from the audit tables (no Dagster here; orchestration turns these
into blocking asset checks).

The reject-share gate looks at every landing date ever ingested, not only the ones this run
touched: a bad day that is still in `raw` would reach the marts on the next run if the gate only
looked at new files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import duckdb


@dataclass(frozen=True)
class RejectShareViolation:
    export: str
    landing_date: date
    rows_read: int
    rows_rejected: int
    files: list[str]
    top_reasons: list[tuple[str, int]] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    def describe(self, max_share: float) -> str:
        reasons = "; ".join(f"{reason} ×{n}" for reason, n in self.top_reasons) or "n/a"
        return (f"{self.export} {self.landing_date}: {self.rows_rejected} of {self.rows_read} rows rejected "
                f"({self.share:.1%} > {max_share:.1%}) in {', '.join(self.files)}; top reasons: {reasons}")


# Reasons carry the offending value, e.g. "gmv: not a money amount ('12.345')"; grouping by the
# part before the value turns 1,000 distinct strings into the handful of problems a person fixes.
_VALUE_SUFFIX = re.compile(r"\s*\(.*\)\s*$")


def reason_kind(reason: str) -> str:
    return _VALUE_SUFFIX.sub("", reason)


def reject_share_violations(con: duckdb.DuckDBPyConnection, export: str, max_share: float,
                            *, top: int = 3) -> list[RejectShareViolation]:
    rows = con.execute(
        """
        select landing_date, sum(rows_read), sum(rows_rejected), list(path order by path)
        from audit.ingested_files
        where export = ? and landing_date is not null
        group by landing_date
        having sum(rows_read) > 0 and sum(rows_rejected) > ? * sum(rows_read)
        order by landing_date
        """, [export, max_share]).fetchall()
    violations = []
    for landing_date, read, rejected, files in rows:
        reasons = con.execute(
            """
            select reason, count(*) from (
                select unnest(reasons) as reason from audit.rejected_rows
                where export = ? and landing_date = ?)
            group by reason
            """, [export, landing_date]).fetchall()
        counts: dict[str, int] = {}
        for reason, n in reasons:
            counts[reason_kind(reason)] = counts.get(reason_kind(reason), 0) + n
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        violations.append(RejectShareViolation(export, landing_date, int(read), int(rejected), list(files), ranked))
    return violations


# --------------------------------------------------------------------------- verdicts
# A file is done only when its gates passed. The loader records every file it writes as
# 'pending' (ingestion.load.ingest_files(awaiting_gates=True)); the orchestrator's blocking checks
# then record 'passed' or 'failed' here. A run interrupted in between (Ctrl-C while the GX
# process starts, SIGKILL during the reject-share query) leaves 'pending', and the loader treats
# any file that is not 'passed' as new: the next run reads, validates and gates it again.


def record_verdicts(con: duckdb.DuckDBPyConnection, *, passed: list[str] = (), failed: list[str] = ()) -> None:
    """Record the gate verdict of landing files (paths as in audit.ingested_files); 'failed' wins."""
    failed = sorted(set(failed))
    passed = sorted(set(passed) - set(failed))
    for verdict, paths in (("passed", passed), ("failed", failed)):
        if paths:
            con.execute("update audit.ingested_files set gate_verdict = ? where path in (select unnest(?::varchar[]))",
                        [verdict, paths])


def unverified_files(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(path, verdict) of every ingested file whose gates have not passed, in path order."""
    return [(path, verdict) for path, verdict in con.execute(
        "select path, coalesce(gate_verdict, 'pending') from audit.ingested_files "
        "where coalesce(gate_verdict, 'pending') <> 'passed' order by path").fetchall()]
