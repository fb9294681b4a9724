"""LLM operations: versioned prompts, evaluations, scorers, traces and their monitoring.

::

    p = keel.prompts.register("support-answer", template="Answer as {tone}: {question}",
                              model_params={"temperature": 0.2})
    keel.prompts.get("support-answer@production").format(tone="friendly", question=q)

    results = keel.evaluate(target=keel.llm.endpoint("http://127.0.0.1:8000/v1", "m"),
                            data="support-eval@v2", prompt="support-answer/2",
                            scorers=[keel.scorers.exact_match(), keel.scorers.latency()])
    results.summary; results.to_html("eval.html")
    keel.prompts.promote("support-answer", 2, to="production", evaluation=results)

    with keel.trace("answer", deployment="support-bot", prompt=p) as t:
        with t.span("retrieval") as s: ...
    keel.llm.monitor_traces("support-bot", reference=(t0, t1), current=(t1, t2))

Prompts live in :mod:`keel.llm._prompts` (public as :mod:`keel.prompts`), scorers in
:mod:`keel.llm._scorers` (:mod:`keel.scorers`), embedding backends in :mod:`keel.llm._embed`,
the trace storage layout in :mod:`keel.store._schema_llm`.
"""

from __future__ import annotations

from keel.llm._embed import (
    Embedder,
    HashingEmbedder,
    LocalModelEmbedder,
    StaticModelEmbedder,
    default_embedder,
    get_embedder,
    set_default_embedder,
)
from keel.llm._endpoint import Completion, Endpoint, EndpointError, endpoint
from keel.llm._evaluate import EvaluationResult, evaluate, get_evaluation, list_evaluations
from keel.llm._monitor import TraceMonitorReport, monitor_traces, trace_metrics
from keel.llm._trace import (
    Span,
    Trace,
    current_trace,
    flush_traces,
    get_trace,
    list_traces,
    read_spans,
    set_trace_flush_size,
    trace,
)

__all__ = [
    "Completion",
    "Embedder",
    "Endpoint",
    "EndpointError",
    "EvaluationResult",
    "HashingEmbedder",
    "LocalModelEmbedder",
    "Span",
    "StaticModelEmbedder",
    "Trace",
    "TraceMonitorReport",
    "current_trace",
    "default_embedder",
    "endpoint",
    "evaluate",
    "flush_traces",
    "get_embedder",
    "get_evaluation",
    "get_trace",
    "list_evaluations",
    "list_traces",
    "monitor_traces",
    "read_spans",
    "set_default_embedder",
    "set_trace_flush_size",
    "trace",
    "trace_metrics",
]
