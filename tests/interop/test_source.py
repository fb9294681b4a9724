"""Fast checks of the importer's pieces that need no MLflow: errors, signatures, model classes,
and the file-store layout (written here by hand, as MLflow 3 writes it; the slow tests in
test_mlflow_import.py use stores made by MLflow itself)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from keel.errors import InvalidArgumentError, NotFoundError
from keel.interop import import_mlflow
from keel.interop._mlflow import _pickle_globals, _signature, _sklearn_class


def test_unknown_scheme_and_missing_store_are_explained(keel_home: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="scheme 'ftp'"):
        import_mlflow("ftp://example.org/mlruns")
    with pytest.raises(NotFoundError, match="No MLflow database"):
        import_mlflow(f"sqlite:///{keel_home / 'nope.db'}")
    with pytest.raises(NotFoundError, match="No MLflow file store"):
        import_mlflow(str(keel_home / "no-mlruns"))


def test_import_refuses_a_remote_keel(keel_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.config import reset_settings

    monkeypatch.setenv("KEEL_TRACKING_URI", "http://127.0.0.1:9")
    reset_settings()
    with pytest.raises(InvalidArgumentError, match="keel import mlflow"):
        import_mlflow(str(keel_home))
    reset_settings()


def test_mlflow_signatures_become_keel_signatures() -> None:
    columns = json.dumps(
        [{"type": "double", "name": "a", "required": True}, {"type": "string", "name": "b"}]
    )
    tensor = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}])
    assert _signature({"inputs": columns, "outputs": tensor}) == {
        "inputs": {
            "type": "columns",
            "columns": [
                {"name": "a", "type": "double", "nullable": False},
                {"name": "b", "type": "string", "nullable": False},
            ],
        },
        "outputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 2]},
    }
    unknown = json.dumps([{"type": "object", "name": "x"}])
    assert _signature({"inputs": unknown}) is None
    assert _signature({}) is None


def test_the_class_of_a_pickled_model_is_read_without_unpickling() -> None:
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    clf = cloudpickle.dumps(LogisticRegression().fit(X, y))
    reg = pickle.dumps(LinearRegression().fit(X, y))
    assert ("sklearn.linear_model._logistic", "LogisticRegression") in _pickle_globals(clf)
    assert _sklearn_class(clf, "cloudpickle") == (
        "sklearn.linear_model._logistic.LogisticRegression",
        True,
    )
    assert _sklearn_class(reg, "cloudpickle") == (
        "sklearn.linear_model._base.LinearRegression",
        False,
    )
    # A pickle naming something outside the estimator libraries is never imported.
    assert _sklearn_class(pickle.dumps(Path("x")), "cloudpickle") is None
    assert _sklearn_class(b"not a pickle", "cloudpickle") is None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_file_store_layout(keel_home: Path, tmp_path: Path) -> None:
    import keel
    from keel.tracking import get_client

    root = tmp_path / "mlruns"
    exp = root / "123"
    run = exp / "abc123"
    _write(
        exp / "meta.yaml",
        f"artifact_location: file://{exp}\nexperiment_id: '123'\n"
        "lifecycle_stage: active\nname: demo\ncreation_time: 1700000000000\n",
    )
    _write(
        run / "meta.yaml",
        f"artifact_uri: file://{run}/artifacts\nend_time: 1700000005000\n"
        "experiment_id: '123'\nlifecycle_stage: active\nrun_id: abc123\nrun_name: first\n"
        "run_uuid: abc123\nstart_time: 1700000000000\nstatus: 4\nuser_id: ana\n",
    )
    _write(run / "params" / "lr", "0.1")
    _write(run / "params" / "nested" / "depth", "3")
    _write(run / "tags" / "mlflow.runName", "first")
    _write(run / "metrics" / "loss", "1700000001000 0.5 0\n1700000002000 0.25 1\n")
    _write(run / "artifacts" / "plots" / "a.txt", "hello")
    _write(
        exp / "gone" / "meta.yaml",
        "run_id: gone\nrun_uuid: gone\nexperiment_id: '123'\n"
        "lifecycle_stage: deleted\nstatus: 3\nstart_time: 1\n",
    )

    report = import_mlflow(str(root))
    assert report.created["runs"] == 1
    assert any("gone" in line and "deleted" in line for line in report.unmapped)
    got = get_client().get_run(report.id_map[("run", "abc123")])
    assert (got.info.name, got.info.status.value, got.info.user) == ("first", "FAILED", "ana")
    assert (got.info.start_time, got.info.end_time) == (1700000000000, 1700000005000)
    assert got.data.params == {"lr": "0.1", "nested/depth": "3"}
    history = keel.get_metric_history(got.info.id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (0, 1700000001000, 0.5),
        (1, 1700000002000, 0.25),
    ]
    assert get_client().read_artifact(got.info.id, "plots/a.txt") == b"hello"
    assert sum(import_mlflow(str(root)).created.values()) == 0
