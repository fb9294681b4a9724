"""Synthetic data with known shifts, shared by the monitoring tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of :func:`synthetic` that shift (and how), and those that never do.
SHIFTED = ["mean_shift", "variance", "new_mode", "mix", "new_category"]
STABLE = ["normal", "lognormal", "uniform", "small_ints", "counts", "country", "flag"]


def synthetic(n: int, seed: int, shifted: bool) -> pd.DataFrame:
    """Columns of many types; with ``shifted``, five of them shift in five different ways."""
    rng = np.random.default_rng(seed)
    mode = rng.random(n) < (0.2 if shifted else 0.0)
    letters = np.array(["a", "b", "c", "d"], dtype=object)
    countries = np.array([f"c{i:02d}" for i in range(30)], dtype=object)
    weights = np.linspace(1, 3, 30)
    return pd.DataFrame(
        {
            "mean_shift": rng.normal(0.5 if shifted else 0.0, 1.0, n),
            "variance": rng.normal(0.0, 1.8 if shifted else 1.0, n),
            "new_mode": np.where(mode, rng.normal(4.0, 0.5, n), rng.normal(0.0, 1.0, n)),
            "mix": rng.choice(letters, n, p=[0.25] * 4 if shifted else [0.4, 0.3, 0.2, 0.1]),
            "new_category": np.where(
                rng.random(n) < (0.15 if shifted else 0.0), "zz", rng.choice(letters[:3], n)
            ),
            "normal": rng.normal(10.0, 2.0, n),
            "lognormal": rng.lognormal(0.0, 1.0, n),
            "uniform": rng.random(n),
            "small_ints": rng.integers(0, 5, n),
            "counts": rng.poisson(40.0, n),
            "country": rng.choice(countries, n, p=weights / weights.sum()),
            "flag": rng.random(n) < 0.3,
            "id": np.arange(n, dtype=np.int64) + seed * n,
        }
    )
