"""The MLflow importer against stores made by the real ``mlflow`` package.

MLflow is not a Keel dependency: it runs in its own venv (``.bench/mlflow``, the benchmark's;
made here if missing), where ``mlflow_side.py`` creates a store and dumps what MLflow itself
reads back from it. Keel then imports the store (without importing mlflow) and every run,
metric point, param, tag, artifact and model version is compared with that dump; a second
import must add nothing. Stores: SQLite, the ``mlruns`` file store, and a ``mlflow server``
on a free 127.0.0.1 port (artifacts proxied over HTTP).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_VENV = ROOT / ".bench" / "mlflow"
SIDE = Path(__file__).with_name("mlflow_side.py")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def mlflow_python() -> Path:
    """The MLflow venv's python, created (as bench/run.sh does) if it is missing."""
    python = MLFLOW_VENV / "bin" / "python"
    probe = [str(python), "-c", "import mlflow, sklearn, xgboost, lightgbm"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    # The benchmark's venv has MLflow only; the importer's tests also log XGBoost and
    # LightGBM models (the CPU build of XGBoost: no 350 MB NCCL wheel).
    packages = ["mlflow>=2.10", "xgboost-cpu>=2.1", "lightgbm>=4.0"]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
        check=True,
    )
    return python


def _side_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}
    env["MLFLOW_ENABLE_TELEMETRY"] = "false"
    env["DO_NOT_TRACK"] = "true"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _make(python: Path, uri: str, folder: Path, **env: str) -> dict[str, Any]:
    out = folder / "expected.json"
    subprocess.run(
        [str(python), str(SIDE), uri, str(out)],
        check=True,
        cwd=folder,
        env={**_side_env(), **env},
        capture_output=True,
        timeout=600,
    )
    expected: dict[str, Any] = json.loads(out.read_text())
    return expected


@pytest.fixture(scope="module")
def sqlite_store(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    folder = tmp_path_factory.mktemp("mlflow-sqlite")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return uri, _make(mlflow_python, uri, folder)


@pytest.fixture(scope="module")
def file_store(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    folder = tmp_path_factory.mktemp("mlflow-files")
    # MLflow 3 keeps its file store only behind this switch ("maintenance mode").
    uri = f"file://{folder / 'mlruns'}"
    expected = _make(mlflow_python, uri, folder, MLFLOW_ALLOW_FILE_STORE="true")
    return str(folder / "mlruns"), expected


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_store(
    mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(mlflow_python.parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=folder,
        env=_side_env(),
        stdout=subprocess.DEVNULL,
        stderr=(folder / "server.log").open("wb"),
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url, _make(mlflow_python, url, folder)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _check_import(uri: str, expected: dict[str, Any]) -> None:
    import keel
    from keel.errors import ValidationFailedError
    from keel.interop import import_mlflow
    from keel.tracking import get_client

    report = import_mlflow(uri)
    client = get_client()
    store = client.store
    runs = expected["runs"]
    assert report.created["runs"] == len(runs)
    assert report.created["model_versions"] == sum(len(m["versions"]) for m in expected["models"])
    for exp in expected["experiments"]:
        store.get_experiment_by_name(exp["name"])
    for want in runs:
        keel_id = report.id_map[("run", want["id"])]
        run = client.get_run(keel_id)
        assert run.info.name == want["name"]
        assert run.info.status.value == want["status"]
        assert run.info.start_time == want["start_time"]
        assert run.info.end_time == want["end_time"]
        assert run.data.params == want["params"]
        assert run.data.tags == want["tags"]
        for key, points in want["metrics"].items():
            got = sorted(
                (m.step, m.timestamp, None if math.isnan(m.value) else m.value)
                for m in client.get_metric_history(keel_id, key)
            )
            assert got == [tuple(p) for p in points], key
        files = {
            e.path: e.digest
            for e in client.list_artifacts(keel_id)
            if not e.path.startswith("models/")
        }
        assert files == want["artifacts"]
        for path, digest in files.items():
            data = client.read_artifact(keel_id, path)
            assert hashlib.sha256(data).hexdigest() == digest
        if "mlflow.parentRunId" in want["tags"]:
            parent = report.id_map[("run", want["tags"]["mlflow.parentRunId"])]
            assert run.info.parent_run_id == parent
    for model in expected["models"]:
        record = keel.models.get_model(model["name"])
        assert record.aliases == model["aliases"]
        assert record.description == (model["description"] or "")
        versions = sorted(keel.models.list_versions(model["name"]), key=lambda v: v.version)
        assert [v.version for v in versions] == [v["version"] for v in model["versions"]]
        for v, want_v in zip(versions, model["versions"], strict=True):
            assert v.run_id == report.id_map[("run", want_v["run_id"])]
            manifest = keel.registry.get_registry().read_manifest(v.manifest_digest)
            wanted_files = {
                k: d for k, d in want_v["files"].items() if k != "registered_model_meta"
            }
            got = {k: e["digest"] for k, e in manifest.files.items()}
            assert wanted_files.items() <= got.items()  # LightGBM's model.lgb is also model.txt
            assert set(got.values()) == set(wanted_files.values())
            assert manifest.metadata["mlflow_tags"] == want_v["tags"]
    assert any("doubler" in line and "python_function" in line for line in report.unmapped)
    # The scikit-learn model (skops in MLflow 3) loads and predicts with Keel.
    model = keel.load_model("models:/churn-model@champion")
    assert model.flavor == "sklearn"
    assert model.manifest.model_class == "sklearn.linear_model._logistic.LogisticRegression"
    assert model.has_predict_proba  # read from the skops file's schema, not by loading it
    assert model.signature is not None  # v2 was logged with an input example
    assert model.signature.inputs.kind == "tensor"
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert list(model.predict(X)) == [0, 1]
    assert model.predict_proba(X).shape == (2, 2)
    assert keel.load_model("models:/churn-model/1").signature is None
    pickled = keel.load_model("models:/churn-pickle/1")  # cloudpickle: class read from opcodes
    assert pickled.manifest.serialization == "cloudpickle"
    assert pickled.has_predict_proba
    assert list(pickled.predict(X)) == [0, 1]
    xgb = keel.load_model("models:/churn-xgb/1")
    assert (xgb.flavor, xgb.manifest.options["model_class"]) == ("xgboost", "XGBClassifier")
    assert list(xgb.predict(X)) == [0, 1]
    # LightGBM's scikit-learn API: skops in MLflow 3, loaded with the types MLflow trusted.
    with pytest.raises(ValidationFailedError, match="not trusted") as refused:
        keel.load_model("models:/churn-lgb/1")
    trusted = refused.value.details["untrusted_types"]
    note = next(line for line in report.unmapped if "churn-lgb" in line)
    assert f"trusted_types={trusted!r}" in note
    lgb = keel.load_model("models:/churn-lgb/1", trusted_types=trusted)
    assert (lgb.flavor, lgb.has_predict_proba) == ("sklearn", True)
    assert list(lgb.predict(X)) == [0, 1]
    booster = keel.load_model("models:/churn-lgb/2")  # a native Booster: model.lgb, text
    assert booster.flavor == "lightgbm"
    assert len(booster.predict(X)) == 2

    # Importing again adds nothing.
    counts = (len(store.list_experiments()), _count_runs(store), len(store.list_audit_events()))
    again = import_mlflow(uri)
    assert sum(again.created.values()) == 0
    assert again.skipped["runs"] == len(runs)
    assert (len(store.list_experiments()), _count_runs(store)) == counts[:2]
    assert len(keel.models.list_versions("churn-model")) == 2
    assert len(keel.models.list_versions("churn-pickle")) == 1
    assert store.verify_audit_chain().ok


def _count_runs(store: Any) -> int:
    return sum(store.count_runs([e.id for e in store.list_experiments()]).values())


def test_import_sqlite_store(keel_env: dict[str, Any], sqlite_store: tuple[str, Any]) -> None:
    # Into each Keel metadata backend (SQLite, PostgreSQL): the import table's upsert differs.
    _check_import(*sqlite_store)


def test_import_file_store(keel_home: Path, file_store: tuple[str, Any]) -> None:
    _check_import(*file_store)


def test_import_tracking_server(keel_home: Path, server_store: tuple[str, Any]) -> None:
    _check_import(*server_store)


def test_cli_import_prints_counts_and_unmapped(
    keel_home: Path, sqlite_store: tuple[str, Any]
) -> None:
    from typer.testing import CliRunner

    from keel.cli._app import app

    runner = CliRunner()
    result = runner.invoke(app, ["import", "mlflow", "--from", sqlite_store[0]])
    assert result.exit_code == 0, result.output
    assert "model versions" in result.output
    assert "python_function" in result.output
    again = runner.invoke(app, ["import", "mlflow", "--from", sqlite_store[0]])
    assert again.exit_code == 0, again.output
    assert "already imported" in again.output


def test_an_interrupted_import_is_finished_not_duplicated(
    keel_home: Path, sqlite_store: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.interop import _mlflow, import_mlflow
    from keel.tracking import get_client

    uri, expected = sqlite_store
    real = _mlflow._Importer._copy_files
    calls = {"n": 0}

    def fail_on_the_second_run_with_files(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed mid-import")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_mlflow._Importer, "_copy_files", fail_on_the_second_run_with_files)
    with pytest.raises(RuntimeError, match="killed mid-import"):
        import_mlflow(uri)
    monkeypatch.setattr(_mlflow._Importer, "_copy_files", real)
    report = import_mlflow(uri)
    store = get_client().store
    assert _count_runs(store) == len(expected["runs"])
    assert report.created["runs_finished"] == 1
    assert report.skipped["runs"] + report.created["runs"] + 1 == len(expected["runs"])
    for want in expected["runs"]:
        keel_id = report.id_map[("run", want["id"])]
        for key, points in want["metrics"].items():
            assert len(get_client().get_metric_history(keel_id, key)) == len(points)
        assert {e.path for e in get_client().list_artifacts(keel_id)} >= set(want["artifacts"])
    assert sum(import_mlflow(uri).created.values()) == 0
