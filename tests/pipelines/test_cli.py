"""``keel pipeline run / ls / show / schedules`` and ``keel agent``, through ``keel.cli.main``."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import keel

MODULE = """
import keel


@keel.step
def load(n: int) -> list[int]:
    return list(range(n))


@keel.step
def train(data: list[int], lr: float) -> float:
    if lr < 0:
        raise ValueError(f"lr must be positive, got {lr}")
    return sum(data) * lr


@keel.step
def evaluate(score: float) -> str:
    return f"score={score:.2f}"


@keel.pipeline
def training(n: int = 4, lr: float = 0.1):
    return evaluate(train(load(n), lr))
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def keel_cli(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run ``keel ARGS`` in this process (as the installed script does) and capture it."""
    from keel.cli import main

    monkeypatch.setenv("COLUMNS", "200")

    def run(folder: Path, *args: str) -> Result:
        monkeypatch.chdir(folder)
        monkeypatch.setattr(sys, "argv", ["keel", *args])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "jobs.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "jobs", raising=False)
    return folder


def test_pipeline_cli_run_ls_show(project: Path, keel_cli: Callable[..., Result]) -> None:
    folder = project

    first = keel_cli(folder, "pipeline", "run", "jobs:training", "--param", "lr=0.5")
    assert first.returncode == 0, first.stderr
    assert "FINISHED" in first.stdout
    assert "3 steps, 0 from cache" in first.stdout
    for step in ("load", "train", "evaluate"):
        assert step in first.stdout

    second = keel_cli(folder, "pipeline", "run", "jobs.py:training", "-p", "lr=0.5")
    assert second.returncode == 0, second.stderr
    assert "3 steps, 3 from cache" in second.stdout

    failed = keel_cli(folder, "pipeline", "run", "jobs:training", "--param", "lr=-1")
    assert failed.returncode == 1
    assert "Step 'train' failed after 1 attempt(s): ValueError: lr must be positive" in (
        failed.stderr
    )
    assert "Skipped downstream: evaluate" in failed.stderr

    listing = keel_cli(folder, "pipeline", "ls")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("training") == 3
    assert "FAILED" in listing.stdout
    assert "3/3" in listing.stdout

    run_id = next(line.split()[1] for line in failed.stdout.splitlines() if line.startswith("Run "))
    show = keel_cli(folder, "pipeline", "show", run_id[:8])
    assert show.returncode == 0, show.stderr
    assert "FAILED" in show.stdout
    assert "SKIPPED" in show.stdout
    assert "hit" in show.stdout  # load came from the cache
    assert "ValueError: lr must be positive, got -1.0" in show.stderr

    no_cache = keel_cli(folder, "pipeline", "run", "jobs:training", "--no-cache")
    assert no_cache.returncode == 0
    assert "0 from cache" in no_cache.stdout


def test_pipeline_cli_bad_input(project: Path, keel_cli: Callable[..., Result]) -> None:
    tmp_path = project
    bad_type = keel_cli(tmp_path, "pipeline", "run", "jobs:training", "--param", "lr=fast")
    assert bad_type.returncode == 1
    assert "Pipeline 'training' parameter 'lr' expects float, got 'fast'" in bad_type.stderr
    unknown = keel_cli(tmp_path, "pipeline", "run", "jobs:training", "--param", "lrr=1")
    assert "has no parameter 'lrr'. Did you mean 'lr'?" in unknown.stderr
    missing = keel_cli(tmp_path, "pipeline", "run", "jobs:trainin")
    assert "Module 'jobs' has no 'trainin'. Did you mean 'training'?" in missing.stderr
    executor = keel_cli(tmp_path, "pipeline", "run", "jobs:training", "-x", "rey")
    assert "Unknown executor 'rey'. Did you mean 'ray'?" in executor.stderr
    shown = keel_cli(tmp_path, "pipeline", "show", "0123abcd")
    assert shown.returncode == 1
    assert "No pipeline run has an id starting with" in shown.stderr


@pytest.mark.slow
def test_agent_command_once(
    project: Path, keel_cli: Callable[..., Result], caplog: pytest.LogCaptureFixture
) -> None:
    import jobs

    from keel.store._pipelines import PipelineRepository
    from keel.tracking import get_client

    tmp_path = project
    monkeypatch_cwd = os.getcwd()
    os.chdir(project)
    try:
        made = keel.schedule(jobs.training, cron="* * * * *", params={"n": 3})
    finally:
        os.chdir(monkeypatch_cwd)
    PipelineRepository(get_client().store).update_schedule(made.name, next_run_at=0)
    listed = keel_cli(tmp_path, "pipeline", "schedules")
    assert "jobs:training" in listed.stdout
    assert "* * * * * (UTC)" in listed.stdout
    caplog.set_level("INFO", logger="keel.agent")
    agent = keel_cli(tmp_path, "agent", "--once")
    assert agent.returncode == 0, agent.stderr
    assert "fired schedule 'training'" in caplog.text
    runs = keel_cli(tmp_path, "pipeline", "ls")
    assert "training" in runs.stdout
    assert "FINISHED" in runs.stdout
