"""Evaluation metrics computed with NumPy, for gates that compare models on holdout data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keel.errors import InvalidArgumentError, near_matches

__all__ = ["HIGHER_IS_BETTER", "METRICS", "evaluate", "higher_is_better"]


def _np() -> Any:
    import numpy as np

    return np


def _labels(y: Any) -> Any:
    return _np().asarray(y).ravel()


def _auc_binary(y: Any, score: Any) -> float:
    np = _np()
    y = np.asarray(y).ravel()
    score = np.asarray(score, dtype=float).ravel()
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise InvalidArgumentError(
            "AUC needs both classes in the holdout labels; this holdout has only one. "
            "Use a larger or stratified holdout."
        )
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=float)
    sorted_scores = score[order]
    # Average ranks over ties (Mann-Whitney U).
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc(y: Any, proba: Any, classes: Any) -> float:
    """ROC AUC: binary, or macro one-vs-rest for several classes."""
    np = _np()
    y = _labels(y)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1:
        return _auc_binary((y == classes[-1]).astype(int) if len(classes) else y, proba)
    if proba.shape[1] == 2:
        return _auc_binary((y == classes[1]).astype(int), proba[:, 1])
    return float(
        np.mean([_auc_binary((y == c).astype(int), proba[:, i]) for i, c in enumerate(classes)])
    )


def log_loss(y: Any, proba: Any, classes: Any) -> float:
    """Mean negative log-likelihood of the true class."""
    np = _np()
    y = _labels(y)
    proba = np.clip(np.asarray(proba, dtype=float), 1e-15, 1 - 1e-15)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    index = {c: i for i, c in enumerate(classes)}
    idx = np.array([index[v] for v in y])
    return float(-np.mean(np.log(proba[np.arange(len(y)), idx])))


def _binary_counts(y: Any, pred: Any) -> tuple[int, int, int]:
    np = _np()
    y, pred = _labels(y), _labels(pred)
    positive = np.unique(y).max() if len(y) else 1
    tp = int(np.sum((pred == positive) & (y == positive)))
    fp = int(np.sum((pred == positive) & (y != positive)))
    fn = int(np.sum((pred != positive) & (y == positive)))
    return tp, fp, fn


def precision(y: Any, pred: Any) -> float:
    """Precision of the positive (largest) label."""
    tp, fp, _ = _binary_counts(y, pred)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y: Any, pred: Any) -> float:
    """Recall of the positive (largest) label."""
    tp, _, fn = _binary_counts(y, pred)
    return tp / (tp + fn) if tp + fn else 0.0


def f1(y: Any, pred: Any) -> float:
    """F1 score of the positive (largest) label."""
    p, r = precision(y, pred), recall(y, pred)
    return 2 * p * r / (p + r) if p + r else 0.0


def accuracy(y: Any, pred: Any) -> float:
    """Share of exact predictions."""
    np = _np()
    return float(np.mean(_labels(y) == _labels(pred)))


def mse(y: Any, pred: Any) -> float:
    """Mean squared error."""
    np = _np()
    return float(np.mean((_labels(y).astype(float) - _labels(pred).astype(float)) ** 2))


def rmse(y: Any, pred: Any) -> float:
    """Root mean squared error."""
    return float(mse(y, pred) ** 0.5)


def mae(y: Any, pred: Any) -> float:
    """Mean absolute error."""
    np = _np()
    return float(np.mean(np.abs(_labels(y).astype(float) - _labels(pred).astype(float))))


def r2(y: Any, pred: Any) -> float:
    """Coefficient of determination."""
    np = _np()
    yt = _labels(y).astype(float)
    ss_res = float(np.sum((yt - _labels(pred).astype(float)) ** 2))
    ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot else 0.0


_ON_LABELS: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "precision": precision,
    "recall": recall,
    "mse": mse,
    "rmse": rmse,
    "mae": mae,
    "r2": r2,
}
_ON_PROBA: dict[str, Callable[[Any, Any, Any], float]] = {"auc": auc, "log_loss": log_loss}
_ALIASES = {"roc_auc": "auc", "logloss": "log_loss"}

#: Every metric a comparison gate can compute.
METRICS = tuple(sorted([*_ON_LABELS, *_ON_PROBA, *_ALIASES]))
#: Metrics where a larger value is better; the others are errors or losses.
HIGHER_IS_BETTER = frozenset({"auc", "roc_auc", "accuracy", "f1", "precision", "recall", "r2"})


def check_metric(name: str) -> str:
    """Return the canonical metric name.

    Raises:
        InvalidArgumentError: Keel cannot compute that metric (near names are suggested).
    """
    canonical = _ALIASES.get(name, name)
    if canonical not in _ON_LABELS and canonical not in _ON_PROBA:
        raise InvalidArgumentError(
            f"Keel cannot compute the metric {name!r} on holdout data."
            f"{near_matches(name, METRICS)} "
            f"Metrics: {list(METRICS)!r}."
        )
    return canonical


def higher_is_better(name: str) -> bool:
    """Whether a larger value of the metric is better."""
    return _ALIASES.get(name, name) in HIGHER_IS_BETTER


def evaluate(metric: str, model: Any, X: Any, y: Any) -> float:
    """Compute ``metric`` of a loaded model on ``X`` against labels ``y``.

    AUC and log loss use ``predict_proba`` when the model has it (the raw ``predict`` output
    as a score otherwise).
    """
    name = check_metric(metric)
    if name in _ON_PROBA:
        np = _np()
        if getattr(model, "has_predict_proba", False):
            proba = np.asarray(model.predict_proba(X))
            classes = _classes(model, y, proba)
        else:
            proba = np.asarray(model.predict(X), dtype=float)
            classes = np.unique(_labels(y))
        return _ON_PROBA[name](y, proba, classes)
    return _ON_LABELS[name](y, model.predict(X))


def _classes(model: Any, y: Any, proba: Any) -> Any:
    np = _np()
    native = model.unwrap() if hasattr(model, "unwrap") else model
    classes = getattr(native, "classes_", None)
    if classes is None:
        classes = getattr(model, "manifest", None) and model.manifest.options.get("classes")
    if classes is None:
        classes = np.unique(_labels(y))
        if proba.ndim == 2 and len(classes) != proba.shape[1]:
            classes = np.arange(proba.shape[1])
    return np.asarray(classes)
