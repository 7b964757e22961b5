"""Asset metadata shown in the Dagster UI, read from the working database."""

import dagster as dg


def _markdown_preview(columns: list[str], rows: list[tuple]) -> str:
    def cell(value) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|")[:40]

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def table_metadata(con, name: str, preview_rows: int = 5) -> dict:
    """Row count, date range of the first DATE column, and a small preview of a table ({} for a view)."""
    found = con.execute(
        "select schema_name from duckdb_tables() where table_name = ? and database_name = current_database()",
        [name]).fetchall()
    if not found:
        # Views (the staging layer) are not counted: counting stg_orders re-runs its dedupe over
        # every raw order row (11 s of a 10M-order nightly run, benchmarks/results.md).
        return {}
    relation = f'"{found[0][0]}"."{name}"'
    columns = con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [found[0][0], name]).fetchall()
    metadata: dict = {"dagster/row_count": con.execute(f"select count(*) from {relation}").fetchall()[0][0]}
    date_column = next((c for c, t in columns if t == "DATE"), None)
    if date_column:
        first, last = con.execute(f'select min("{date_column}"), max("{date_column}") from {relation}').fetchall()[0]
        if first is not None:
            metadata["date_range"] = f"{date_column}: {first} .. {last}"
    sample = con.execute(f"select * from {relation} limit {int(preview_rows)}").fetchall()
    metadata["preview"] = dg.MetadataValue.md(_markdown_preview([c for c, _ in columns], sample))
    return metadata
