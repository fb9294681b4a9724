"""What the serving benchmark serves and sends: one scikit-learn model, two payload sizes.

The model is a LogisticRegression (or, with ``--model pipeline``, StandardScaler +
LogisticRegression) on 8 named numeric columns (a churn-like table), the same fitted object
for all three servers: pickled once, saved with ``mlflow.sklearn.save_model`` and logged with
``keel.log_model``.
"""

from __future__ import annotations

import json
from typing import Any

COLUMNS = [
    "tenure",
    "monthly",
    "total",
    "support_calls",
    "age",
    "score",
    "late_payments",
    "discount",
]
CONNECTIONS = 16
SIZES = (1, 100)


def frame(n: int, seed: int = 0) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {c: rng.normal(size=n) for c in COLUMNS}
    return pd.DataFrame(data)


#: The models the benchmark can serve; ``logreg`` is the default.
MODELS = ("logreg", "pipeline")


def train(kind: str = "logreg") -> Any:
    """Fit the benchmark's model on named columns.

    ``logreg``: a LogisticRegression, the smallest real scikit-learn model, so the servers'
    own costs show. ``pipeline``: StandardScaler + LogisticRegression, where scikit-learn's
    input validation (twice per call, on a DataFrame) is most of the time of a request.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = frame(2000)
    y = (X["monthly"] - X["tenure"] + 0.5 * X["support_calls"] > 0).astype(int)
    if kind == "pipeline":
        return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X
    if kind != "logreg":
        raise ValueError(f"unknown model {kind!r}; one of {MODELS}")
    return LogisticRegression().fit(X, y), X


def records(n: int) -> list[dict[str, float]]:
    X = frame(n, seed=1)
    return [{c: round(float(v), 6) for c, v in row.items()} for row in X.to_dict("records")]


def bodies(n: int) -> dict[str, bytes]:
    """The same rows in each server's request format, by server."""
    rows = records(n)
    return {
        "mlflow": json.dumps({"dataframe_records": rows}).encode(),
        "keel": json.dumps({"instances": rows}).encode(),
        "bare": json.dumps({"instances": rows}).encode(),
    }
