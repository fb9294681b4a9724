"""Where a feature view's rows come from: Parquet files, a registered dataset, or a DuckDB query.

A source given as a string is read by its shape: ``"name@v3"`` (or ``"name@latest"``) is a
registered dataset version, text starting with ``SELECT``, ``WITH`` or ``FROM`` is a DuckDB
query, anything else is a Parquet path, folder or glob (local or ``s3://``). Wrap it in
:class:`ParquetSource`, :class:`DatasetSource` or :class:`SqlSource` to say so explicitly.

Every source renders to a DuckDB relation with two extra columns giving each row's position
(``__keel_file``, ``__keel_pos``): when rows of one entity share an event timestamp (and a
created timestamp), the row that comes last in the source wins, offline and online alike.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel.errors import InvalidArgumentError

__all__ = [
    "DatasetSource",
    "ParquetSource",
    "Source",
    "SqlSource",
    "as_source",
    "reads_remote",
    "text_reads_remote",
]

_DATASET_REF = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*)@(v?\d+|latest)$")
_SQL_START = re.compile(r"^\s*\(?\s*(select|with|from)\b", re.I)
# A URL other than file://, anywhere in a path or a query's text (s3://, gs://, https://, ...)
_REMOTE_URL = re.compile(r"\b(?!file://)[a-z][a-z0-9+.\-]*://", re.I)

#: Position columns every rendered source carries (file order, then row order in the file).
FILE_COL = "__keel_file"
POS_COL = "__keel_pos"


class Source:
    """Base of feature-view sources."""

    kind: str = ""

    def spec(self) -> dict[str, Any]:
        """Return the JSON spec stored with the feature view."""
        raise NotImplementedError

    def describe(self) -> str:
        """Return a short human description."""
        raise NotImplementedError


@dataclass(frozen=True)
class ParquetSource(Source):
    """Parquet files: one file, a folder of files, or a glob (``data/*.parquet``, ``s3://...``).

    Args:
        path: The path or glob; relative paths are resolved against the folder the definitions
            are applied from.
    """

    path: str
    kind = "parquet"

    def spec(self) -> dict[str, Any]:
        """Return ``{"kind": "parquet", "path": ...}``."""
        return {"kind": self.kind, "path": self.path}

    def describe(self) -> str:
        """Return the path."""
        return self.path

    def resolved(self, base_dir: Path) -> ParquetSource:
        """Return the source with a relative path made absolute against ``base_dir``."""
        path = self.path
        if "://" in path or os.path.isabs(path):
            return self
        return ParquetSource(str((base_dir / path).resolve()))


@dataclass(frozen=True)
class DatasetSource(Source):
    """A registered dataset version, ``"name@v3"``, or ``"name@latest"`` for the newest.

    Args:
        ref: The dataset reference.
    """

    ref: str
    kind = "dataset"

    def __post_init__(self) -> None:
        if not _DATASET_REF.match(self.ref):
            raise InvalidArgumentError(
                f"Dataset source {self.ref!r} is not a dataset reference. Write 'name@v3' for "
                "a version or 'name@latest' for the newest one."
            )

    def spec(self) -> dict[str, Any]:
        """Return ``{"kind": "dataset", "ref": ...}``."""
        return {"kind": self.kind, "ref": self.ref}

    def describe(self) -> str:
        """Return the reference."""
        return f"dataset {self.ref}"


@dataclass(frozen=True)
class SqlSource(Source):
    """A DuckDB query whose result holds the feature rows.

    Ties (same entity and timestamp) are broken by the query's output order, so give it an
    ``ORDER BY`` when it can produce such ties.

    Args:
        query: The query text.
    """

    query: str
    kind = "sql"

    def spec(self) -> dict[str, Any]:
        """Return ``{"kind": "sql", "query": ...}``."""
        return {"kind": self.kind, "query": self.query.strip()}

    def describe(self) -> str:
        """Return the query on one line."""
        return " ".join(self.query.split())


def as_source(value: Any, what: str) -> Source:
    """Turn a source argument (a :class:`Source` or a string) into a :class:`Source`.

    Raises:
        InvalidArgumentError: The value is neither.
    """
    if isinstance(value, Source):
        return value
    if isinstance(value, os.PathLike):
        return ParquetSource(os.fspath(value))
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if _SQL_START.match(text):
            return SqlSource(text)
        if _DATASET_REF.match(text):
            return DatasetSource(text)
        return ParquetSource(text)
    raise InvalidArgumentError(
        f"{what} must be a Parquet path or glob, a dataset reference 'name@v3' or a DuckDB "
        f"query, got {value!r}."
    )


def text_reads_remote(text: str) -> bool:
    """Whether a path or a DuckDB query names a remote file (any URL but ``file://``)."""
    return _REMOTE_URL.search(text) is not None


def reads_remote(source: Source) -> bool:
    """Whether reading a source fetches remote files (which DuckDB should prefetch).

    A registered dataset's files are read from local copies; a Parquet path or a query reads
    remotely when it names a URL other than ``file://``.
    """
    if isinstance(source, ParquetSource):
        return text_reads_remote(source.path)
    if isinstance(source, SqlSource):
        return text_reads_remote(source.query)
    return False


def source_from_spec(spec: dict[str, Any]) -> Source:
    """Rebuild a source from its stored spec."""
    kind = spec.get("kind")
    if kind == "parquet":
        return ParquetSource(spec["path"])
    if kind == "dataset":
        return DatasetSource(spec["ref"])
    if kind == "sql":
        return SqlSource(spec["query"])
    raise InvalidArgumentError(f"Unknown feature source kind {kind!r} in a stored definition.")


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parquet_relation(paths: list[str]) -> str:
    files = "[" + ", ".join(_sql_literal(p) for p in paths) + "]"
    return (
        f"(SELECT * EXCLUDE (filename, file_row_number), filename AS {FILE_COL}, "
        f"file_row_number AS {POS_COL} FROM read_parquet({files}, filename = true, "
        "file_row_number = true, union_by_name = true))"
    )


def _parquet_paths(path: str) -> list[str]:
    if "://" not in path and os.path.isdir(path):
        return [os.path.join(path, "**", "*.parquet")]
    return [path]


def render(source: Source) -> tuple[str, str | None]:
    """Return the DuckDB relation text of a source and the lineage id of what it read.

    The lineage id is ``name@vN`` for a dataset source (``None`` otherwise).

    Raises:
        NotFoundError: A dataset source names no registered version.
    """
    if isinstance(source, ParquetSource):
        return _parquet_relation(_parquet_paths(source.path)), None
    if isinstance(source, SqlSource):
        return (
            f"(SELECT *, NULL::VARCHAR AS {FILE_COL}, "
            f"(row_number() OVER ()) AS {POS_COL} FROM ({source.query}))"
        ), None
    if isinstance(source, DatasetSource):
        paths, ref = dataset_files(source.ref)
        return _parquet_relation(paths), ref
    raise InvalidArgumentError(f"Cannot read a feature source of type {type(source).__name__}.")


def dataset_files(ref: str) -> tuple[list[str], str]:
    """Return the local Parquet files of a registered dataset version and its ``name@vN``.

    ``name@latest`` resolves to the newest version at the time of the call.

    Raises:
        NotFoundError: No such dataset or version (the message lists what exists).
    """
    from keel.data import get

    version = get(ref)
    return [os.fspath(p) for p in version.paths()], version.ref
