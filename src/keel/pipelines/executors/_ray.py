"""``RayExecutor``: tasks on a Ray cluster (``RAY_ADDRESS``), or on a local Ray it starts.

Ray is an optional extra (``pip install 'keel[ray]'``). Workers read and write the same
metadata and artifact stores as the coordinator, so on a real cluster use stores every node
reaches (PostgreSQL and S3); a local Ray works with the defaults.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import traceback
from collections.abc import Callable
from typing import Any

from keel.errors import InvalidArgumentError, MissingDependencyError
from keel.pipelines.executors.base import Executor, TaskResult

__all__ = ["RayExecutor"]


def _run(fn: Callable[[Any], Any], payload: Any, paths: list[str]) -> tuple[bool, Any, Any]:
    import sys

    for path in reversed(paths):
        if path not in sys.path and os.path.isdir(path):
            sys.path.insert(0, path)
    try:
        return True, fn(payload), None
    except BaseException as exc:
        return False, None, "".join(traceback.format_exception(exc))


class RayExecutor(Executor):
    """Runs each task as a Ray task with ``num_cpus`` CPUs.

    Connects to the cluster at ``address`` (or ``RAY_ADDRESS``) if Ray is not initialized yet,
    and starts a local Ray when neither is given; only a Ray it started is shut down with it.

    Args:
        address: The cluster address; ``RAY_ADDRESS`` or a new local Ray by default.
        num_cpus: CPUs each task asks for.
        max_workers: Tasks in flight at once (the cluster's CPU count by default).
    """

    name = "ray"
    isolated = True

    def __init__(
        self, address: str | None = None, num_cpus: float = 1, max_workers: int | None = None
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise MissingDependencyError.for_extra("ray", "ray", "Ray executor") from exc
        if max_workers is not None and (
            isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
        ):
            raise InvalidArgumentError(
                f"max_workers must be a positive integer, got {max_workers!r}."
            )
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=True,
                configure_logging=False,
            )
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self._capacity = max_workers or max(1, int(cpus // max(num_cpus, 0.001)))
        self._remote = ray.remote(num_cpus=num_cpus, max_retries=0)(_run)
        self._ids = itertools.count(1)
        self._refs: dict[Any, int] = {}
        self._done: list[TaskResult] = []
        self._paths = [p for p in __import__("sys").path if p]
        self._closed = False

    @property
    def capacity(self) -> int:
        """Tasks in flight at once."""
        return self._capacity

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> int:
        """Submit ``fn(payload)`` as a Ray task."""
        task_id = next(self._ids)
        try:
            ref = self._remote.remote(fn, payload, self._paths)
        except Exception as exc:
            self._done.append(TaskResult(task_id, False, error=f"Ray refused the task: {exc}"))
            return task_id
        self._refs[ref] = task_id
        return task_id

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        """Return finished tasks, waiting up to ``timeout`` seconds for one."""
        ray = self._ray
        if not self._done and self._refs:
            ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
            if ready:
                more, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
                ready = list(dict.fromkeys([*ready, *more]))
            for ref in ready:
                task_id = self._refs.pop(ref)
                try:
                    ok, value, error = ray.get(ref)
                except Exception as exc:  # the worker died, or the task was cancelled
                    self._done.append(
                        TaskResult(task_id, False, error=f"{type(exc).__name__}: {exc}")
                    )
                    continue
                self._done.append(TaskResult(task_id, ok, value, error))
        done, self._done = self._done, []
        return done

    def cancel(self, task_id: int) -> None:
        """Force-cancel the Ray task (its worker process is killed)."""
        for ref, tid in list(self._refs.items()):
            if tid == task_id:
                self._ray.cancel(ref, force=True)
                return

    def shutdown(self) -> None:
        """Cancel unfinished tasks; shut Ray down if this executor started it."""
        if self._closed:
            return
        self._closed = True
        for ref in list(self._refs):
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started:
            self._ray.shutdown()
