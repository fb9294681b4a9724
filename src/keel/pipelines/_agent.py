"""``keel agent``: the long-running loop that fires schedules, extended by agent tasks.

The agent ticks each registered :class:`AgentTask` on its interval. The pipelines capability
registers ``schedules`` (:class:`ScheduleTask`), which claims due schedules and runs each firing
in a process of its own (``python -m keel.pipelines._launch``), so a crashing pipeline never
takes the agent down and every firing imports the pipeline's current code. Later capabilities
(automation policies, monitors) add their tasks with :func:`register_agent_task`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from keel._utils import now_ms
from keel.errors import InvalidArgumentError, near_matches

__all__ = [
    "Agent",
    "AgentTask",
    "ScheduleTask",
    "list_agent_tasks",
    "register_agent_task",
    "run_agent",
]

log = logging.getLogger("keel.agent")


class AgentTask(ABC):
    """One kind of work the agent does periodically.

    Attributes:
        name: The name it is registered under (``keel agent --task NAME``).
        interval: Seconds between ticks.
    """

    name: ClassVar[str]
    interval: float = 10.0

    @abstractmethod
    def tick(self, now: int) -> None:
        """Do the work due at ``now`` (milliseconds since the epoch); must not block long."""

    def busy(self) -> bool:
        """Whether work it started is still running (``keel agent --once`` waits for it)."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the task holds when the agent stops."""


_TASKS: dict[str, Callable[[], AgentTask]] = {}


def register_agent_task(name: str, factory: Callable[[], AgentTask]) -> None:
    """Make ``factory()`` a task of every agent (replacing a task of the same name).

    Raises:
        InvalidArgumentError: ``name`` is empty or ``factory`` is not callable.
    """
    if not isinstance(name, str) or not name.strip() or not callable(factory):
        raise InvalidArgumentError(
            f"register_agent_task needs a name and a factory, got {name!r} and {factory!r}."
        )
    _TASKS[name] = factory


def list_agent_tasks() -> list[str]:
    """Return the names of the registered agent tasks."""
    return sorted(_TASKS)


@dataclass
class _Firing:
    schedule_id: str
    name: str
    process: subprocess.Popen[bytes]
    started: float


class ScheduleTask(AgentTask):
    """Fires due schedules, each in a process of its own.

    Args:
        max_concurrent: Firings running at once; further due schedules wait for a slot.
        interval: Seconds between polls of the store.
    """

    name = "schedules"

    def __init__(self, max_concurrent: int = 4, interval: float = 5.0) -> None:
        self.max_concurrent = max_concurrent
        self.interval = interval
        self.running: list[_Firing] = []

    def _repo(self) -> Any:
        from keel.store._pipelines import PipelineRepository
        from keel.tracking import get_client

        return PipelineRepository(get_client().store)

    def tick(self, now: int) -> None:
        """Reap finished firings, then claim and launch due schedules."""
        from keel.pipelines._schedule import next_fire_ms

        self._reap()
        slots = self.max_concurrent - len(self.running)
        if slots <= 0:
            return
        repo = self._repo()
        claimed = repo.claim_due_schedules(
            now, lambda r, t: next_fire_ms(r.cron, r.timezone, t), limit=slots
        )
        for record in claimed:
            cwd = (
                record.working_dir
                if record.working_dir and os.path.isdir(record.working_dir)
                else None
            )
            process = subprocess.Popen(
                [sys.executable, "-m", "keel.pipelines._launch", record.id],
                cwd=cwd,
            )
            log.info("fired schedule %r (%s): pid %d", record.name, record.target, process.pid)
            self.running.append(_Firing(record.id, record.name, process, time.monotonic()))

    def _reap(self) -> None:
        for firing in list(self.running):
            code = firing.process.poll()
            if code is None:
                continue
            self.running.remove(firing)
            took = time.monotonic() - firing.started
            if code in (0, 1):
                log.info(
                    "schedule %r finished in %.1fs (%s)",
                    firing.name,
                    took,
                    "FINISHED" if code == 0 else "FAILED",
                )
            else:
                log.error("schedule %r crashed (exit code %s)", firing.name, code)
                self._repo().record_schedule_result(firing.schedule_id, None, "CRASHED")

    def busy(self) -> bool:
        """Whether a firing is still running."""
        self._reap()
        return bool(self.running)

    def close(self) -> None:
        """Wait briefly for running firings; they finish on their own if the agent stops."""
        deadline = time.monotonic() + 5
        while self.running and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.1)


register_agent_task("schedules", ScheduleTask)


class Agent:
    """Ticks agent tasks until stopped.

    Args:
        tasks: Names of the registered tasks to run (all of them by default).
        poll_interval: Longest sleep between checks, in seconds.

    Raises:
        InvalidArgumentError: A task name is not registered.
    """

    def __init__(self, tasks: list[str] | None = None, poll_interval: float = 1.0) -> None:
        names = tasks if tasks is not None else list_agent_tasks()
        for name in names:
            if name not in _TASKS:
                raise InvalidArgumentError(
                    f"Unknown agent task {name!r}.{near_matches(name, _TASKS)} "
                    f"Tasks: {', '.join(list_agent_tasks())}."
                )
        self.tasks = [_TASKS[name]() for name in names]
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._due = {id(t): 0.0 for t in self.tasks}

    def stop(self) -> None:
        """Ask the loop to end after the current tick."""
        self._stop.set()

    def tick(self) -> None:
        """Tick every task whose interval has passed."""
        now = time.monotonic()
        for task in self.tasks:
            if now < self._due[id(task)]:
                continue
            self._due[id(task)] = now + task.interval
            try:
                task.tick(now_ms())
            except Exception as exc:  # one failing task must not stop the others
                log.exception("agent task %r failed: %s", task.name, exc)

    def run_once(self, wait: bool = True) -> None:
        """Tick every task once; with ``wait``, wait until the work they started has ended."""
        for task in self.tasks:
            try:
                task.tick(now_ms())
            except Exception as exc:
                log.exception("agent task %r failed: %s", task.name, exc)
        while wait and any(t.busy() for t in self.tasks) and not self._stop.is_set():
            time.sleep(0.1)
        self.close()

    def run(self) -> None:
        """Tick tasks until :meth:`stop`, SIGINT or SIGTERM."""
        handlers: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                handlers[signum] = signal.signal(signum, lambda *_: self.stop())
        try:
            while not self._stop.is_set():
                self.tick()
                self._stop.wait(self.poll_interval)
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            self.close()

    def close(self) -> None:
        """Close every task."""
        for task in self.tasks:
            try:
                task.close()
            except Exception as exc:
                log.warning("agent task %r did not close cleanly: %s", task.name, exc)


def run_agent(
    *, once: bool = False, tasks: list[str] | None = None, poll_interval: float = 1.0
) -> Agent:
    """Run the agent: tick until stopped, or once (waiting for what it started).

    Returns:
        The agent, after it stopped.
    """
    agent = Agent(tasks, poll_interval)
    if once:
        agent.run_once()
    else:
        agent.run()
    return agent
