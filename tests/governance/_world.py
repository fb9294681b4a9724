"""A small but complete world built through the public APIs, for the governance tests.

A dataset version (validated), features defined on it (entity, view, service), a pipeline whose
step reads the data and the feature service and logs a registered model, a deployment's
prediction log naming that model version, and a monitor over the deployment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import keel
from tests.conftest import from_template


@dataclass
class World:
    dataset_ref: str
    validation_passed: bool
    model_version: int
    pipeline_run_id: str
    prediction_ids: list[str]
    batch_id: str


def frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n) % 30,
            "event_time": [start + dt.timedelta(hours=i) for i in range(n)],
            "tenure": rng.integers(1, 60, n),
            "amount": rng.normal(100, 20, n),
            "churned": rng.integers(0, 2, n),
        }
    )


@keel.step
def train(data_ref: str, service: str) -> Any:
    from sklearn.linear_model import LogisticRegression

    ds = keel.datasets.get(data_ref)
    keel.log_input(ds)
    keel.log_input("feature_service", service)
    df = ds.to_pandas()
    X = df[["tenure", "amount"]]
    model = LogisticRegression().fit(X, df["churned"])
    keel.log_metric("auc", 0.8)
    keel.log_model(model, "model", input_example=X[:3], registered_name="churn")
    return model


@keel.pipeline
def training(data_ref: str = "tx@v1", service: str = "churn_features@v1"):  # type: ignore[no-untyped-def]
    return train(data_ref, service)


def build(tmp_path: Path, *, predictions: bool = True) -> World:
    """Build the world in the current KEEL settings."""
    from keel.features import Entity, FeatureService, FeatureView

    df = frame()
    path = tmp_path / "tx.parquet"
    df.to_parquet(path)
    ds = keel.datasets.register("tx", path)
    suite = keel.data.Suite("tx-quality", checks=[keel.data.not_null(["amount"])])
    result = suite.validate(ds)
    customer = Entity("customer", join_keys=["customer_id"])
    view = FeatureView(
        "customer_stats",
        entities=[customer],
        source=ds.ref,
        timestamp="event_time",
        ttl="30d",
        features={"amount": "float64", "tenure": "int64"},
    )
    service = FeatureService("churn_features", features=["customer_stats:amount"])
    fs = keel.features.store()
    fs.apply([customer, view, service], show_diff=False)
    svc = fs.get_feature_service("churn_features")
    run = training.run(data_ref=ds.ref, service=f"{svc.name}@v{svc.version}")
    assert run.status == "FINISHED", run.error
    version = keel.models.get_latest_version("churn").version
    ids: list[str] = []
    batch_id = ""
    if predictions:
        batch = keel.monitoring.log_predictions(
            "churn-prod",
            df[["tenure", "amount"]].head(20),
            predictions=df["churned"].head(20).to_numpy(),
            model_name="churn",
            model_version=version,
        )
        ids, batch_id = batch.prediction_ids, batch.id
    return World(ds.ref, bool(result.passed), int(version), run.id, ids, batch_id)


@pytest.fixture
def gov_env(keel_env: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """keel_env on a store copied from a migrated template (fast on PostgreSQL).

    Tests use it with ``@pytest.mark.usefixtures("gov_env")`` (their module imports it).
    """
    from_template(keel_env["store_uri"], request)
    return keel_env


@pytest.fixture
def gov_sqlite(keel_home: Path) -> dict[str, Any]:
    """A fresh KEEL_HOME on SQLite only, for tests of the command line over the same API."""
    return {"home": keel_home}
