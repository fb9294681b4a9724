"""Turning what users register (files, folders, data frames) into Parquet files.

Parquet files are kept byte for byte, so registering the same file twice finds the same digest.
CSV is converted by DuckDB, streaming and out of core; data frames and Arrow tables are written
by pyarrow. Both writers are deterministic for the same input and library version.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.data._engine import connect, literal
from keel.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["Prepared", "prepare_source", "read_parquet_sql"]

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".csv.zst")
_LINE = re.compile(r"on line:?\s*(\d+)", re.I)


@dataclass
class Prepared:
    """Parquet files ready to store, and where they came from.

    Attributes:
        files: Local Parquet files, in order.
        source: A description of the source (a path, ``"pandas.DataFrame"``).
        source_format: ``parquet``, ``csv``, ``folder``, ``pandas``, ``polars`` or ``arrow``.
        relative: The files' paths relative to a registered folder (for the manifest).
        temporary: Files Keel wrote and must delete afterwards.
    """

    files: list[Path]
    source: str | None
    source_format: str
    relative: list[str] = field(default_factory=list)
    temporary: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        """Delete the temporary files."""
        for f in self.temporary:
            f.unlink(missing_ok=True)


def read_parquet_sql(files: list[Path], **options: bool) -> str:
    """Return ``read_parquet([...])`` for ``files`` as a DuckDB table expression."""
    listed = ", ".join(literal(os.fspath(f)) for f in files)
    opts = "".join(f", {k}={'true' if v else 'false'}" for k, v in options.items())
    return f"read_parquet([{listed}]{opts})"


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"PAR1"


def prepare_source(
    source: Any, workdir: Path, *, csv_options: Mapping[str, Any] | None = None
) -> Prepared:
    """Return Parquet files for ``source``.

    Args:
        source: A path (Parquet, CSV, or a folder of Parquet), a pandas or polars DataFrame, an
            Arrow table, or any object exporting Arrow data (``__arrow_c_stream__``).
        workdir: Where converted files are written.
        csv_options: Options for DuckDB's ``read_csv`` (``{"delim": ";"}``).

    Raises:
        NotFoundError: The path does not exist.
        InvalidArgumentError: The file is empty, malformed, or of an unsupported kind.
    """
    if isinstance(source, (str, os.PathLike)):
        return _prepare_path(Path(source), workdir, csv_options or {})
    return _prepare_frame(source, workdir)


def _prepare_path(path: Path, workdir: Path, csv_options: Mapping[str, Any]) -> Prepared:
    if not path.exists():
        raise NotFoundError(
            f"Cannot register {str(path)!r}: no such file or folder.", details={"path": str(path)}
        )
    if path.is_dir():
        files = sorted(
            (
                p
                for p in path.rglob("*")
                if p.is_file() and p.name.lower().endswith(PARQUET_SUFFIXES)
            ),
            key=lambda p: p.relative_to(path).as_posix(),
        )
        if not files:
            found = sorted({p.suffix or p.name for p in path.rglob("*") if p.is_file()})
            raise InvalidArgumentError(
                f"The folder {str(path)!r} holds no Parquet files (*.parquet)"
                + (f"; it holds {found[:8]!r}" if found else "; it is empty")
                + ". Register a folder of Parquet files, or register each CSV file on its own."
            )
        for f in files:
            _check_not_empty(f)
            if not _is_parquet(f):
                raise InvalidArgumentError(
                    f"{str(f)!r} is named like a Parquet file but is not one (it does not start "
                    "with the Parquet magic bytes 'PAR1'). Remove it from the folder or fix it."
                )
        return Prepared(
            files=files,
            source=str(path.resolve()),
            source_format="folder",
            relative=[f.relative_to(path).as_posix() for f in files],
        )
    _check_not_empty(path)
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES) or _is_parquet(path):
        if not _is_parquet(path):
            raise InvalidArgumentError(
                f"{str(path)!r} is named like a Parquet file but is not one (it does not start "
                "with the Parquet magic bytes 'PAR1')."
            )
        return Prepared(files=[path], source=str(path.resolve()), source_format="parquet")
    if name.endswith(CSV_SUFFIXES):
        out = workdir / "from-csv.parquet"
        csv_to_parquet(path, out, csv_options)
        return Prepared(
            files=[out], source=str(path.resolve()), source_format="csv", temporary=[out]
        )
    raise InvalidArgumentError(
        f"Cannot register {str(path)!r}: Keel reads Parquet ({', '.join(PARQUET_SUFFIXES)}), "
        f"CSV ({', '.join(CSV_SUFFIXES)}) and folders of Parquet files. Convert the file, or "
        "load it into a DataFrame and register that."
    )


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise InvalidArgumentError(
            f"{str(path)!r} is empty (0 bytes): there is no data to register. Check that the "
            "file was written completely."
        )


def csv_to_parquet(path: Path, out: Path, options: Mapping[str, Any]) -> None:
    r"""Convert a CSV file to Parquet with DuckDB, streaming.

    The delimiter defaults to ``,`` (``\\t`` for ``.tsv``) and the first line is the header;
    ``options`` are passed to DuckDB's ``read_csv``.

    Raises:
        InvalidArgumentError: The CSV is malformed; the message names the line.
    """
    import duckdb

    opts: dict[str, Any] = {
        "delim": "\t" if ".tsv" in path.name.lower() else ",",
        "header": True,
    }
    opts.update(options)
    for key in opts:
        if not re.fullmatch(r"[a-z_]+", str(key)):
            raise InvalidArgumentError(f"{key!r} is not a read_csv option name.")
    rendered = ", ".join(f"{k}={_csv_value(v)}" for k, v in opts.items())
    con = connect()
    try:
        con.execute(
            f"COPY (SELECT * FROM read_csv({literal(os.fspath(path))}, {rendered})) "
            f"TO {literal(os.fspath(out))} (FORMAT parquet, COMPRESSION zstd)"
        )
    except duckdb.Error as exc:
        out.unlink(missing_ok=True)
        raise _csv_error(path, str(exc), opts) from exc
    finally:
        con.close()


def _csv_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return literal(value)


def _csv_error(path: Path, message: str, opts: Mapping[str, Any]) -> InvalidArgumentError:
    lines = [x.strip() for x in message.strip().splitlines()]
    m = _LINE.search(message)
    if m is not None:  # DuckDB names the line: keep its explanation
        line: int | None = int(m.group(1))
        reason = lines[0].split(":", 1)[-1].strip() if lines else message
        original = ""
        for text in lines:
            if text.startswith(("Expected Number of Columns", "Error when")):
                reason = text.rstrip(".")
            elif text.startswith("Original Line:"):
                original = text.partition(":")[2].strip()[:200]
        if original:
            reason += f" (the line reads {original!r})"
        typed = re.search(r'converting column "([^"]+)"', message)
        if typed:
            reason += (
                f"; if the value is right, read the column as text with csv_options="
                f"{{'types': {{{typed.group(1)!r}: 'VARCHAR'}}}}"
            )
    else:  # the dialect sniffer gave up: find the first line that breaks the header's shape
        found = _first_bad_line(path, str(opts.get("delim", ",")))
        if found is None:
            line, reason = None, lines[0] if lines else message
        else:
            line, width, header, text = found
            reason = (
                f"it has {width} fields where the header has {header} "
                f"(the line reads {text[:200]!r})"
            )
    where = f"line {line}" if line else "an unknown line"
    return InvalidArgumentError(
        f"The CSV file {str(path)!r} is malformed at {where}: {reason}. Fix that line, or pass "
        "csv_options (for example {'delim': ';'} or {'ignore_errors': True}) to read it "
        "differently.",
        details={"path": str(path), "line": line},
    )


def _first_bad_line(path: Path, delim: str) -> tuple[int, int, int, str] | None:
    """Return ``(line, fields, header fields, text)`` of the first line unlike the header.

    Only on the error path, and only until the first bad line: never a pass over good data.
    """
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f, delimiter=delim or ",")
            width = None
            for row in reader:
                if width is None:
                    width = len(row)
                elif row and len(row) != width:
                    return reader.line_num, len(row), width, (delim or ",").join(row)
    except (OSError, csv.Error):
        return None
    return None


def _prepare_frame(source: Any, workdir: Path) -> Prepared:
    import pyarrow.parquet as pq

    table, kind = to_arrow_table(source)
    if table.num_columns == 0:
        raise InvalidArgumentError(
            f"The {kind} to register has no columns; there is no data to register."
        )
    out = workdir / "from-frame.parquet"
    pq.write_table(table, out, compression="zstd")
    return Prepared(
        files=[out],
        source=f"{kind} ({table.num_rows:,} rows)",
        source_format=kind.split(".")[0],
        temporary=[out],
    )


def to_arrow_table(source: Any) -> tuple[pa.Table, str]:
    """Convert a pandas/polars DataFrame, an Arrow table or batch, or an Arrow stream.

    Returns:
        The table and a description of the source's kind (``"pandas.DataFrame"``).

    Raises:
        InvalidArgumentError: The object is none of those.
    """
    import pyarrow as pa

    module = type(source).__module__.split(".")[0]
    if isinstance(source, pa.Table):
        return source, "arrow.Table"
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source]), "arrow.RecordBatch"
    if module == "pandas" and type(source).__name__ == "DataFrame":
        try:
            return pa.Table.from_pandas(source), "pandas.DataFrame"
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgumentError(
                f"The pandas DataFrame cannot be stored as Parquet: {exc}. Give each column one "
                "type (mixed objects cannot be stored)."
            ) from exc
    if module == "polars" and type(source).__name__ == "DataFrame":
        return source.to_arrow(), "polars.DataFrame"
    if hasattr(source, "__arrow_c_stream__"):
        return pa.table(source), f"{module}.{type(source).__name__}"
    raise InvalidArgumentError(
        f"Cannot register a {type(source).__name__!r}: give a path (Parquet, CSV, or a folder "
        "of Parquet files), a pandas or polars DataFrame, or an Arrow table."
    )


def describe_columns(
    files: list[Path], con: duckdb.DuckDBPyConnection | None = None
) -> list[dict[str, Any]]:
    """Return ``[{"name", "type", "sql_type"}]`` for the Parquet files' columns.

    Only footers are read, by DuckDB (no pyarrow import on the validation path).

    Args:
        files: The Parquet files (their schemas must agree).
        con: A DuckDB connection to use (a new one by default).

    Raises:
        InvalidArgumentError: A file is not readable Parquet, or the files' schemas differ.
    """
    import duckdb

    from keel.data._types import neutral_type

    own = con is None
    db = con or connect()
    try:
        listed = ", ".join(literal(os.fspath(f)) for f in files)
        try:
            leaves = db.execute(
                "SELECT file_name, name, type, converted_type, logical_type, repetition_type "
                f"FROM parquet_schema([{listed}])"
            ).fetchall()
            rows = db.execute(f"DESCRIBE SELECT * FROM {read_parquet_sql(files[:1])}").fetchall()
        except duckdb.Error as exc:
            raise InvalidArgumentError(
                f"{str(files[0]) if len(files) == 1 else 'A file'!r} is not readable Parquet: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
    finally:
        if own:
            db.close()
    by_file: dict[str, list[tuple[Any, ...]]] = {}
    for file_name, *shape in leaves:
        by_file.setdefault(file_name, []).append(tuple(shape))
    shapes = [(name, cols[1:]) for name, cols in by_file.items()]  # [0] is the root
    first_name, first = shapes[0]
    for name, shape in shapes[1:]:
        if shape != first:
            diff = sorted({(s[0], s[1]) for s in set(shape) ^ set(first)})[:4]
            raise InvalidArgumentError(
                f"The Parquet files of one dataset must share a schema, but {name!r} differs "
                f"from {first_name!r} (columns {diff}). Register them as separate datasets or "
                "rewrite them with one schema."
            )
    return [{"name": r[0], "type": neutral_type(r[1]), "sql_type": r[1]} for r in rows]


def count_rows(path: Path) -> int:
    """Return the number of rows of a Parquet file from its footer."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)
