"""Shared fixtures: isolated Keel homes, and real backends (SQLite, PostgreSQL, moto's S3 server).

With ``CI=true`` a missing PostgreSQL, Redis or S3 service fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from keel.store import SqlMetadataStore

PG_HOST = os.environ.get("KEEL_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("KEEL_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("KEEL_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("KEEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(name: str, reason: str) -> None:
    """Skip locally, fail in CI: backend tests must run in CI."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true, so backend tests may not skip)")
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def _reset_keel() -> None:
    from keel.config import reset_settings
    from keel.tracking import _fluent, reset_client

    while _fluent._state.stack:
        _fluent._state.stack.pop()
    _fluent._experiment.clear()
    reset_client()
    reset_settings()


@pytest.fixture
def keel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh KEEL_HOME (SQLite + local artifacts) for one test."""
    home = tmp_path / "keel-home"
    for var in ("KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_TRACKING_URI", "KEEL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KEEL_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    _reset_keel()
    yield home
    _reset_keel()


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    try:
        import psycopg
    except ImportError:
        service_missing("PostgreSQL", "psycopg is not installed (pip install 'keel[postgres]')")
    if not _port_open(PG_HOST, PG_PORT):
        service_missing("PostgreSQL", f"nothing listens on {PG_HOST}:{PG_PORT}")
    name = f"keel_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        service_missing("PostgreSQL", str(exc))
    yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata store URI of each backend: a temp-dir SQLite file, a fresh PostgreSQL db."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'keel.db'}"
    uri: str = request.getfixturevalue("postgres_uri")
    return uri


@pytest.fixture
def keel_env(
    keel_home: Path, store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """KEEL_HOME plus the metadata backend under test; Keel's settings point at both."""
    monkeypatch.setenv("KEEL_STORE_URI", store_uri)
    _reset_keel()
    yield {"home": keel_home, "store_uri": store_uri}
    _reset_keel()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 over real HTTP; yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        service_missing("S3 (moto server)", "moto[server] is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the moto server; AWS credentials and endpoint set for s3fs/boto."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("KEEL_S3_ENDPOINT_URL", moto_server)
    name = f"keel-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=name)
    return name


# Template databases: migrating a new database costs about a second on PostgreSQL, more than
# most tests, so fixtures that want a migrated store copy one migrated once per session
# (CREATE DATABASE ... TEMPLATE; a file copy for SQLite). Tests of first use take
# store_uri or keel_env alone and get the empty database.


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


def from_template(store_uri: str, request: pytest.FixtureRequest) -> None:
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
