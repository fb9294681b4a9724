"""The tracking workloads, defined once and shared by both sides.

Stdlib only: this module is imported by ``keel_side.py`` (Keel's venv),
``mlflow_side.py`` (MLflow's venv) and ``run.py`` (the driver), so both tools
log exactly the same names and values.
"""

from __future__ import annotations

EXPERIMENT = "bench"

# a. one run, many log_metric calls
METRIC_CALLS = 10_000

# b. many small runs
RUNS = 100
PARAMS_PER_RUN = 20
METRICS_PER_RUN = 50

# c. search over a populated experiment
SEARCH_RUNS = 1_000
SEARCH_PARAMS = 5
SEARCH_METRICS = 5
SEARCH_FILTER = "metrics.auc > 0.5"
SEARCH_ORDER = "metrics.auc DESC"


def run_params(i: int) -> dict[str, str]:
    """The PARAMS_PER_RUN params of run ``i`` in workload b."""
    return {f"param_{j:02d}": f"value_{i}_{j}" for j in range(PARAMS_PER_RUN)}


def run_metrics(i: int) -> dict[str, float]:
    """The METRICS_PER_RUN metrics of run ``i`` in workload b."""
    return {f"metric_{j:02d}": (i * METRICS_PER_RUN + j) / 1000.0 for j in range(METRICS_PER_RUN)}


def search_auc(i: int) -> float:
    """The auc of run ``i`` in workload c: evenly spread in (0, 1), so half pass the filter."""
    return (i + 0.5) / SEARCH_RUNS


def search_params(i: int) -> dict[str, str]:
    """The SEARCH_PARAMS params of run ``i`` in workload c."""
    return {
        "model": ("linear", "tree", "forest", "boost")[i % 4],
        "lr": str(round(0.001 * (1 + i % 10), 4)),
        "depth": str(2 + i % 8),
        "seed": str(i),
        "features": ("all", "top20", "top50")[i % 3],
    }


def search_metrics(i: int) -> dict[str, float]:
    """The SEARCH_METRICS metrics of run ``i`` in workload c (``auc`` among them)."""
    auc = search_auc(i)
    return {
        "auc": auc,
        "loss": 1.0 - auc,
        "accuracy": 0.5 + auc / 2,
        "f1": auc * 0.9,
        "latency_ms": float(10 + i % 50),
    }


SEARCH_EXPECTED_FILTERED = sum(1 for i in range(SEARCH_RUNS) if search_auc(i) > 0.5)
SEARCH_TOP_AUC = search_auc(SEARCH_RUNS - 1)
