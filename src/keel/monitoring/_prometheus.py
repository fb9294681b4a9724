"""Monitor results as Prometheus metrics, and a Grafana dashboard over them and serving's.

:func:`prometheus_collector` returns a ``prometheus_client`` collector that reads the newest
result of every monitor from the metadata store at each scrape; serving registers it next to
its own metrics, and :func:`prometheus_metrics` renders the same for ``keel monitor metrics`` or
a node-exporter text file. Every gauge carries the labels ``monitor`` and ``deployment``:

=========================================  ======================================================
metric                                     value
=========================================  ======================================================
``keel_monitor_window_rows``               predictions in the newest evaluated window
``keel_monitor_window_end_seconds``        end of that window (Unix time)
``keel_monitor_breach``                    1 if a check of that window failed, else 0
``keel_monitor_check_breached{check}``     1 if the check failed, 0 if it passed
``keel_monitor_drift_share``               share of drifted feature columns
``keel_monitor_drift_score{feature}``      drift score of a feature column
``keel_monitor_prediction_drift_score``    drift score of the predictions
``keel_monitor_performance{metric}``       a model quality metric from late labels
``keel_monitor_labeled_rows``              labeled predictions of the window
``keel_monitor_latency_ms{quantile}``      latency quantile (0.5, 0.95, 0.99)
``keel_monitor_error_rate``                share of failed requests
``keel_monitor_null_share{feature}``       share of missing values of a feature column
``keel_monitor_out_of_range_share{f}``     share of a feature's numbers outside the reference range
``keel_monitor_quality_issues``            data-quality issues found
=========================================  ======================================================

The dashboard also charts the serving metrics ``keel_serving_requests_total{deployment,
status}`` and ``keel_serving_request_duration_seconds`` (a histogram), the names serving
exports.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "SERVING_METRICS",
    "grafana_dashboard",
    "prometheus_collector",
    "prometheus_metrics",
]

#: The serving metrics the dashboard charts (serving exports them under these names).
SERVING_METRICS = {
    "requests": "keel_serving_requests_total",
    "latency": "keel_serving_request_duration_seconds",
}

# (metric key prefix in results, gauge name, help, extra label name, label value transform)
_LABELED: list[tuple[str, str, str, str]] = [
    ("drift.score.", "keel_monitor_drift_score", "Drift score of a feature column.", "feature"),
    ("performance.", "keel_monitor_performance", "Model quality metric from labels.", "metric"),
    ("quality.null_share.", "keel_monitor_null_share", "Share of missing values.", "feature"),
    (
        "quality.out_of_range_share.",
        "keel_monitor_out_of_range_share",
        "Share of numbers outside the reference range.",
        "feature",
    ),
]
_PLAIN: list[tuple[str, str, str]] = [
    ("rows", "keel_monitor_window_rows", "Predictions in the newest evaluated window."),
    ("drift.share", "keel_monitor_drift_share", "Share of drifted feature columns."),
    (
        "prediction.drift.score",
        "keel_monitor_prediction_drift_score",
        "Drift score of the predictions.",
    ),
    ("labels.rows", "keel_monitor_labeled_rows", "Labeled predictions of the window."),
    ("errors.rate", "keel_monitor_error_rate", "Share of failed requests."),
    ("quality.issues", "keel_monitor_quality_issues", "Data-quality issues found."),
]
_QUANTILES = {"latency.p50_ms": "0.5", "latency.p95_ms": "0.95", "latency.p99_ms": "0.99"}


class MonitorCollector:
    """A ``prometheus_client`` collector of the newest result of every monitor.

    Register it with ``prometheus_client.REGISTRY.register(collector)`` (serving does) or
    render it with :func:`prometheus_metrics`.
    """

    def describe(self) -> list[Any]:
        """Return no descriptions, so registering does not query the store."""
        return []

    def collect(self) -> Iterator[Any]:
        """Yield one gauge family per metric, read from the store at scrape time."""
        from prometheus_client.core import GaugeMetricFamily

        from keel.monitoring._client import get_monitoring_client

        latest = get_monitoring_client().monitors.latest_results()
        base = ["monitor", "deployment"]
        plain = {key: GaugeMetricFamily(name, doc, labels=base) for key, name, doc in _PLAIN}
        labeled = {
            prefix: GaugeMetricFamily(name, doc, labels=[*base, label])
            for prefix, name, doc, label in _LABELED
        }
        end = GaugeMetricFamily(
            "keel_monitor_window_end_seconds", "End of the newest evaluated window.", labels=base
        )
        breach = GaugeMetricFamily(
            "keel_monitor_breach", "1 if a check of the newest window failed.", labels=base
        )
        checks = GaugeMetricFamily(
            "keel_monitor_check_breached",
            "1 if the check failed, 0 if it passed.",
            labels=[*base, "check"],
        )
        latency = GaugeMetricFamily(
            "keel_monitor_latency_ms",
            "Latency quantile in milliseconds.",
            labels=[*base, "quantile"],
        )
        for monitor, result in latest:
            labels = [monitor.name, monitor.deployment]
            end.add_metric(labels, result.window_end / 1000)
            breach.add_metric(labels, 1.0 if result.status == "breach" else 0.0)
            for check in result.checks:
                if check.get("passed") is not None:
                    checks.add_metric([*labels, check["name"]], 0.0 if check["passed"] else 1.0)
            for key, value in result.metrics.items():
                if key in plain:
                    plain[key].add_metric(labels, float(value))
                elif key in _QUANTILES:
                    latency.add_metric([*labels, _QUANTILES[key]], float(value))
                else:
                    for prefix, family in labeled.items():
                        if key.startswith(prefix):
                            family.add_metric([*labels, key[len(prefix) :]], float(value))
                            break
        yield from plain.values()
        yield end
        yield breach
        yield checks
        yield latency
        yield from labeled.values()


def prometheus_collector() -> MonitorCollector:
    """Return a collector exporting every monitor's newest result (see the module docs)."""
    return MonitorCollector()


def prometheus_metrics(path: str | os.PathLike[str] | None = None) -> str:
    """Return the monitors' metrics in Prometheus' text format, also writing them to ``path``.

    Args:
        path: A file to write, such as a node-exporter text-file collector's ``keel.prom``
            (written atomically).
    """
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector())
    text = generate_latest(registry).decode()
    if path is not None:
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    return text


def _panel(
    pid: int,
    title: str,
    targets: list[tuple[str, str]],
    x: int,
    y: int,
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    kind: str = "timeseries",
    thresholds: list[tuple[float, str]] | None = None,
) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": color, "value": value} for value, color in thresholds or []]
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(65 + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def grafana_dashboard(
    monitors: Sequence[str] | None = None, *, title: str = "Keel: serving and monitoring"
) -> dict[str, Any]:
    """Return a Grafana dashboard (JSON model) over Keel's monitor and serving metrics.

    Import it in Grafana (Dashboards, Import) and pick the Prometheus data source that scrapes
    Keel. Variables select the monitors and deployments shown.

    Args:
        monitors: Monitors selected by default (all by default).
        title: The dashboard's title.

    Examples:
        >>> import keel.monitoring as km
        >>> km.grafana_dashboard()["panels"][0]["title"]
        'Share of drifted columns'
    """
    sel = 'monitor=~"$monitor",deployment=~"$deployment"'
    dep = 'deployment=~"$deployment"'
    req, dur = SERVING_METRICS["requests"], SERVING_METRICS["latency"]
    panels = [
        _panel(
            1,
            "Share of drifted columns",
            [(f"keel_monitor_drift_share{{{sel}}}", "{{monitor}}")],
            0,
            0,
            unit="percentunit",
            thresholds=[(0.5, "red")],
        ),
        _panel(
            2,
            "Drift score per feature",
            [(f"keel_monitor_drift_score{{{sel}}}", "{{monitor}} {{feature}}")],
            12,
            0,
            thresholds=[(0.1, "red")],
        ),
        _panel(
            3,
            "Checks in breach",
            [(f"keel_monitor_check_breached{{{sel}}} == 1", "{{monitor}} {{check}}")],
            0,
            8,
            kind="stat",
        ),
        _panel(
            4,
            "Prediction drift score",
            [(f"keel_monitor_prediction_drift_score{{{sel}}}", "{{monitor}}")],
            12,
            8,
            thresholds=[(0.1, "red")],
        ),
        _panel(
            5,
            "Model performance (late labels)",
            [(f"keel_monitor_performance{{{sel}}}", "{{monitor}} {{metric}}")],
            0,
            16,
        ),
        _panel(
            6,
            "Missing values per feature",
            [(f"keel_monitor_null_share{{{sel}}}", "{{monitor}} {{feature}}")],
            12,
            16,
            unit="percentunit",
        ),
        _panel(
            7,
            "Latency per window (prediction log)",
            [(f"keel_monitor_latency_ms{{{sel}}}", "{{monitor}} p{{quantile}}")],
            0,
            24,
            unit="ms",
        ),
        _panel(
            8,
            "Error rate per window (prediction log)",
            [(f"keel_monitor_error_rate{{{sel}}}", "{{monitor}}")],
            12,
            24,
            unit="percentunit",
        ),
        _panel(
            9,
            "Serving requests per second",
            [
                (
                    f"sum by (deployment, status) (rate({req}{{{dep}}}[5m]))",
                    "{{deployment}} {{status}}",
                )
            ],
            0,
            32,
            unit="reqps",
        ),
        _panel(
            10,
            "Serving latency p50 / p99",
            [
                (
                    f"histogram_quantile(0.5, sum by (le, deployment) "
                    f"(rate({dur}_bucket{{{dep}}}[5m])))",
                    "{{deployment}} p50",
                ),
                (
                    f"histogram_quantile(0.99, sum by (le, deployment) "
                    f"(rate({dur}_bucket{{{dep}}}[5m])))",
                    "{{deployment}} p99",
                ),
            ],
            12,
            32,
            unit="s",
        ),
        _panel(
            11,
            "Predictions per window",
            [(f"keel_monitor_window_rows{{{sel}}}", "{{monitor}}")],
            0,
            40,
            w=24,
            h=6,
        ),
    ]
    chosen = list(monitors or [])

    def variable(name: str, query: str, current: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "type": "query",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": query, "refId": name},
            "definition": query,
            "includeAll": True,
            "multi": True,
            "refresh": 2,
            "current": {"text": current or ["All"], "value": current or ["$__all"]},
        }

    return {
        "title": title,
        "uid": "keel-monitoring",
        "tags": ["keel", "mlops"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "current": {}},
                variable("monitor", "label_values(keel_monitor_window_rows, monitor)", chosen),
                variable("deployment", "label_values(keel_monitor_window_rows, deployment)", []),
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }
