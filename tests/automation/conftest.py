"""Fixtures of the automation tests: a store with a dataset, a champion and its deployment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.automation import _pipelines as pipes

DEPLOYMENT = "churn-prod"


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    from keel.monitoring._client import reset_monitoring_client

    reset_monitoring_client()
    yield
    reset_monitoring_client()


@dataclass
class World:
    home: Path
    champion: int


def _build(home: Path) -> World:
    import keel
    from keel.registry import models
    from keel.serving import create_deployment

    keel.datasets.register("tx", pipes.frame(seed=0))
    run = pipes.training.run(quality="bad")
    run.raise_for_status()
    models.promote(pipes.MODEL, 1, to="champion")
    create_deployment(DEPLOYMENT, pipes.MODEL, alias="champion")
    return World(home, 1)


@pytest.fixture
def world(keel_home: Path) -> World:
    """Dataset ``tx@v1``, a weak champion ``churn`` v1, deployment ``churn-prod`` following it."""
    return _build(keel_home)


@pytest.fixture
def world_on_each_store(keel_env: dict[str, Any]) -> World:
    """The same world on each metadata backend (SQLite, PostgreSQL)."""
    return _build(keel_env["home"])
