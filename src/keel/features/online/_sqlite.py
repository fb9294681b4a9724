"""``SqliteOnlineStore``: the default online store, one SQLite file in ``KEEL_HOME``.

Each online table is a SQLite table with one typed column per join key and feature, keyed by
the join keys (``WITHOUT ROWID``). Lookups of many entities are one ``IN`` query; writes are
``executemany`` upserts in one transaction per batch. Connections are per thread.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from keel.errors import InvalidArgumentError, StoreUnavailableError
from keel.features.online.base import BaseOnlineStore, OnlineRow, OnlineTable

__all__ = ["SqliteOnlineStore"]

_SQL_TYPES = {
    "bool": "INTEGER",
    "int32": "INTEGER",
    "int64": "INTEGER",
    "float32": "REAL",
    "float64": "REAL",
    "string": "TEXT",
    "timestamp": "INTEGER",
}
#: SQLite turns NaN into NULL; Keel stores it as this text in the REAL column instead.
_NAN = "NaN"
_MIN = -(2**63)
_TABLE_PREFIX = "fv__"
_FLOATS = ("float32", "float64")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_name(namespace: str) -> str:
    return _TABLE_PREFIX + namespace


class SqliteOnlineStore(BaseOnlineStore):
    """Online features in one SQLite file.

    Args:
        uri: ``sqlite:////abs/path/online.db`` or a file path.
    """

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else uri
        if not path or path == ":memory:":
            raise InvalidArgumentError(
                f"Online store URI {uri!r} names no file. Use 'sqlite:////path/online.db'."
            )
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._sql: dict[tuple[str, str, int], str] = {}
        self._created: set[str] = set()
        self._fixes: dict[str, tuple[list[int], list[int]]] = {}
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    os.fspath(self.path), timeout=60, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise StoreUnavailableError(
                    f"The online store {str(self.path)!r} cannot be opened: {exc}. Check the "
                    "path in KEEL_ONLINE_STORE and that the folder is writable."
                ) from exc
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    def _ensure(self, conn: sqlite3.Connection, table: OnlineTable) -> None:
        if table.namespace in self._created:
            return
        cols = [f"{_q(k)} {_SQL_TYPES[t]} NOT NULL" for k, t in table.keys]
        cols += ["__keel_ts INTEGER NOT NULL", "__keel_created INTEGER"]
        cols += [f"{_q(f)} {_SQL_TYPES[t]}" for f, t in table.features]
        pk = ", ".join(_q(k) for k in table.key_names)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_q(_table_name(table.namespace))} "
            f"({', '.join(cols)}, PRIMARY KEY ({pk})) WITHOUT ROWID"
        )
        self._created.add(table.namespace)

    # -- contract ---------------------------------------------------------------------------

    def write(self, table: OnlineTable, rows: Iterable[Sequence[Any]]) -> int:
        """Upsert rows in one transaction; older rows never replace newer ones."""
        sql = self._sql.get((table.namespace, "w", 0))
        name = _q(_table_name(table.namespace))
        if sql is None:
            cols = [*table.key_names, "__keel_ts", "__keel_created", *table.feature_names]
            updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in cols[len(table.keys) :])
            sql = (
                f"INSERT INTO {name} ({', '.join(_q(c) for c in cols)}) "
                f"VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT ({', '.join(_q(k) for k in table.key_names)}) DO UPDATE SET "
                f"{updates} WHERE (excluded.__keel_ts, coalesce(excluded.__keel_created, {_MIN}))"
                f" >= ({name}.__keel_ts, coalesce({name}.__keel_created, {_MIN}))"
            )
            self._sql[(table.namespace, "w", 0)] = sql
        float_pos = [
            2 + len(table.keys) + i
            for i, (_, t) in enumerate(table.features)
            if t in ("float32", "float64")
        ]
        if float_pos:
            rows = (_nan_to_text(r, float_pos) for r in rows)
        conn = self._conn()
        self._ensure(conn, table)
        try:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.executemany(sql, rows)
            count = cur.rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return max(int(count), 0)

    def read(self, table: OnlineTable, keys: Sequence[tuple[Any, ...]]) -> list[OnlineRow | None]:
        """Look the keys up with one query."""
        if not keys:
            return []
        nkeys = len(table.keys)
        unique = list(dict.fromkeys(keys))
        sql = self._sql.get((table.namespace, "r", len(unique)))
        if sql is None:
            name = _q(_table_name(table.namespace))
            cols = [*table.key_names, "__keel_ts", "__keel_created", *table.feature_names]
            if nkeys == 1:
                where = f"{_q(table.key_names[0])} IN ({', '.join('?' * len(unique))})"
            else:
                tuple_sql = "(" + ", ".join("?" * nkeys) + ")"
                where = (
                    f"({', '.join(_q(k) for k in table.key_names)}) IN "
                    f"(VALUES {', '.join([tuple_sql] * len(unique))})"
                )
            sql = f"SELECT {', '.join(_q(c) for c in cols)} FROM {name} WHERE {where}"
            if len(self._sql) > 4096:
                self._sql.clear()
            self._sql[(table.namespace, "r", len(unique))] = sql
        params: list[Any] = [k[0] for k in unique] if nkeys == 1 else [v for k in unique for v in k]
        try:
            found = self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return [None] * len(keys)
            raise
        # The hot path of serving: per row, one slice and, only for a row holding a NaN or a
        # bool, a rebuilt tuple; no per-value function calls. SQLite hands REAL columns back
        # as floats except Keel's NaN text, and booleans as 0/1.
        floats, bools = self._fixes.get(table.namespace) or self._fix_positions(table, nkeys)
        by_key: dict[Any, OnlineRow] = {}
        for row in found:
            values = row[nkeys:]
            if bools:
                values = _fixed(row, nkeys, floats, bools)
            else:
                for i in floats:
                    if type(row[i]) is str:
                        values = _fixed(row, nkeys, floats, bools)
                        break
            by_key[row[0] if nkeys == 1 else row[:nkeys]] = values
        if nkeys == 1:
            return [by_key.get(k[0]) for k in keys]
        return [by_key.get(k) for k in keys]

    def _fix_positions(self, table: OnlineTable, nkeys: int) -> tuple[list[int], list[int]]:
        """Positions (in a read row) of float and of bool features, cached per namespace."""
        first = nkeys + 2  # keys, then event time and created time, then the features
        floats = [first + i for i, (_, t) in enumerate(table.features) if t in _FLOATS]
        bools = [first + i for i, (_, t) in enumerate(table.features) if t == "bool"]
        self._fixes[table.namespace] = (floats, bools)
        return floats, bools

    def drop(self, table: OnlineTable) -> None:
        """Drop the table of ``table``'s namespace."""
        self.drop_namespace(table.namespace)

    def namespaces(self, view: str) -> list[str]:
        """Return the namespaces (tables) holding rows of ``view``."""
        rows = (
            self._conn()
            .execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'",
                (_TABLE_PREFIX.replace("_", "\\_") + re.sub(r"([_%\\])", r"\\\1", view) + "@%",),
            )
            .fetchall()
        )
        return [r[0][len(_TABLE_PREFIX) :] for r in rows]

    def drop_namespace(self, namespace: str) -> None:
        """Drop one namespace's table."""
        self._conn().execute(f"DROP TABLE IF EXISTS {_q(_table_name(namespace))}")
        self._created.discard(namespace)
        self._fixes.pop(namespace, None)


def _nan_to_text(row: Sequence[Any], positions: list[int]) -> Sequence[Any]:
    for pos in positions:
        v = row[pos]
        if v is not None and v != v:
            row = list(row)
            row[pos] = _NAN
    return row


def _fixed(row: Sequence[Any], nkeys: int, floats: list[int], bools: list[int]) -> OnlineRow:
    """Return a read row's values with Keel's NaN text as NaN and 0/1 as booleans."""
    values = list(row)
    for i in floats:
        if type(values[i]) is str:
            values[i] = math.nan
    for i in bools:
        if values[i] is not None:
            values[i] = bool(values[i])
    return tuple(values[nkeys:])
