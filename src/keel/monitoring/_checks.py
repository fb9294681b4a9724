"""What a monitor checks in each window of the prediction log.

=====================  ========================================================================
check                  breaches when
=====================  ========================================================================
``data_drift``         the share of drifted feature columns reaches ``share`` (0.5)
``prediction_drift``   the prediction column drifted against the reference's (or, if the
                       reference has none, against the first window's predictions)
``performance``        a metric computed from late labels leaves ``[min, max]``; pending
                       until ``min_labels`` labels arrived
``latency``            a latency quantile exceeds its bound (``p50_ms``, ``p95_ms``,
                       ``p99_ms``)
``error_rate``         the share of failed requests exceeds ``max``
``data_quality``       a reference column is missing or changed type, the share of missing
                       values drifted, more than ``max_new_category_share`` of a column's
                       values are new categories, more than ``max_out_of_range_share`` of
                       its numbers lie outside the reference's range, or more than
                       ``max_null_share`` of its values are missing
=====================  ========================================================================

Each check returns a :class:`CheckOutcome` per window; the monitor stores them, turns the
verdicts into alerts (once per breach) and exports the metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.errors import InvalidArgumentError, near_matches
from keel.monitoring._drift import TESTS
from keel.monitoring._performance import _task_of, model_performance

if TYPE_CHECKING:
    from keel.monitoring._monitors import Window

__all__ = [
    "Check",
    "CheckOutcome",
    "DataDrift",
    "DataQuality",
    "ErrorRate",
    "Latency",
    "Performance",
    "PredictionDrift",
    "check_from_dict",
    "data_drift",
    "data_quality",
    "error_rate",
    "latency",
    "performance",
    "prediction_drift",
]


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict on one window.

    Attributes:
        name: The check's name (unique within its monitor).
        kind: The kind of check.
        passed: ``True``, ``False`` (breach) or ``None`` (could not be evaluated yet).
        value: The headline number (drift share, metric value, p99 latency...).
        bound: The limit it was held against, as text (``"< 0.3"``).
        message: One sentence for people.
        metrics: Numbers for the time series and Prometheus.
    """

    name: str
    kind: str
    passed: bool | None
    value: float | None
    bound: str
    message: str
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the stored form (without the metrics, stored once per window)."""
        value = self.value
        if value is not None and not math.isfinite(value):
            value = None
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "value": value,
            "bound": self.bound,
            "message": self.message,
        }


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise InvalidArgumentError(f"{name} must be a share in (0, 1], got {value!r}.")
    return float(value)


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class DataDrift:
    """Breach when at least ``share`` of the feature columns drifted (see :func:`data_drift`)."""

    share: float = 0.5
    columns: tuple[str, ...] | None = None
    tests: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    kind: str = "data_drift"

    @property
    def name(self) -> str:
        """The check's name."""
        return "data_drift"

    def evaluate(self, window: Window) -> CheckOutcome:
        """Compare the window's features with the reference."""
        report = window.drift_report()
        if self.columns is not None:
            features = [report.features[c] for c in self.columns if c in report.features]
        else:
            features = list(report.features.values())
        compared = [f for f in features if f.test is not None]
        drifted = [f.name for f in compared if f.drifted]
        share = len(drifted) / len(compared) if compared else 0.0
        metrics = {"drift.share": share, "drift.drifted_count": float(len(drifted))}
        for f in compared:
            if f.score is not None and math.isfinite(f.score):
                metrics[f"drift.score.{f.name}"] = f.score
        if not compared:
            return CheckOutcome(
                self.name,
                self.kind,
                None,
                None,
                f"< {self.share:g}",
                "no feature column could be compared",
                metrics,
            )
        passed = share < self.share
        names = ", ".join(drifted[:8]) + (" ..." if len(drifted) > 8 else "")
        message = f"{len(drifted)} of {len(compared)} columns drifted ({share:.0%})" + (
            f": {names}" if drifted else ""
        )
        return CheckOutcome(
            self.name, self.kind, passed, share, f"< {self.share:g}", message, metrics
        )


def data_drift(
    share: float = 0.5,
    *,
    columns: Sequence[str] | None = None,
    tests: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> DataDrift:
    """Check that fewer than ``share`` of the feature columns drift.

    Args:
        share: The share of drifted columns that is a breach.
        columns: Only these feature columns (all the reference's by default).
        tests: ``{column: test}`` overriding the automatic test choice.
        thresholds: ``{column: threshold}`` overriding test thresholds.

    Raises:
        InvalidArgumentError: ``share`` is not in (0, 1] or a test is unknown.
    """
    for column, test in (tests or {}).items():
        if test not in TESTS and test != "auto":
            raise InvalidArgumentError(
                f"Unknown drift test {test!r} for column {column!r}."
                f"{near_matches(str(test), TESTS)} Tests: {sorted(TESTS)!r}."
            )
    return DataDrift(
        _fraction(share, "share"),
        None if columns is None else tuple(columns),
        dict(tests or {}),
        {k: _positive(v, f"thresholds[{k!r}]") for k, v in (thresholds or {}).items()},
    )


@dataclass(frozen=True)
class PredictionDrift:
    """Breach when the predictions drift (see :func:`prediction_drift`)."""

    column: str = "prediction"
    test: str = "auto"
    threshold: float | None = None
    kind: str = "prediction_drift"

    @property
    def name(self) -> str:
        """The check's name."""
        return "prediction_drift"

    def evaluate(self, window: Window) -> CheckOutcome:
        """Compare the window's predictions with the reference's or the baseline window's."""
        f, source = window.prediction_drift(self.column, self.test, self.threshold)
        if f is None or f.test is None:
            note = "no predictions to compare" if f is None else f.note
            return CheckOutcome(self.name, self.kind, None, None, "", note or "not compared")
        message = (
            f"predictions {'drifted' if f.drifted else 'stable'} against {source} "
            f"({f.test}, score {f.score:.3g})"
        )
        return CheckOutcome(
            self.name,
            self.kind,
            not f.drifted,
            f.score,
            f"threshold {f.threshold:g}",
            message,
            {"prediction.drift.score": float(f.score or 0.0)},
        )


def prediction_drift(
    column: str = "prediction", *, test: str = "auto", threshold: float | None = None
) -> PredictionDrift:
    """Check that the distribution of the model's predictions does not drift.

    Predictions are compared with the reference's column of the same name when it has one,
    otherwise with the predictions of the first window evaluated (the baseline).

    Args:
        column: The prediction column (``"prediction"``, or ``"prediction_score"``).
        test: A drift test name, or ``"auto"``.
        threshold: The test's threshold (its default if ``None``).

    Raises:
        InvalidArgumentError: The test is unknown.
    """
    if test not in TESTS and test != "auto":
        raise InvalidArgumentError(
            f"Unknown drift test {test!r}.{near_matches(str(test), TESTS)} "
            f"Tests: {sorted(TESTS)!r}."
        )
    return PredictionDrift(
        column, test, None if threshold is None else _positive(threshold, "threshold")
    )


@dataclass(frozen=True)
class Performance:
    """Breach when a quality metric leaves its bounds (see :func:`performance`)."""

    metric: str
    min: float | None = None
    max: float | None = None
    min_labels: int = 30
    positive: Any = None
    kind: str = "performance"

    @property
    def name(self) -> str:
        """The check's name."""
        return f"performance.{self.metric}"

    def evaluate(self, window: Window) -> CheckOutcome:
        """Score the window's labeled predictions."""
        truth, pred, scores = window.labeled()
        labeled = len(truth)
        metrics = {"labels.rows": float(labeled)}
        bound = " and ".join(
            b
            for b in (
                f">= {self.min:g}" if self.min is not None else "",
                f"<= {self.max:g}" if self.max is not None else "",
            )
            if b
        )
        if labeled < self.min_labels:
            return CheckOutcome(
                self.name,
                self.kind,
                None,
                None,
                bound,
                f"{labeled} labeled predictions, {self.min_labels} needed: waiting for labels",
                metrics,
            )
        task = _task_of(self.metric)
        values = model_performance(truth, pred, scores=scores, task=task, positive=self.positive)
        metrics.update({f"performance.{k}": v for k, v in values.items() if math.isfinite(v)})
        value = values.get(self.metric)
        if value is None or not math.isfinite(value):
            why = "it needs prediction scores" if self.metric == "roc_auc" else "undefined"
            return CheckOutcome(
                self.name,
                self.kind,
                None,
                None,
                bound,
                f"{self.metric} cannot be computed on this window ({why})",
                metrics,
            )
        passed = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        message = f"{self.metric} {value:.4g} on {labeled:,} labeled predictions"
        return CheckOutcome(self.name, self.kind, passed, value, bound, message, metrics)


def performance(
    metric: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_labels: int = 30,
    positive: Any = None,
) -> Performance:
    """Check a model quality metric on each window's labeled predictions.

    Args:
        metric: ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc`` (classification)
            or ``mae``, ``rmse``, ``r2`` (regression).
        min: The lowest acceptable value.
        max: The highest acceptable value.
        min_labels: Labeled predictions needed before the window is judged.
        positive: The positive class of a binary classifier.

    Raises:
        InvalidArgumentError: The metric is unknown, or no bound is given.
    """
    _task_of(metric)
    if min is None and max is None:
        raise InvalidArgumentError(
            f"performance({metric!r}) needs a bound: min=... (e.g. min=0.8) or max=...."
        )
    if not isinstance(min_labels, int) or min_labels < 1:
        raise InvalidArgumentError(f"min_labels must be a positive integer, got {min_labels!r}.")
    return Performance(metric, min, max, min_labels, positive)


@dataclass(frozen=True)
class Latency:
    """Breach when a latency quantile exceeds its bound (see :func:`latency`)."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    kind: str = "latency"

    @property
    def name(self) -> str:
        """The check's name."""
        return "latency"

    def evaluate(self, window: Window) -> CheckOutcome:
        """Compute the window's latency quantiles."""
        values = window.latencies()
        if len(values) == 0:
            return CheckOutcome(self.name, self.kind, None, None, "", "no latencies were logged")
        q = np.quantile(values, [0.5, 0.95, 0.99])
        metrics = {
            "latency.p50_ms": float(q[0]),
            "latency.p95_ms": float(q[1]),
            "latency.p99_ms": float(q[2]),
            "latency.mean_ms": float(values.mean()),
        }
        limits = {"p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms}
        over = [
            f"{key[:-3]} {metrics[f'latency.{key}']:.3g} ms > {limit:g} ms"
            for key, limit in limits.items()
            if limit is not None and metrics[f"latency.{key}"] > limit
        ]
        bound = ", ".join(f"{k[:-3]} <= {v:g} ms" for k, v in limits.items() if v is not None)
        headline = next(
            (k for k in ("p99_ms", "p95_ms", "p50_ms") if limits[k] is not None), "p99_ms"
        )
        message = (
            "; ".join(over)
            if over
            else (f"p50 {q[0]:.3g} ms, p95 {q[1]:.3g} ms, p99 {q[2]:.3g} ms")
        )
        return CheckOutcome(
            self.name, self.kind, not over, metrics[f"latency.{headline}"], bound, message, metrics
        )


def latency(
    *, p50_ms: float | None = None, p95_ms: float | None = None, p99_ms: float | None = None
) -> Latency:
    """Check latency quantiles of each window against bounds in milliseconds.

    Raises:
        InvalidArgumentError: No bound is given, or a bound is not positive.
    """
    if p50_ms is None and p95_ms is None and p99_ms is None:
        raise InvalidArgumentError("latency() needs a bound: p50_ms=..., p95_ms=... or p99_ms=....")
    return Latency(
        p50_ms=None if p50_ms is None else _positive(p50_ms, "p50_ms"),
        p95_ms=None if p95_ms is None else _positive(p95_ms, "p95_ms"),
        p99_ms=None if p99_ms is None else _positive(p99_ms, "p99_ms"),
    )


@dataclass(frozen=True)
class ErrorRate:
    """Breach when the share of failed requests exceeds ``max`` (see :func:`error_rate`)."""

    max: float = 0.01
    kind: str = "error_rate"

    @property
    def name(self) -> str:
        """The check's name."""
        return "error_rate"

    def evaluate(self, window: Window) -> CheckOutcome:
        """Count the window's failed requests."""
        errors, total = window.errors()
        if total == 0:
            return CheckOutcome(self.name, self.kind, None, None, f"<= {self.max:g}", "no requests")
        rate = errors / total
        return CheckOutcome(
            self.name,
            self.kind,
            rate <= self.max,
            rate,
            f"<= {self.max:g}",
            f"{errors:,} of {total:,} requests failed ({rate:.2%})",
            {"errors.rate": rate, "errors.count": float(errors)},
        )


def error_rate(max: float = 0.01) -> ErrorRate:
    """Check that at most ``max`` of each window's requests failed.

    Raises:
        InvalidArgumentError: ``max`` is not a share in [0, 1].
    """
    if isinstance(max, bool) or not isinstance(max, (int, float)) or not 0 <= max <= 1:
        raise InvalidArgumentError(f"max must be a share in [0, 1], got {max!r}.")
    return ErrorRate(float(max))


@dataclass(frozen=True)
class DataQuality:
    """Breach on schema changes, missing-value drift and out-of-range or new values."""

    max_null_share: float | None = None
    max_new_category_share: float = 0.02
    max_out_of_range_share: float = 0.05
    missing_drift: bool = True
    kind: str = "data_quality"

    @property
    def name(self) -> str:
        """The check's name."""
        return "data_quality"

    def evaluate(self, window: Window) -> CheckOutcome:
        """Look for quality problems in the window's features."""
        report = window.drift_report()
        issues: list[str] = []
        metrics: dict[str, float] = {}
        for name in report.missing_columns:
            issues.append(f"{name}: missing")
        for name, (a, b) in report.type_changes.items():
            issues.append(f"{name}: type {a} -> {b}")
        for f in report.features.values():
            miss = f.missing
            if miss:
                share = float(miss.get("current_share") or 0.0)
                metrics[f"quality.null_share.{f.name}"] = share
                if self.missing_drift and miss.get("drifted"):
                    issues.append(
                        f"{f.name}: missing values {miss['reference_share']:.1%} -> {share:.1%}"
                    )
                elif self.max_null_share is not None and share > self.max_null_share:
                    issues.append(f"{f.name}: {share:.1%} missing")
            if f.new_category_share > self.max_new_category_share:
                shown = ", ".join(list(f.new_categories)[:3])
                issues.append(f"{f.name}: {f.new_category_share:.1%} new values ({shown})")
            out = f.details.get("out_of_range_share")
            if out is not None:
                metrics[f"quality.out_of_range_share.{f.name}"] = float(out)
                if out > self.max_out_of_range_share:
                    issues.append(f"{f.name}: {out:.1%} outside the reference range")
        metrics["quality.issues"] = float(len(issues))
        message = "; ".join(issues[:10]) if issues else "no quality issues"
        return CheckOutcome(
            self.name, self.kind, not issues, float(len(issues)), "no issues", message, metrics
        )


def data_quality(
    *,
    max_null_share: float | None = None,
    max_new_category_share: float = 0.02,
    max_out_of_range_share: float = 0.05,
    missing_drift: bool = True,
) -> DataQuality:
    """Check each window's features for schema changes and bad values.

    Args:
        max_null_share: Most missing values a column may have (unchecked if ``None``; the drift
            of the share of missing values is checked anyway unless ``missing_drift=False``).
        max_new_category_share: Most values of a column that may be categories the reference
            never had.
        max_out_of_range_share: Most numbers of a column that may lie outside the reference's
            range.
        missing_drift: Count missing-value drift as an issue.

    Raises:
        InvalidArgumentError: A share is not in (0, 1].
    """
    return DataQuality(
        None if max_null_share is None else _fraction(max_null_share, "max_null_share"),
        _fraction(max_new_category_share, "max_new_category_share"),
        _fraction(max_out_of_range_share, "max_out_of_range_share"),
        bool(missing_drift),
    )


Check = DataDrift | PredictionDrift | Performance | Latency | ErrorRate | DataQuality
_KINDS: dict[str, type[Any]] = {
    "data_drift": DataDrift,
    "prediction_drift": PredictionDrift,
    "performance": Performance,
    "latency": Latency,
    "error_rate": ErrorRate,
    "data_quality": DataQuality,
}


def check_to_dict(check: Check) -> dict[str, Any]:
    """Return the stored form of a check (with its ``name``)."""
    data = asdict(check)
    if isinstance(data.get("columns"), tuple):
        data["columns"] = list(data["columns"])
    data["name"] = check.name
    return data


def check_from_dict(data: dict[str, Any]) -> Check:
    """Rebuild a check from its stored form.

    Raises:
        InvalidArgumentError: The kind is unknown.
    """
    kind = data.get("kind")
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise InvalidArgumentError(f"Unknown check kind {kind!r}; known: {sorted(_KINDS)!r}.")
    fields = {k: v for k, v in data.items() if k != "name"}
    if kind == "data_drift" and fields.get("columns") is not None:
        fields["columns"] = tuple(fields["columns"])
    result: Check = cls(**fields)
    return result
