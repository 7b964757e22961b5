"""dualwheel ingestion: landing files -> raw.* and audit.* in the working DuckDB (no Dagster here)."""

from .contract import EXPORTS, Column, Export, get_export
from .errors import FileRejected, FilesRejected, IngestionError
from .load import (
    FileResult,
    IngestSummary,
    ensure_schema,
    ingest_all,
    ingest_file,
    ingest_landing_date,
    ingest_roster,
)
from .readers import FileBatch, Landing, discover, read_export_file

__all__ = [
    "EXPORTS",
    "Column",
    "Export",
    "FileBatch",
    "FileRejected",
    "FileResult",
    "FilesRejected",
    "IngestSummary",
    "IngestionError",
    "Landing",
    "discover",
    "ensure_schema",
    "get_export",
    "ingest_all",
    "ingest_file",
    "ingest_landing_date",
    "ingest_roster",
    "read_export_file",
]
