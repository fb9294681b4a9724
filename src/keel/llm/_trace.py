"""Traces of LLM applications: ``with keel.trace("answer") as t:`` and nested spans.

A trace is a tree of spans (retrieval, the model call, post-processing...), each with its
inputs, outputs, token counts, latency, cost and error, linked to the prompt version and the
deployment that served it. Finished traces are buffered in memory and written like the
prediction log: one Parquet segment of spans per deployment in the artifact store, indexed by a
``trace_segments`` row (layout in :mod:`keel.store._schema_llm`). The buffer is written when it
holds ``flush_size`` traces, before any read in the same process, on :func:`flush_traces`, and
at exit; a process killed with SIGKILL loses the traces still in the buffer.

The root span's row carries the trace's totals (tokens and cost summed over all its spans);
other spans carry their own.
"""

from __future__ import annotations

import atexit
import contextvars
import io
import json
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from keel._utils import new_id, now_ms
from keel.errors import InvalidArgumentError, NotFoundError
from keel.llm._client import get_llm_client
from keel.llm._endpoint import Completion
from keel.store._llm import NewTraceSegment

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from keel.llm._prompts import PromptVersion

__all__ = [
    "Span",
    "Trace",
    "current_trace",
    "flush_traces",
    "get_trace",
    "list_traces",
    "read_spans",
    "set_trace_flush_size",
    "trace",
]

_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "kind",
    "deployment",
    "prompt",
    "start_ms",
    "latency_ms",
    "inputs",
    "outputs",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "error",
    "scores",
)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


class Span:
    """One step of a trace. Use it as a context manager; an exception inside is recorded.

    Make spans with :meth:`Trace.span` (or :meth:`Span.span` for a child of this one).
    """

    def __init__(
        self,
        trace: Trace | None,
        name: str,
        kind: str,
        parent_id: str | None,
        inputs: Any = None,
    ) -> None:
        self._trace = trace
        self.span_id = new_id()
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.inputs: Any = inputs
        self.outputs: Any = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cost: float | None = None
        self.error: str | None = None
        self.scores: dict[str, float] = {}
        self.start_ms = now_ms()
        self._t0 = time.perf_counter()
        self.latency_ms: float | None = None

    @property
    def trace(self) -> Trace:
        """The trace this span belongs to."""
        assert self._trace is not None  # set for every span but the root, which is the trace
        return self._trace

    def span(self, name: str, *, kind: str = "span", inputs: Any = None) -> Span:
        """Start a child span of this one (use it in a ``with`` block)."""
        child = Span(self.trace, name, kind, self.span_id, inputs)
        self.trace._spans.append(child)
        return child

    def set_inputs(self, inputs: Any) -> None:
        """Record what the step received (any JSON-able value)."""
        self.inputs = inputs

    def set_output(self, output: Any) -> None:
        """Record what the step produced; a :class:`Completion` also sets the token counts."""
        if isinstance(output, Completion):
            self.set_usage(
                prompt_tokens=output.usage.get("prompt_tokens"),
                completion_tokens=output.usage.get("completion_tokens"),
            )
            output = output.text
        self.outputs = output

    def set_usage(
        self,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost: float | None = None,
    ) -> None:
        """Record tokens and cost; without ``cost``, the trace's ``prices`` compute it."""
        if prompt_tokens is not None:
            self.prompt_tokens = int(prompt_tokens)
        if completion_tokens is not None:
            self.completion_tokens = int(completion_tokens)
        prices = self.trace.prices if self._trace is not None else None
        if cost is None and prices is not None:
            cost = (
                (self.prompt_tokens or 0) * prices.get("prompt", 0.0)
                + (self.completion_tokens or 0) * prices.get("completion", 0.0)
            ) / prices.get("per", 1_000_000)
        if cost is not None:
            self.cost = float(cost)

    def set_score(self, name: str, value: float) -> None:
        """Attach a score (user feedback, an online judge...) to the span."""
        self.scores[name] = float(value)

    def _finish(self, exc: BaseException | None) -> None:
        self.latency_ms = (time.perf_counter() - self._t0) * 1000
        if exc is not None and self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"[:2000]

    def __enter__(self) -> Span:
        self._t0 = time.perf_counter()
        self.start_ms = now_ms()
        if self._trace is not None and self is not self._trace:
            self._trace._stack.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(exc)
        if self._trace is not None and self._trace._stack and self._trace._stack[-1] is self:
            self._trace._stack.pop()

    def _row(self, trace: Trace) -> dict[str, Any]:
        return {
            "trace_id": trace.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "kind": self.kind,
            "deployment": trace.deployment,
            "prompt": trace.prompt,
            "start_ms": self.start_ms,
            "latency_ms": self.latency_ms or 0.0,
            "inputs": _json(self.inputs),
            "outputs": _json(self.outputs),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "error": self.error,
            "scores": _json(self.scores),
        }


class Trace(Span):
    """A trace: the root span of one request, with its deployment and prompt version.

    ``t.span("retrieval")`` starts a child of the innermost span still open in this trace.
    Open spans are tracked per trace, not per thread: from worker threads, start children
    explicitly on their parent (``parent.span("chunk")``).
    """

    def __init__(
        self,
        name: str,
        *,
        inputs: Any = None,
        deployment: str = "",
        prompt: PromptVersion | str | None = None,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(None, name, "trace", None, inputs)
        self._trace = self
        self.trace_id = self.span_id
        self.deployment = deployment
        if isinstance(prompt, str) and "@" in prompt:  # an alias: record the version it means
            from keel.llm._prompts import get

            prompt = get(prompt)
        self.prompt = prompt if isinstance(prompt, str | None) else prompt.ref
        self._token: contextvars.Token[Trace | None] | None = None
        self.prices = dict(prices) if prices is not None else None
        self._spans: list[Span] = []
        self._stack: list[Span] = []

    def span(self, name: str, *, kind: str = "span", inputs: Any = None) -> Span:
        """Start a span under the innermost open span (use it in a ``with`` block)."""
        parent = self._stack[-1] if self._stack else self
        child = Span(self, name, kind, parent.span_id, inputs)
        self._spans.append(child)
        return child

    @property
    def spans(self) -> list[Span]:
        """The spans started so far (not the root), in start order."""
        return list(self._spans)

    def __enter__(self) -> Trace:
        self._t0 = time.perf_counter()
        self.start_ms = now_ms()
        self._token = _current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(exc)
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        for span in self._spans:
            if span.latency_ms is None:  # left open: ended with the trace
                span._finish(None)
        rows = [self._row(self), *(s._row(self) for s in self._spans)]
        every = [self, *self._spans]
        root = rows[0]
        for key in ("prompt_tokens", "completion_tokens", "cost"):
            values = [getattr(s, key) for s in every if getattr(s, key) is not None]
            root[key] = sum(values) if values else None
        # The trace failed only if an exception left it: a span's failure that the code
        # handled (a fallback, a retry) stays on that span.
        _buffer.add(rows)


_current: contextvars.ContextVar[Trace | None] = contextvars.ContextVar(
    "keel_current_trace", default=None
)


def current_trace() -> Trace | None:
    """Return the trace whose ``with`` block is running in this context, or ``None``.

    Code deep in a request can add spans without being handed the trace:
    ``(keel.llm.current_trace() or ...).span("rerank")``.
    """
    return _current.get()


def trace(
    name: str,
    *,
    inputs: Any = None,
    deployment: str = "",
    prompt: PromptVersion | str | None = None,
    prices: Mapping[str, float] | None = None,
) -> Trace:
    """Start a trace (use it in a ``with`` block).

    Args:
        name: What the request does (``"answer"``).
        inputs: The request's inputs (any JSON-able value); embedding drift reads them.
        deployment: The deployment serving it (traces are stored and monitored per deployment).
        prompt: The prompt version used: a ``PromptVersion``, ``"name/3"``, or an alias
            (``"name@production"``, resolved to its version now, with one store read).
        prices: ``{"prompt": p, "completion": c, "per": 1_000_000}`` to turn token counts into
            cost when a span does not give its cost.

    Examples:
        >>> with keel.trace("answer", inputs={"q": q}) as t:  # doctest: +SKIP
        ...     with t.span("retrieval") as s:
        ...         s.set_output(docs)
        ...     with t.span("llm", kind="llm") as s:
        ...         s.set_output(model(prompt))  # a Completion: tokens recorded
        ...     t.set_output(answer)
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"A trace name is a non-empty string, got {name!r}.")
    return Trace(name, inputs=inputs, deployment=deployment, prompt=prompt, prices=prices)


# -- the buffer -------------------------------------------------------------------------------


class _TraceBuffer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[dict[str, Any]] = []
        self.traces = 0
        self.flush_size = 200
        self._registered = False

    def add(self, rows: list[dict[str, Any]]) -> None:
        with self.lock:
            self.rows.extend(rows)
            self.traces += 1
            full = self.traces >= self.flush_size
            if not self._registered:
                atexit.register(self._flush_at_exit)
                self._registered = True
        if full:
            self.flush()

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            rows, self.rows, self.traces = self.rows, [], 0
        return rows

    def flush(self) -> int:
        rows = self.take()
        if not rows:
            return 0
        by_deployment: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_deployment.setdefault(row["deployment"], []).append(row)
        client = get_llm_client()
        for deployment, group in by_deployment.items():
            table = _to_arrow(group)
            import pyarrow.parquet as pq

            sink = io.BytesIO()
            pq.write_table(table, sink, compression="zstd")
            payload = sink.getvalue()
            digest = client.artifacts.put_bytes(payload)
            roots = [r for r in group if r["parent_id"] is None]
            client.repo.add_trace_segment(
                NewTraceSegment(
                    deployment=deployment,
                    start_time=min(r["start_ms"] for r in group),
                    end_time=max(r["start_ms"] + int(r["latency_ms"]) for r in group),
                    num_traces=len(roots),
                    num_spans=len(group),
                    num_errors=sum(1 for r in roots if r["error"]),
                    digest=digest,
                    size_bytes=len(payload),
                    prompts=sorted({r["prompt"] for r in roots if r["prompt"]}),
                )
            )
        return len(rows)

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # at exit there is no caller left to raise to
            print(f"keel: could not write buffered traces: {exc}", file=sys.stderr)


_buffer = _TraceBuffer()


def _to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    import pyarrow as pa

    schema = pa.schema(
        [
            ("trace_id", pa.string()),
            ("span_id", pa.string()),
            ("parent_id", pa.string()),
            ("name", pa.string()),
            ("kind", pa.string()),
            ("deployment", pa.string()),
            ("prompt", pa.string()),
            ("start_ms", pa.int64()),
            ("latency_ms", pa.float64()),
            ("inputs", pa.string()),
            ("outputs", pa.string()),
            ("prompt_tokens", pa.int64()),
            ("completion_tokens", pa.int64()),
            ("cost", pa.float64()),
            ("error", pa.string()),
            ("scores", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def flush_traces() -> int:
    """Write the buffered traces now; return how many spans were written."""
    return _buffer.flush()


def set_trace_flush_size(traces: int) -> None:
    """Write the buffer every ``traces`` finished traces (200 by default; 1 writes each one)."""
    if traces < 1:
        raise InvalidArgumentError(f"The flush size is a positive integer, got {traces!r}.")
    _buffer.flush_size = traces


# -- reading ----------------------------------------------------------------------------------


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    import datetime as dt

    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    raise InvalidArgumentError(
        f"A time is epoch milliseconds or a datetime, got {type(value).__name__} {value!r}."
    )


def read_spans(
    deployment: str | None = None, *, since: Any = None, until: Any = None
) -> pd.DataFrame:
    """Return every span (of one deployment) that started in ``[since, until)``.

    Buffered traces of this process are written first.
    """
    import pyarrow.parquet as pq

    flush_traces()
    start, end = _ms(since), _ms(until)
    client = get_llm_client()
    tables = [
        pq.read_table(io.BytesIO(client.artifacts.get_bytes(seg.digest)))
        for seg in client.repo.list_trace_segments(deployment, start, end)
    ]
    if not tables:
        empty: pd.DataFrame = _to_arrow([]).to_pandas()
        return empty
    import pyarrow as pa

    frame: pd.DataFrame = pa.concat_tables(tables).to_pandas()
    if start is not None:
        frame = frame[frame["start_ms"] >= start]
    if end is not None:
        frame = frame[frame["start_ms"] < end]
    # Missing strings read back as None (not NaN), so `if span["error"]:` means what it says.
    for column in ("parent_id", "prompt", "error"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.sort_values(["start_ms", "trace_id"]).reset_index(drop=True)


def list_traces(
    deployment: str | None = None,
    *,
    name: str | None = None,
    since: Any = None,
    until: Any = None,
    limit: int | None = 100,
) -> pd.DataFrame:
    """Return one row per trace (its root span, with totals), newest first.

    Args:
        deployment: Only this deployment's traces.
        name: Only traces of this name.
        since: Earliest start (epoch ms or datetime).
        until: Latest start, exclusive.
        limit: At most this many (``None``: all).
    """
    spans = read_spans(deployment, since=since, until=until)
    counts = spans.groupby("trace_id").size()
    roots = spans[spans["parent_id"].isna()].copy()
    if name is not None:
        roots = roots[roots["name"] == name]
    roots["num_spans"] = roots["trace_id"].map(counts).astype("int64")
    roots = roots.sort_values(["start_ms", "trace_id"], ascending=False)
    if limit is not None:
        roots = roots.head(limit)
    return roots.drop(columns=["span_id", "parent_id"]).reset_index(drop=True)


def get_trace(trace_id: str) -> pd.DataFrame:
    """Return the spans of one trace (by id or unique prefix), root first, in start order.

    Raises:
        NotFoundError: No trace, or more than one, has that id prefix.
    """
    spans = read_spans()
    ids = sorted({t for t in spans["trace_id"] if t.startswith(trace_id)})
    if len(ids) != 1:
        what = "No trace" if not ids else f"{len(ids)} traces"
        raise NotFoundError(
            f"{what} with id {trace_id!r}. List traces with keel.llm.list_traces() or "
            "keel traces ls.",
            details={"trace": trace_id},
        )
    one = spans[spans["trace_id"] == ids[0]].copy()
    one["is_root"] = one["parent_id"].isna()
    one = one.sort_values(["is_root", "start_ms"], ascending=[False, True])
    result: pd.DataFrame = one.drop(columns=["is_root"]).reset_index(drop=True)
    return result
