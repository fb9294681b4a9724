"""``keel agent`` with automation: schedules, monitors and policies in one leased loop.

The pipelines capability owns the agent loop and the ``schedules`` task; this module adds the
``monitors`` task (evaluate every monitor's new windows) and the ``policies`` task
(:func:`~keel.automation.evaluate_policies`), and wraps the loop in a lease held in the
metadata store: an agent acts only while it holds the lease, renews it from a heartbeat
thread, and gives it up when it stops. Two agents started at once never both act; when the
holder dies, its lease expires after ``lease_ttl`` seconds and another agent takes over, and
because every trigger's state is in the store, it resumes where the dead one stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING

from keel.pipelines import Agent, AgentTask, list_agent_tasks, register_agent_task

if TYPE_CHECKING:
    from keel.store._automation import AutomationRepository

__all__ = ["LEASE_NAME", "LeasedAgent", "MonitorTask", "PolicyTask", "run_agent"]

log = logging.getLogger("keel.agent")

#: The name of the lease row every agent competes for.
LEASE_NAME = "agent"


class MonitorTask(AgentTask):
    """Evaluates every monitor's complete windows that have no result yet (alerts fire here)."""

    name = "monitors"

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval

    def tick(self, now: int) -> None:
        """Run each monitor; one failing monitor does not stop the others."""
        from keel.monitoring import list_monitors, run_monitor

        for monitor in list_monitors():
            try:
                run_monitor(monitor.name)
            except Exception as exc:
                log.exception("monitor %r failed: %s", monitor.name, exc)


class PolicyTask(AgentTask):
    """Evaluates every enabled policy (new triggers, and triggers in progress moved on)."""

    name = "policies"

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval

    def tick(self, now: int) -> None:
        """Evaluate the policies once."""
        from keel.automation._engine import evaluate_policies

        for trigger in evaluate_policies():
            log.info(
                "policy %r trigger %s: %s %s",
                trigger.policy_name,
                trigger.id[:8],
                trigger.status,
                trigger.message,
            )


register_agent_task("monitors", MonitorTask)
register_agent_task("policies", PolicyTask)


class LeasedAgent(Agent):
    """An :class:`~keel.pipelines.Agent` that acts only while it holds the store's lease.

    Args:
        tasks: Names of the tasks to run (schedules, monitors and policies by default).
        poll_interval: Longest sleep between checks, in seconds.
        lease_ttl: Seconds the lease lasts without renewal (how long a dead agent blocks).
        holder: This agent's name in the lease row (host, pid and a random part by default).
    """

    def __init__(
        self,
        tasks: list[str] | None = None,
        poll_interval: float = 1.0,
        *,
        lease_ttl: float = 30.0,
        holder: str | None = None,
    ) -> None:
        super().__init__(tasks, poll_interval)
        self.lease_ttl = float(lease_ttl)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held = False
        self._heartbeat: threading.Thread | None = None
        self._halt = threading.Event()

    def _repo(self) -> AutomationRepository:
        from keel.registry import get_registry
        from keel.store._automation import AutomationRepository

        return AutomationRepository(get_registry().store)

    def acquire(self) -> bool:
        """Take or renew the lease; return whether this agent holds it."""
        repo = self._repo()
        try:
            held = repo.acquire_lease(LEASE_NAME, self.holder, int(self.lease_ttl * 1000))
        except Exception as exc:  # the store is away: act as if the lease were lost
            log.warning("could not renew the agent lease: %s", exc)
            held = False
        if held != self._held:
            log.info("agent %s %s the lease", self.holder, "holds" if held else "does not hold")
        self._held = held
        if held and self._heartbeat is None:
            self._heartbeat = threading.Thread(target=self._beat, name="keel-lease", daemon=True)
            self._heartbeat.start()
        return held

    def _beat(self) -> None:
        # Renew well before expiry, so a long pipeline run in a task never loses the lease;
        # only a dead process stops renewing.
        while not self._halt.wait(max(self.lease_ttl / 3, 0.2)):
            self.acquire()

    def tick(self) -> None:
        """Tick the tasks that are due, if this agent holds the lease."""
        if self.acquire():
            super().tick()

    def run_once(self, wait: bool = True) -> None:
        """Tick every task once if this agent holds the lease; then release it."""
        if self.acquire():
            super().run_once(wait)
        else:
            self.close()

    def close(self) -> None:
        """Close every task and give up the lease."""
        super().close()
        self._halt.set()
        if self._held:
            repo = self._repo()
            try:
                repo.release_lease(LEASE_NAME, self.holder)
            except Exception as exc:
                log.warning("could not release the agent lease: %s", exc)
            self._held = False


def run_agent(
    *,
    once: bool = False,
    tasks: list[str] | None = None,
    poll_interval: float = 1.0,
    lease_ttl: float = 30.0,
) -> LeasedAgent:
    """Run the leased agent: tick until stopped, or once (waiting for what it started).

    Returns:
        The agent, after it stopped.
    """
    agent = LeasedAgent(tasks or list_agent_tasks(), poll_interval, lease_ttl=lease_ttl)
    if once:
        agent.run_once()
    else:
        agent.run()
    return agent
