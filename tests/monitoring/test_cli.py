"""``keel monitor`` commands, run through the real CLI app."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from typer.testing import CliRunner

import keel.monitoring as km
from keel.cli import app

from ._traffic import HOUR, T0, customers, log_hours

runner = CliRunner()


def test_monitor_commands(keel_home: Any, tmp_path: Any) -> None:
    log_hours("churn", [False, True], seed=4)
    km.create_monitor(
        "churn",
        reference=customers(np.random.default_rng(1), 2000, drifted=False),
        checks=[km.data_drift(share=0.3), km.data_quality()],
    )
    until = (T0.replace(hour=3)).strftime("%Y-%m-%dT%H:%M")
    result = runner.invoke(app, ["monitor", "run", "churn", "--until", until])
    assert result.exit_code == 0, result.output
    assert "2 new windows" in result.output
    assert "breach" in result.output
    result = runner.invoke(app, ["monitor", "run", "churn", "--until", until])
    assert "no new complete window" in result.output
    result = runner.invoke(app, ["monitor", "show", "churn"])
    assert result.exit_code == 0, result.output
    assert "data_drift" in result.output
    assert "alert.fired" in result.output
    shown = json.loads(runner.invoke(app, ["monitor", "show", "churn", "--json"]).output)
    assert [r["status"] for r in shown["results"]] == ["ok", "breach"]
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["monitor", "report", "churn", "--out", str(out)])
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    result = runner.invoke(app, ["monitor", "grafana"])
    assert json.loads(result.output)["uid"] == "keel-monitoring"
    result = runner.invoke(app, ["monitor", "metrics"])
    assert 'keel_monitor_drift_share{deployment="churn",monitor="churn"}' in result.output
    assert "churn" in runner.invoke(app, ["monitor", "ls"]).output
    assert "data_drift" in runner.invoke(app, ["monitor", "events", "churn"]).output
    assert HOUR == 3_600_000


def test_monitor_cli_errors_are_one_line(keel_home: Any) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "keel.cli", "monitor", "run", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    if "No module named keel.cli.__main__" in proc.stderr:
        proc = subprocess.run(
            [sys.executable, "-c", "from keel.cli import main; main()", "monitor", "run", "nope"],
            capture_output=True,
            text=True,
            check=False,
        )
    assert proc.returncode == 1
    assert "Error: No monitor is named 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
