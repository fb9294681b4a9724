"""Opening a metadata database: engine options, first-use migration, error translation."""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel.errors import (
    InvalidArgumentError,
    MissingDependencyError,
    StoreUnavailableError,
)

_MIGRATIONS = Path(__file__).parent / "migrations" / "versions"
_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+)$", re.M)


@functools.cache
def schema_heads() -> frozenset[str]:
    """Read the head revisions from the migration scripts' text, without importing Alembic.

    Each capability adds its migrations to ``migrations/versions``; a head is a revision that
    no other script names as its ``down_revision``. A test checks this against Alembic's view.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in _MIGRATIONS.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        rev = _REVISION.search(text)
        if rev is None:
            continue
        revisions.add(rev.group(1))
        down = _DOWN.search(text)
        if down:
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    return frozenset(revisions - parents)


# Any fixed 64-bit number: every Keel process takes this PostgreSQL advisory lock to migrate.
_PG_MIGRATION_LOCK = 0x6B65656C0001
SQLITE_BUSY_TIMEOUT_MS = 60_000

T = TypeVar("T")


def _redact(uri: str) -> str:
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URI>"


def create_store_engine(uri: str) -> Engine:
    """Create the SQLAlchemy engine for ``uri`` with Keel's connection settings.

    SQLite runs in WAL mode with a busy timeout; write transactions start with
    ``BEGIN IMMEDIATE`` (see :func:`write_connection`) so concurrent writers queue on the
    lock instead of failing when a read transaction tries to upgrade.

    Raises:
        InvalidArgumentError: The URI is not a database URI Keel supports.
        MissingDependencyError: The driver for the URI is not installed.
    """
    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise InvalidArgumentError(
            f"KEEL_STORE_URI {uri!r} is not a database URI. Use 'sqlite:////path/keel.db' or "
            "'postgresql+psycopg://user@host:5432/db'."
        ) from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise InvalidArgumentError(
                f"KEEL_STORE_URI {uri!r} names an in-memory SQLite database, which other "
                "processes and connections cannot see. Give a file path: 'sqlite:////path/keel.db'."
            )
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        if url.drivername == "postgresql":  # plain scheme: use psycopg 3, the driver we ship
            url = url.set(drivername="postgresql+psycopg")
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        except (NoSuchModuleError, ImportError) as exc:
            raise MissingDependencyError.for_extra(
                "psycopg", "postgres", "PostgreSQL metadata store"
            ) from exc
    raise InvalidArgumentError(
        f"KEEL_STORE_URI {_redact(uri)!r} uses the unsupported backend {backend!r}. "
        "Keel stores metadata in SQLite ('sqlite:///...') or PostgreSQL ('postgresql+psycopg://...')."
    )


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _sqlite_on_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not _is_wal(cur):
            _switch_to_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # LIKE is case-sensitive in PostgreSQL; make SQLite agree (search filters, path prefixes).
        cur.execute("PRAGMA case_sensitive_like=ON")
    finally:
        cur.close()


def _is_wal(cur: sqlite3.Cursor) -> bool:
    mode = cur.execute("PRAGMA journal_mode").fetchone()
    return mode is not None and str(mode[0]).lower() == "wal"


def _switch_to_wal(cur: sqlite3.Cursor) -> None:
    # Only a new database needs this (WAL is a property of the file). When several processes
    # open a new store at once, the switch fails with "database is locked" at once, without
    # waiting for the busy timeout: retry until one process has switched the file.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode is not None and str(mode[0]).lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
        if _is_wal(cur) or time.monotonic() > deadline:
            return  # switched by another process, or it stays in rollback mode, which works
        time.sleep(0.02)


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("keel_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a write transaction, committed on success.

    Driver errors become :class:`~keel.errors.StoreUnavailableError` (the transaction is rolled
    back), except integrity violations, which callers turn into "exists already" or a retry.
    """
    try:
        with engine.connect() as raw:
            conn = raw.execution_options(keel_write=True)
            with conn.begin():
                yield conn
    except SAIntegrityError:
        raise
    except DBAPIError as exc:
        raise store_error(engine.url.render_as_string(hide_password=True), exc) from exc


def translate_errors(uri: str, func: Callable[[], T]) -> T:
    """Run ``func``, turning driver errors that mean "cannot open the store" into Keel errors."""
    try:
        return func()
    except DBAPIError as exc:
        raise store_error(uri, exc) from exc


def store_error(uri: str, exc: DBAPIError) -> StoreUnavailableError:
    """Describe a driver error that makes the store unusable."""
    orig = exc.orig
    msg = str(orig).strip() if orig is not None else str(exc)
    if isinstance(orig, sqlite3.DatabaseError) and (
        "not a database" in msg or "malformed" in msg or "corrupt" in msg
    ):
        return StoreUnavailableError(
            f"The SQLite store {make_url(uri).database!r} cannot be read ({msg}). The file is "
            "damaged or is not a Keel database; Keel left it unchanged. Restore it from a backup, "
            "or point KEEL_STORE_URI (or KEEL_HOME) at another location.",
            details={"uri": _redact(uri)},
        )
    if isinstance(exc, OperationalError):
        return StoreUnavailableError(
            f"The metadata store {_redact(uri)!r} cannot be reached: {msg}. Check that the "
            "database server is running and KEEL_STORE_URI is right.",
            details={"uri": _redact(uri)},
        )
    return StoreUnavailableError(
        f"The metadata store {_redact(uri)!r} failed: {msg}.", details={"uri": _redact(uri)}
    )


def current_heads(conn: Connection) -> frozenset[str]:
    """Return the Alembic revisions recorded in the database (empty if never migrated)."""
    if conn.dialect.name == "sqlite":
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).first()
    else:
        exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    if not exists:
        return frozenset()
    return frozenset(r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version"))


def ensure_schema(engine: Engine, uri: str) -> None:
    """Bring the database to the schema this code expects, migrating it on first use.

    Concurrent first use is safe: migrations run under a lock (a lock file beside a SQLite
    database, an advisory lock on PostgreSQL) and the version is re-read after it is taken.

    Raises:
        StoreUnavailableError: The database is damaged, unreachable, or newer than this Keel.
    """

    def check() -> frozenset[str]:
        with engine.connect() as conn:
            return current_heads(conn)

    heads = translate_errors(uri, check)
    if heads == schema_heads():
        return
    _check_not_newer(heads, uri)
    translate_errors(uri, lambda: _migrate_locked(engine))


def _check_not_newer(heads: frozenset[str], uri: str) -> None:
    if heads and not heads <= _known_revisions():
        raise StoreUnavailableError(
            f"The metadata store {_redact(uri)!r} has schema revision(s) {sorted(heads)!r}, "
            "which this version of Keel does not know: a newer Keel migrated it. Upgrade Keel "
            "(pip install -U keel) before using this store.",
            details={"heads": sorted(heads)},
        )


def _known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(
        r.revision for r in ScriptDirectory.from_config(_alembic_config()).walk_revisions()
    )


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "keel.store:migrations")
    return cfg


def _migrate_locked(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        from filelock import FileLock

        db = engine.url.database
        assert db is not None  # checked in create_store_engine
        with FileLock(os.fspath(Path(db).expanduser()) + ".migrate.lock", timeout=120):
            _upgrade(engine)
    else:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                conn.commit()
                _upgrade(engine)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()


def _has_keel_tables(conn: Connection) -> bool:
    from sqlalchemy import inspect

    return bool(set(inspect(conn).get_table_names()) & {"experiments", "runs", "audit_log"})


def _create_fresh(engine: Engine) -> None:
    """Create every table of a brand-new store at once and record the migration heads.

    Replaying each migration on an empty database gives the same schema (a test compares the
    migrated schema with the models) but takes seconds; Alembic takes over for later changes.
    """
    from keel.store._schema import all_metadata

    with engine.connect() as raw:
        conn = raw.execution_options(keel_write=True)
        with conn.begin():
            all_metadata().create_all(conn)
            conn.exec_driver_sql(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
            for head in sorted(schema_heads()):
                conn.exec_driver_sql(
                    "INSERT INTO alembic_version (version_num) VALUES ("
                    + ("?" if conn.dialect.paramstyle == "qmark" else "%s")
                    + ")",
                    (head,),
                )


def _upgrade(engine: Engine) -> None:
    with engine.connect() as conn:
        heads = current_heads(conn)
        if heads == schema_heads():  # another process migrated while we waited
            return
        empty = not heads and not _has_keel_tables(conn)
    if empty:
        _create_fresh(engine)
        return
    from alembic import command

    cfg = _alembic_config()
    with engine.connect() as raw:
        conn = raw.execution_options(keel_write=True)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
        conn.commit()
