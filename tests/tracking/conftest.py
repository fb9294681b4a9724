"""Fixtures of the tracking suite: the process's client on each backend under test.

Migrating a new database costs about a second on PostgreSQL, more than most tests here, so the
fixtures below turn each test's new database into a copy of one migrated in this session
(``CREATE DATABASE ... TEMPLATE``; a file copy for SQLite). Tests of first use itself take
``store_uri`` or ``keel_env`` alone and get the empty database.
(tests/store/conftest.py holds the same fixtures: conftests cannot import each other.)
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from keel.store import SqlMetadataStore
from keel.tracking import TrackingClient, get_client


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[dict[str, str]]:
    """Migrated template databases made in this session, by admin connection string."""
    made: dict[str, str] = {}
    yield made
    import psycopg

    for admin, name in made.items():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy."""
    path = tmp_path_factory.mktemp("keel-template") / "keel.db"
    SqlMetadataStore(f"sqlite:///{path}").close()
    return path


def _from_template(store_uri: str, request: pytest.FixtureRequest) -> None:
    """Make the new, empty database of ``store_uri`` a copy of a migrated one."""
    url = make_url(store_uri)
    if url.get_backend_name() == "sqlite":
        target = Path(url.database or "")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return
    if url.get_backend_name() != "postgresql":
        return
    import psycopg

    templates: dict[str, str] = request.getfixturevalue("pg_templates")
    admin = f"host={url.host} port={url.port} user={url.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        template = templates.get(admin)
        if template is None:
            template = f"keel_template_{uuid.uuid4().hex[:12]}"
            conn.execute(f'CREATE DATABASE "{template}"')
            templates[admin] = template
            uri = url.set(database=template).render_as_string(hide_password=False)
            SqlMetadataStore(uri).close()
        conn.execute(f'DROP DATABASE "{url.database}"')
        conn.execute(f'CREATE DATABASE "{url.database}" TEMPLATE "{template}"')


@pytest.fixture
def client(keel_env: dict[str, Any], request: pytest.FixtureRequest) -> TrackingClient:
    """The tracking client of this process, on the backend under test."""
    _from_template(keel_env["store_uri"], request)
    return get_client()


@pytest.fixture
def local_client(keel_home: Path, request: pytest.FixtureRequest) -> TrackingClient:
    """The tracking client on the default SQLite store, for checks no backend can change."""
    from keel.config import get_settings

    _from_template(get_settings().store_uri, request)
    return get_client()
