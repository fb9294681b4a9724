"""keel.tune: Optuna trials on the executors, nested trial runs, pruning, bad input."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.errors import InvalidArgumentError, InvalidStateError


def quadratic(lr: float, depth: int) -> float:
    return (math.log10(lr) + 2) ** 2 + (depth - 6) ** 2


SPACE = {"lr": keel.tune.loguniform(1e-4, 1), "depth": keel.tune.int(2, 12)}


def _check_result(best: Any, n: int) -> None:
    assert len(best.trials) == n
    assert best.count("COMPLETE") == n
    assert best.best_value == min(t.value for t in best.trials)
    assert best.params == best.best_params
    assert 1e-4 <= best.params["lr"] <= 1
    assert 2 <= best.params["depth"] <= 12
    parent = keel.get_run(best.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_value"] == best.best_value
    assert float(parent.data.params["best.lr"]) == best.params["lr"]
    assert parent.data.params["best.depth"] == str(best.params["depth"])
    assert parent.data.tags["keel.best_run_id"] == best.best_run_id
    children = keel.search_runs(
        [parent.info.experiment_id], filter=f"attributes.parent_run_id = '{best.run_id}'"
    )
    assert len(children) == n  # each trial a nested tracked run
    best_trial_run = keel.get_run(best.best_run_id)
    assert best_trial_run.data.metrics["objective_value"] == best.best_value
    assert float(best_trial_run.data.params["lr"]) == best.params["lr"]


@pytest.mark.slow
def test_tune_20_trials_on_the_process_executor(home: Path) -> None:
    best = keel.tune(quadratic, SPACE, n_trials=20, executor="process", seed=1)
    _check_result(best, 20)
    assert best.best_value < 4


@pytest.mark.ray
@pytest.mark.slow
def test_tune_20_trials_on_ray(home: Path, ray_cluster: Any) -> None:
    best = keel.tune(quadratic, SPACE, n_trials=20, executor="ray", seed=2)
    _check_result(best, 20)


def test_tune_inline_maximizes_a_metric(home: Path) -> None:
    def objective(x: float, kind: str) -> dict[str, float]:
        return {"score": -((x - 0.3) ** 2), "other": 1.0}

    best = keel.tune(
        objective,
        {"x": keel.tune.uniform(0, 1), "kind": keel.tune.choice(["a", "b"])},
        n_trials=12,
        direction="maximize",
        metric="score",
        seed=3,
    )
    assert best.best_value == max(t.value for t in best.trials if t.value is not None)
    assert keel.get_run(best.run_id).data.metrics["best_score"] == best.best_value


def test_pruning_stops_unpromising_trials(home: Path) -> None:
    def learning(rate: float, trial: keel.tune.Trial) -> float:
        loss = 10.0
        for epoch in range(8):
            loss = loss * (1 - rate) + rate
            trial.report(loss, epoch)
            if trial.should_prune():
                trial.prune()
        return loss

    best = keel.tune(learning, {"rate": keel.tune.uniform(0.01, 0.9)}, n_trials=16, seed=4)
    assert best.count("PRUNED") >= 1
    pruned = next(t for t in best.trials if t.state == "PRUNED")
    assert keel.get_run(pruned.run_id).data.tags["keel.trial_state"] == "PRUNED"
    assert len(keel.get_metric_history(pruned.run_id, "objective")) == len(pruned.intermediate)


@keel.step
def make_data(n: int) -> list[float]:
    return [i / n for i in range(n)]


@keel.step
def fit(data: list[float], alpha: float) -> dict[str, float]:
    return {"loss": sum((x - alpha) ** 2 for x in data)}


@keel.pipeline
def fitting(n: int = 20, alpha: float = 0.5):
    return fit(make_data(n), alpha)


def test_tune_a_pipeline_reuses_cached_steps(home: Path) -> None:
    best = keel.tune(
        fitting, {"alpha": keel.tune.uniform(0, 1), "n": 20}, n_trials=5, metric="loss", seed=5
    )
    assert best.count("COMPLETE") == 5
    runs = keel.pipelines.list_runs("fitting")
    assert len(runs) == 5
    assert sum(1 for r in runs if r.steps["make_data"].cache_hit) == 4


def test_bad_tune_input(home: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"names 'lrr', which the objective does not"):
        keel.tune(quadratic, {"lrr": keel.tune.uniform(0, 1)}, n_trials=2)
    with pytest.raises(InvalidArgumentError, match=r"loguniform on a log scale needs low > 0"):
        keel.tune.loguniform(0, 1)
    with pytest.raises(InvalidArgumentError, match=r"n_trials must be a positive integer"):
        keel.tune(quadratic, SPACE, n_trials=0)
    with pytest.raises(InvalidArgumentError, match=r"direction must be 'minimize' or"):
        keel.tune(quadratic, SPACE, direction="up")

    def broken(lr: float, depth: int) -> str:
        return "not a number"

    with pytest.raises(InvalidStateError, match=r"None of the 3 trials of 'broken' completed"):
        keel.tune(broken, SPACE, n_trials=3)
