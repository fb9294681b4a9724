"""Monitoring of traces, as of predictions: latency, errors, cost, score and input drift.

A current window of traces is compared with a reference window.

The drift tests are :func:`keel.monitoring.drift`'s: per-trace numbers (latency, tokens,
cost, each score) are compared column by column. Embedding drift turns each trace's input
text into an embedding (:mod:`keel.llm._embed`), measures every input's cosine distance to the
centroid of the reference inputs, and compares the two windows' distances with the same
tests: inputs about new topics sit farther from the reference centroid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError
from keel.llm._embed import Embedder, get_embedder
from keel.llm._trace import list_traces

if TYPE_CHECKING:
    import pandas as pd

    from keel.monitoring import DriftReport

__all__ = ["TraceMonitorReport", "monitor_traces", "trace_metrics"]


def _window(deployment: str | None, window: Any, name: str | None) -> pd.DataFrame:
    import pandas as pd

    if isinstance(window, pd.DataFrame):
        frame = window
    elif isinstance(window, tuple) and len(window) == 2:
        frame = list_traces(deployment, name=name, since=window[0], until=window[1], limit=None)
    else:
        raise InvalidArgumentError(
            f"A window is a (since, until) pair of datetimes or epoch milliseconds, or a frame "
            f"from keel.llm.list_traces(); got {window!r}."
        )
    if name is not None and "name" in frame.columns:
        frame = frame[frame["name"] == name]
    return frame


def _scores(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    parsed = [json.loads(s) if isinstance(s, str) else {} for s in frame.get("scores", [])]
    return pd.DataFrame(parsed, index=frame.index).add_prefix("score.")


def trace_metrics(frame: pd.DataFrame) -> dict[str, Any]:
    """Aggregate a window of traces (rows of :func:`keel.llm.list_traces`).

    Returns:
        ``num_traces``, ``error_rate``, ``latency_ms`` (mean, p50, p95), ``tokens`` (prompt,
        completion), ``cost`` (total, mean per trace), and the mean of every score.
    """
    n = len(frame)
    if n == 0:
        return {
            "num_traces": 0,
            "error_rate": None,
            "latency_ms": {},
            "tokens": {},
            "cost": {},
            "scores": {},
        }
    lat = frame["latency_ms"].astype(float)
    cost = frame["cost"].astype(float)
    scores = _scores(frame)
    return {
        "num_traces": n,
        "error_rate": float(frame["error"].notna().mean()),
        "latency_ms": {
            "mean": float(lat.mean()),
            "p50": float(lat.quantile(0.5)),
            "p95": float(lat.quantile(0.95)),
        },
        "tokens": {
            "prompt": int(frame["prompt_tokens"].fillna(0).sum()),
            "completion": int(frame["completion_tokens"].fillna(0).sum()),
        },
        "cost": {
            "total": float(cost.fillna(0).sum()),
            "mean": float(cost.mean()) if cost.notna().any() else None,
        },
        "scores": {c.removeprefix("score."): float(scores[c].mean()) for c in scores.columns},
    }


def _input_text(raw: Any) -> str:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return str(raw)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "\n".join(str(v) for v in value.values())
    return "" if value is None else json.dumps(value, default=str)


@dataclass
class TraceMonitorReport:
    """Traces of a current window against a reference window.

    Attributes:
        reference: :func:`trace_metrics` of the reference window.
        current: :func:`trace_metrics` of the current window.
        drift: The per-column drift report of latency, tokens, cost and scores.
        embedding_drift: ``score`` (the drift distance of the inputs' distances to the
            reference centroid), ``drifted``, ``centroid_shift`` (1 - cosine of the two
            windows' centroids), ``embedder`` (the backend's name), ``test``.
        alerts: The limits the current window broke, as sentences.
    """

    reference: dict[str, Any]
    current: dict[str, Any]
    drift: DriftReport | None
    embedding_drift: dict[str, Any]
    alerts: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """Whether any column or the input embeddings drifted."""
        return bool(self.embedding_drift.get("drifted")) or bool(
            self.drift is not None and self.drift.drifted_features
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {
            "reference": self.reference,
            "current": self.current,
            "drift": None if self.drift is None else self.drift.to_dict(),
            "embedding_drift": self.embedding_drift,
            "alerts": list(self.alerts),
            "drifted": self.drifted,
        }


def monitor_traces(
    deployment: str | None = None,
    *,
    reference: Any,
    current: Any,
    name: str | None = None,
    embedder: Embedder | str | None = None,
    max_error_rate: float | None = None,
    max_latency_p95_ms: float | None = None,
    max_cost_per_trace: float | None = None,
) -> TraceMonitorReport:
    """Compare a current window of traces with a reference window.

    Args:
        deployment: The deployment whose traces to read (all by default).
        reference: ``(since, until)`` (datetimes or epoch ms) or a frame of traces.
        current: The same, for the window to check.
        name: Only traces of this name.
        embedder: The embedding backend for input drift (the default one otherwise).
        max_error_rate: Alert above this share of failed traces.
        max_latency_p95_ms: Alert above this 95th-percentile latency.
        max_cost_per_trace: Alert above this mean cost.

    Raises:
        InvalidArgumentError: A window is malformed or empty.
    """
    import numpy as np
    import pandas as pd

    from keel.llm._embed import cosine
    from keel.monitoring import drift

    ref = _window(deployment, reference, name)
    cur = _window(deployment, current, name)
    for label, frame in (("reference", ref), ("current", cur)):
        if frame.empty:
            raise InvalidArgumentError(
                f"The {label} window holds no traces{f' of {deployment!r}' if deployment else ''}."
                " Check the times (epoch ms or datetimes) with keel.llm.list_traces()."
            )

    def numbers(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(
            {
                "latency_ms": frame["latency_ms"].astype(float),
                "tokens": (
                    frame["prompt_tokens"].fillna(0) + frame["completion_tokens"].fillna(0)
                ).astype(float),
                "cost": frame["cost"].astype(float),
            },
            index=frame.index,
        )
        return out.join(_scores(frame)).reset_index(drop=True)

    ref_n, cur_n = numbers(ref), numbers(cur)
    usable = [c for c in ref_n.columns if c in cur_n.columns and ref_n[c].notna().any()]
    report = drift(ref_n[usable], cur_n[usable], numerical=usable) if usable else None

    backend = get_embedder(embedder)
    ref_vec = backend.embed([_input_text(v) for v in ref["inputs"]])
    cur_vec = backend.embed([_input_text(v) for v in cur["inputs"]])
    centroid = ref_vec.mean(axis=0, keepdims=True)
    ref_dist = 1 - cosine(ref_vec, np.repeat(centroid, len(ref_vec), axis=0))
    cur_dist = 1 - cosine(cur_vec, np.repeat(centroid, len(cur_vec), axis=0))
    emb = drift(
        pd.DataFrame({"input_embedding_distance": ref_dist}),
        pd.DataFrame({"input_embedding_distance": cur_dist}),
        numerical=["input_embedding_distance"],
    ).features["input_embedding_distance"]
    shift = 1 - float(cosine(centroid, cur_vec.mean(axis=0, keepdims=True))[0])
    embedding = {
        "embedder": backend.name,
        "test": emb.test,
        "score": emb.score,
        "p_value": emb.p_value,
        "threshold": emb.threshold,
        "drifted": bool(emb.drifted),
        "centroid_shift": shift,
        "reference_mean_distance": float(ref_dist.mean()),
        "current_mean_distance": float(cur_dist.mean()),
    }
    before, after = trace_metrics(ref), trace_metrics(cur)
    alerts = []
    if max_error_rate is not None and after["error_rate"] > max_error_rate:
        alerts.append(f"error rate {after['error_rate']:.1%} is above {max_error_rate:.1%}")
    if max_latency_p95_ms is not None and after["latency_ms"]["p95"] > max_latency_p95_ms:
        alerts.append(
            f"latency p95 {after['latency_ms']['p95']:.0f} ms is above {max_latency_p95_ms:g} ms"
        )
    mean_cost = after["cost"].get("mean")
    if max_cost_per_trace is not None and mean_cost is not None and mean_cost > max_cost_per_trace:
        alerts.append(f"mean cost {mean_cost:.4g} is above {max_cost_per_trace:g}")
    return TraceMonitorReport(before, after, report, embedding, alerts)
