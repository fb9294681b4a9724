"""The prediction log writer: batches served predictions off the request path.

A request appends its rows (arrays it already has) to an in-memory buffer under a lock, which
costs microseconds. A background thread flushes the buffer every ``flush_interval`` seconds, or
as soon as ``flush_rows`` rows are pending: per deployment and model version it concatenates
the rows column by column and hands them to :func:`keel.monitoring.log_predictions`, which
writes one Parquet segment to the artifact store and indexes it in the metadata store (with
the lineage edge ``deployment -> prediction_batch``). Labels sent to ``/v1/feedback`` are
batched the same way into :func:`keel.monitoring.log_labels`.

:meth:`PredictionLogWriter.close` flushes everything still pending, so a graceful shutdown
loses nothing. A flush that fails (the store is down) keeps its rows and retries on the next
interval; past ``max_pending_rows`` the oldest rows are dropped and counted.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LogStats", "PredictionLogWriter"]

_logger = logging.getLogger("keel.serving")


@dataclass
class _Chunk:
    columns: Mapping[str, np.ndarray[Any, Any]]
    predictions: np.ndarray[Any, Any]
    ids: list[str]
    timestamp_ms: int
    latency_ms: float
    error: bool
    scores: np.ndarray[Any, Any] | None


@dataclass
class LogStats:
    """What the writer did so far.

    Attributes:
        rows_written: Predictions written to segments.
        segments_written: Segments written.
        labels_written: Labels written.
        rows_dropped: Rows dropped because too many were pending (the store was down).
        flush_failures: Flushes that failed and were retried.
    """

    rows_written: int = 0
    segments_written: int = 0
    labels_written: int = 0
    rows_dropped: int = 0
    flush_failures: int = 0


_Key = tuple[str, str | None, int | None]


class PredictionLogWriter:
    """Buffers predictions and labels and writes them as segments from a background thread.

    Args:
        flush_interval: Seconds between flushes.
        flush_rows: Flush as soon as this many prediction rows are pending.
        max_pending_rows: Rows kept while the store is unavailable; older ones are dropped.
        release_memory: After a flush (at most every ``release_interval`` seconds), give the
            memory it freed back to the operating system: Arrow's memory pool keeps freed
            pages, and so does the C allocator, so a serving process would otherwise grow by
            tens of MB under load. For a process that serves (the app sets it).
        release_interval: Least seconds between two releases.
    """

    def __init__(
        self,
        *,
        flush_interval: float = 1.0,
        flush_rows: int = 10_000,
        max_pending_rows: int = 1_000_000,
        release_memory: bool = False,
        release_interval: float = 5.0,
    ) -> None:
        self.flush_interval = flush_interval
        self.flush_rows = flush_rows
        self.max_pending_rows = max_pending_rows
        self.release_memory = release_memory
        self.release_interval = release_interval
        self._released_at = 0.0
        self.stats = LogStats()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._chunks: dict[_Key, list[_Chunk]] = defaultdict(list)
        self._labels: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        self._pending = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending_rows(self) -> int:
        """Prediction rows waiting for the next flush."""
        return self._pending

    def preload(self) -> None:
        """Import what a flush needs now (Arrow's Parquet writer and compute functions).

        A server calls this at startup: imported on the first flush instead, they would stall
        it under load for a fraction of a second while rows pile up, and a larger first
        segment leaves the heap larger for good.
        """
        import pyarrow.compute
        import pyarrow.parquet  # noqa: F401

        import keel.monitoring._log  # noqa: F401

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="keel-prediction-log", daemon=True
            )
            self._thread.start()

    def append(
        self,
        deployment: str,
        model_name: str | None,
        model_version: int | None,
        columns: Mapping[str, np.ndarray[Any, Any]],
        predictions: np.ndarray[Any, Any],
        ids: list[str],
        *,
        timestamp_ms: int,
        latency_ms: float,
        error: bool = False,
        scores: np.ndarray[Any, Any] | None = None,
    ) -> None:
        """Queue one request's rows (called on the request path: no I/O)."""
        chunk = _Chunk(columns, predictions, ids, timestamp_ms, latency_ms, error, scores)
        with self._lock:
            self._chunks[(deployment, model_name, model_version)].append(chunk)
            self._pending += len(ids)
            full = self._pending >= self.flush_rows
        if full:
            self._wake.set()

    def append_labels(self, deployment: str, labels: list[tuple[str, Any]]) -> None:
        """Queue ``(prediction_id, label)`` pairs for the deployment's log."""
        with self._lock:
            self._labels[deployment].extend(labels)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.flush()

    def flush(self) -> None:
        """Write everything pending now (rows that fail to write stay pending)."""
        with self._flush_lock:
            with self._lock:
                chunks, self._chunks = self._chunks, defaultdict(list)
                labels, self._labels = self._labels, defaultdict(list)
                self._pending = 0
            failed: dict[_Key, list[_Chunk]] = {}
            for key, group in chunks.items():
                try:
                    self._write(key, group)
                except Exception as exc:  # the store may be down: keep the rows, retry later
                    self.stats.flush_failures += 1
                    _logger.warning("Writing %s's prediction log failed: %s", key[0], exc)
                    failed[key] = group
            failed_labels: dict[str, list[tuple[str, Any]]] = {}
            for deployment, pairs in labels.items():
                try:
                    self._write_labels(deployment, pairs)
                except Exception as exc:
                    self.stats.flush_failures += 1
                    _logger.warning("Writing %s's labels failed: %s", deployment, exc)
                    failed_labels[deployment] = pairs
            if failed or failed_labels:
                self._requeue(failed, failed_labels)
            if self.release_memory and (chunks or labels):
                now = time.monotonic()
                if now - self._released_at >= self.release_interval:
                    self._released_at = now
                    release_free_memory()

    def _requeue(
        self, failed: dict[_Key, list[_Chunk]], labels: dict[str, list[tuple[str, Any]]]
    ) -> None:
        with self._lock:
            for key, group in failed.items():
                self._chunks[key][:0] = group
                self._pending += sum(len(c.ids) for c in group)
            for deployment, pairs in labels.items():
                self._labels[deployment][:0] = pairs
            while self._pending > self.max_pending_rows and self._chunks:
                key = next(iter(self._chunks))
                group = self._chunks[key]
                dropped = group.pop(0)
                self._pending -= len(dropped.ids)
                self.stats.rows_dropped += len(dropped.ids)
                if not group:
                    del self._chunks[key]

    def _write(self, key: _Key, group: list[_Chunk]) -> None:
        import pyarrow as pa

        from keel.monitoring import log_predictions

        deployment, model_name, model_version = key
        sizes = [len(c.ids) for c in group]
        names = list(dict.fromkeys(n for c in group for n in c.columns))
        features: dict[str, Any] = {}
        for name in names:
            parts = [
                c.columns[name] if name in c.columns else np.full(size, None, dtype=object)
                for c, size in zip(group, sizes, strict=True)
            ]
            features[name] = _arrow(np.concatenate(parts) if len(parts) > 1 else parts[0])
        predictions = np.concatenate(
            [_flat(c.predictions, n) for c, n in zip(group, sizes, strict=True)]
        )
        scores = None
        if all(c.scores is not None for c in group):
            scores = _arrow(np.concatenate([c.scores for c in group if c.scores is not None]))
        ids = [i for c in group for i in c.ids]
        # log_predictions counts rows from the features: inputs that are not columns (arrays
        # of three or more dimensions) leave one all-null placeholder column.
        table = pa.table(features) if features else pa.table({"input": pa.nulls(len(ids))})
        # Every column goes in as an Arrow array already (see _arrow: no pandas import).
        log_predictions(
            deployment,
            table,
            _arrow(predictions),
            scores=scores,
            prediction_ids=_strings(ids) or pa.array(ids, pa.string()),
            timestamps=_arrow(np.repeat([c.timestamp_ms for c in group], sizes).astype(np.int64)),
            latency_ms=_arrow(np.repeat([c.latency_ms for c in group], sizes).astype(np.float64)),
            errors=_arrow(np.repeat([c.error for c in group], sizes).astype(bool)),
            model_name=model_name,
            model_version=model_version,
        )
        self.stats.rows_written += len(ids)
        self.stats.segments_written += 1

    def _write_labels(self, deployment: str, pairs: list[tuple[str, Any]]) -> None:
        from keel.monitoring import log_labels

        ids = [p[0] for p in pairs]
        values = [p[1] for p in pairs]
        if len({type(v) for v in values if v is not None}) > 1:
            values = [None if v is None else str(v) for v in values]
        log_labels(deployment, ids, values)
        self.stats.labels_written += len(pairs)

    def close(self) -> None:
        """Stop the thread and flush everything pending (called on graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()


def _libc() -> Any:
    global _LIBC
    if _LIBC is None:
        try:
            lib = ctypes.CDLL(None)  # the process's own symbols: libc's on Linux
            _LIBC = lib if hasattr(lib, "malloc_trim") else False
        except OSError:
            _LIBC = False
    return _LIBC


_LIBC: Any = None


def release_free_memory() -> None:
    """Return freed memory to the OS: Arrow's pool's unused pages, and glibc's free heap.

    ``malloc_trim`` runs through ctypes, which releases the GIL, so requests keep being
    served meanwhile. Without glibc (macOS, musl) only Arrow's pool is trimmed.
    """
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        try:
            pa.default_memory_pool().release_unused()
        except Exception as exc:  # only a memory optimization: never fail a flush on it
            _logger.debug("Releasing Arrow's unused memory failed: %s", exc)
    libc = _libc()
    if libc:
        libc.malloc_trim(0)


def _flat(predictions: np.ndarray[Any, Any], n: int) -> np.ndarray[Any, Any]:
    """One value per row: multi-output rows become lists."""
    if predictions.ndim <= 1:
        return predictions
    out = np.empty(n, dtype=object)
    out[:] = [row.tolist() for row in predictions]
    return out


def _arrow(values: np.ndarray[Any, Any]) -> Any:
    """One log column as an Arrow array.

    Numbers, booleans and strings are wrapped from their buffers: ``pa.array`` on a NumPy
    array or a list imports pandas (pyarrow looks for pandas types first), about 50 MB in a
    worker whose model needs no DataFrame. NaN stays NaN (not null), as ``pa.array`` keeps it.
    Anything else (datetimes, lists, mixed objects) goes through ``pa.array``.
    """
    import pyarrow as pa

    kind = values.dtype.kind
    if values.ndim == 1 and values.dtype.isnative:
        n = len(values)
        if kind == "b":
            bits = np.packbits(values, bitorder="little")
            return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
        if kind in "iuf":
            flat = np.ascontiguousarray(values)
            return pa.Array.from_buffers(
                pa.from_numpy_dtype(flat.dtype), n, [None, pa.py_buffer(flat)]
            )
        if kind in "OU":
            strings = _strings(values.tolist())
            if strings is not None:
                return strings
    if kind == "M":
        return pa.array(values.astype("datetime64[ms]"))
    if kind == "O":
        return pa.array(values.tolist())
    return pa.array(values)


def _strings(items: list[Any]) -> Any | None:
    """A list of ``str`` or ``None`` as an Arrow string array from its buffers, else ``None``."""
    import pyarrow as pa

    n = len(items)
    types = set(map(type, items))
    if not types <= {str, type(None)}:
        return None
    lengths: Any = None
    joined = b""
    if types == {str}:  # prediction ids: one join, no object per row
        text = "".join(items)
        joined = text.encode("utf-8", "surrogatepass")
        if len(joined) == len(text):  # ASCII: a byte per character
            lengths = np.fromiter(map(len, items), np.int64, n)
    validity = None
    nulls = 0
    if lengths is None:
        try:
            encoded = [b"" if v is None else v.encode() for v in items]
        except UnicodeEncodeError:  # lone surrogates: let pa.array report them
            return None
        joined = b"".join(encoded)
        lengths = np.fromiter(map(len, encoded), np.int64, n)
        if type(None) in types:
            present = np.fromiter((v is not None for v in items), dtype=bool, count=n)
            nulls = n - int(present.sum())
            validity = pa.py_buffer(np.packbits(present, bitorder="little"))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    large = int(offsets[-1]) > 2**31 - 1
    if not large:
        offsets = offsets.astype(np.int32)
    return pa.Array.from_buffers(
        pa.large_string() if large else pa.string(),
        n,
        [validity, pa.py_buffer(offsets), pa.py_buffer(joined)],
        null_count=nulls,
    )
