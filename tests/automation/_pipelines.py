"""A small training pipeline the automation tests retrain (importable by agent processes)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import keel

MODEL = "churn"


def frame(n: int = 400, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Two features, a binary label that follows ``x1``."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    label = (x1 + 0.3 * rng.normal(size=n) > shift).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "label": label})


@keel.step(track=True)
def fit(dataset: str, quality: str, fail: bool) -> str:
    """Train on the dataset version (labels shuffled for a ``"bad"`` model); register it."""
    from sklearn.linear_model import LogisticRegression

    if fail:
        raise RuntimeError("the training data could not be read")
    data = keel.datasets.get(dataset).to_pandas()
    X, y = data[["x1", "x2"]], data["label"].to_numpy()
    if quality == "bad":
        y = np.random.default_rng(1).permutation(y)
    model = LogisticRegression().fit(X, y)
    info = keel.log_model(model, "model", registered_name=MODEL, input_example=X[:3])
    return f"models:/{MODEL}/{info.version}"


@keel.pipeline
def training(dataset: str = "tx@latest", quality: str = "good", fail: bool = False) -> str:
    """Retrain the churn model."""
    return fit(dataset, quality, fail)  # type: ignore[return-value]
