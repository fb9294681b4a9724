"""The executors: parallel steps in worker processes, steps on Ray, the executor contract."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keel
from keel.errors import InvalidArgumentError
from keel.pipelines import StepStatus, get_executor
from keel.pipelines._worker import run_step_task


def _wait_for(path: Path, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


@keel.step
def rendezvous(me: str, other: str) -> int:
    # Each step announces itself, then waits for the other: run one after the other, the
    # first would wait in vain. Together, both pass.
    Path(me).touch()
    if not _wait_for(Path(other)):
        raise TimeoutError(f"{other} never appeared: the steps did not run at the same time")
    return os.getpid()


@keel.step
def pair(a: int, b: int) -> list[int]:
    return [a, b]


@keel.pipeline
def side_by_side(folder: str):
    a = rendezvous(f"{folder}/a", f"{folder}/b")
    b = rendezvous(f"{folder}/b", f"{folder}/a")
    return pair(a, b)


def test_independent_steps_run_at_the_same_time_in_processes(home: Path, tmp_path: Path) -> None:
    run = side_by_side.run(folder=str(tmp_path), executor="process", max_workers=2)
    assert run.status == "FINISHED", run.error
    first, second = run.steps["rendezvous"].record, run.steps["rendezvous_2"].record
    assert first.start_time is not None
    assert first.end_time is not None
    assert second.start_time is not None
    assert second.end_time is not None
    # The recorded intervals overlap, and two different processes ran them.
    assert first.start_time < second.end_time
    assert second.start_time < first.end_time
    assert first.pid != second.pid
    assert set(run.outputs) == {first.pid, second.pid}
    assert os.getpid() not in run.outputs


def test_steps_defined_in_a_function_run_in_processes(home: Path) -> None:
    offset = 100

    @keel.step
    def make(n: int) -> np.ndarray:
        return np.arange(n) + offset

    @keel.step
    def total(values: np.ndarray) -> int:
        return int(values.sum())

    @keel.pipeline
    def local(n: int = 4):
        return total(make(n))

    run = local.run(n=4, executor="process")
    assert run.status == "FINISHED", run.error
    assert run.outputs == 406
    assert run.steps["make"].outputs[0]["serializer"] == "numpy"


def test_unknown_executor_is_refused_before_anything_runs(home: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"Unknown executor 'proces'\. Did you mean"):
        side_by_side.run(folder="x", executor="proces")
    assert keel.pipelines.list_runs() == []


def test_process_executor_reports_a_task_that_raises() -> None:
    with get_executor("process", max_workers=1) as executor:
        task_id = executor.submit(run_step_task, "not a task")
        results = []
        while not results:
            results = executor.wait(30)
    assert results[0].task_id == task_id
    assert not results[0].ok
    assert "AttributeError" in (results[0].error or "")


@keel.step
def where(tag: str) -> dict[str, Any]:
    import socket

    return {"tag": tag, "pid": os.getpid(), "host": socket.gethostname()}


@keel.step
def merge(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted([a["tag"], b["tag"]])


@keel.pipeline
def on_ray():
    return merge(where("left"), where("right"))


@pytest.mark.ray
@pytest.mark.slow
def test_ray_executor_runs_steps_on_ray(home: Path, ray_cluster: Any) -> None:
    run = on_ray.run(executor="ray")
    assert run.status == "FINISHED", run.error
    assert run.outputs == ["left", "right"]
    pids = {s.record.pid for s in run.steps.values()}
    assert os.getpid() not in pids
    assert all(s.status is StepStatus.COMPLETED for s in run.steps.values())
    again = on_ray.run(executor="ray")
    assert again.cache_hits == ["where", "where_2", "merge"]
