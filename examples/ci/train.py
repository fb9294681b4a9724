"""The training pipeline the CI templates run: load a dataset version, train, register.

    keel pipeline run train.py:training --param data=churn@latest

The new version is registered behind two gates (an AUC floor, and beating the current
champion on the same holdout data) and gets the alias ``challenger``; promoting it to
``champion`` is the merge job's business (``keel models promote``), which runs the gates.
"""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import keel

MODEL = "churn-model"


@keel.step
def load(data: str) -> pd.DataFrame:
    """Read a dataset version (``churn@v3``) and record it as the run's input."""
    version = keel.datasets.get(data)
    keel.log_input(version)
    return version.to_pandas()


@keel.step
def train(frame: pd.DataFrame, c: float) -> int:
    """Fit, log the AUC, register the model behind its gates as 'challenger'; return its version."""
    X, y = frame.drop(columns=["churn"]), frame["churn"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    model = LogisticRegression(C=c, max_iter=1000).fit(X_train, y_train)
    keel.log_params({"C": c})
    keel.log_metric("auc", float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])))
    info = keel.log_model(model, "model", input_example=X_train.head(5), registered_name=MODEL)
    keel.models.add_gate(MODEL, keel.gates.metric("auc", ">=", 0.7))
    holdout = X_test.assign(churn=y_test)
    keel.models.add_gate(
        MODEL, keel.gates.beats("champion", metric="auc", holdout=holdout, target="churn")
    )
    keel.models.set_alias(MODEL, "challenger", version=info.version, reason="CI candidate")
    assert info.version is not None
    return info.version


@keel.pipeline
def training(data: str = "churn@latest", c: float = 1.0) -> int:
    """Load ``data`` and train on it with inverse regularization ``c``."""
    return train(load(data), c)
