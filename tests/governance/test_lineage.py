"""Lineage queries over the one lineage graph, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import keel
from keel.cli._app import app
from keel.errors import InvalidArgumentError, NotFoundError
from keel.governance._lineage import lineage, parse_lineage_ref

from ._world import build, gov_env, gov_sqlite  # noqa: F401

pytest.importorskip("sklearn")


@pytest.mark.usefixtures("gov_env")
def test_model_upstream_reaches_data_features_code_and_pipeline(tmp_path: Path) -> None:
    world = build(tmp_path)
    graph = lineage(f"models:/churn/{world.model_version}", "upstream")
    assert graph.root.key == f"model_version:churn/{world.model_version}"
    ds = graph.node("dataset_version", world.dataset_ref)
    assert ds.properties["rows"] == 120
    assert ds.properties["validations"][0]["passed"] is world.validation_passed
    assert ds.properties["validations"][0]["suite"] == "tx-quality@v1"
    # The feature service the step read, its view, and the view's source dataset.
    assert graph.of_kind("feature_service")[0].id == "churn_features@v1"
    assert graph.of_kind("feature_view")[0].id == "customer_stats@v1"
    assert graph.of_kind("entity")[0].id == "customer@v1"
    run = graph.node("run", world.pipeline_run_id)
    assert run.properties["pipeline"] == "training"
    steps = graph.of_kind("step_run")
    assert [s.properties.get("step") for s in steps] == ["train"]
    assert run.depth == 1  # the model version is one hop from the run that logged it
    d = graph.to_dict()
    assert json.loads(json.dumps(d))["root"] == graph.root.key
    assert {e["relation"] for e in d["edges"]} >= {"output", "input", "part_of", "source"}
    # An alias and "latest" name the same version.
    assert lineage("models:/churn/latest").root.id == f"churn/{world.model_version}"


@pytest.mark.usefixtures("gov_env")
def test_the_code_commit_is_upstream_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    script = repo / "train.py"
    script.write_text("print('train')\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "train"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setattr("keel.tracking._client.source_file", lambda: str(script))
    with keel.start_run() as run:
        keel.log_input("dataset_version", "tx@v9")
    graph = lineage(f"run:{run.id}")
    node = graph.node("commit", commit)
    assert node.properties == {"source": str(script), "dirty": False}
    assert graph.node("dataset_version", "tx@v9").properties["missing"].startswith("No dataset")


@keel.step(track=True)
def fit_tracked(data_ref: str) -> Any:
    from sklearn.linear_model import LogisticRegression

    ds = keel.datasets.get(data_ref)
    keel.log_input(ds)
    df = ds.to_pandas()
    model = LogisticRegression().fit(df[["tenure", "amount"]], df["churned"])
    keel.log_model(model, "model", registered_name="churn-tracked")
    return model


@keel.pipeline
def tracked_training(data_ref: str = "tx@v1"):  # type: ignore[no-untyped-def]
    return fit_tracked(data_ref)


@pytest.mark.usefixtures("gov_sqlite")
def test_a_tracked_step_links_its_model_to_the_pipeline_run(tmp_path: Path) -> None:
    world = build(tmp_path, predictions=False)
    run = tracked_training.run(data_ref=world.dataset_ref)
    assert run.status == "FINISHED", run.error
    up = lineage("models:/churn-tracked/1")
    step_run_id = run.steps["fit_tracked"].record.tracked_run_id
    assert up.node("run", step_run_id).properties["step"] == "fit_tracked"
    pipeline_run = up.node("run", run.id)
    assert pipeline_run.properties["pipeline"] == "tracked_training"
    assert [s.properties["step"] for s in up.of_kind("step_run")] == ["fit_tracked"]
    assert up.node("dataset_version", world.dataset_ref)
    down = lineage(f"run:{run.id}", "downstream")
    assert down.node("model_version", "churn-tracked/1")
    assert any(e.relation == "parent_of" for e in down.edges)


@pytest.mark.usefixtures("gov_sqlite")
def test_depth_limits_the_walk(tmp_path: Path) -> None:
    world = build(tmp_path, predictions=False)
    one = lineage(f"models:/churn/{world.model_version}", depth=1)
    assert {n.kind for n in one.nodes} == {"model_version", "run"}
    assert lineage(f"models:/churn/{world.model_version}", depth=0).nodes == [one.root]


@pytest.mark.usefixtures("gov_env")
def test_prediction_upstream_to_training_data(tmp_path: Path) -> None:
    world = build(tmp_path)
    pid = world.prediction_ids[7]
    graph = lineage(f"prediction:{pid}", "upstream")
    root = graph.root
    assert root.properties["deployment"] == "churn-prod"
    assert root.properties["model"] == f"churn/{world.model_version}"
    assert graph.node("prediction_batch", world.batch_id).properties["rows"] == 20
    assert graph.node("model_version", f"churn/{world.model_version}")
    assert graph.node("run", world.pipeline_run_id)
    assert graph.node("dataset_version", world.dataset_ref)
    with pytest.raises(NotFoundError, match=r"No logged prediction has id 'nope'"):
        lineage("prediction:nope")


@pytest.mark.usefixtures("gov_env")
def test_deployment_downstream_and_dataset_downstream(tmp_path: Path) -> None:
    world = build(tmp_path)
    down = lineage("deployment:churn-prod", "downstream")
    assert [n.id for n in down.of_kind("prediction_batch")] == [world.batch_id]
    up = lineage("deployment:churn-prod", "upstream")
    assert up.node("model_version", f"churn/{world.model_version}")
    ds_down = lineage(f"dataset:{world.dataset_ref}", "downstream")
    assert ds_down.node("model_version", f"churn/{world.model_version}")
    assert ds_down.node("feature_view", "customer_stats@v1")
    assert ds_down.node("deployment", "churn-prod")
    assert ds_down.of_kind("data_validation")[0].properties["passed"] is True
    run_up = lineage(f"run:{world.pipeline_run_id[:10]}")
    assert run_up.root.id == world.pipeline_run_id
    with pytest.raises(NotFoundError, match=r"No deployment 'churn-prd'.*churn-prod"):
        lineage("deployment:churn-prd")


def test_bad_references() -> None:
    assert parse_lineage_ref("models:/churn/4") == ("model_version", "churn/4")
    assert parse_lineage_ref("dataset:tx@v3") == ("dataset_version", "tx@v3")
    with pytest.raises(InvalidArgumentError, match=r"Unknown lineage node kind 'modle'.*'model'"):
        parse_lineage_ref("modle:churn/4")
    with pytest.raises(InvalidArgumentError, match=r"needs a kind"):
        parse_lineage_ref("churn")
    with pytest.raises(InvalidArgumentError, match=r"direction must be"):
        lineage("run:abc", "sideways")


@pytest.mark.usefixtures("gov_sqlite")
def test_lineage_command(tmp_path: Path) -> None:
    world = build(tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["lineage", f"models:/churn/{world.model_version}", "--upstream"])
    assert out.exit_code == 0, out.output
    for text in ("model_version", world.dataset_ref, "tx-quality@v1", "feature_service"):
        assert text in out.output
    out = runner.invoke(
        app, ["lineage", f"prediction:{world.prediction_ids[0]}", "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert f"dataset_version:{world.dataset_ref}" in {n["key"] for n in data["nodes"]}
    out = runner.invoke(app, ["lineage", "deployment:churn-prod", "--downstream", "--depth", "1"])
    assert out.exit_code == 0, out.output
    assert world.batch_id in out.output
    out = runner.invoke(app, ["lineage", "nokind"])
    assert out.exit_code == 1
    assert "needs a kind" in out.output


@pytest.mark.usefixtures("gov_env")
def test_reads_take_the_stores_to_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.governance import audit_log, compliance_report, cost, verify_audit
    from keel.tracking import get_client
    from tests.conftest import _reset_keel

    world = build(tmp_path)
    client = get_client()
    store, artifacts = client.store, client.artifacts
    # The process now points at another, empty home; the given stores are still read.
    monkeypatch.setenv("KEEL_STORE_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.setenv("KEEL_ARTIFACT_URI", str(tmp_path / "elsewhere-artifacts"))
    _reset_keel()
    pid = world.prediction_ids[3]
    graph = lineage(f"prediction:{pid}", "upstream", store=store, artifacts=artifacts)
    assert graph.node("dataset_version", world.dataset_ref)
    ref = f"models:/churn/{world.model_version}"
    run_prefix = world.pipeline_run_id[:8]
    assert lineage(f"run:{run_prefix}", store=store).root.id == world.pipeline_run_id
    card = compliance_report("churn", world.model_version, store=store, artifacts=artifacts)
    assert card.title == f"Compliance report: churn v{world.model_version}"
    assert cost(by="experiment", since=None, store=store).total.runs > 0
    assert audit_log(action="model_version.create", store=store)
    assert verify_audit(store=store).ok
    with pytest.raises(NotFoundError):
        lineage(ref)  # the process's own store knows nothing of it
