"""The DuckDB engine behind validation and profiling: connections, quoting, Arrow output.

Every query runs on a fresh in-process DuckDB connection set up for out-of-core work: a memory
limit, a spill directory under ``KEEL_HOME`` and a thread count. They come from, in order,
:func:`configure_engine`, the environment variables ``KEEL_DATA_MEMORY_LIMIT`` (DuckDB's
syntax: ``"1GB"``, ``"512MB"``), ``KEEL_DATA_THREADS`` and ``KEEL_DATA_TEMP_DIR``, and DuckDB's
defaults (80% of RAM, one thread per core).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = [
    "EngineOptions",
    "configure_engine",
    "connect",
    "engine_options",
    "literal",
    "quote_ident",
    "to_arrow",
]

_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|KIB|MB|MIB|GB|GIB|TB|TIB)\s*$", re.I)


@dataclass(frozen=True)
class EngineOptions:
    """How DuckDB may use the machine.

    Attributes:
        memory_limit: DuckDB's ``memory_limit`` (``"1GB"``); ``None`` for DuckDB's default.
        threads: Worker threads; ``None`` for one per core.
        temp_directory: Where DuckDB spills when it runs out of memory; ``None`` for
            ``$KEEL_HOME/tmp/duckdb``.
    """

    memory_limit: str | None = None
    threads: int | None = None
    temp_directory: str | None = None


_overrides: dict[str, Any] = {}


def configure_engine(
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | os.PathLike[str] | None = None,
) -> EngineOptions:
    """Set how DuckDB may use memory, threads and disk for the rest of the process.

    Args:
        memory_limit: Most memory DuckDB may hold, in DuckDB's syntax (``"1GB"``). Larger work
            spills to ``temp_directory``.
        threads: Worker threads.
        temp_directory: Spill directory.

    Returns:
        The options now in force.

    Raises:
        InvalidArgumentError: A value is malformed.

    Examples:
        >>> import keel.data
        >>> keel.data.configure_engine(memory_limit="1GB").memory_limit
        '1GB'
        >>> _ = keel.data.configure_engine(memory_limit=None)
    """
    _overrides["memory_limit"] = _check_memory(memory_limit, "memory_limit")
    _overrides["threads"] = _check_threads(threads, "threads")
    _overrides["temp_directory"] = None if temp_directory is None else os.fspath(temp_directory)
    return engine_options()


def _check_memory(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _MEMORY.match(value):
        raise InvalidArgumentError(
            f"{name} must be an amount of memory such as '1GB' or '512MB', got {value!r}."
        )
    return value.strip()


def _check_threads(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        threads = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name} must be a whole number, got {value!r}.") from exc
    if threads < 1:
        raise InvalidArgumentError(f"{name} must be at least 1, got {value!r}.")
    return threads


def engine_options() -> EngineOptions:
    """Return the engine options in force (overrides, then environment, then defaults)."""
    env = EngineOptions(
        memory_limit=_check_memory(
            os.environ.get("KEEL_DATA_MEMORY_LIMIT"), "KEEL_DATA_MEMORY_LIMIT"
        ),
        threads=_check_threads(os.environ.get("KEEL_DATA_THREADS"), "KEEL_DATA_THREADS"),
        temp_directory=os.environ.get("KEEL_DATA_TEMP_DIR") or None,
    )
    return replace(env, **{k: v for k, v in _overrides.items() if v is not None})


def connect(options: EngineOptions | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection with the engine options applied."""
    import duckdb

    from keel.config import get_settings

    opts = options or engine_options()
    temp = opts.temp_directory or str(get_settings().home / "tmp" / "duckdb")
    Path(temp).mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"temp_directory": temp}
    if opts.memory_limit:
        config["memory_limit"] = opts.memory_limit
    if opts.threads:
        config["threads"] = opts.threads
    con: duckdb.DuckDBPyConnection = duckdb.connect(":memory:", config=config)
    return con


def quote_ident(name: str) -> str:
    """Quote a column or table name for DuckDB SQL."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(value: Any) -> str:
    """Render a Python value as a DuckDB SQL literal.

    Raises:
        InvalidArgumentError: The value has no SQL literal form (a dict, say).
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "'NaN'::DOUBLE"
        if math.isinf(value):
            return "'Infinity'::DOUBLE" if value > 0 else "'-Infinity'::DOUBLE"
        return repr(value) + "::DOUBLE"
    if isinstance(value, decimal.Decimal):
        return f"{value}"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return f"TIMESTAMPTZ '{value.isoformat()}'"
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise InvalidArgumentError(
        f"{value!r} cannot be used as a value in a check; use numbers, strings, booleans, "
        "dates or datetimes."
    )


def to_arrow(result: Any) -> pa.Table:
    """Return a DuckDB relation's rows as an Arrow table (across DuckDB 1.x and 2.x APIs)."""
    method = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return method()
