"""``keel quickstart``: the whole loop on built-in data, as a command and in-process."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import keel
from keel.quickstart import run_quickstart
from keel.store import RunStatus


def _keel(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KEEL_") and k != "PYTEST_CURRENT_TEST"
    }
    env.update(KEEL_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [str(Path(sys.executable).parent / "keel"), *args],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_quickstart_command_then_runs_ls(tmp_path: Path) -> None:
    home = tmp_path / "keel-home"
    done = _keel(home, "quickstart", "--epochs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    best = re.search(r"Best run: (\S+) \(([0-9a-f]{8})\) with AUC (0\.\d+)", done.stdout)
    assert best, done.stdout
    assert (home / "keel.db").is_file()

    listed = _keel(home, "runs", "ls", "--experiment", "quickstart-churn")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert best.group(2) in listed.stdout
    assert listed.stdout.count("FINISHED") >= 5  # the sweep's parent and its four runs

    # The command the quickstart tells users to run next works as printed.
    printed = re.search(r"keel runs show (\S+)", done.stdout)
    assert printed, done.stdout
    shown = _keel(home, "runs", "show", printed.group(1))
    assert shown.returncode == 0, f"'keel runs show {printed.group(1)}' failed: {shown.stderr}"
    assert best.group(1) in shown.stdout


def test_run_quickstart_in_process(keel_home: Path) -> None:
    out = io.StringIO()
    result = run_quickstart(Console(file=out, width=120), epochs=2, seed=3)
    text = out.getvalue()
    assert "Best run:" in text
    assert result.experiment == "quickstart-churn"
    assert len(result.run_ids) == 4
    assert result.best_run_id in result.run_ids
    aucs = {r: keel.get_run(r).data.metrics["auc"] for r in result.run_ids}
    assert result.best_auc == max(aucs.values()) == aucs[result.best_run_id]
    assert 0.5 < result.best_auc <= 1.0
    parent = keel.get_run(result.parent_run_id)
    assert parent.info.status is RunStatus.FINISHED
    for run_id in result.run_ids:
        run = keel.get_run(run_id)
        assert run.info.status is RunStatus.FINISHED
        assert run.info.parent_run_id == result.parent_run_id
        assert [m.step for m in keel.get_metric_history(run_id, "train_loss")] == [0, 1]
        assert set(run.data.params) >= {"alpha", "epochs"}
        matrix = keel.load_dict(run_id, "confusion_matrix.json")["matrix"]
        assert len(matrix) == 2
        assert sum(map(sum, matrix)) > 0
    assert keel.tracking.get_client().store.verify_audit_chain().ok
