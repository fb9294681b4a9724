"""One set of tracking tests, run embedded and against a real ``keel server``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

import keel
from keel.errors import ArtifactPathError, InvalidArgumentError, NotFoundError
from keel.tracking import get_client


@pytest.fixture(params=["embedded", "remote"])
def mode(request: pytest.FixtureRequest, keel_home: Path) -> Iterator[str]:
    if request.param == "remote":
        request.getfixturevalue("remote_env")
    return request.param


def test_run_round_trip(mode: str, tmp_path: Path) -> None:
    keel.set_experiment(f"both-{mode}-{tmp_path.name}")
    with keel.start_run(run_name="first", tags={"team": "a"}) as run:
        keel.log_params({"lr": 0.1, "depth": 6})
        for step in range(5):
            keel.log_metric("loss", 1.0 / (step + 1), step=step)
        keel.log_metric("weird", float("nan"))
        keel.log_metric("big", float("inf"))
        keel.set_tag("stage", "dev")
    got = keel.get_run(run.id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"lr": "0.1", "depth": "6"}
    assert got.data.tags["stage"] == "dev"
    assert got.data.tags["team"] == "a"
    assert got.data.metrics["loss"] == pytest.approx(0.2)
    assert math.isnan(got.data.metrics["weird"])
    assert got.data.metrics["big"] == math.inf
    assert [m.step for m in keel.get_metric_history(run.id, "loss")] == [0, 1, 2, 3, 4]
    assert get_client().remote is (mode == "remote")


def test_params_are_immutable_and_errors_survive(mode: str) -> None:
    with keel.start_run():
        keel.log_param("x", 1)
        with pytest.raises(InvalidArgumentError, match="immutable"):
            keel.log_param("x", 2)
    with pytest.raises(NotFoundError, match="No run has id"):
        keel.get_run("0" * 32)
    with pytest.raises(NotFoundError, match="has no metric 'acuracy'"):
        keel.get_metric_history(keel.search_runs(output="list")[0].id, "acuracy")


def test_search_runs_with_a_filter(mode: str, tmp_path: Path) -> None:
    keel.set_experiment(f"search-{mode}-{tmp_path.name}")
    for lr in (0.1, 0.2, 0.3):
        with keel.start_run():
            keel.log_param("lr", lr)
            keel.log_metric("acc", lr * 2)
    runs = keel.search_runs(
        filter="metrics.acc > 0.3", order_by=["metrics.acc DESC"], output="list"
    )
    assert [r.data.params["lr"] for r in runs] == ["0.3", "0.2"]
    with pytest.raises(InvalidArgumentError):
        keel.search_runs(filter="metrics.acc > 1; DROP TABLE runs", output="list")


def test_artifacts_round_trip(mode: str, tmp_path: Path) -> None:
    src = tmp_path / "folder"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    with keel.start_run() as run:
        keel.log_artifact(src)
        keel.log_dict({"k": [1, 2]}, "meta/config.json")
    paths = [e.path for e in keel.list_artifacts(run.id)]
    assert paths == ["folder/a.txt", "folder/sub/b.bin", "meta/config.json"]
    out = keel.download_artifacts(run.id, "folder", tmp_path / "out")
    assert (out / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 100
    assert keel.load_dict(run.id, "meta/config.json") == {"k": [1, 2]}


def test_nested_runs_and_lineage(mode: str) -> None:
    with keel.start_run() as parent, keel.start_run() as child:
        keel.log_input(("dataset_version", "d1"), role="train")
    assert keel.get_run(child.id).info.parent_run_id == parent.id
    edges = get_client().store.list_lineage_edges(("run", child.id), "upstream")
    assert [(e.source_kind, e.source_id, e.relation) for e in edges] == [
        ("dataset_version", "d1", "input")
    ]


def test_symlinks_out_of_a_logged_folder_are_refused(mode: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "link.txt").symlink_to(secret)
    with keel.start_run() as run, pytest.raises(ArtifactPathError, match="symlink"):
        keel.log_artifact(folder)
    assert keel.list_artifacts(run.id) == []


def test_unsupported_store_calls_say_so(mode: str) -> None:
    store = get_client().store
    if mode == "embedded":
        assert hasattr(store, "engine")
        return
    assert not hasattr(store, "engine")  # hasattr sees an AttributeError
    with pytest.raises(InvalidArgumentError, match="not available against a Keel server"):
        store.check()


def test_experiments_and_runs_commands_work_in_both_modes(mode: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from keel.cli._app import app

    keel.set_experiment(f"cli-{mode}-{tmp_path.name}")
    with keel.start_run(run_name="shown"):
        keel.log_metric("acc", 0.5)
    runner = CliRunner()
    exps = runner.invoke(app, ["experiments", "ls"], env={"COLUMNS": "200"})
    assert exps.exit_code == 0, exps.output
    assert f"cli-{mode}-{tmp_path.name}" in exps.output
    runs = runner.invoke(
        app, ["runs", "ls", "--experiment", f"cli-{mode}-{tmp_path.name}"], env={"COLUMNS": "200"}
    )
    assert runs.exit_code == 0, runs.output
    assert "shown" in runs.output
