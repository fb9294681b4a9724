"""What validation and profiling read: a registered version, a file, a folder or a data frame.

A :class:`Scan` names the data as a DuckDB table expression, so checks and profiles are SQL over
Parquet (read out of core) or over an in-memory Arrow table registered with DuckDB.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.data._engine import literal
from keel.data._ingest import describe_columns, prepare_source, read_parquet_sql, to_arrow_table
from keel.data._types import neutral_type

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from keel.data._versions import DatasetVersion

__all__ = ["Scan", "open_scan"]

ROW_COLUMN = "__keel_row__"
_INPUT_VIEW = "keel_input"


@dataclass
class Scan:
    """The data to read and how to read it.

    Attributes:
        relation: A DuckDB table expression for the data.
        columns: Column names and Keel types, in order.
        sql_types: Column names and DuckDB types.
        label: How results name the data (``tx@v3``, a path, ``pandas.DataFrame``).
        num_rows: The row count when known without a scan (Parquet footers).
        version: The registered version, if one was given.
        row_relation: A table expression exposing ``row_expr`` (row numbers for samples).
        row_expr: A SQL expression giving each row's 0-based number in file order.
        arrow: An in-memory table to register as the relation before querying.
        categorical: Text columns whose Parquet chunks are all dictionary-encoded with a small
            dictionary: grouping by them is cheaper than testing each row.
    """

    relation: str
    columns: dict[str, str]
    sql_types: dict[str, str]
    label: str
    num_rows: int | None = None
    version: DatasetVersion | None = None
    row_relation: str | None = None
    row_expr: str | None = None
    arrow: pa.Table | None = None
    files: list[Path] = field(default_factory=list)
    categorical: frozenset[str] = frozenset()

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make the scan's relation visible on ``con`` (registers an in-memory table)."""
        if self.arrow is not None:
            con.register(_INPUT_VIEW, self.arrow)


def parquet_scan(
    files: list[Path],
    label: str,
    *,
    version: DatasetVersion | None = None,
    schema: list[dict[str, Any]] | None = None,
    rows_per_file: list[int] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Scan:
    """Build the scan of local Parquet files."""
    cols = schema if schema is not None else describe_columns(files, con)
    relation = read_parquet_sql(files)
    if len(files) == 1:
        row_relation = read_parquet_sql(files, file_row_number=True)
        row_expr = "file_row_number"
    else:
        row_relation = read_parquet_sql(files, file_row_number=True, filename=True)
        offsets = rows_per_file or _footer_rows(files, con)
        cases, start = [], 0
        for f, n in zip(files, offsets, strict=True):
            cases.append(f"WHEN {literal(os.fspath(f))} THEN {start}")
            start += n
        row_expr = f"(file_row_number + CASE filename {' '.join(cases)} END)"
    total = sum(rows_per_file) if rows_per_file is not None else None
    strings = [c["name"] for c in cols if c["type"] == "string"]
    return Scan(
        categorical=categorical_columns(files, strings, con),
        relation=relation,
        columns={c["name"]: c["type"] for c in cols},
        sql_types={c["name"]: c.get("sql_type", "") for c in cols},
        label=label,
        num_rows=total,
        version=version,
        row_relation=row_relation,
        row_expr=row_expr,
        files=list(files),
    )


#: Largest dictionary page (bytes) of a column chunk that still counts as categorical.
_SMALL_DICTIONARY = 16 * 1024


def categorical_columns(
    files: list[Path], columns: list[str], con: duckdb.DuckDBPyConnection | None = None
) -> frozenset[str]:
    """Return the columns every chunk of which is dictionary-encoded with a small dictionary.

    Parquet writers fall back from dictionary to plain encoding when a chunk has too many
    distinct values, so a small dictionary page in every row group bounds the distinct values.
    Only the footers are read.
    """
    if not columns:
        return frozenset()
    from keel.data._engine import connect

    own = con is None
    db = con or connect()
    try:
        listed = ", ".join(literal(os.fspath(f)) for f in files)
        rows = db.execute(
            "SELECT path_in_schema, bool_and(dictionary_page_offset IS NOT NULL), "
            "max(data_page_offset - dictionary_page_offset) "
            f"FROM parquet_metadata([{listed}]) GROUP BY path_in_schema"
        ).fetchall()
    finally:
        if own:
            db.close()
    wanted = set(columns)
    return frozenset(
        name
        for name, all_dict, size in rows
        if name in wanted and all_dict and size is not None and size <= _SMALL_DICTIONARY
    )


def _footer_rows(files: list[Path], con: duckdb.DuckDBPyConnection | None) -> list[int]:
    from keel.data._engine import connect

    own = con is None
    db = con or connect()
    try:
        listed = ", ".join(literal(os.fspath(f)) for f in files)
        found = dict(
            db.execute(
                f"SELECT file_name, num_rows FROM parquet_file_metadata([{listed}])"
            ).fetchall()
        )
    finally:
        if own:
            db.close()
    return [int(found[os.fspath(f)]) for f in files]


def arrow_scan(table: pa.Table, label: str) -> Scan:
    """Build the scan of an in-memory Arrow table (row numbers added as a column)."""
    import duckdb
    import pyarrow as pa

    if ROW_COLUMN in table.column_names:
        table = table.drop_columns([ROW_COLUMN])
    indexed = table.append_column(ROW_COLUMN, pa.array(range(table.num_rows), pa.int64()))
    con = duckdb.connect()
    try:
        con.register(_INPUT_VIEW, table)
        described = con.execute(f"DESCRIBE SELECT * FROM {_INPUT_VIEW}").fetchall()
    finally:
        con.close()
    return Scan(
        relation=_INPUT_VIEW,
        columns={r[0]: neutral_type(r[1]) for r in described},
        sql_types={r[0]: r[1] for r in described},
        label=label,
        num_rows=table.num_rows,
        row_relation=_INPUT_VIEW,
        row_expr=ROW_COLUMN,
        arrow=indexed,
    )


@contextmanager
def open_scan(
    target: Any,
    *,
    csv_options: Mapping[str, Any] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[Scan]:
    """Resolve what to read: a DatasetVersion, ``"name@v3"``, a path, or a data frame.

    A string that names an existing file or folder is read as a path; any other string is a
    dataset reference. CSV files are converted to a temporary Parquet file first.

    Raises:
        NotFoundError: The path or the dataset version does not exist.
        InvalidArgumentError: The target is of no supported kind.
    """
    from keel.data._versions import DatasetVersion, get

    if isinstance(target, DatasetVersion):
        yield target.scan()
        return
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        if not path.exists() and isinstance(target, str):
            yield get(target).scan()
            return
        workdir = Path(tempfile.mkdtemp(prefix="keel-scan-"))
        try:
            prepared = prepare_source(path, workdir, csv_options=csv_options)
            label = str(target)
            yield parquet_scan(prepared.files, label, con=con)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    table, kind = to_arrow_table(target)
    yield arrow_scan(table, kind)
