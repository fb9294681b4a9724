"""``ProcessExecutor``: a pool of worker processes on this machine.

Workers are fresh interpreters (``python -c ...``), not forks and not multiprocessing's
``spawn``: they never re-import the script that started them, so a script needs no
``if __name__ == "__main__":`` guard, and no lock held by a thread of the parent is inherited.
Each worker talks to the parent over a private socket pair; tasks and results travel as
cloudpickle bytes, so steps defined in a script or inside a function work too.

A worker that dies (a crash, the OOM killer, a hard timeout) is reported as a failed task and
replaced on the next submit.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from keel.errors import InvalidArgumentError
from keel.pipelines.executors.base import Executor, TaskResult

__all__ = ["ProcessExecutor"]

_BOOT = "from keel.pipelines.executors._process import worker_main; worker_main()"
_STARTED = b"\x00"


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    task_id: int | None = None


def worker_main() -> None:
    """Entry point of a worker process: run tasks from the parent until told to stop."""
    import cloudpickle

    conn = Connection(int(sys.argv[1]))
    paths: list[str] = cloudpickle.loads(conn.recv_bytes())
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not message:
            return
        conn.send_bytes(_STARTED)  # the parent starts the task's hard-timeout clock now
        reply: tuple[bool, Any, str | None]
        try:
            fn, payload = cloudpickle.loads(message)
            reply = (True, fn(payload), None)
        except KeyboardInterrupt:
            return
        except BaseException as exc:
            reply = (False, None, "".join(traceback.format_exception(exc)))
        try:
            data = cloudpickle.dumps(reply)
        except Exception as exc:
            data = cloudpickle.dumps((False, None, f"the result could not be pickled: {exc}"))
        conn.send_bytes(data)


class ProcessExecutor(Executor):
    """Runs up to ``max_workers`` tasks at once, each in a worker process of this machine.

    Args:
        max_workers: The number of worker processes (the CPU count by default).
    """

    name = "process"
    isolated = True

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (
            isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
        ):
            raise InvalidArgumentError(
                f"max_workers must be a positive integer, got {max_workers!r}."
            )
        self.max_workers = max_workers or os.cpu_count() or 1
        self._ids = itertools.count(1)
        self._workers: list[_Worker] = []
        self._queue: deque[tuple[int, bytes]] = deque()
        self._done: list[TaskResult] = []
        self._started: dict[int, float] = {}
        self._closed = False

    @property
    def capacity(self) -> int:
        """The number of worker processes."""
        return self.max_workers

    def _spawn(self) -> _Worker:
        import cloudpickle

        parent, child = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(child.fileno())],
                pass_fds=[child.fileno()],
                close_fds=True,
            )
        finally:
            child.close()
        conn = Connection(parent.detach())
        conn.send_bytes(cloudpickle.dumps([p for p in sys.path if p]))
        worker = _Worker(process, conn)
        self._workers.append(worker)
        return worker

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> int:
        """Send ``fn(payload)`` to an idle worker, starting one if fewer than the maximum run."""
        import cloudpickle

        task_id = next(self._ids)
        try:
            message = cloudpickle.dumps((fn, payload))
        except Exception as exc:
            self._done.append(
                TaskResult(task_id, False, error=f"the task could not be pickled: {exc}")
            )
            return task_id
        self._queue.append((task_id, message))
        self._dispatch()
        return task_id

    def _dispatch(self) -> None:
        while self._queue:
            worker = next((w for w in self._workers if w.task_id is None), None)
            if worker is None:
                if len(self._workers) >= self.max_workers:
                    return
                worker = self._spawn()
            task_id, message = self._queue.popleft()
            try:
                worker.conn.send_bytes(message)
            except OSError:
                self._retire(worker, task_id, "the worker process could not be reached")
                continue
            worker.task_id = task_id

    def _retire(self, worker: _Worker, task_id: int | None, why: str) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        if worker.process.poll() is None:
            worker.process.kill()
        try:
            code = worker.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        worker.conn.close()
        if task_id is not None:
            self._done.append(
                TaskResult(
                    task_id,
                    False,
                    error=f"{why} (worker pid {worker.process.pid} exit code {code})",
                )
            )

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        """Return finished tasks, waiting up to ``timeout`` seconds for one."""
        import cloudpickle

        if not self._done:
            busy = {w.conn: w for w in self._workers if w.task_id is not None}
            if busy:
                for conn in wait(list(busy), timeout):
                    worker = busy[conn]  # type: ignore[index]
                    task_id = worker.task_id
                    try:
                        data = worker.conn.recv_bytes()
                        if data == _STARTED:
                            self._started[task_id or 0] = time.monotonic()
                            continue
                        ok, value, error = cloudpickle.loads(data)
                    except (EOFError, OSError):
                        self._retire(worker, task_id, "the worker process died")
                        continue
                    except Exception as exc:
                        worker.task_id = None
                        self._done.append(
                            TaskResult(task_id or 0, False, error=f"bad result: {exc}")
                        )
                        continue
                    worker.task_id = None
                    self._done.append(TaskResult(task_id or 0, ok, value, error))
            elif timeout:
                time.sleep(timeout)
        self._dispatch()
        done, self._done = self._done, []
        return done

    def started(self, task_id: int) -> float | None:
        """When the worker acknowledged the task (``None`` while it is queued or starting)."""
        return self._started.get(task_id)

    def cancel(self, task_id: int) -> None:
        """Kill the worker running the task (or drop it from the queue)."""
        for queued in list(self._queue):
            if queued[0] == task_id:
                self._queue.remove(queued)
                self._done.append(TaskResult(task_id, False, error="cancelled before it started"))
                return
        for worker in list(self._workers):
            if worker.task_id == task_id:
                self._retire(worker, task_id, "the task was cancelled and its worker killed")
                self._dispatch()
                return

    def shutdown(self) -> None:
        """Tell idle workers to exit, kill busy ones, and wait for all of them."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        for worker in self._workers:
            try:
                if worker.task_id is None:
                    worker.conn.send_bytes(b"")
                else:
                    worker.process.kill()
            except OSError:
                worker.process.kill()
        deadline = time.monotonic() + 10
        for worker in self._workers:
            try:
                worker.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()
        self._workers.clear()
