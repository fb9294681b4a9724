"""Opening a store: first-use migration, damaged or newer databases, URIs Keel refuses."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from keel.errors import InvalidArgumentError, StoreUnavailableError
from keel.store import NewRun, SqlMetadataStore, schema_heads
from keel.store._engine import _switch_to_wal, current_heads


def test_first_use_migrates_and_reopen_keeps_data(store_uri: str) -> None:
    store = SqlMetadataStore(store_uri)
    with store.engine.connect() as conn:
        assert current_heads(conn) == schema_heads()
    run_id = store.create_run(NewRun(experiment_id=store.create_experiment("e").id)).id
    store.close()
    again = SqlMetadataStore(store_uri)
    assert again.get_run_info(run_id).id == run_id
    again.close()


def test_corrupted_sqlite_file_is_reported_and_left_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "keel.db"
    garbage = b"this is not a database, it is a shopping list: eggs, milk\n" * 200
    db.write_bytes(garbage)
    with pytest.raises(
        StoreUnavailableError,
        match=r"The SQLite store '.*keel\.db' cannot be read \(file is not a database\)\. "
        r"The file is damaged or is not a Keel database; Keel left it unchanged\.",
    ):
        SqlMetadataStore(f"sqlite:///{db}")
    assert db.read_bytes() == garbage


def test_store_damaged_after_creation_is_reported(tmp_path: Path) -> None:
    db = tmp_path / "keel.db"
    SqlMetadataStore(f"sqlite:///{db}").close()
    damaged = b"\x00garbage" * 4096
    db.write_bytes(damaged)
    for sidecar in (tmp_path / "keel.db-wal", tmp_path / "keel.db-shm"):
        sidecar.unlink(missing_ok=True)
    with pytest.raises(StoreUnavailableError, match=r"cannot be read .*Restore it from a backup"):
        SqlMetadataStore(f"sqlite:///{db}")
    assert db.read_bytes() == damaged


def test_store_migrated_by_a_newer_keel_is_refused(store_uri: str) -> None:
    SqlMetadataStore(store_uri).close()
    from sqlalchemy import create_engine

    engine = create_engine(store_uri)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('9999_from_future')"))
    engine.dispose()
    with pytest.raises(
        StoreUnavailableError,
        match=r"has schema revision\(s\) \[.*'9999_from_future'\], which this version of Keel "
        r"does not know: a newer Keel migrated it\. Upgrade Keel",
    ):
        SqlMetadataStore(store_uri)


@pytest.mark.parametrize("uri", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(uri: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"names an in-memory SQLite database"):
        SqlMetadataStore(uri)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mysql://root@localhost/keel", r"uses the unsupported backend 'mysql'"),
        ("redis://localhost:6379/0", r"uses the unsupported backend 'redis'"),
        ("just some words", r"'just some words' is not a database URI"),
    ],
)
def test_unsupported_uri_is_refused(uri: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        SqlMetadataStore(uri)


def test_password_is_not_shown_for_unsupported_backend() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        SqlMetadataStore("mysql://root:hunter2@localhost/keel")
    assert "hunter2" not in str(info.value)


def test_unreachable_postgres_is_store_unavailable() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        StoreUnavailableError, match=r"(?s)cannot be reached: .*Check that the database server"
    ) as info:
        SqlMetadataStore(f"postgresql+psycopg://keel:secret@127.0.0.1:{port}/keel")
    assert "secret" not in str(info.value)


class _LosesTheFirstWalSwitch:
    """A real SQLite cursor whose first switch to WAL fails the way it does when several
    processes open a new store at the same moment ("database is locked", at once)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor
        self.failed = 0

    def execute(self, sql: str) -> sqlite3.Cursor:
        if sql == "PRAGMA journal_mode=WAL" and not self.failed:
            self.failed += 1
            raise sqlite3.OperationalError("database is locked")
        return self.cursor.execute(sql)


def test_switch_to_wal_retries_when_another_process_holds_the_lock(tmp_path: Path) -> None:
    """Regression: of four processes creating a store at once, some failed on the WAL switch."""
    conn = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    try:
        cursor = _LosesTheFirstWalSwitch(conn.cursor())
        _switch_to_wal(cursor)  # type: ignore[arg-type]
        assert cursor.failed == 1
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
