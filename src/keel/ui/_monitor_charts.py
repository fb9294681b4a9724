"""The charts of the monitor and deployment pages, from what monitoring and serving stored.

* A monitor's reference-vs-current chart per feature comes from the latest window's stored
  details (the JSON report :func:`keel.monitoring.run_monitor` writes with each window: it holds
  each feature's histogram or category shares on both sides), so a page reads one blob and
  recomputes nothing.
* A deployment's traffic comes from its prediction log: requests and errors per time bucket from
  the segments' row and error counts (metadata only; a segment's counts are spread evenly over
  the span of time it holds), and latency quantiles from the
  ``latency_ms`` column of the newest segments' Parquet files (bounded in number and bytes).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.ui._charts import compare_chart, line_chart

if TYPE_CHECKING:
    from collections.abc import Sequence

    from markupsafe import Markup

    from keel.store._monitoring import MonitorResultRecord
    from keel.store._predictions import PredictionSegmentRecord
    from keel.ui._state import UiState

__all__ = ["FeatureChart", "Traffic", "feature_charts", "traffic"]

#: The most features charted on a monitor page (drifted ones first).
MAX_FEATURES = 24
#: How far back from its newest prediction a deployment's traffic is charted.
TRAFFIC_SPAN_MS = 7 * 24 * 3_600_000
#: Time buckets of the traffic charts.
BUCKETS = 48
#: The newest segments whose Parquet is read for latency, and the most bytes read.
LATENCY_SEGMENTS = 24
LATENCY_BYTES = 32 * 1024 * 1024
_HOUR = 3_600_000


@dataclass(frozen=True)
class FeatureChart:
    """One feature's reference-vs-current chart and its drift verdict."""

    name: str
    chart: Markup
    test: str | None
    score: float | None
    drifted: bool | None


def _edge(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def feature_charts(
    state: UiState, results: list[MonitorResultRecord], result_id: str | None = None
) -> tuple[MonitorResultRecord | None, list[FeatureChart]]:
    """A window with stored details, and a chart per feature of its drift report.

    Args:
        state: The UI's stores.
        results: The monitor's window results, newest first.
        result_id: The window to chart; the newest one with details by default.

    Returns:
        The window charted (``None`` if no window has details) and its charts.

    Raises:
        NotFoundError: ``result_id`` is none of ``results``.
    """
    if result_id is not None:
        chosen = [r for r in results if r.id == result_id]
        if not chosen:
            from keel.errors import NotFoundError

            raise NotFoundError(
                f"The monitor has no window {result_id!r}. Pick one from its list of windows.",
                details={"result_id": result_id},
            )
        results = chosen
    latest = next((r for r in results if r.details_digest), None)
    if latest is None or latest.details_digest is None:
        return None, []
    details = json.loads(state.tracking.artifacts.get_bytes(latest.details_digest))
    features = ((details.get("drift") or {}).get("features") or {}).values()
    order = sorted(features, key=lambda f: (not f.get("drifted"), str(f.get("name"))))
    charts = []
    for f in order[:MAX_FEATURES]:
        data = f.get("chart") or {}
        ref, cur = data.get("reference") or [], data.get("current") or []
        name = str(f.get("name"))
        if data.get("kind") == "hist" and len(data.get("edges") or []) >= 2:
            edges = data["edges"]
            labels = [f"{_edge(edges[i])} to {_edge(edges[i + 1])}" for i in range(len(ref))]
            axis: tuple[str, str] | None = (_edge(edges[0]), _edge(edges[-1]))
        elif data.get("labels"):
            labels = [str(x) for x in data["labels"]]
            axis = None
        else:
            continue
        chart = compare_chart(
            labels,
            {"reference": [float(v) for v in ref], "current": [float(v) for v in cur]},
            title=f"{name}: reference vs current",
            axis=axis,
        )
        score = f.get("score")
        charts.append(
            FeatureChart(
                name,
                chart,
                f.get("test"),
                float(score) if isinstance(score, (int, float)) else None,
                f.get("drifted"),
            )
        )
    return latest, charts


@dataclass
class Traffic:
    """A deployment's traffic charts, and what they could not show."""

    charts: list[Markup] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    #: The width of a time bucket, in minutes.
    bucket_minutes: float = 0.0


def _bucket_of(start: int, width: float, t: int) -> int:
    return min(max(int((t - start) // width), 0), BUCKETS - 1)


def traffic(state: UiState, deployment: str) -> Traffic:
    """Requests, errors and latency of ``deployment`` over its last week of logged predictions.

    Args:
        state: The UI's stores.
        deployment: The deployment's name.

    Returns:
        The charts (empty when nothing was logged) and notes on what is missing.
    """
    from keel.store._predictions import PredictionLogRepository

    log = PredictionLogRepository(state.store)
    summary = next((s for s in log.list_deployments() if s.deployment == deployment), None)
    out = Traffic()
    if summary is None:
        out.notes.append("No predictions were logged for this deployment.")
        return out
    start = max(summary.start_time, summary.end_time - TRAFFIC_SPAN_MS)
    segments = log.list_segments(deployment, start=start)
    width = max((summary.end_time + 1 - start) / BUCKETS, 1.0)
    requests, errors = [0.0] * BUCKETS, [0.0] * BUCKETS
    for seg in segments:
        # A segment holds the rows of a span of time: its counts are spread evenly over it.
        lo, hi = max(seg.start_time, start), max(seg.end_time + 1, start + 1)
        for b in range(_bucket_of(start, width, lo), _bucket_of(start, width, hi - 1) + 1):
            left = start + b * width
            share = (min(hi, left + width) - max(lo, left)) / (hi - lo)
            requests[b] += seg.num_rows * share
            errors[b] += seg.num_errors * share
    out.requests = sum(s.num_rows for s in segments)
    out.errors = sum(s.num_errors for s in segments)
    out.bucket_minutes = width / 60_000
    hours = [(i + 0.5) * width / _HOUR for i in range(BUCKETS)]
    x_label = "hours since " + _time(start)
    out.charts.append(
        line_chart(
            {
                "requests": list(zip(hours, requests, strict=True)),
                "errors": list(zip(hours, errors, strict=True)),
            },
            title="Requests and errors",
            x_label=x_label,
        )
    )
    rate = [(h, 100 * e / r) for h, e, r in zip(hours, errors, requests, strict=True) if r]
    out.charts.append(line_chart({"error rate %": rate}, title="Error rate", x_label=x_label))
    latency = _latency(state, segments, start, width)
    if latency is None:
        out.notes.append(
            "Latency was not logged with these predictions (log_predictions(latency_ms=...) "
            "or a Keel deployment records it), so only request and error counts are charted."
        )
    else:
        points, partial = latency
        shown: dict[str, Sequence[tuple[float, float]]] = {
            k: [(hours[b], v) for b, v in pts] for k, pts in points.items()
        }
        out.charts.append(line_chart(shown, title="Latency (ms)", x_label=x_label))
        if partial:
            out.notes.append(
                f"Latency is read from the newest {LATENCY_SEGMENTS} log segments only "
                f"(at most {LATENCY_BYTES // (1024 * 1024)} MB); earlier buckets have no "
                "latency points."
            )
    return out


def _time(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _latency(
    state: UiState, segments: list[PredictionSegmentRecord], start: int, width: float
) -> tuple[dict[str, list[tuple[int, float]]], bool] | None:
    """p50/p95 latency per bucket from the newest segments, or ``None`` if none was logged."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    chosen: list[PredictionSegmentRecord] = []
    total = 0
    for seg in reversed(segments):
        if not any(c.get("name") == "latency_ms" for c in seg.columns):
            continue
        if len(chosen) >= LATENCY_SEGMENTS or total + seg.size_bytes > LATENCY_BYTES:
            break
        chosen.append(seg)
        total += seg.size_bytes
    partial = len(chosen) < len(segments)
    times: list[Any] = []
    values: list[Any] = []
    for seg in chosen:
        table = pq.read_table(
            io.BytesIO(state.tracking.artifacts.get_bytes(seg.digest)),
            columns=["timestamp", "latency_ms"],
        )
        ts = table.column("timestamp").cast(pa.timestamp("ms")).cast(pa.int64())
        times.append(ts.to_numpy(zero_copy_only=False))
        values.append(table.column("latency_ms").to_numpy(zero_copy_only=False))
    if not times:
        return None
    t = np.concatenate(times).astype(np.int64)
    v = np.concatenate(values).astype(np.float64)
    keep = np.isfinite(v)
    if not keep.any():
        return None
    t, v = t[keep], v[keep]
    buckets = np.clip(((t - start) // width).astype(np.int64), 0, BUCKETS - 1)
    points: dict[str, list[tuple[int, float]]] = {"p50": [], "p95": []}
    for b in np.unique(buckets):
        q50, q95 = np.quantile(v[buckets == b], [0.5, 0.95])
        if math.isfinite(q50):
            points["p50"].append((int(b), float(q50)))
            points["p95"].append((int(b), float(q95)))
    return points, partial
