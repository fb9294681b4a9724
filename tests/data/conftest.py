"""Fixtures of the data tests: small generated datasets and a clean data client per test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _fresh_data_client() -> Iterator[None]:
    from keel.data._client import reset_data_client

    reset_data_client()
    yield
    reset_data_client()


def make_transactions(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Clean transactions: every check of the standard suite passes on them."""
    rng = np.random.default_rng(seed)
    now = pd.Timestamp(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    return pd.DataFrame(
        {
            "tx_id": np.arange(1, n + 1, dtype=np.int64),
            "customer_id": rng.integers(1, 300, n).astype(np.int64),
            "amount": np.round(rng.gamma(2.0, 60.0, n), 2),
            "country": rng.choice(["DE", "FR", "IT"], n),
            "email": [f"user{i}@example.com" for i in range(n)],
            "event_time": now - pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
        }
    )


@pytest.fixture
def transactions() -> pd.DataFrame:
    return make_transactions()


@pytest.fixture
def tx_parquet(tmp_path: Path, transactions: pd.DataFrame) -> Path:
    path = tmp_path / "tx.parquet"
    transactions.to_parquet(path, index=False)
    return path
