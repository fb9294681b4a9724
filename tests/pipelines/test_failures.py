"""Retries with backoff, timeouts, failed steps, skipped downstream steps."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.pipelines import PipelineFailedError, StepStatus, get_run


def _attempt(path: str) -> int:
    with open(path, "a") as f:
        f.write("x")
    return len(Path(path).read_text())


@keel.step(retries=2, retry_delay=0.01, backoff=2.0)
def flaky(path: str, fail_times: int) -> str:
    if _attempt(path) <= fail_times:
        raise ConnectionError(f"transient failure #{len(Path(path).read_text())}")
    return "ok"


@keel.step
def after(value: str) -> str:
    return value + "!"


@keel.step
def independent() -> int:
    return 7


@keel.pipeline
def retrying(path: str, fail_times: int = 2):
    return after(flaky(path, fail_times)), independent()


def test_retries_until_success(home: Path, counter: Any) -> None:
    run = retrying.run(path=counter.path("r1"), fail_times=2)
    assert run.status == "FINISHED"
    step = run.steps["flaky"]
    assert step.status is StepStatus.COMPLETED
    assert step.attempts == 3
    assert run.outputs == ("ok!", 7)
    assert counter.read("r1") == 3


def test_exhausted_retries_fail_the_run_and_skip_downstream(home: Path, counter: Any) -> None:
    run = retrying.run(path=counter.path("r2"), fail_times=5)
    assert run.status == "FAILED"
    assert run.failed_step == "flaky"
    flaky_run = run.steps["flaky"]
    assert flaky_run.status is StepStatus.FAILED
    assert flaky_run.attempts == 3
    assert flaky_run.error == "ConnectionError: transient failure #3"
    assert "raise ConnectionError" in (flaky_run.traceback or "")
    assert run.steps["after"].status is StepStatus.SKIPPED
    assert run.steps["independent"].status is StepStatus.COMPLETED  # independent branch ran
    assert run.error == "ConnectionError: transient failure #3"
    with pytest.raises(PipelineFailedError, match=r"failed at step 'flaky': ConnectionError"):
        _ = run.outputs
    # What the store holds says the same, and the tracked run failed too.
    stored = get_run(run.id[:10])
    assert stored.status == "FAILED"
    assert stored.steps["after"].status is StepStatus.SKIPPED
    assert keel.get_run(run.id).info.status == "FAILED"


@keel.step(retries=3, retry_delay=0.01, retry_on=(ConnectionError,))
def picky(path: str) -> int:
    _attempt(path)
    raise ValueError("a bug, not worth retrying")


@keel.pipeline
def not_retried(path: str):
    return picky(path)


def test_errors_outside_retry_on_fail_at_once(home: Path, counter: Any) -> None:
    run = not_retried.run(path=counter.path("r3"))
    assert run.status == "FAILED"
    assert run.steps["picky"].attempts == 1
    assert counter.read("r3") == 1


@keel.pipeline
def two_branches(path: str):
    return picky(path), independent()


def test_fail_fast_skips_independent_steps(home: Path, counter: Any) -> None:
    run = two_branches.run(path=counter.path("r4"), fail_fast=True)
    assert run.status == "FAILED"
    assert run.steps["independent"].status is StepStatus.SKIPPED
    run = two_branches.run(path=counter.path("r5"))
    assert run.steps["independent"].status is StepStatus.COMPLETED


@keel.step(timeout=0.3)
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@keel.pipeline
def sleepy(seconds: float = 5.0):
    return slow(seconds)


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_timeout_stops_the_step(home: Path, executor: str) -> None:
    started = time.monotonic()
    run = sleepy.run(seconds=30.0, executor=executor)
    assert time.monotonic() - started < 25
    assert run.status == "FAILED"
    step = run.steps["slow"]
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert "StepTimeoutError: Step 'slow' ran longer than its timeout of 0.3s" in step.error


def test_a_fast_step_is_not_stopped(home: Path) -> None:
    assert sleepy.run(seconds=0.01).outputs == 0.01


@keel.step(timeout=0.5, retries=1, retry_delay=0.01)
def deaf(path: str) -> str:
    # Ignores the worker's alarm, as code stuck in C would: only killing the worker stops it.
    if _attempt(path) == 1:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(60)
    return "second attempt"


@keel.pipeline
def stubborn(path: str):
    return deaf(path)


@pytest.mark.slow
def test_hard_timeout_kills_the_worker_and_retries(home: Path, counter: Any) -> None:
    run = stubborn.run(path=counter.path("t1"), executor="process")
    assert run.status == "FINISHED", run.error
    assert run.outputs == "second attempt"
    assert run.steps["deaf"].attempts == 2


@keel.step(retries=1, retry_delay=0.01)
def crash(path: str) -> int:
    if _attempt(path) == 1:
        os._exit(3)  # the worker process dies
    return os.getpid()


@keel.pipeline
def crashing(path: str):
    return crash(path)


def test_dead_worker_is_a_failed_attempt_and_is_replaced(home: Path, counter: Any) -> None:
    run = crashing.run(path=counter.path("c1"), executor="process")
    assert run.status == "FINISHED", run.error
    assert run.steps["crash"].attempts == 2
    assert run.outputs != os.getpid()
