"""DuckDB connections of the feature store, and reading a source's schema.

Each retrieval or materialization works on its own cursor of an in-process database, in UTC,
spilling to ``$KEEL_HOME/tmp/duckdb`` when it runs out of memory. ``KEEL_DATA_MEMORY_LIMIT``
(``"4GB"``) and ``KEEL_DATA_THREADS`` bound it, as for the rest of Keel's data engine.

Work that reads only local files runs on a database with DuckDB's Parquet prefetching off; work
that reads remote files (``s3://``, ``https://``...) runs on a second one, opened when first
needed, that keeps it. Prefetching reads each row group's columns whole into memory before
decoding them, in every scanning thread: on a remote store that turns many small range requests
into a few large ones, but on a local disk the pages come as fast from the OS page cache, and
the buffers cost threads x row group (about 30 MB a thread for a row group of a million rows
of a few numeric columns) for no gain. A DuckDB setting of the whole database, hence two.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, MissingDependencyError, NotFoundError

if TYPE_CHECKING:
    import duckdb

__all__ = ["connect", "describe", "quote", "ts_literal"]


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:  # a core dependency, but a broken install says so plainly
        raise MissingDependencyError(
            "Keel's feature store needs the package 'duckdb', which is not installed. "
            "Install it with: pip install 'duckdb>=1.1'",
            details={"package": "duckdb"},
        ) from exc
    return duckdb


_bases: dict[bool, Any] = {}
_base_lock = threading.Lock()


def _database(remote: bool) -> Any:
    """The process's in-memory DuckDB database for local or remote reads, opened once each.

    Opening one costs ~0.1 s; see the module docstring for why there are two.
    """
    with _base_lock:
        base = _bases.get(remote)
        if base is None:
            from keel.config import get_settings

            module = _duckdb()
            temp = os.environ.get("KEEL_DATA_TEMP_DIR") or str(
                get_settings().home / "tmp" / "duckdb"
            )
            Path(temp).mkdir(parents=True, exist_ok=True)
            config: dict[str, Any] = {"temp_directory": temp}
            memory = os.environ.get("KEEL_DATA_MEMORY_LIMIT")
            if memory:
                config["memory_limit"] = memory
            threads = os.environ.get("KEEL_DATA_THREADS")
            if threads:
                config["threads"] = int(threads)
            base = module.connect(":memory:", config=config)
            base.execute("SET GLOBAL TimeZone = 'UTC'")
            if not remote:
                # Not in ``config``: the setting belongs to the Parquet extension, which loads
                # after the database opens. A DuckDB without it reads as it always did.
                with contextlib.suppress(module.Error):
                    base.execute("SET GLOBAL disable_parquet_prefetching = true")
            _bases[remote] = base
        return base


def connect(*, remote: bool = False) -> duckdb.DuckDBPyConnection:
    """Return a new connection (a cursor) to the process's DuckDB database, in UTC.

    Each retrieval gets its own cursor, so registered frames never meet and threads do not
    share a connection. Close it when done.

    Args:
        remote: The work reads remote files (see :func:`keel.features._sources.reads_remote`);
            its cursor then comes from the database that prefetches Parquet row groups.
    """
    cursor: duckdb.DuckDBPyConnection = _database(remote).cursor()
    return cursor


def quote(name: str) -> str:
    """Quote an identifier for DuckDB SQL."""
    return '"' + str(name).replace('"', '""') + '"'


def ts_literal(us: int, duck_type: str) -> str:
    """Return a SQL literal of the instant ``us`` (epoch microseconds, UTC) in ``duck_type``."""
    return f"CAST(make_timestamp({int(us)}::BIGINT) AS {duck_type})"


def describe(con: duckdb.DuckDBPyConnection, relation: str, what: str) -> dict[str, str]:
    """Return a relation's column types without reading its rows.

    Raises:
        NotFoundError: The source's files do not exist.
        InvalidArgumentError: The source cannot be read (bad SQL, not Parquet).
    """
    duckdb = _duckdb()
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.IOException as exc:
        message = str(exc).splitlines()[0]
        if "No files found" in message or "No such file" in message:
            raise NotFoundError(
                f"The source of {what} has no files: {message}. Check the path or glob "
                "(relative paths are resolved against the folder you apply from).",
                details={"source": relation},
            ) from exc
        raise InvalidArgumentError(f"The source of {what} cannot be read: {message}.") from exc
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        raise InvalidArgumentError(f"The source of {what} cannot be read: {message}.") from exc
    return {str(r[0]): str(r[1]) for r in rows}


def arrow_table(con: Any, sql: str) -> Any:
    """Run ``sql`` and return its rows as an Arrow table (DuckDB 1.x and 2.x name this apart)."""
    rel = con.sql(sql)
    method = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
    return method()


def arrow_reader(con: Any, sql: str, batch_size: int) -> Any:
    """Run ``sql`` and return an Arrow record-batch reader of ``batch_size`` rows."""
    rel = con.sql(sql)
    method = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader
    return method(batch_size)
