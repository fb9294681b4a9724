"""Simulated traffic for monitor tests: hourly batches, stable then drifting."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

import keel.monitoring as km

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
HOUR = 3_600_000


def customers(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    countries = ["DE", "FR", "IT", *(["ES"] if drifted else [])]
    return pd.DataFrame(
        {
            "amount": rng.normal(130.0 if drifted else 100.0, 20.0, n),
            "age": rng.integers(18, 80, n),
            "country": rng.choice(countries, n),
        }
    )


def log_hours(
    deployment: str, hours: list[bool], *, n: int = 400, seed: int = 0, start_hour: int = 0
) -> list[tuple[list[str], np.ndarray]]:  # type: ignore[type-arg]
    """Log one batch per hour (drifted or not); return each batch's ids and true labels."""
    rng = np.random.default_rng(seed)
    out = []
    t0 = int(T0.timestamp() * 1000)
    for i, drifted in enumerate(hours):
        x = customers(rng, n, drifted)
        score = 1 / (1 + np.exp(-(x["amount"].to_numpy() - 110) / 15))
        ts = t0 + (start_hour + i) * HOUR + np.sort(rng.integers(0, HOUR, n))
        batch = km.log_predictions(
            deployment,
            x,
            (score > 0.5).astype(int),
            scores=score,
            timestamps=ts,
            latency_ms=rng.gamma(2.0, 5.0, n) + (80 if drifted else 0),
            errors=np.zeros(n, bool),
        )
        out.append((batch.prediction_ids, (rng.random(n) < score).astype(int)))
    return out
