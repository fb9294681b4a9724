"""Fixtures of the feature-store tests: a store per test, sources on disk, online backends."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.features import FeatureStore
from tests.conftest import REDIS_URL, service_missing

T0 = pd.Timestamp("2025-01-01T00:00:00Z")


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    from keel.data._client import reset_data_client

    reset_data_client()
    yield
    reset_data_client()


def write_stats(path: Path, n_customers: int = 20, hours: int = 48, seed: int = 0) -> pd.DataFrame:
    """Hourly customer stats with a string, an int and a float feature; written to ``path``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(n_customers, dtype=np.int64), hours),
            "event_time": np.repeat(pd.date_range(T0, periods=hours, freq="h"), n_customers),
            "avg_amount_7d": np.round(rng.normal(50, 10, n_customers * hours), 3),
            "tx_count_7d": rng.integers(0, 100, n_customers * hours),
            "country": rng.choice(["DE", "FR", "IT"], n_customers * hours),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    return frame


@pytest.fixture
def stats_path(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "customer_stats" / "part-0.parquet"
    write_stats(path)
    return path


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata store, copied into each test's home (migrating costs ~1 s)."""
    from keel.store import SqlMetadataStore

    path = tmp_path_factory.mktemp("template") / "keel.db"
    SqlMetadataStore(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def fs(keel_home: Path, migrated_db: Path) -> Iterator[FeatureStore]:
    keel_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_db, keel_home / "keel.db")
    store = FeatureStore()
    yield store
    store.close()  # the metadata store too, if the test opened it


def redis_uri() -> str:
    """A Redis URI with a key prefix of its own; skips (fails in CI) when Redis is missing."""
    try:
        import redis
    except ImportError:
        service_missing("Redis", "the redis package is not installed (pip install 'keel[redis]')")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis", f"{REDIS_URL}: {exc}")
    finally:
        client.close()
    sep = "&" if "?" in REDIS_URL else "?"
    return f"{REDIS_URL}{sep}prefix=keeltest-{uuid.uuid4().hex[:12]}"


def drop_redis_prefix(uri: str) -> None:
    import redis

    prefix = uri.rsplit("prefix=", 1)[1]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.unlink(*keys)
    finally:
        client.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def online_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of each online backend: a temp SQLite file, Redis with a unique key prefix."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'online' / 'online.db'}"
        return
    uri = redis_uri()
    yield uri
    drop_redis_prefix(uri)
