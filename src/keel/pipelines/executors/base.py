"""The executor contract: run picklable tasks somewhere, report them as they finish.

An executor runs *tasks*: a module-level function applied to one payload, returning a result
(for steps, :func:`keel.pipelines._worker.run_step_task` and a ``StepTask``). The pipeline
runner and ``keel.tune`` drive every executor through the same four calls: :meth:`submit`,
:meth:`wait`, :meth:`cancel` and :meth:`shutdown`. Retries, backoff and timeouts live in the
runner, so every executor gets them the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

__all__ = ["Executor", "TaskResult"]


@dataclass(frozen=True)
class TaskResult:
    """How a task ended: its return value, or why the executor could not get one.

    Attributes:
        task_id: The id :meth:`Executor.submit` returned.
        ok: Whether the function returned.
        value: What it returned.
        error: Why there is no value (the worker died, the task was cancelled, the function
            raised), with the traceback when there is one.
    """

    task_id: int
    ok: bool
    value: Any = None
    error: str | None = None


class Executor(ABC):
    """Runs tasks: in this thread, in worker processes, or on a Ray cluster.

    Use it as a context manager, or call :meth:`shutdown` when done.

    Attributes:
        name: The name the registry knows it by.
        isolated: Whether tasks run in another process (so their payloads are pickled and
            they read inputs from the artifact store).
    """

    name: ClassVar[str]
    isolated: ClassVar[bool]

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many tasks run at the same time."""

    @abstractmethod
    def submit(self, fn: Callable[[Any], Any], payload: Any) -> int:
        """Start ``fn(payload)`` (or queue it); return the task's id."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        """Return the tasks that finished, waiting up to ``timeout`` seconds for at least one.

        Returns an empty list when the timeout passes first, or when nothing is running.
        """

    def started(self, task_id: int) -> float | None:
        """When a worker began the task (``time.monotonic()``), if the executor knows.

        The runner measures hard timeouts from this moment, so time spent starting a worker
        or waiting in a queue does not count against a step.
        """
        return None

    @abstractmethod
    def cancel(self, task_id: int) -> None:
        """Stop a task by force (a hard timeout); it is reported by :meth:`wait` as failed."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop the workers and release what the executor holds (safe to call twice)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
