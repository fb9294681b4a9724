"""Resuming after the process running a pipeline is killed with SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from keel.pipelines import StepStatus, list_runs
from keel.store._pipelines import PipelineRepository
from keel.tracking import get_client

SCRIPT = """
import os
import sys
import time
from pathlib import Path

import keel

FOLDER = Path(sys.argv[1])


def tick(name):
    with open(FOLDER / name, "a") as f:
        f.write("x")


@keel.step
def prepare(n: int) -> list[int]:
    tick("prepare")
    return list(range(n))


@keel.step
def train(data: list[int]) -> int:
    tick("train")
    if os.environ.get("HANG") == "1":
        (FOLDER / "train-started").touch()
        time.sleep(600)
    return sum(data)


@keel.step
def evaluate(total: int) -> str:
    tick("evaluate")
    return f"total={total}"


@keel.pipeline
def job(n: int = 5):
    return evaluate(train(prepare(n)))


run = job.run()
print(run.status, run.outputs)
"""


@pytest.mark.slow
def test_rerun_after_sigkill_resumes_from_finished_steps(home: Path, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "KEEL_HOME": str(home), "HANG": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(marks)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not (marks / "train-started").exists():
            assert proc.poll() is None, "the pipeline process ended before it was killed"
            assert time.monotonic() < deadline, "train never started"
            time.sleep(0.05)
        # 'prepare' has finished; wait until its record (and cache entry) is committed.
        repo = PipelineRepository(get_client().store)
        while True:
            runs = repo.list_runs(pipeline="job")
            if runs and any(s.name == "prepare" and s.status == "COMPLETED" for s in runs[0].steps):
                break
            assert time.monotonic() < deadline, "prepare was never recorded as completed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    env["HANG"] = "0"
    done = subprocess.run(
        [sys.executable, str(script), str(marks)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "FINISHED total=10"
    # The finished step was not run again; the killed one and what follows it were.
    assert (marks / "prepare").read_text() == "x"
    assert (marks / "train").read_text() == "xx"
    assert (marks / "evaluate").read_text() == "x"
    latest, killed = list_runs("job")[:2]
    assert latest.steps["prepare"].cache_hit
    assert latest.steps["prepare"].status is StepStatus.CACHED
    assert latest.steps["prepare"].record.cached_from == killed.steps["prepare"].record.id
    assert not latest.steps["train"].cache_hit
    assert killed.status == "RUNNING"  # nobody ended it: 'keel doctor' finds such runs
    assert killed.steps["train"].status is StepStatus.RUNNING
    assert killed.steps["evaluate"].status is StepStatus.PENDING
