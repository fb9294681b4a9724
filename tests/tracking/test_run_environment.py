"""What a run records about where it ran (source, git, Python, packages) and what it cost."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import keel
from keel.store import RunStatus
from keel.tracking import TrackingClient

from ._keelprocs import child_env, write_script

TRAIN = """
import keel

keel.set_experiment("git-runs")
with keel.start_run() as run:
    keel.log_metric("loss", 0.5)
print(run.id)
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Keel Test", "-c", "user.email=test@keel.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _run_script(script: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=script.parent,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_git_commit_and_dirty_flag_of_a_script(
    local_client: TrackingClient, tmp_path: Path
) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    script = write_script(repo, "train.py", TRAIN)
    (repo / "README.md").write_text("project\n")
    _git(repo, "add", "train.py", "README.md")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")

    clean = keel.get_run(_run_script(script)).info
    assert clean.git_commit == head
    assert clean.git_dirty is False
    assert clean.source == str(script.resolve())
    assert clean.python_version == platform.python_version()
    assert clean.hostname == socket.gethostname()
    assert clean.pid is not None
    assert clean.pid != os.getpid()

    (repo / "README.md").write_text("project, changed\n")  # a tracked file changes
    dirty = keel.get_run(_run_script(script)).info
    assert dirty.git_commit == head
    assert dirty.git_dirty is True


def test_no_git_outside_a_repository(local_client: TrackingClient, tmp_path: Path) -> None:
    script = write_script(tmp_path, "train.py", TRAIN)
    info = keel.get_run(_run_script(script)).info
    assert info.source == str(script.resolve())
    assert info.git_commit is None
    assert info.git_dirty is None


def test_environment_snapshot_is_a_stored_blob(client: TrackingClient) -> None:
    with keel.start_run() as first:
        pass
    with keel.start_run() as second:
        pass
    info = keel.get_run(first.id).info
    assert info.environment_digest is not None
    assert keel.get_run(second.id).info.environment_digest == info.environment_digest
    assert client.artifacts.exists(info.environment_digest)
    snapshot = json.loads(client.artifacts.get_bytes(info.environment_digest))
    assert snapshot["python"] == platform.python_version()
    assert "sqlalchemy" in snapshot["packages"]
    assert snapshot["packages"]["keel"] == keel.__version__
    refs = {(d, r, p) for d, r, p in client.store.iter_artifact_references()}
    assert (info.environment_digest, first.id, "<environment>") in refs


def _burn_cpu(seconds: float) -> None:
    start = time.process_time()
    while time.process_time() - start < seconds:
        sum(i * i for i in range(1000))


def test_resources_are_recorded_when_the_run_ends(client: TrackingClient) -> None:
    with keel.start_run() as run:
        running = keel.get_run(run.id).info
        assert (running.wall_time_s, running.cpu_time_s, running.peak_rss_bytes) == (
            None,
            None,
            None,
        )
        assert running.process_start is not None
        _burn_cpu(0.05)
        ballast = bytearray(8 * 1024 * 1024)  # peak memory includes what the run touched
        ballast[::4096] = b"x" * len(ballast[::4096])
    info = keel.get_run(run.id).info
    assert info.status is RunStatus.FINISHED
    assert info.wall_time_s is not None
    assert info.wall_time_s > 0
    assert info.cpu_time_s is not None
    assert info.cpu_time_s > 0
    assert info.peak_rss_bytes is not None
    assert info.peak_rss_bytes > len(ballast)
    assert info.wall_time_s <= (info.end_time or 0) / 1000 - info.start_time / 1000 + 1
