"""``keel policies ls|show|history`` and ``keel agent --once``."""

from __future__ import annotations

from typer.testing import CliRunner

import keel
import keel.automation as ka
from keel.cli._app import app
from tests.automation import _pipelines as pipes
from tests.automation.conftest import World

runner = CliRunner()


def test_policies_ls_show_history_and_agent_once(world: World) -> None:
    ka.policy(
        "retrain",
        when=ka.on_new_data("tx") | ka.on_schedule("0 3 * * 1"),
        run=pipes.training,
        promote=ka.champion_challenger(metric="roc_auc", holdout="tx@latest"),
        cooldown="6h",
    )
    keel.datasets.register("tx", pipes.frame(seed=1))
    result = runner.invoke(app, ["agent", "--once", "--task", "policies"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["policies", "ls"])
    assert result.exit_code == 0, result.output
    assert "retrain" in result.output
    assert "promoted" in result.output
    result = runner.invoke(app, ["policies", "show", "retrain"])
    assert result.exit_code == 0, result.output
    assert "new data in tx | schedule '0 3 * * 1'" in result.output
    assert "roc_auc" in result.output
    result = runner.invoke(app, ["policies", "show", "retrain", "--json"])
    assert '"approval": "auto"' in result.output
    result = runner.invoke(app, ["policies", "history", "retrain", "--events"])
    assert result.exit_code == 0, result.output
    assert "new_data tx@v2" in result.output
    assert "compared" in result.output
    assert runner.invoke(app, ["policies", "disable", "retrain"]).exit_code == 0
    assert not ka.get_policy("retrain").enabled
    keel.datasets.register("tx", pipes.frame(seed=2))
    assert ka.evaluate_policies() == []  # disabled: tx@v3 is not acted on
    assert runner.invoke(app, ["policies", "enable", "retrain"]).exit_code == 0
    assert ka.get_policy("retrain").enabled
    result = runner.invoke(app, ["policies", "show", "retrian"])
    assert result.exit_code == 1
    assert "No policy named 'retrian'" in result.output
    assert "retrain" in result.output
