"""Cost: resources of run trees grouped by model, experiment, pipeline and user, times rates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import keel
from keel.cli._app import app
from keel.errors import InvalidArgumentError
from keel.governance._cost import DEFAULT_RATES, CostRates, cost

from ._world import build, gov_env, gov_sqlite  # noqa: F401

pytest.importorskip("sklearn")


def _burn(n: int = 200_000) -> int:
    return sum(i * i for i in range(n))


def _info(run_id: str) -> Any:
    return keel.get_run(run_id).info


@pytest.mark.usefixtures("gov_env")
def test_cost_by_model_pipeline_experiment_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_COST_RATES", "cpu_hour=3600, gb_hour=0, gpu_hour=3600")
    world = build(tmp_path, predictions=False)
    keel.set_experiment("adhoc")
    with keel.start_run(run_name="parent") as parent:
        _burn()
        with keel.start_run(run_name="child", nested=True) as child:
            _burn()
            keel.set_tag("keel.gpu_seconds", "2.5")
    p, c = _info(parent.id), _info(child.id)
    assert p.cpu_time_s is not None
    assert c.cpu_time_s is not None
    # Parent and child share a process: the tree counts the larger, not the sum.
    tree_cpu = max(p.cpu_time_s, c.cpu_time_s)

    by_model = cost("model", "1d")
    lines = {line.key: line for line in by_model.lines}
    assert set(lines) == {"churn", "(no model)"}
    assert lines["(no model)"].runs == 1
    assert lines["(no model)"].cpu_seconds == pytest.approx(tree_cpu)
    assert lines["(no model)"].gpu_seconds == pytest.approx(2.5)
    assert lines["(no model)"].gpu_cost == pytest.approx(2.5)
    assert lines["(no model)"].cost == pytest.approx(tree_cpu + 2.5)
    pipeline_run = _info(world.pipeline_run_id)
    assert lines["churn"].cpu_seconds >= (pipeline_run.cpu_time_s or 0)
    assert lines["churn"].peak_memory_bytes >= (pipeline_run.peak_rss_bytes or 0) > 0
    assert by_model.total.cost == pytest.approx(sum(x.cost for x in by_model.lines))
    assert by_model.rates == CostRates(cpu_hour=3600, gb_hour=0, gpu_hour=3600)

    by_pipeline = {x.key: x for x in cost("pipeline", "1d").lines}
    assert set(by_pipeline) == {"training", "(no pipeline)"}
    assert by_pipeline["training"].cost == pytest.approx(lines["churn"].cost)
    assert {x.key for x in cost("experiment", "1d").lines} == {"training", "adhoc"}
    users = cost("user", "1d").lines
    assert len(users) == 1
    assert users[0].runs == 2
    assert cost("model", "2099-01-01").lines == []


def test_rates_and_errors() -> None:
    assert CostRates.parse(None) == CostRates(**DEFAULT_RATES)
    assert CostRates.parse("gpu_hour=3").gpu_hour == 3
    assert CostRates.parse("gpu_hour=3").cpu_hour == DEFAULT_RATES["cpu_hour"]
    with pytest.raises(InvalidArgumentError, match=r"'cpu_hr=1' is not 'name=price'.*cpu_hour"):
        CostRates.parse("cpu_hr=1")
    with pytest.raises(InvalidArgumentError, match=r"'gb_hour' must be a number of 0 or more"):
        CostRates.parse("gb_hour=-1")
    with pytest.raises(InvalidArgumentError, match=r"Cannot group cost by 'modle'.*'model'"):
        cost("modle")


@pytest.mark.usefixtures("gov_sqlite")
def test_cost_command(tmp_path: Path) -> None:
    build(tmp_path, predictions=False)
    runner = CliRunner()
    out = runner.invoke(app, ["cost", "--by", "model", "--since", "30d"])
    assert out.exit_code == 0, out.output
    assert "churn" in out.output
    assert "Rates: cpu_hour=0.05" in out.output
    out = runner.invoke(app, ["cost", "--by", "user", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["by"] == "user"
    assert data["total"]["runs"] == 1
    out = runner.invoke(app, ["cost", "--by", "team"])
    assert out.exit_code == 1
    assert "Cannot group cost by 'team'" in out.output


@pytest.mark.usefixtures("gov_sqlite")
def test_rates_from_keel_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.config import reset_settings

    monkeypatch.delenv("KEEL_COST_RATES", raising=False)
    (tmp_path / "keel.toml").write_text('[keel]\ncost_rates = "gpu_hour=4, cpu_hour=1"\n')
    monkeypatch.chdir(tmp_path)
    reset_settings()
    report = cost("user", "1d")
    assert report.rates == CostRates(cpu_hour=1, gpu_hour=4)
    monkeypatch.setenv("KEEL_COST_RATES", "gpu_hour=5")
    reset_settings()
    assert cost("user", "1d").rates.gpu_hour == 5  # the environment wins over the file
