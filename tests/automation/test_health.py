"""Canary health: the canary's errors, latency and accuracy against the champion's traffic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from keel.automation._rollout import canary_health

T = 1_800_000_000_000
CRITERIA = {"error_rate": 0.05, "latency": 1.5, "performance": 0.05}


def _log(version: int, latency: float, correct: bool, n: int = 50) -> None:
    import keel.monitoring as km

    rng = np.random.default_rng(version)
    x = rng.normal(size=n)
    labels = (x > 0).astype(int)
    batch = km.log_predictions(
        "api",
        pd.DataFrame({"x": x}),
        labels if correct else 1 - labels,
        timestamps=T + 1000,
        latency_ms=latency,
        model_name="m",
        model_version=version,
    )
    km.log_labels("api", batch.prediction_ids, labels)


def test_a_healthy_canary_passes(keel_home: Path) -> None:
    _log(1, 5.0, True)
    _log(2, 6.0, True)
    reasons, stats = canary_health("api", 2, T, T + 10_000, CRITERIA)
    assert reasons == []
    assert stats["canary"]["rows"] == 50
    assert stats["accuracy"] == {"canary": 1.0, "champion": 1.0}


def test_a_slow_and_wrong_canary_breaches_latency_and_performance(keel_home: Path) -> None:
    _log(1, 5.0, True)
    _log(2, 50.0, False)
    reasons, stats = canary_health("api", 2, T, T + 10_000, CRITERIA)
    assert [r.split()[0] for r in reasons] == ["p95", "accuracy"]
    assert stats["canary"]["p95_ms"] == 50.0
    assert stats["accuracy"]["canary"] == 0.0


def test_too_few_canary_rows_are_not_judged(keel_home: Path) -> None:
    _log(1, 5.0, True)
    _log(2, 50.0, False, n=5)
    reasons, stats = canary_health("api", 2, T, T + 10_000, CRITERIA, min_rows=20)
    assert reasons == []
    assert stats["canary"]["rows"] == 5


def test_predictions_outside_the_step_do_not_count(keel_home: Path) -> None:
    _log(1, 5.0, True)
    _log(2, 50.0, False)
    reasons, stats = canary_health("api", 2, T + 5000, T + 10_000, CRITERIA)
    assert reasons == []
    assert stats["canary"]["rows"] == 0
