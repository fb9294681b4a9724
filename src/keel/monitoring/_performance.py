"""Model quality once labels arrive: classification and regression metrics in NumPy.

Classification: ``accuracy``, ``precision``, ``recall``, ``f1`` (binary on the positive label
when there are two classes, macro-averaged otherwise) and ``roc_auc`` (binary; from the score
of the positive class, ties counted half as in the Mann-Whitney statistic). Regression:
``mae``, ``rmse``, ``r2``. The test suite checks every metric against scikit-learn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from keel.errors import InvalidArgumentError, near_matches

__all__ = ["CLASSIFICATION_METRICS", "REGRESSION_METRICS", "model_performance"]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS = ("mae", "rmse", "r2")


def _task_of(metric: str) -> str:
    if metric in CLASSIFICATION_METRICS:
        return "classification"
    if metric in REGRESSION_METRICS:
        return "regression"
    known = [*CLASSIFICATION_METRICS, *REGRESSION_METRICS]
    raise InvalidArgumentError(
        f"Unknown performance metric {metric!r}.{near_matches(metric, known)} "
        f"Classification: {list(CLASSIFICATION_METRICS)!r}; regression: "
        f"{list(REGRESSION_METRICS)!r}."
    )


def _infer_task(y_true: np.ndarray[Any, Any]) -> str:
    if y_true.dtype.kind in "biuO?US":
        if y_true.dtype.kind in "iu" and len(np.unique(y_true)) > 20:
            return "regression"
        return "classification"
    finite = y_true[np.isfinite(y_true)]
    if len(finite) and np.all(finite == np.round(finite)) and len(np.unique(finite)) <= 20:
        return "classification"
    return "regression"


def _roc_auc(truth: np.ndarray[Any, Any], score: np.ndarray[Any, Any]) -> float:
    pos = int(truth.sum())
    neg = len(truth) - pos
    if pos == 0 or neg == 0:
        return math.nan
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    # Average rank of each distinct score (ties share their mean rank).
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    ranks = avg_rank[inverse]
    return float((ranks[truth].sum() - pos * (pos + 1) / 2) / (pos * neg))


def model_performance(
    y_true: Any,
    y_pred: Any,
    *,
    scores: Any = None,
    task: str | None = None,
    positive: Any = None,
) -> dict[str, float]:
    """Compute the quality metrics of predictions against labels.

    Args:
        y_true: The labels.
        y_pred: The predictions (classes or values).
        scores: For binary classification, the score of the positive class (for ROC AUC).
        task: ``"classification"`` or ``"regression"``; inferred from the labels if ``None``.
        positive: The positive class of binary classification (by default ``1``, ``True``,
            or the larger of the two labels).

    Returns:
        Every metric of the task, by name; ``roc_auc`` only with scores (or with
        predictions that are scores in ``[0, 1]`` of a binary task), NaN when one class is
        absent.

    Raises:
        InvalidArgumentError: The arrays differ in length, are empty, or the task is unknown.

    Examples:
        >>> import keel.monitoring as km
        >>> km.model_performance([0, 1, 1, 0], [0, 1, 0, 0])["accuracy"]
        0.75
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1 or len(t) != len(p):
        raise InvalidArgumentError(
            f"Labels and predictions must be 1-D and of one length, got shapes {t.shape} and "
            f"{p.shape}."
        )
    if len(t) == 0:
        raise InvalidArgumentError("There are no labeled predictions to score.")
    task = task or _infer_task(t)
    if task == "regression":
        tf, pf = t.astype(np.float64), p.astype(np.float64)
        err = pf - tf
        ss_tot = float(np.sum((tf - tf.mean()) ** 2))
        return {
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "r2": 1 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else math.nan,
        }
    if task != "classification":
        raise InvalidArgumentError(f"task must be 'classification' or 'regression', got {task!r}.")
    s = None if scores is None else np.asarray(scores, dtype=np.float64)
    classes = np.unique(t)
    if s is None and p.dtype.kind == "f" and len(classes) <= 2:
        finite = p[np.isfinite(p)]
        if (
            len(finite)
            and finite.min() >= 0
            and finite.max() <= 1
            and not np.all(np.isin(finite, (0.0, 1.0)))
        ):
            s = p.astype(np.float64)  # predictions are scores: threshold at 0.5
            pos_label = _positive(classes, positive)
            other = [c for c in classes if c != pos_label]
            neg_label = other[0] if other else (0 if pos_label != 0 else 1)
            p = np.where(s >= 0.5, pos_label, neg_label)
    if t.dtype.kind != p.dtype.kind and {t.dtype.kind, p.dtype.kind} & {"O", "U", "S"}:
        t, p = t.astype(str), p.astype(str)
    out = {"accuracy": float(np.mean(t == p))}
    labels = np.unique(np.concatenate([t, p]))
    if len(labels) <= 2:
        pos_label = _positive(labels, positive)
        tp = float(np.sum((p == pos_label) & (t == pos_label)))
        fp = float(np.sum((p == pos_label) & (t != pos_label)))
        fn = float(np.sum((p != pos_label) & (t == pos_label)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        out["precision"], out["recall"] = precision, recall
        out["f1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if s is not None:
            out["roc_auc"] = _roc_auc(t == pos_label, s)
    else:
        precisions, recalls, f1s = [], [], []
        for label in labels:
            tp = float(np.sum((p == label) & (t == label)))
            fp = float(np.sum((p == label) & (t != label)))
            fn = float(np.sum((p != label) & (t == label)))
            pr = tp / (tp + fp) if tp + fp else 0.0
            rc = tp / (tp + fn) if tp + fn else 0.0
            precisions.append(pr)
            recalls.append(rc)
            f1s.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
        out["precision"] = float(np.mean(precisions))
        out["recall"] = float(np.mean(recalls))
        out["f1"] = float(np.mean(f1s))
    return out


def _positive(labels: np.ndarray[Any, Any], positive: Any) -> Any:
    if positive is not None:
        return positive
    values = list(labels.tolist())
    for candidate in (1, True, "1", "yes", "true"):
        if candidate in values:
            return labels[values.index(candidate)]
    return labels[-1] if len(labels) else 1
