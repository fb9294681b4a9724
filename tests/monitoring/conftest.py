"""Fixtures of the monitoring tests: a fresh monitoring client for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_monitoring_client() -> Iterator[None]:
    from keel.monitoring._client import reset_monitoring_client

    reset_monitoring_client()
    yield
    reset_monitoring_client()
