"""Regression with XGBoost, hyperparameters tuned on Ray, the best model registered.

    python run.py [--executor ray|process|inline] [--trials 12] [--rows 5000]

1. Registers a regression dataset (a versioned Parquet dataset in the artifact store).
2. Tunes XGBoost's depth, learning rate and number of trees with ``keel.tune``: each trial is
   a tracked child run executed as a Ray task (``RAY_ADDRESS`` for a cluster; without it a
   local Ray starts). Workers read the dataset by its version reference.
3. Retrains with the best parameters, registers the model (flavor ``xgboost``, its own UBJSON
   format: no pickle) and promotes it behind an RMSE gate.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import make_regression
from sklearn.model_selection import train_test_split
from xgboost import XGBRegressor

import keel

MODEL = "xgb-regressor"


def dataset(rows: int) -> str:
    """Register the example's data and return its version reference (``name@vN``)."""
    X, y = make_regression(
        n_samples=rows, n_features=8, n_informative=6, noise=10.0, random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(y=y)
    return str(keel.datasets.register("regression-demo", frame).ref)


def split(ref: str) -> tuple[Any, Any, Any, Any]:
    """Train/validation split of the dataset version ``ref``."""
    frame = keel.datasets.get(ref).to_pandas()
    return train_test_split(frame.drop(columns=["y"]), frame["y"], test_size=0.25, random_state=0)


def fit(ref: str, max_depth: int, learning_rate: float, n_estimators: int) -> tuple[Any, float]:
    """Fit one model; return it and its validation RMSE."""
    X_train, X_val, y_train, y_val = split(ref)
    model = XGBRegressor(
        max_depth=max_depth, learning_rate=learning_rate, n_estimators=n_estimators, n_jobs=1
    ).fit(X_train, y_train)
    rmse = float(np.sqrt(np.mean((model.predict(X_val) - y_val) ** 2)))
    return model, rmse


def main(executor: str = "ray", trials: int = 12, rows: int = 5000) -> dict[str, Any]:
    """Run the example; return the best parameters, RMSE and registered version."""
    keel.set_experiment("xgb-regression")
    ref = dataset(rows)

    def objective(max_depth: int, learning_rate: float, n_estimators: int) -> float:
        _, rmse = fit(ref, max_depth, learning_rate, n_estimators)
        keel.log_metric("rmse", rmse)
        return rmse

    best = keel.tune(
        objective,
        space={
            "max_depth": keel.tune.int(2, 8),
            "learning_rate": keel.tune.loguniform(0.01, 0.3),
            "n_estimators": keel.tune.int(50, 300, step=50),
        },
        n_trials=trials,
        direction="minimize",
        executor=executor,
        max_workers=2,
        seed=0,
    )
    with keel.start_run(run_name="best"):
        keel.log_params(best.params)
        model, rmse = fit(ref, **best.params)
        keel.log_metric("rmse", rmse)
        X_train, *_ = split(ref)
        info = keel.log_model(model, "model", input_example=X_train.head(5), registered_name=MODEL)
    assert info.version is not None
    keel.models.add_gate(MODEL, keel.gates.metric("rmse", "<=", 60.0))
    keel.models.promote(MODEL, version=info.version, to="champion", reason="best of tuning")
    return {"params": best.params, "rmse": rmse, "version": info.version, "flavor": info.flavor}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", default="ray")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    print(main(args.executor, args.trials, args.rows))
