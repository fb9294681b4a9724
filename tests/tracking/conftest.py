"""Fixtures of the tracking suite: the process's client on each backend under test.

Migrating a new database costs about a second on PostgreSQL, more than most tests here, so the
fixtures below turn each test's new database into a copy of one migrated in this session
(``CREATE DATABASE ... TEMPLATE``; a file copy for SQLite). Tests of first use itself take
``store_uri`` or ``keel_env`` alone and get the empty database.
(The template fixtures live in tests/conftest.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel.tracking import TrackingClient, get_client
from tests.conftest import from_template


@pytest.fixture
def client(keel_env: dict[str, Any], request: pytest.FixtureRequest) -> TrackingClient:
    """The tracking client of this process, on the backend under test."""
    from_template(keel_env["store_uri"], request)
    return get_client()


@pytest.fixture
def local_client(keel_home: Path, request: pytest.FixtureRequest) -> TrackingClient:
    """The tracking client on the default SQLite store, for checks no backend can change."""
    from keel.config import get_settings

    from_template(get_settings().store_uri, request)
    return get_client()
