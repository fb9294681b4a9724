"""The CI templates of ``examples/ci``: the keel commands they run, run here.

Both templates call ``examples/ci/ci.sh pr`` on a pull/merge request and ``ci.sh merge`` on
the default branch; this runs the same script in a fresh ``KEEL_HOME``: a first PR and its
merge make version 1 the champion; a second PR on other data registers version 2, whose
comparison fails the ``beats`` gate, so its merge is refused and the champion stays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"


def _run(stage: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    full |= {
        "KEEL_HOME": str(tmp_path / "home"),
        "KEEL_CI_OUT": str(tmp_path / "out"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **env,
    }
    return subprocess.run(
        ["bash", str(CI / "ci.sh"), stage],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_templates_run_the_ci_script() -> None:
    github = yaml.safe_load((CI / "github-actions.yml").read_text())
    steps = [s.get("run", "") for job in github["jobs"].values() for s in job["steps"]]
    assert "bash examples/ci/ci.sh pr" in steps
    assert "bash examples/ci/ci.sh merge" in steps
    gitlab = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    assert "bash examples/ci/ci.sh pr" in gitlab["challenger"]["script"]
    assert "bash examples/ci/ci.sh merge" in gitlab["promote"]["script"]


@pytest.mark.slow
def test_pr_then_merge_then_a_worse_challenger(tmp_path: Path) -> None:
    first = _run("pr", tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    comparison = (tmp_path / "out" / "comparison.md").read_text()
    assert "churn-model v1 vs champion" in comparison
    assert "Gates: pass" in comparison
    merged = _run("merge", tmp_path)
    assert merged.returncode == 0, merged.stdout + merged.stderr

    second = _run("pr", tmp_path, KEEL_CI_SEED="8")
    assert second.returncode == 0, second.stdout + second.stderr
    comparison = (tmp_path / "out" / "comparison.md").read_text()
    assert "churn-model v2 vs champion" in comparison
    assert "Gates: fail" in comparison
    refused = _run("merge", tmp_path)
    assert refused.returncode == 1
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import keel; print(keel.models.get_version_by_alias('churn-model', 'champion')"
            ".version)",
        ],
        env={**os.environ, "KEEL_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "1"
