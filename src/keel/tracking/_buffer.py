"""Buffered metric logging: ``log_metric`` appends to memory; batches reach the store later.

A batch is written when the buffer holds ``flush_size`` points, every ``flush_interval``
seconds from a background thread, when a run ends, before any read in the same process, and at
interpreter exit. So a normal exit loses nothing, and SIGKILL loses at most the last interval.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable

from keel.errors import NotFoundError
from keel.store import MetricPoint, SqlMetadataStore

log = logging.getLogger("keel.tracking")

_live: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


class MetricBuffer:
    """Collects metric points and writes them to the store in batches.

    Args:
        store: Where batches go.
        flush_interval: Seconds between background flushes.
        flush_size: Points that trigger a flush on the logging thread.
    """

    def __init__(self, store: SqlMetadataStore, flush_interval: float, flush_size: int) -> None:
        self._store = store
        self._interval = flush_interval
        self._size = flush_size
        self._points: list[MetricPoint] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        _live.add(self)

    def add(self, point: MetricPoint) -> None:
        """Buffer one point; flush synchronously if the buffer is full."""
        with self._lock:
            self._points.append(point)
            full = len(self._points) >= self._size
        if self._thread is None:
            self._start()
        if full:
            self.flush()

    def extend(self, points: list[MetricPoint]) -> None:
        """Buffer several points."""
        with self._lock:
            self._points.extend(points)
            full = len(self._points) >= self._size
        if self._thread is None:
            self._start()
        if full:
            self.flush()

    def __len__(self) -> int:
        return len(self._points)

    def flush(self, write: Callable[[list[MetricPoint]], None] | None = None) -> None:
        """Write every buffered point in one transaction.

        Args:
            write: Writes the batch instead of ``store.log_metrics`` (called even when the
                batch is empty), so a caller can put the points in its own transaction.

        Points of a run that does not exist (any more) can never be stored: they are dropped
        with a logged warning and the rest is written. If the write fails otherwise, the points
        go back to the front of the buffer and the error is raised, so nothing is lost silently.
        """
        with self._flushing:
            with self._lock:
                batch, self._points = self._points, []
            if not batch and write is None:
                return
            writer = write or self._store.log_metrics
            while True:
                try:
                    writer(batch)
                    return
                except NotFoundError as exc:
                    gone = exc.details.get("run_id")
                    keep = [p for p in batch if p[0] != gone]
                    if len(keep) < len(batch):
                        log.warning(
                            "Dropped %d buffered metric point(s) of run %r, which does not exist.",
                            len(batch) - len(keep),
                            gone,
                        )
                        batch = keep
                        continue  # one fewer run each time, so this ends
                    with self._lock:
                        self._points[:0] = batch
                    raise
                except BaseException:
                    with self._lock:
                        self._points[:0] = batch
                    raise

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="keel-metric-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._wake.wait(self._interval):
            if not self._points:
                continue
            try:
                self.flush()
            except Exception as exc:  # store busy or unreachable: keep the points, retry later
                log.warning("Could not flush buffered metrics yet (will retry): %s", exc)

    def close(self) -> None:
        """Flush what is left and stop the background thread."""
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()

    def discard_after_fork(self) -> None:
        """In a forked child: drop the parent's points (the parent writes them) and the thread."""
        self._points = []
        self._thread = None
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()


def _flush_all_at_exit() -> None:
    for buf in list(_live):
        try:
            buf.close()
        except Exception as exc:
            log.error("Keel could not write %d buffered metric points at exit: %s", len(buf), exc)


atexit.register(_flush_all_at_exit)
