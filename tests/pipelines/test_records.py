"""What a run records: the tracked run, step rows with timings and resources, lineage, audit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import keel
from keel.pipelines import PipelineEvent, StepStatus, get_run
from keel.tracking import get_client


@dataclass(frozen=True)
class FakeVersion:
    """Stands in for a dataset version: anything with lineage_node() is a lineage input."""

    ref: str

    def lineage_node(self) -> tuple[str, str]:
        return ("dataset_version", self.ref)


@keel.step
def read(version: FakeVersion) -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 2.0, 3.0], "source": [version.ref] * 3})


@keel.step(track=True)
def fit(df: pd.DataFrame, alpha: float) -> np.ndarray:
    keel.log_metric("loss", 0.5)
    keel.log_metric("loss", 0.25)
    return df["a"].to_numpy() * alpha


@keel.step
def score(weights: np.ndarray) -> float:
    keel.log_metric("weights_sum", float(weights.sum()))  # lands on the pipeline's run
    return float(weights.sum())


@keel.pipeline(experiment="records")
def modelling(version: FakeVersion, alpha: float = 2.0):
    return {"score": score(fit(read(version), alpha)), "alpha": alpha}


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_run_records_steps_lineage_and_tracking(keel_env: dict, executor: str) -> None:
    version = FakeVersion("churn@v3")
    events: list[PipelineEvent] = []
    run = modelling.run(version=version, executor=executor, on_event=events.append)
    assert run.status == "FINISHED", run.error
    assert run.outputs == {"score": 12.0, "alpha": 2.0}

    # The pipeline run is a tracked run with the params and the metric a step logged.
    tracked = keel.get_run(run.id)
    assert tracked.info.status == "FINISHED"
    assert tracked.data.params["alpha"] == "2.0"
    assert tracked.data.tags["keel.pipeline"] == "modelling"
    assert tracked.data.metrics["weights_sum"] == 12.0
    assert get_client().store.get_experiment(tracked.info.experiment_id).name == "records"

    # Each step row has status, timing, attempts and resource use.
    for step in run.steps.values():
        rec = step.record
        assert step.status is StepStatus.COMPLETED
        assert step.attempts == 1
        assert rec.start_time is not None
        assert rec.end_time is not None
        assert rec.start_time <= rec.end_time
        assert rec.wall_time_s is not None
        assert rec.cpu_time_s is not None
        assert rec.peak_rss_bytes
        assert rec.peak_rss_bytes > 0
        assert rec.cache_key
        assert rec.code_hash
        assert len(rec.code_hash) == 64
    assert run.steps["read"].outputs[0]["serializer"] == "pandas-parquet"
    assert run.steps["fit"].outputs[0]["serializer"] == "numpy"
    assert run.steps["score"].outputs[0]["serializer"] == "json"

    # A step with track=True got its own run, nested under the pipeline's, with its metrics.
    fit_run_id = run.steps["fit"].record.tracked_run_id
    assert fit_run_id is not None
    fit_run = keel.get_run(fit_run_id)
    assert fit_run.info.parent_run_id == run.id
    assert [m.value for m in keel.get_metric_history(fit_run_id, "loss")] == [0.5, 0.25]

    # Lineage: dataset version -> read -> blob -> fit -> blob -> score -> run.
    store = get_client().store
    read_node = ("step_run", run.steps["read"].record.id)
    up = store.list_lineage_edges(read_node, "upstream")
    assert any((e.source_kind, e.source_id) == ("dataset_version", "churn@v3") for e in up)
    fit_node = ("step_run", run.steps["fit"].record.id)
    read_blob = run.steps["read"].outputs[0]["digest"]
    fit_inputs = store.list_lineage_edges(fit_node, "upstream")
    assert ("artifact", read_blob) in [(e.source_kind, e.source_id) for e in fit_inputs]
    down = store.list_lineage_edges(fit_node, "downstream")
    relations = {(e.target_kind, e.relation) for e in down}
    assert ("artifact", "output") in relations
    assert ("run", "part_of") in relations
    assert ("run", "tracked_as") in relations
    run_down = store.list_lineage_edges(("run", run.id), "downstream")
    score_blob = run.steps["score"].outputs[0]["digest"]
    assert ("artifact", score_blob) in [(e.target_kind, e.target_id) for e in run_down]

    # Every change was audited, and the chain holds.
    actions = {e.action for e in store.list_audit_events(limit=100_000)}
    assert {"pipeline_run.create", "pipeline_run.record"} <= actions
    assert store.verify_audit_chain().ok

    # The live events saw every step start and finish.
    kinds = [(e.kind, e.step) for e in events]
    assert kinds[0] == ("run_started", None)
    assert kinds[-1] == ("run_finished", None)
    assert ("step_finished", "score") in kinds

    # Reading it back gives the same run.
    again = get_run(run.id)
    assert again.outputs == run.outputs
    assert [s.status for s in again.steps.values()] == [s.status for s in run.steps.values()]
    assert again.dag[1] == {
        "name": "fit",
        "function": f"{fit.func.__module__}:fit",
        "upstream": ["read"],
        "after": [],
    }


def test_step_output_loads_back(home: Path) -> None:
    run = modelling.run(version=FakeVersion("x@v1"))
    assert run.steps["fit"].load().tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(keel.NotFoundError, match=r"No pipeline run has an id starting with"):
        get_run("ffffffff")
