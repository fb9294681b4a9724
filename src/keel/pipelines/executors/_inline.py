"""``InlineExecutor``: runs each task at once, in the calling thread."""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable
from typing import Any

from keel.pipelines.executors.base import Executor, TaskResult

__all__ = ["InlineExecutor"]


class InlineExecutor(Executor):
    """Runs tasks one at a time in the calling thread: no pickling, no processes.

    The default executor: the lowest overhead, and a debugger or ``print`` works inside steps.
    """

    name = "inline"
    isolated = False

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._done: list[TaskResult] = []

    @property
    def capacity(self) -> int:
        """One task at a time."""
        return 1

    def submit(self, fn: Callable[[Any], Any], payload: Any) -> int:
        """Run ``fn(payload)`` now; its result is returned by the next :meth:`wait`."""
        task_id = next(self._ids)
        try:
            self._done.append(TaskResult(task_id, True, fn(payload)))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._done.append(
                TaskResult(task_id, False, error="".join(traceback.format_exception(exc)))
            )
        return task_id

    def wait(self, timeout: float | None = None) -> list[TaskResult]:
        """Return the results of the tasks run since the last call."""
        done, self._done = self._done, []
        return done

    def cancel(self, task_id: int) -> None:
        """Nothing to stop: tasks have finished when :meth:`submit` returns."""

    def shutdown(self) -> None:
        """Nothing to release."""
        self._done = []
