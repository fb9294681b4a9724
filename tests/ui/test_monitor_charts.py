"""The deployment traffic charts when latency was not logged, and when errors were."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from keel.config import get_settings
from keel.ui._access import embedded_principal
from keel.ui._monitor_charts import feature_charts, traffic
from keel.ui._state import UiState


def test_traffic_without_latency_says_so_and_counts_errors(keel_env: dict[str, Any]) -> None:
    import keel.monitoring as km

    t0 = 1_772_323_200_000
    for h in range(3):
        n = 50
        km.log_predictions(
            "no-latency",
            pd.DataFrame({"x": np.arange(n, dtype=float)}),
            np.zeros(n, dtype=int),
            timestamps=t0 + h * 3_600_000 + np.arange(n) * 1000,
            errors=np.arange(n) < 5 * h,
        )
    settings = get_settings()
    state = UiState(settings, embedded_principal(settings.user))
    found = traffic(state, "no-latency")
    assert (found.requests, found.errors) == (150, 15)
    assert len(found.charts) == 2  # requests and errors, error rate; no latency chart
    assert 'data-series="error rate %"' in str(found.charts[1])
    assert any("Latency was not logged" in note for note in found.notes)
    nothing = traffic(state, "never-served")
    assert nothing.charts == []
    assert nothing.notes == ["No predictions were logged for this deployment."]
    assert feature_charts(state, []) == (None, [])
