"""Fixtures of the serving tests: small registered models and real uvicorn servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

MODEL = "churn"


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    from keel.monitoring._client import reset_monitoring_client

    reset_monitoring_client()
    yield
    reset_monitoring_client()


COLUMNS = ["amount", "calls", "country"]


def training_frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "amount": rng.normal(50, 10, n),
            "calls": rng.integers(0, 5, n).astype(np.int64),
            "country": rng.choice(["DE", "FR"], n),
        }
    )
    y = ((X["amount"] > 50) & (X["country"] == "DE")).astype(int)
    return X, y


def fit_model(constant: int | None = None) -> Any:
    """A pipeline over a numeric and a string column; ``constant`` makes a dummy answering it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = training_frame()
    encode = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["country"])], remainder="passthrough"
    )
    last = (
        DummyClassifier(strategy="constant", constant=constant)
        if constant is not None
        else LogisticRegression(max_iter=500)
    )
    return make_pipeline(encode, last).fit(X, y)


@dataclass
class Models:
    """Registered versions: v1 a logistic regression, v2 always 1, v3 always 0."""

    name: str
    versions: list[int]


def register(model: Any, *, name: str = MODEL, metadata: dict[str, Any] | None = None) -> int:
    import keel

    X, _ = training_frame()
    with keel.start_run():
        info = keel.log_model(
            model, "model", input_example=X[:5], registered_name=name, metadata=metadata
        )
    return int(info.version or 0)


@pytest.fixture
def models(keel_home: Path) -> Models:
    from keel.registry import models as registry

    versions = [register(fit_model()), register(fit_model(1)), register(fit_model(0))]
    registry.set_alias(MODEL, "champion", version=versions[0])
    return Models(MODEL, versions)


@dataclass
class Served:
    """A running server and a client for it."""

    url: str
    client: httpx.Client
    stop: Callable[[], None]
    app: Any

    def predict(self, body: Any) -> httpx.Response:
        return self.client.post("/v1/predict", json=body)


@contextmanager
def serving(target: str, **options: Any) -> Iterator[Served]:
    """Serve ``target`` on a free port of 127.0.0.1 in a thread; stop it (gracefully) after."""
    from keel.serving import create_app, start_server

    options.setdefault("monitor_metrics", False)
    app = create_app(target, **options)
    server = start_server(app)
    client = httpx.Client(base_url=server.url, timeout=30)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            client.close()
            server.stop()

    try:
        yield Served(server.url, client, stop, app)
    finally:
        stop()


def records(n: int = 3, seed: int = 1) -> list[dict[str, Any]]:
    X, _ = training_frame(n, seed)
    return [
        {"amount": float(a), "calls": int(c), "country": str(k)}
        for a, c, k in zip(X["amount"], X["calls"], X["country"], strict=True)
    ]
