"""Hot-path statements as plain SQL, run through the driver with no per-call SQLAlchemy work.

Tracking writes a handful of statements on every run and every metric flush; building and
compiling them through SQLAlchemy cost more than the database work itself. These statements
are portable between SQLite (3.24+) and PostgreSQL (9.5+); only the placeholder differs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

RUN_COLUMNS = (
    "id",
    "experiment_id",
    "name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "user",
    "source",
    "git_commit",
    "git_dirty",
    "python_version",
    "environment_digest",
    "hostname",
    "pid",
    "process_start",
    "wall_time_s",
    "cpu_time_s",
    "peak_rss_bytes",
    "lifecycle_stage",
)

SQL = {
    "experiment_exists": "SELECT 1 FROM experiments WHERE id = ?",
    "run_exists": "SELECT 1 FROM runs WHERE id = ?",
    "insert_run": (
        f"INSERT INTO runs ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in RUN_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})"
    ),
    "end_run": (
        "UPDATE runs SET status = ?, end_time = ?, wall_time_s = COALESCE(?, wall_time_s), "
        "cpu_time_s = COALESCE(?, cpu_time_s), peak_rss_bytes = COALESCE(?, peak_rss_bytes) "
        "WHERE id = ?"
    ),
    "run_params": "SELECT key, value FROM params WHERE run_id = ?",
    "insert_param": "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)",
    "insert_tag": "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)",
    "insert_metric": (
        "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)"
    ),
    "upsert_latest": (
        "INSERT INTO latest_metrics (run_id, key, value, step, timestamp) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET "
        "value = excluded.value, step = excluded.step, timestamp = excluded.timestamp "
        # Only a later step (or the same step logged later) replaces the latest value.
        "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
        "AND excluded.timestamp >= latest_metrics.timestamp)"
    ),
    "load_runs": (
        f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in RUN_COLUMNS)} FROM runs "
        "WHERE id IN ({ids})"
    ),
    "load_latest": "SELECT run_id, key, value FROM latest_metrics WHERE run_id IN ({ids})",
    "load_params": "SELECT run_id, key, value FROM params WHERE run_id IN ({ids})",
    "load_tags": "SELECT run_id, key, value FROM tags WHERE run_id IN ({ids})",
    "last_audit_hash": "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1",
    "insert_audit": (
        "INSERT INTO audit_log (timestamp, actor, action, resource_kind, resource_id, "
        "details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ),
}


@functools.cache
def _for(paramstyle: str, name: str) -> str:
    sql = SQL[name]
    return sql if paramstyle == "qmark" else sql.replace("?", "%s")


class Result:
    """The rows and row count of one hot-path statement."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def first(self) -> tuple[Any, ...] | None:
        """The first row, or ``None``."""
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """The first column of the first row, or ``None``."""
        return self.rows[0][0] if self.rows else None


def _cursor_call(conn: Connection, sql: str, params: Any, many: bool) -> Result:
    # The raw DBAPI cursor, inside conn's transaction: SQLAlchemy's execution machinery
    # costs more per call than these statements cost the database.
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        rows = list(cursor.fetchall()) if cursor.description else []
        return Result(rows, cursor.rowcount)
    except conn.dialect.loaded_dbapi.Error as exc:
        # Re-raise as SQLAlchemy would, so callers' DBAPIError handling applies.
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


def run(conn: Connection, name: str, params: Sequence[Any]) -> Result:
    """Execute statement ``name`` once with positional ``params``."""
    return _cursor_call(conn, _for(conn.dialect.paramstyle, name), tuple(params), False)


def run_many(conn: Connection, name: str, rows: list[tuple[Any, ...]]) -> None:
    """Execute statement ``name`` once per row (the driver's executemany)."""
    if rows:
        _cursor_call(conn, _for(conn.dialect.paramstyle, name), rows, True)


@functools.cache
def _for_in(paramstyle: str, name: str, n: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    return SQL[name].replace("{ids}", ", ".join([mark] * n))


def fetch_in(conn: Connection, name: str, ids: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Fetch all rows of statement ``name`` whose ``{ids}`` placeholder takes ``ids``.

    Runs on the raw DBAPI cursor, inside ``conn``'s transaction, so rows arrive as plain
    tuples without SQLAlchemy's per-row wrapping (search loads tens of thousands of rows).
    """
    cursor = conn.connection.cursor()
    try:
        cursor.execute(_for_in(conn.dialect.paramstyle, name, len(ids)), ids)
        return list(cursor.fetchall())
    finally:
        cursor.close()
