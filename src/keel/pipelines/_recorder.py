"""Recording off the critical path: parallel blob writes and group-committed metadata.

A trivial step costs microseconds to run; writing its output blob (a temp file, ``fsync``,
rename) and its rows (a transaction) costs milliseconds. So the runner hands both to
background threads:

* :class:`AsyncBlobWriter` hashes an output at once (the digest is what downstream steps and
  cache keys need) and writes the blob on a small thread pool, where ``fsync`` calls overlap.
  Until a blob is written, readers in this process get its bytes from memory.
* :class:`Recorder` writes step records, cache entries and lineage edges in batches, one
  transaction per batch: whatever accumulated in ``linger`` seconds (50 ms) after the first
  record, or before a flush. A
  batch is written only after the blobs it refers to are durable, so a cache entry never
  points at a blob that is not there yet.

:meth:`Recorder.flush` waits for both; the runner calls it before a pipeline run returns. A
process killed with SIGKILL loses at most the batch in flight (milliseconds of work): those
steps run again on the next run instead of being cache hits.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keel.artifacts import ArtifactStore
    from keel.store._pipelines import PipelineRepository, RecordBatch

__all__ = ["AsyncBlobWriter", "Recorder"]

log = logging.getLogger("keel.pipelines")


_THREADS = int(os.environ.get("KEEL_BLOB_THREADS", "16"))
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _shared_pool(threads: int) -> ThreadPoolExecutor:
    # One pool per process: starting threads for every run would cost more than the writes.
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="keel-blob")
            _pools[threads] = pool
        return pool


def _reset_after_fork() -> None:
    _pools.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


class AsyncBlobWriter:
    """Writes blobs to the artifact store on a thread pool; serves pending ones from memory.

    Args:
        artifacts: The artifact store.
        threads: Concurrent writes.
    """

    def __init__(self, artifacts: ArtifactStore, threads: int | None = None) -> None:
        self.artifacts = artifacts
        self._pool = _shared_pool(threads or _THREADS)
        self._pending: dict[str, bytes] = {}
        self._futures: dict[str, Future[str]] = {}
        self._known: set[str] = set()
        self.fresh: set[str] = set()
        self._lock = threading.Lock()

    def put(self, data: bytes) -> str:
        """Queue bytes for writing; return their digest at once.

        Blobs the store holds already are not written again; the others are remembered as
        *fresh* (see :meth:`is_fresh`).
        """
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if digest in self._futures or digest in self._known:
                return digest
        if self.artifacts.exists(digest):
            with self._lock:
                self._known.add(digest)
            return digest
        with self._lock:
            if digest in self._futures:
                return digest
            self._pending[digest] = data
            self.fresh.add(digest)
            future = self._pool.submit(self._write, digest, data)
            self._futures[digest] = future
        return digest

    def is_fresh(self, digest: str) -> bool:
        """Whether this writer stored the blob for the first time.

        No earlier run can have used such a blob, so no cache entry can name it.
        """
        return digest in self.fresh

    def _write(self, digest: str, data: bytes) -> str:
        try:
            return self.artifacts.put_bytes(data)
        finally:
            with self._lock:
                self._pending.pop(digest, None)

    def get(self, digest: str) -> bytes:
        """Return a blob's bytes: from memory while its write is pending, else verified."""
        with self._lock:
            data = self._pending.get(digest)
        if data is not None:
            return data
        return self.artifacts.get_bytes(digest)

    def exists(self, digest: str) -> bool:
        """Whether the blob is written or being written."""
        with self._lock:
            if digest in self._futures or digest in self._known:
                return True
        return self.artifacts.exists(digest)

    def wait(self, digests: Iterable[str]) -> None:
        """Block until the blobs are durable; raise the first write error."""
        for digest in digests:
            future = self._futures.get(digest)
            if future is not None:
                future.result()

    def close(self) -> None:
        """Wait for every pending write (the threads are shared and stay)."""
        for future in list(self._futures.values()):
            future.exception()


class Recorder:
    """Writes :class:`~keel.store._pipelines.RecordBatch` objects in the background.

    Args:
        repo: The pipelines repository.
        writer: The blob writer whose blobs the batches refer to, if blobs are written
            asynchronously.
    """

    def __init__(
        self,
        repo: PipelineRepository,
        writer: AsyncBlobWriter | None = None,
        *,
        linger: float = 0.05,
    ) -> None:
        self.repo = repo
        self.writer = writer
        self.linger = linger
        self._items: list[tuple[RecordBatch, tuple[str, ...]]] = []
        self._cond = threading.Condition()
        self._submitted = 0
        self._written = 0
        self._flushing = 0
        self._closed = False
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="keel-recorder", daemon=True)
        self._thread.start()

    def submit(self, batch: RecordBatch, blobs: Iterable[str] = ()) -> None:
        """Queue a batch; it is written once ``blobs`` are durable."""
        with self._cond:
            self._items.append((batch, tuple(blobs)))
            self._submitted += 1
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closed:
                    self._cond.wait()
                if not self._items and self._closed:
                    return
                # Let more records join this batch: one transaction for many steps, and this
                # thread competes for the GIL with the steps less often.
                deadline = time.monotonic() + self.linger
                while not self._closed and not self._flushing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                items, self._items = self._items, []
            try:
                if self.writer is not None:
                    self.writer.wait(d for _, blobs in items for d in blobs)
                self.repo.apply(batch for batch, _ in items)
            except BaseException as exc:  # keep the first failure; flush() raises it
                log.error("Keel could not record pipeline progress: %s", exc)
                if self.failure is None:
                    self.failure = exc
            with self._cond:
                self._written += len(items)
                self._cond.notify_all()

    def flush(self) -> None:
        """Wait until everything submitted so far is written; raise a write failure."""
        with self._cond:
            target = self._submitted
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._written < target:
                    self._cond.wait()
            finally:
                self._flushing -= 1
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
