"""Fixtures of the pipeline tests: an isolated Keel home per test, one local Ray per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(name: str, reason: str) -> None:
    """Skip locally, fail in CI (the same rule as tests/conftest.py)."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true, so backend tests may not skip)")
    pytest.skip(message)


@pytest.fixture
def home(keel_home: Path) -> Path:
    """A fresh KEEL_HOME (SQLite + local artifacts); the test runs in its parent folder."""
    return keel_home


@pytest.fixture
def counter(tmp_path: Path) -> Any:
    """Count step executions across processes: ``counter.path(name)`` / ``counter.read(name)``."""

    class Counter:
        root = tmp_path / "counts"

        def path(self, name: str) -> str:
            self.root.mkdir(exist_ok=True)
            return str(self.root / name)

        def read(self, name: str) -> int:
            p = self.root / name
            return len(p.read_text()) if p.exists() else 0

    return Counter()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One local Ray (2 CPUs) shared by every Ray test of the session: Ray starts slowly."""
    try:
        import ray
    except ImportError:
        service_missing("Ray", "ray is not installed (pip install 'keel[ray]')")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()
