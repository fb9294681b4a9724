"""Conformance suite of the fluent tracking API (``keel.start_run`` and friends) on each backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.errors import InvalidArgumentError, InvalidStateError, NotFoundError
from keel.store import RunStatus
from keel.tracking import TrackingClient


def test_experiments_of_new_runs(client: TrackingClient) -> None:
    with keel.start_run() as default_run:  # no experiment set: "Default"
        pass
    default = client.store.get_experiment_by_name("Default")
    assert keel.get_run(default_run.id).info.experiment_id == default.id
    first = keel.set_experiment("churn")
    assert keel.set_experiment("churn") == first  # created once
    assert client.store.get_experiment_by_name("churn").id == first
    with keel.start_run() as run:
        pass
    assert keel.get_run(run.id).info.experiment_id == first
    with keel.start_run(experiment="side") as side_run:
        pass
    side = client.store.get_experiment_by_name("side")
    assert keel.get_run(side_run.id).info.experiment_id == side.id


def test_context_manager_nested_runs(client: TrackingClient) -> None:
    keel.set_experiment("nested")
    assert keel.active_run() is None
    with keel.start_run(run_name="parent", tags={"team": "risk"}) as parent:
        assert keel.active_run() is parent
        with keel.start_run(run_name="child") as child:
            assert keel.active_run() is child
            assert keel.get_run(child.id).info.status is RunStatus.RUNNING
        assert keel.active_run() is parent
        assert keel.get_run(child.id).info.status is RunStatus.FINISHED
    assert keel.active_run() is None
    p, c = keel.get_run(parent.id), keel.get_run(child.id)
    assert (p.info.name, c.info.name) == ("parent", "child")
    assert c.info.parent_run_id == parent.id
    assert p.info.parent_run_id is None
    assert p.info.status is RunStatus.FINISHED
    assert p.info.end_time is not None
    assert p.info.end_time >= p.info.start_time
    assert p.data.tags == {"team": "risk"}
    children = keel.search_runs(filter=f"attributes.parent_run_id = '{parent.id}'")
    assert [r.id for r in children] == [child.id]


def test_run_status_at_the_end(client: TrackingClient) -> None:
    started: list[str] = []

    def train(error: BaseException) -> None:
        with keel.start_run() as run:
            started.append(run.id)
            keel.log_metric("loss", 1.5)
            raise error

    with pytest.raises(RuntimeError, match="diverged"):
        train(RuntimeError("diverged"))
    failed = keel.get_run(started[0])
    assert failed.info.status is RunStatus.FAILED
    assert failed.data.metrics == {"loss": 1.5}  # buffered points are kept
    assert keel.active_run() is None

    with pytest.raises(KeyboardInterrupt):
        train(KeyboardInterrupt())
    assert keel.get_run(started[1]).info.status is RunStatus.KILLED

    run = keel.start_run()
    with pytest.raises(InvalidStateError, match=rf"Run '{run.id}' is still active"):
        keel.start_run(nested=False)
    keel.end_run("FAILED")
    assert keel.active_run() is None
    keel.end_run()  # nothing active: no-op
    run.end()  # ending twice does nothing
    assert keel.get_run(run.id).info.status is RunStatus.FAILED
    assert keel.get_run(run.id).info.end_time is not None


def test_logging_without_an_active_run(local_client: TrackingClient) -> None:
    with pytest.raises(InvalidStateError, match=r"No run is active\. Start one with"):
        keel.log_metric("loss", 1.0)
    with pytest.raises(InvalidStateError, match=r"No run is active"):
        keel.log_param("lr", 0.1)


def test_params_are_immutable(client: TrackingClient) -> None:
    with keel.start_run() as run:
        keel.log_param("lr", 0.1)
        keel.log_params({"lr": 0.1, "depth": 6})  # the same value again is fine
        keel.log_param("depth", "6")  # the text of 6 is "6": the same value
        with pytest.raises(
            InvalidArgumentError,
            match=rf"Param 'lr' of run '{run.id}' is already '0\.1'; params are immutable, "
            r"so '0\.2' cannot replace it\. Start a new run",
        ):
            keel.log_param("lr", 0.2)
        with pytest.raises(InvalidArgumentError, match=r"Param 'depth'"):
            keel.log_params({"fresh": 1, "depth": 7})
    assert keel.get_run(run.id).data.params == {"lr": "0.1", "depth": "6"}


def test_metrics_are_buffered_and_reads_flush(client: TrackingClient) -> None:
    with keel.start_run() as run:
        keel.log_metric("loss", 0.9)
        keel.log_metric("loss", 0.7)
        keel.log_metrics({"loss": 0.5, "acc": 0.8})
        assert len(client.buffer) == 4  # nothing written yet...
        # ...but every read in this process sees them.
        assert keel.get_run(run.id).data.metrics == {"loss": 0.5, "acc": 0.8}
        assert len(client.buffer) == 0
        keel.log_metric("acc", 0.85)
        assert [m.value for m in keel.get_metric_history(run.id, "acc")] == [0.8, 0.85]
        keel.log_metric("acc", 0.9)
        assert [r.id for r in keel.search_runs(filter="metrics.acc >= 0.9")] == [run.id]
    history = keel.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.7), (2, 0.5)]


def test_metric_history_is_ordered_by_step(client: TrackingClient) -> None:
    with keel.start_run() as run:
        for step in (5, 1, 3, 0):
            keel.log_metric("loss", step / 10, step=step)
        keel.log_metrics({"a": 1.0, "b": 2.0}, step=7)
    history = keel.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == [0, 1, 3, 5]
    assert [m.value for m in history] == [0.0, 0.1, 0.3, 0.5]
    assert all(m.timestamp > 0 for m in history)
    data = keel.get_run(run.id).data.metrics
    assert data == {"loss": 0.5, "a": 1.0, "b": 2.0}  # latest = highest step
    assert [m.step for m in keel.get_metric_history(run.id, "a")] == [7]


def test_artifacts_dicts_and_text(client: TrackingClient, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("all good\n")
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (folder / "sub" / "config.json").write_text("{}")
    payload: dict[str, Any] = {"labels": [0, 1], "matrix": [[5, 1], [2, 7]], "note": "ok"}
    with keel.start_run() as run:
        entries = keel.log_artifact(report)
        keel.log_artifact(folder, "outputs")
        keel.log_dict(payload, "eval/confusion.json")
        keel.log_text("hello", "notes.txt")
    assert [e.path for e in entries] == ["report.txt"]
    paths = [e.path for e in keel.list_artifacts(run.id)]
    assert paths == [
        "eval/confusion.json",
        "notes.txt",
        "outputs/model/sub/config.json",
        "outputs/model/weights.bin",
        "report.txt",
    ]
    assert keel.load_dict(run.id, "eval/confusion.json") == payload
    assert [e.path for e in keel.list_artifacts(run.id, "outputs/model/sub")] == [
        "outputs/model/sub/config.json"
    ]
    local = keel.download_artifacts(run.id, "outputs", tmp_path / "dl")
    assert (local / "model" / "weights.bin").read_bytes() == b"\x00\x01" * 100
    file = keel.download_artifacts(run.id, "report.txt", tmp_path / "dl2")
    assert file.read_text() == "all good\n"
    with pytest.raises(NotFoundError, match=r"has no artifact 'report\.tx'\. Did you mean"):
        keel.load_dict(run.id, "report.tx")
    # The same content is stored once.
    digests = {e.digest for e in keel.list_artifacts(run.id)}
    assert len(digests) == 5
    assert client.artifacts.get_bytes(entries[0].digest) == b"all good\n"


def test_log_dict_refuses_what_json_cannot_hold(local_client: TrackingClient) -> None:
    with keel.start_run(), pytest.raises(InvalidArgumentError, match=r"as JSON"):
        keel.log_dict({"self": {1, 2}, (1, 2): "tuple key"}, "bad.json")


class _DatasetVersion:
    def lineage_node(self) -> tuple[str, str]:
        return ("dataset_version", "customers@v3")


def test_inputs_and_outputs_are_lineage_edges(client: TrackingClient) -> None:
    with keel.start_run() as run:
        keel.log_input(_DatasetVersion(), role="train")
        keel.log_input("feature_view", "churn_features@v1")
        keel.log_input(_DatasetVersion(), role="train")  # the same edge again: no duplicate
        keel.log_output(("model_version", "churn/1"))
    upstream = client.store.list_lineage_edges(("run", run.id), "upstream")
    assert sorted((e.source_kind, e.source_id, e.relation, e.properties) for e in upstream) == [
        ("dataset_version", "customers@v3", "input", {"role": "train"}),
        ("feature_view", "churn_features@v1", "input", {}),
    ]
    downstream = client.store.list_lineage_edges(("run", run.id), "downstream")
    assert [(e.target_kind, e.target_id, e.relation) for e in downstream] == [
        ("model_version", "churn/1", "output")
    ]
    with keel.start_run(), pytest.raises(InvalidArgumentError, match=r"lineage_node"):
        keel.log_input(object())


def test_every_fluent_change_is_audited(client: TrackingClient, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    keel.set_experiment("audited")
    with keel.start_run() as run:
        keel.log_param("lr", 0.1)
        keel.set_tag("team", "risk")
        keel.log_metric("loss", 0.5)
        keel.log_artifact(tmp_path / "a.txt")
        keel.log_input("dataset_version", "d@1")
    events = client.store.list_audit_events()
    run_actions = [e.action for e in events if e.resource_id == run.id]
    assert run_actions == [
        "run.create",
        "run.log_params",
        "run.set_tags",
        "run.log_artifacts",
        "lineage.add_edge",
        "run.log_metrics",  # buffered, written with the run's end
        "run.end",
    ]
    assert events[0].action == "experiment.create"
    assert client.store.verify_audit_chain().ok


def test_get_run_returns_everything(client: TrackingClient) -> None:
    keel.set_experiment("full")
    with keel.start_run(run_name="full-run", tags={"stage": "dev"}) as run:
        keel.log_params({"a": 1})
        keel.set_tag("t", "x")
        keel.set_tag("stage", "prod")  # tags, unlike params, can change
        keel.set_tags({"team": "risk", "retries": 3})
        keel.log_metric("m", 2.0)
    got = keel.get_run(run.id)
    assert got.id == run.id == got.info.run_id
    assert got.info.name == "full-run" == run.name
    assert got.data.params == {"a": "1"}
    assert got.data.tags == {"t": "x", "stage": "prod", "team": "risk", "retries": "3"}
    assert got.data.metrics == {"m": 2.0}
    flat = got.to_flat_dict()
    assert flat["params.a"] == "1"
    assert flat["metrics.m"] == 2.0
    assert flat["tags.t"] == "x"
    assert flat["status"] == "FINISHED"
    assert json.dumps(flat)  # plain values only
