"""Errors raised by ingestion."""

from __future__ import annotations


class IngestionError(Exception):
    """Base class for every error ingestion raises on purpose."""


class FileRejected(IngestionError):
    """A landing file that cannot be read as a whole (contract section 3).

    `path` is the file as the user knows it (relative to the landing root when known), `problem`
    a short phrase; str() is the one-line message a run fails with.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = str(path)
        # Library errors (Polars, codecs) can span lines; a run's failure message must not.
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")

    def __reduce__(self):  # keep it picklable across process boundaries (Dagster, pytest-xdist)
        return (type(self), (self.path, self.problem))


class FilesRejected(FileRejected):
    """Several files were rejected in one ingest call; the others were still loaded.

    Subclasses FileRejected so callers catching FileRejected also see this; `errors` holds
    every individual rejection and `summary` what was loaded meanwhile (when known).
    """

    def __init__(self, errors: list[FileRejected], summary: object | None = None) -> None:
        if not errors:
            raise ValueError("FilesRejected needs at least one error")
        self.errors = list(errors)
        self.summary = summary
        first = errors[0]
        problem = first.problem
        if len(errors) > 1:
            others = "; ".join(str(e) for e in errors[1:])
            problem = f"{problem} (and {len(errors) - 1} more rejected file(s): {others})"
        super().__init__(first.path, problem)

    def __reduce__(self):
        return (type(self), (self.errors, None))
