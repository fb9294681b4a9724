"""The workload both sides run: the same scikit-learn model, data and example."""

from __future__ import annotations

N_SAMPLES = 5_000
N_FEATURES = 20
SEED = 7
MODEL_NAME = "bench-churn"


def data():  # type: ignore[no-untyped-def]
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=8, random_state=SEED
    )


def model(X, y):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(X, y)


def rows():  # type: ignore[no-untyped-def]
    """Prediction input for the load step, made without scikit-learn (NumPy only)."""
    import numpy as np

    return np.random.default_rng(SEED).normal(size=(5, N_FEATURES))
