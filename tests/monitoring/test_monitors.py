"""Monitors over the prediction log: windows once, a time series, late labels, alerts once."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pytest

import keel.monitoring as km
from keel.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError

from ._traffic import HOUR, T0, customers, log_hours

END = int(T0.timestamp() * 1000) + 24 * HOUR


def _monitor(name: str = "churn", **kwargs: Any) -> km.Monitor:
    rng = np.random.default_rng(99)
    reference = customers(rng, 3000, drifted=False)
    checks = kwargs.pop(
        "checks",
        [
            km.data_drift(share=0.3),
            km.prediction_drift(),
            km.performance("roc_auc", min=0.75, min_labels=50),
            km.latency(p99_ms=60),
            km.error_rate(max=0.01),
            km.data_quality(),
        ],
    )
    window = kwargs.pop("window", "1h")
    return km.create_monitor(name, reference=reference, window=window, checks=checks, **kwargs)


def test_monitor_evaluates_each_window_once_and_fires_alerts_once(keel_env: dict[str, Any]) -> None:
    from keel.monitoring._client import get_monitoring_client

    log_hours("churn", [False, False, True, True, True, False])
    monitor = _monitor()
    assert monitor.window == "1h"
    assert [c.name for c in monitor.checks] == [
        "data_drift",
        "prediction_drift",
        "performance.roc_auc",
        "latency",
        "error_rate",
        "data_quality",
    ]
    results = km.run_monitor("churn", until=END)
    assert [r.start.hour for r in results] == [0, 1, 2, 3, 4, 5]
    assert [r.status for r in results] == ["ok", "ok", "breach", "breach", "breach", "ok"]
    assert results[2].breached == ["data_drift", "prediction_drift", "latency", "data_quality"]
    assert results[2].metrics["drift.share"] == pytest.approx(2 / 3)
    assert results[2].metrics["drift.score.amount"] > 1.0
    assert results[0].metrics["latency.p99_ms"] < 60 < results[2].metrics["latency.p99_ms"]
    perf = {c["name"]: c for c in results[0].checks}["performance.roc_auc"]
    assert perf["passed"] is None
    assert "waiting for labels" in perf["message"]
    assert km.run_monitor("churn", until=END) == []  # nothing left to evaluate

    events = km.list_events("churn")
    fired = [(e.check, e.window_start) for e in events if e.kind == "alert.fired"]
    resolved = [(e.check, e.window_start) for e in events if e.kind == "alert.resolved"]
    h2, h5 = results[2].window_start, results[5].window_start
    assert sorted(fired) == sorted(
        [("data_drift", h2), ("prediction_drift", h2), ("latency", h2), ("data_quality", h2)]
    )
    assert sorted(resolved) == sorted(
        [("data_drift", h5), ("prediction_drift", h5), ("latency", h5), ("data_quality", h5)]
    )
    assert all(
        e.deliveries == [{"target": "log (warning)", "ok": True, "status": None, "error": ""}]
        for e in events
    )
    first = events[0]
    assert first.payload["monitor"] == "churn"
    assert first.payload["status"] == "firing"
    assert first.payload["result_id"] == results[2].id
    assert km.list_events("churn", since_id=events[-1].id) == []
    assert len(km.list_events(kind="alert.resolved")) == 4

    # Reports are artifacts linked to the result in the lineage graph.
    client = get_monitoring_client()
    page = results[2].report_html()
    assert "<svg" in page
    assert "data_drift" in page
    details = results[2].details()
    assert details["drift"]["drifted_features"] == ["amount", "country"]
    edges = client.store.list_lineage_edges(("monitor_result", results[2].id), "both")
    relations = {(e.source_kind, e.target_kind, e.relation) for e in edges}
    assert ("monitor", "monitor_result", "evaluated") in relations
    assert ("monitor_result", "report", "report") in relations
    assert client.store.verify_audit_chain().ok


def test_late_labels_update_performance_and_alert_once(keel_env: dict[str, Any]) -> None:
    batches = log_hours("churn", [False, False, False], seed=1)
    _monitor(
        checks=[
            km.performance("roc_auc", min=0.99, min_labels=50),
            km.performance("accuracy", min=0.5),
        ]
    )
    first = km.run_monitor("churn", until=END)
    assert [r.num_labeled for r in first] == [0, 0, 0]
    assert km.list_events("churn") == []
    for ids, truth in batches[:2]:
        km.log_labels("churn", ids, truth)
    assert km.run_monitor("churn", until=END) == []
    results = km.monitor_results("churn")
    assert [r.num_labeled for r in results] == [400, 400, 0]
    assert 0.7 < results[0].metrics["performance.roc_auc"] < 0.99
    assert results[0].metrics["performance.accuracy"] > 0.5
    assert [r.status for r in results] == ["breach", "breach", "ok"]
    fired = km.list_events("churn", kind="alert.fired")
    assert [(e.check, e.window_start) for e in fired] == [
        ("performance.roc_auc", results[0].window_start)
    ]


def test_monitor_definition_errors(keel_env: dict[str, Any]) -> None:
    _monitor()
    with pytest.raises(
        AlreadyExistsError, match=r"monitor named 'churn' exists already.*replace=True"
    ):
        _monitor()
    replaced = _monitor(checks=[km.data_drift()], replace=True)
    assert [c.name for c in replaced.checks] == ["data_drift"]
    with pytest.raises(NotFoundError, match=r"No monitor is named 'chrun'. Did you mean 'churn'"):
        km.run_monitor("chrun")
    with pytest.raises(InvalidArgumentError, match=r"window must be a length such as '15m'"):
        _monitor("w", window="hourly")
    with pytest.raises(InvalidArgumentError, match=r"more than one check named \['data_drift'\]"):
        _monitor("dup", checks=[km.data_drift(), km.data_drift(share=0.2)])
    with pytest.raises(InvalidArgumentError, match=r"share must be a share in \(0, 1\], got 1.5"):
        km.data_drift(share=1.5)
    with pytest.raises(InvalidArgumentError, match=r"latency\(\) needs a bound"):
        km.latency()
    with pytest.raises(
        InvalidArgumentError, match=r"names \['nope'\], which the reference does not have"
    ):
        _monitor("cols", checks=[km.data_drift(columns=["nope"])])
    assert [m.name for m in km.list_monitors()] == ["churn"]
    km.delete_monitor("churn")
    assert km.list_monitors() == []


def test_concurrent_runners_record_each_window_once(keel_env: dict[str, Any]) -> None:
    log_hours("churn", [False, True, False, True], n=200, seed=2)
    _monitor(checks=[km.data_drift(share=0.3)])
    found: list[list[km.MonitorResult]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            found.append(km.run_monitor("churn", until=END))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(len(r) for r in found) == 4
    assert len(km.monitor_results("churn")) == 4
    fired = km.list_events("churn", kind="alert.fired")
    assert len(fired) == 2  # hour 1 and hour 3, each once
    assert len(km.list_events("churn", kind="alert.resolved")) == 1


def test_monitor_report_prometheus_and_grafana(keel_env: dict[str, Any], tmp_path: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    log_hours("churn", [False, True], seed=3)
    _monitor()
    km.run_monitor("churn", until=END)
    page = km.monitor_report("churn", tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == page
    assert "Share of drifted columns" in page
    assert "Drift score per column over time" in page
    assert "<script" not in page.lower()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(km.prometheus_metrics(tmp_path / "keel.prom"))
        for s in family.samples
    }

    def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted({"deployment": "churn", "monitor": "churn", **labels}.items()))

    assert samples[key("keel_monitor_drift_share")] == pytest.approx(2 / 3)
    assert samples[key("keel_monitor_breach")] == 1.0
    assert samples[key("keel_monitor_check_breached", check="data_drift")] == 1.0
    assert samples[key("keel_monitor_drift_score", feature="amount")] > 1.0
    assert key("keel_monitor_latency_ms", quantile="0.99") in samples
    assert (tmp_path / "keel.prom").exists()
    dashboard = km.grafana_dashboard(["churn"])
    json.dumps(dashboard)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert any("keel_monitor_drift_score" in e for e in exprs)
    assert any("keel_serving_request_duration_seconds_bucket" in e for e in exprs)
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert names == {"datasource", "monitor", "deployment"}
