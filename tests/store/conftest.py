"""Fixtures of the metadata-store suite: one ``SqlMetadataStore`` per backend under test.

Migrating a new database costs about a second on PostgreSQL, more than most tests here, so the
fixtures below turn each test's new database into a copy of one migrated in this session
(``CREATE DATABASE ... TEMPLATE``; a file copy for SQLite). Tests of first use itself take
``store_uri`` or ``keel_env`` alone and get the empty database.
(The template fixtures live in tests/conftest.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keel.store import SqlMetadataStore
from tests.conftest import from_template


@pytest.fixture
def store(store_uri: str, request: pytest.FixtureRequest) -> Iterator[SqlMetadataStore]:
    """A migrated store on the backend under test (SQLite file or new PostgreSQL database)."""
    from_template(store_uri, request)
    s = SqlMetadataStore(store_uri, actor="tester")
    yield s
    s.close()
