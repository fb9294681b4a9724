"""Fixtures of the registry tests: a migrated store per test on each backend, and small data.

Migrating a new database costs about a second on PostgreSQL, so each test's database is
copied from one migrated in this session (``CREATE DATABASE ... TEMPLATE``, a file copy for
SQLite), as the tracking suite does.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import make_url

from keel.store import SqlMetadataStore
from keel.tracking import TrackingClient, get_client


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[dict[str, str]]:
    made: dict[str, str] = {}
    yield made
    import psycopg

    for admin, name in made.items():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_uri(postgres_uri: str, pg_templates: dict[str, str]) -> str:
    import psycopg

    url = make_url(postgres_uri)
    admin = f"host={url.host} port={url.port} user={url.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        template = pg_templates.get(admin)
        if template is None:
            template = f"keel_template_{uuid.uuid4().hex[:12]}"
            conn.execute(f'CREATE DATABASE "{template}"')
            pg_templates[admin] = template
            uri = url.set(database=template).render_as_string(hide_password=False)
            SqlMetadataStore(uri).close()
        conn.execute(f'DROP DATABASE "{url.database}"')
        conn.execute(f'CREATE DATABASE "{url.database}" TEMPLATE "{template}"')
    return postgres_uri


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keel-template") / "keel.db"
    SqlMetadataStore(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def client(
    keel_env: dict[str, Any], sqlite_template: Path, request: pytest.FixtureRequest
) -> TrackingClient:
    """The process's tracking client on the backend under test (SQLite and PostgreSQL)."""
    uri = keel_env["store_uri"]
    if uri.startswith("sqlite"):
        target = Path(make_url(uri).database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template, target)
    return get_client()


@pytest.fixture
def local(keel_home: Path, sqlite_template: Path) -> TrackingClient:
    """The tracking client on the default SQLite store (for checks no backend changes)."""
    from keel.config import get_settings

    target = Path(make_url(get_settings().store_uri).database or "")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template, target)
    return get_client()


def churn_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A small tabular binary classification problem with named columns."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n).astype(np.int64),
            "monthly": rng.normal(70, 20, n),
            "support_calls": rng.poisson(2, n).astype(np.int64),
            "score": rng.normal(0, 1, n),
        }
    )
    logit = -0.04 * X["tenure"] + 0.03 * X["monthly"] + 0.5 * X["support_calls"] + X["score"]
    y = (logit + rng.normal(0, 1, n) > logit.median()).astype(np.int64).to_numpy()
    return X, y


@pytest.fixture
def churn() -> tuple[pd.DataFrame, np.ndarray]:
    return churn_frame()
