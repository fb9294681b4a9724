"""The leased agent: one agent acts at a time, a dead agent's lease expires, rollouts resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import keel
import keel.automation as ka
from keel.registry import models
from keel.serving import get_deployment
from keel.store import SqlMetadataStore
from keel.store._automation import AutomationRepository
from tests.automation import _pipelines as pipes
from tests.automation.conftest import DEPLOYMENT, World

ROOT = Path(__file__).resolve().parents[2]


def test_lease_is_taken_renewed_and_taken_over_after_expiry(store_uri: str) -> None:
    store = SqlMetadataStore(store_uri)
    try:
        repo = AutomationRepository(store)
        assert repo.acquire_lease("agent", "a", 10_000, now=1_000)
        assert not repo.acquire_lease("agent", "b", 10_000, now=2_000)
        assert repo.acquire_lease("agent", "a", 10_000, now=5_000)  # renewed to 15_000
        assert not repo.acquire_lease("agent", "b", 10_000, now=14_000)
        assert repo.acquire_lease("agent", "b", 10_000, now=15_001)  # a died: b takes over
        assert not repo.acquire_lease("agent", "a", 10_000, now=16_000)
        assert repo.get_lease("agent") == ("b", 25_001)
        repo.release_lease("agent", "b")
        assert repo.acquire_lease("agent", "a", 10_000, now=16_000)
    finally:
        store.close()


def test_two_agents_in_one_process_share_one_lease(world: World) -> None:
    from keel.automation._agent import LeasedAgent

    first = LeasedAgent(["policies"], lease_ttl=30, holder="first")
    second = LeasedAgent(["policies"], lease_ttl=30, holder="second")
    try:
        assert first.acquire()
        assert not second.acquire()
    finally:
        first.close()
        second.close()
    assert second.acquire()  # released on close: the next agent need not wait for expiry
    second.close()


def _agent(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from keel.cli import main; sys.argv[0] = 'keel'; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "agent", "--poll", "0.2", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


@pytest.fixture
def agents() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@pytest.mark.slow
def test_two_agents_started_at_once_act_once(
    world_on_each_store: World, agents: list[subprocess.Popen[bytes]]
) -> None:
    ka.policy("fresh", when=ka.on_new_data("tx"), run=pipes.training, cooldown=0)
    keel.datasets.register("tx", pipes.frame(seed=1))
    agents += [_agent("--task", "policies", "--lease-ttl", "15") for _ in range(2)]
    _wait(lambda: [t.status for t in ka.policy_history("fresh")] == ["completed"])
    time.sleep(1.5)  # both agents keep ticking: neither may act again
    for process in agents:
        process.send_signal(signal.SIGTERM)
    for process in agents:
        assert process.wait(20) == 0, process.stderr.read() if process.stderr else ""
    assert len(ka.policy_history("fresh")) == 1
    runs = [r for r in keel.pipelines.list_runs() if r.pipeline == "training"]
    assert len(runs) == 2  # the champion's, and one retraining
    assert models.get_latest_version(pipes.MODEL).version == 2


def _rollout_policy(every: str) -> None:
    ka.policy(
        "retrain",
        when=ka.on_new_data("tx"),
        run=pipes.training,
        promote=ka.champion_challenger(
            metric="roc_auc",
            holdout="tx@latest",
            deployment=DEPLOYMENT,
            rollout=ka.canary([50, 100], every=every),
        ),
    )


@pytest.mark.slow
def test_an_agent_killed_mid_rollout_is_followed_by_one_that_finishes_it(
    world: World, agents: list[subprocess.Popen[bytes]]
) -> None:
    _rollout_policy("4s")
    keel.datasets.register("tx", pipes.frame(seed=1))
    agents.append(_agent("--task", "policies", "--lease-ttl", "2"))
    _wait(lambda: [t.status for t in ka.policy_history("retrain")] == ["rolling_out"])
    _wait(lambda: get_deployment(DEPLOYMENT).spec.canary_percent == 50.0)
    agents[0].send_signal(signal.SIGKILL)
    agents[0].wait(10)
    (t,) = ka.policy_history("retrain")
    assert (t.status, t.step_index) == ("rolling_out", 0)  # the dead agent left it mid-way
    agents.append(_agent("--task", "policies", "--lease-ttl", "2"))
    _wait(lambda: ka.policy_history("retrain")[0].status == "promoted")
    agents[1].send_signal(signal.SIGTERM)
    assert agents[1].wait(20) == 0
    (t,) = ka.policy_history("retrain")
    steps = [e.details["step"] for e in ka.trigger_events(t.id) if e.kind == "rollout_step"]
    assert steps == [0, 1]  # each step once, across both agents
    spec = get_deployment(DEPLOYMENT).spec
    assert spec.canary_version is None
    assert spec.alias == "champion"
    assert models.get_version_by_alias(pipes.MODEL, "champion").version == 2


def test_a_rollout_step_recorded_but_not_applied_is_applied_on_resume(world: World) -> None:
    """The agent died between writing the next step and changing the deployment."""
    from keel._utils import now_ms
    from keel.registry import get_registry

    ka.policy(
        "retrain",
        when=ka.on_new_data("tx"),
        run=pipes.training,
        promote=ka.champion_challenger(
            metric="roc_auc",
            holdout="tx@latest",
            deployment=DEPLOYMENT,
            rollout=ka.canary([10, 50, 100], every="1h"),
        ),
    )
    keel.datasets.register("tx", pipes.frame(seed=1))
    t0 = now_ms()
    (t,) = ka.evaluate_policies(now=t0)
    assert get_deployment(DEPLOYMENT).spec.canary_percent == 10.0
    repo = AutomationRepository(get_registry().store)
    moved = repo.transition(t, step_index=1, step_started_at=t0, event="rollout_step")
    assert moved is not None
    assert get_deployment(DEPLOYMENT).spec.canary_percent == 10.0  # not applied yet
    assert ka.evaluate_policies(now=t0 + 1000) == []  # nothing new to record, but ...
    assert get_deployment(DEPLOYMENT).spec.canary_percent == 50.0  # ... the step is applied


def test_agent_runs_monitors_and_policies_once(world: World) -> None:
    from keel.automation._agent import run_agent
    from keel.pipelines import list_agent_tasks

    assert {"schedules", "monitors", "policies"} <= set(list_agent_tasks())
    ka.policy("fresh", when=ka.on_new_data("tx"), run=pipes.training, cooldown=0)
    keel.datasets.register("tx", pipes.frame(seed=1))
    agent = run_agent(once=True, tasks=["monitors", "policies"])
    assert not agent._held  # released when it stopped
    assert [t.status for t in ka.policy_history("fresh")] == ["completed"]
