"""Monitoring: data drift, data quality and model performance, with reports and alerts.

Compare any two datasets::

    report = keel.monitoring.drift(reference, current)   # DataFrames, Arrow, Parquet, "tx@v3"
    report.drifted_features                              # ["amount", "country"]
    report.features["amount"].score
    report.to_html("drift.html")

Watch a deployment's prediction log (written by serving, or by :func:`log_predictions`)::

    keel.monitoring.create_monitor("churn-prod", reference="transactions@v3", window="1h",
        checks=[keel.monitoring.data_drift(share=0.3), keel.monitoring.performance("roc_auc",
        min=0.8)], alerts=[keel.monitoring.webhook("https://hooks.example.com/keel")])
    keel.monitoring.run_monitor("churn-prod")           # or: keel monitor run churn-prod

How each column is compared (tests by type and sample size, thresholds, overrides) is
documented in :mod:`keel.monitoring._drift`; the checks in :mod:`keel.monitoring._checks`; the
prediction log's storage layout in :mod:`keel.store._schema_predictions`; the Prometheus
metrics in :mod:`keel.monitoring._prometheus`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keel.monitoring._alerts import LogAlert, WebhookAlert, log, webhook
from keel.monitoring._checks import (
    CheckOutcome,
    data_drift,
    data_quality,
    error_rate,
    latency,
    performance,
    prediction_drift,
)
from keel.monitoring._drift import (
    DEFAULT_THRESHOLDS,
    TESTS,
    ColumnProfile,
    DriftReport,
    FeatureDrift,
    ReferenceProfile,
    drift,
    reference_profile,
)
from keel.monitoring._performance import model_performance

if TYPE_CHECKING:
    from keel.monitoring._log import (
        LabelBatch,
        PredictionBatch,
        log_labels,
        log_predictions,
        read_predictions,
    )
    from keel.monitoring._monitors import (
        Monitor,
        MonitorEvent,
        MonitorResult,
        create_monitor,
        delete_monitor,
        get_monitor,
        list_events,
        list_monitors,
        monitor_report,
        monitor_results,
        run_monitor,
    )
    from keel.monitoring._prometheus import (
        grafana_dashboard,
        prometheus_collector,
        prometheus_metrics,
    )

# The parts that open the metadata store load on first use, so ``drift()`` alone does not
# import SQLAlchemy.
_LAZY = {
    **dict.fromkeys(
        ("LabelBatch", "PredictionBatch", "log_labels", "log_predictions", "read_predictions"),
        "keel.monitoring._log",
    ),
    **dict.fromkeys(
        (
            "Monitor",
            "MonitorEvent",
            "MonitorResult",
            "create_monitor",
            "delete_monitor",
            "get_monitor",
            "list_events",
            "list_monitors",
            "monitor_report",
            "monitor_results",
            "run_monitor",
        ),
        "keel.monitoring._monitors",
    ),
    **dict.fromkeys(
        ("grafana_dashboard", "prometheus_collector", "prometheus_metrics"),
        "keel.monitoring._prometheus",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keel.monitoring' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "TESTS",
    "CheckOutcome",
    "ColumnProfile",
    "DriftReport",
    "FeatureDrift",
    "LabelBatch",
    "LogAlert",
    "Monitor",
    "MonitorEvent",
    "MonitorResult",
    "PredictionBatch",
    "ReferenceProfile",
    "WebhookAlert",
    "create_monitor",
    "data_drift",
    "data_quality",
    "delete_monitor",
    "drift",
    "error_rate",
    "get_monitor",
    "grafana_dashboard",
    "latency",
    "list_events",
    "list_monitors",
    "log",
    "log_labels",
    "log_predictions",
    "model_performance",
    "monitor_report",
    "monitor_results",
    "performance",
    "prediction_drift",
    "prometheus_collector",
    "prometheus_metrics",
    "read_predictions",
    "reference_profile",
    "run_monitor",
    "webhook",
]
