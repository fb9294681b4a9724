"""Moving references in step arguments key the cache by the version they name, not the text.

Regression: ``keel pipeline run ... --param data=churn@latest`` reused stale step outputs
after ``latest`` moved to a new version, because the cache key held only the text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import keel
from keel.tracking import get_client


@keel.step
def rows(data: str, log: str) -> int:
    with open(log, "a") as f:
        f.write("x")
    return len(keel.datasets.get(data).to_pandas())


@keel.pipeline
def count_rows(data: str = "churn@latest", log: str = "counts"):
    return rows(data, log)


def _register(n: int) -> Any:
    return keel.datasets.register("churn", pd.DataFrame({"x": list(range(n))}))


def _upstream(step_run_id: str) -> set[tuple[str, str]]:
    edges = get_client().store.list_lineage_edges(("step_run", step_run_id), "upstream")
    return {(e.source_kind, e.source_id) for e in edges}


def test_moving_latest_reruns_the_step_then_caches_again(home: Path, counter: Any) -> None:
    log = counter.path("latest")
    params = count_rows.coerce({"data": "churn@latest", "log": log})  # as `--param` gives it
    _register(3)
    first = count_rows.run(params)
    assert first.status == "FINISHED", first.error
    assert first.outputs == 3
    assert count_rows.run(params).cache_hits == ["rows"]

    _register(5)  # `latest` moves to v2
    moved = count_rows.run(params)
    assert moved.cache_hits == []
    assert moved.outputs == 5
    assert counter.read("latest") == 2
    again = count_rows.run(params)
    assert again.cache_hits == ["rows"]
    assert again.outputs == 5
    assert counter.read("latest") == 2

    # The step records the version it read, in its inputs and in the lineage graph.
    step = moved.steps["rows"].record
    pinned = step.inputs["data"]["$pin"]
    assert pinned["text"] == "churn@latest"
    assert pinned["dataset_version"] == "churn@v2"
    assert pinned["digest"] == keel.datasets.get("churn@v2").digest
    assert ("dataset_version", "churn@v2") in _upstream(step.id)
    assert ("dataset_version", "churn@v2") in _upstream(again.steps["rows"].record.id)
    run_inputs = get_client().store.list_lineage_edges(("run", moved.id), "upstream")
    assert ("dataset_version", "churn@v2") in {(e.source_kind, e.source_id) for e in run_inputs}


def test_exact_version_stays_cached_when_latest_moves(home: Path, counter: Any) -> None:
    log = counter.path("exact")
    _register(3)
    assert count_rows.run(data="churn@v1", log=log).outputs == 3
    _register(4)
    run = count_rows.run(data="churn@v1", log=log)
    assert run.cache_hits == ["rows"]
    assert run.outputs == 3


def test_text_that_names_no_dataset_is_plain_text(home: Path) -> None:
    @keel.step
    def echo(text: str) -> str:
        return text.upper()

    @keel.pipeline
    def shout(text: str):
        return echo(text)

    for text in ("nobody@latest", "someone@example.com", "models:/missing@champion"):
        first = shout.run(text=text)
        assert first.status == "FINISHED", first.error
        assert first.steps["echo"].record.inputs["text"] == text
        assert shout.run(text=text).cache_hits == ["echo"]


@keel.step
def version_rows(version: Any, log: str) -> int:
    with open(log, "a") as f:
        f.write("x")
    return len(version.to_pandas())


@keel.pipeline
def count_version(version: Any, log: str = "counts"):
    return version_rows(version, log)


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_dataset_handle_keys_the_cache_by_its_version(
    home: Path, counter: Any, executor: str
) -> None:
    log = counter.path("handle")
    v1 = _register(3)
    first = count_version.run(version=v1, log=log, executor=executor)
    assert first.status == "FINISHED", first.error
    assert first.outputs == 3
    again = count_version.run(version=keel.datasets.get("churn@latest"), log=log)
    assert again.cache_hits == ["version_rows"]
    v2 = _register(6)
    moved = count_version.run(version=v2, log=log, executor=executor)
    assert moved.cache_hits == []
    assert moved.outputs == 6
    assert counter.read("handle") == 2
    assert ("dataset_version", "churn@v2") in _upstream(moved.steps["version_rows"].record.id)


sklearn = pytest.importorskip("sklearn")


@keel.step
def predict_one(model: str, log: str) -> float:
    with open(log, "a") as f:
        f.write("x")
    return float(keel.load_model(model).predict(pd.DataFrame({"x": [1.0]}))[0])


@keel.pipeline
def score_with(model: str = "models:/churn-model@champion", log: str = "counts"):
    return predict_one(model, log)


def _log_model(value: float) -> int:
    from sklearn.dummy import DummyRegressor

    frame = pd.DataFrame({"x": [0.0, 1.0]})
    fitted = DummyRegressor(strategy="constant", constant=value).fit(frame, [value, value])
    with keel.start_run():
        info = keel.log_model(fitted, "model", registered_name="churn-model")
    assert info.version is not None
    return info.version


def test_moving_a_model_alias_reruns_the_step(home: Path, counter: Any) -> None:
    log = counter.path("model")
    keel.models.set_alias("churn-model", "champion", version=_log_model(1.0))
    first = score_with.run(log=log)
    assert first.status == "FINISHED", first.error
    assert first.outputs == 1.0
    assert score_with.run(log=log).cache_hits == ["predict_one"]

    keel.models.set_alias("churn-model", "champion", version=_log_model(2.0))
    moved = score_with.run(log=log)
    assert moved.cache_hits == []
    assert moved.outputs == 2.0
    assert score_with.run(log=log).cache_hits == ["predict_one"]
    assert counter.read("model") == 2
    record = moved.steps["predict_one"].record
    assert record.inputs["model"]["$pin"]["model_version"] == "churn-model/2"
    assert ("model_version", "churn-model/2") in _upstream(record.id)
