"""The quickstart's training, expressed as a pipeline: data, a fan-out of tracked trainings,
the best model chosen; then tuned with keel.tune over the same pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import keel

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402
from sklearn.metrics import log_loss, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402


@keel.step
def make_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=600, n_features=10, n_informative=5, weights=[0.8, 0.2], random_state=seed
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y
    )
    return X_train, X_test, y_train, y_test


@keel.step(track=True)
def train(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    alpha: float,
    epochs: int,
    seed: int,
) -> SGDClassifier:
    keel.log_params({"alpha": alpha, "epochs": epochs})
    model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=seed)
    classes = np.unique(y_train)
    for epoch in range(epochs):
        model.partial_fit(X_train, y_train, classes=classes)
        keel.log_metric("val_loss", log_loss(y_test, model.predict_proba(X_test)), step=epoch)
    keel.log_metric("auc", float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])))
    return model


@keel.step
def pick_best(X_test: np.ndarray, y_test: np.ndarray, *models: SGDClassifier) -> dict:
    aucs = [float(roc_auc_score(y_test, m.predict_proba(X_test)[:, 1])) for m in models]
    best = int(np.argmax(aucs))
    return {"best_alpha": float(models[best].alpha), "auc": aucs[best], "aucs": aucs}


@keel.pipeline
def churn_training(seed: int = 7, epochs: int = 5, alphas: list[float] | None = None):
    X_train, X_test, y_train, y_test = make_data(seed)
    models = [
        train(X_train, y_train, X_test, y_test, alpha, epochs, seed)
        for alpha in (alphas or [1e-4, 1e-3, 1e-2, 1e-1])
    ]
    return pick_best(X_test, y_test, *models)


def test_quickstart_training_as_a_pipeline(home: Path) -> None:
    run = churn_training.run(epochs=4)
    assert run.status == "FINISHED", run.error
    result = run.outputs
    assert 0.5 < result["auc"] <= 1.0
    assert result["auc"] == max(result["aucs"])
    assert list(run.steps) == ["make_data", "train", "train_2", "train_3", "train_4", "pick_best"]
    assert run.steps["make_data"].record.outputs[0]["serializer"] == "numpy"
    # Each training is a tracked run nested under the pipeline's run, with its curves.
    children = [run.steps[n].record.tracked_run_id for n in ("train", "train_2")]
    for child in children:
        assert child is not None
        info = keel.get_run(child)
        assert info.info.parent_run_id == run.id
        assert len(keel.get_metric_history(child, "val_loss")) == 4
    # More epochs: the data step is reused, the trainings run again.
    again = churn_training.run(epochs=5)
    assert again.cache_hits == ["make_data"]
