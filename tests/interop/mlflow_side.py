"""Runs in the MLflow venv (.bench/mlflow): makes an MLflow store and dumps what it holds.

    python mlflow_side.py TRACKING_URI OUT_JSON

Creates two experiments with finished, failed and nested runs (params, metric series with steps
and timestamps, tags, artifact files in folders), a scikit-learn model registered as two
versions with aliases and a version tag, and a custom pyfunc model (which Keel cannot map to a
flavor). Then reads everything back with MLflow's own client and writes it as JSON, the truth
the Keel importer's result is compared with.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):  # noqa: ARG002
        return model_input * 2


def make(uri: str) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "plots").mkdir()
    (tmp / "plots" / "a.txt").write_text("plot a")
    (tmp / "plots" / "deep").mkdir()
    (tmp / "plots" / "deep" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (tmp / "notes.md").write_text("# notes\n")

    mlflow.set_experiment("churn")
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]] * 5)
    y = np.array([0, 1, 0, 1] * 5)
    for i in range(2):
        with mlflow.start_run(run_name=f"train-{i}") as run:
            mlflow.log_params({"lr": 0.1 * (i + 1), "depth": 3 + i, "name": "baseline"})
            for step in range(25):
                mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            mlflow.log_metric("auc", 0.8 + i / 10)
            mlflow.log_metric("auc", 0.85 + i / 10)  # a second point at the same step
            mlflow.log_metric("weird", float("nan"), step=1)
            mlflow.set_tags({"team": "risk", "attempt": str(i)})
            mlflow.log_artifact(str(tmp / "notes.md"))
            mlflow.log_artifacts(str(tmp / "plots"), artifact_path="plots")
            model = LogisticRegression().fit(X, y)
            # The second version carries a signature (a tensor one, from a NumPy example).
            example = {"input_example": X[:3]} if i == 1 else {}
            mlflow.sklearn.log_model(
                model, name="model", registered_model_name="churn-model", **example
            )
            with mlflow.start_run(run_name=f"child-{i}", nested=True):
                mlflow.log_param("fold", i)
                mlflow.log_metric("fold_auc", 0.7, step=0)
        del run
    with mlflow.start_run(run_name="pickled"):
        mlflow.sklearn.log_model(
            LogisticRegression().fit(X, y),
            name="model",
            serialization_format="cloudpickle",
            registered_model_name="churn-pickle",
        )
    import lightgbm
    import xgboost

    with mlflow.start_run(run_name="boosted"):
        xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
        mlflow.xgboost.log_model(xgb, name="xgb", registered_model_name="churn-xgb")
        lgb = lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=2, verbose=-1).fit(X, y)
        mlflow.lightgbm.log_model(lgb, name="lgb", registered_model_name="churn-lgb")
        booster = lightgbm.train(
            {"objective": "binary", "min_data_in_leaf": 2, "verbose": -1},
            lightgbm.Dataset(X, y),
            num_boost_round=5,
        )
        mlflow.lightgbm.log_model(booster, name="booster", registered_model_name="churn-lgb")
    client = MlflowClient()
    client.set_registered_model_alias("churn-model", "champion", "2")
    client.set_registered_model_alias("churn-model", "previous", "1")
    client.set_model_version_tag("churn-model", "2", "validated", "yes")
    client.update_registered_model("churn-model", description="Churn classifier")

    mlflow.set_experiment("other")
    with mlflow.start_run(run_name="custom"):
        mlflow.log_metric("x", 1.0)
        mlflow.pyfunc.log_model(
            name="doubler", python_model=Doubler(), registered_model_name="doubler"
        )
    try:
        with mlflow.start_run(run_name="broken"):
            mlflow.log_param("p", "v")
            raise RuntimeError("fails on purpose")
    except RuntimeError:
        pass


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump(uri: str, out: str) -> None:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    result: dict = {"experiments": [], "runs": [], "models": []}
    for exp in client.search_experiments():
        result["experiments"].append({"id": exp.experiment_id, "name": exp.name})
        for run in client.search_runs([exp.experiment_id], max_results=1000):
            info, data = run.info, run.data
            metrics = {}
            for key in data.metrics:
                hist = client.get_metric_history(info.run_id, key)
                metrics[key] = sorted(
                    (m.step, m.timestamp, None if m.value != m.value else m.value) for m in hist
                )
            files = {}
            root = Path(tempfile.mkdtemp())
            if client.list_artifacts(info.run_id):
                local = Path(client.download_artifacts(info.run_id, "", str(root)))
                for f in local.rglob("*"):
                    if f.is_file():
                        files[f.relative_to(local).as_posix()] = sha(f)
            result["runs"].append(
                {
                    "id": info.run_id,
                    "experiment": exp.name,
                    "name": info.run_name,
                    "status": info.status,
                    "start_time": info.start_time,
                    "end_time": info.end_time,
                    "params": data.params,
                    "tags": data.tags,
                    "metrics": metrics,
                    "artifacts": files,
                }
            )
    for rm in client.search_registered_models():
        versions = []
        for mv in client.search_model_versions(f"name='{rm.name}'"):
            root = Path(tempfile.mkdtemp())
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{rm.name}/{mv.version}",
                    dst_path=str(root),
                    tracking_uri=uri,
                )
            )
            files = {
                f.relative_to(local).as_posix(): sha(f) for f in local.rglob("*") if f.is_file()
            }
            versions.append(
                {"version": int(mv.version), "run_id": mv.run_id, "tags": mv.tags, "files": files}
            )
        result["models"].append(
            {
                "name": rm.name,
                "description": rm.description,
                "aliases": {a: int(v) for a, v in rm.aliases.items()},
                "versions": sorted(versions, key=lambda v: v["version"]),
            }
        )
    Path(out).write_text(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    tracking_uri, out_path = sys.argv[1], sys.argv[2]
    if "--dump-only" not in sys.argv:
        make(tracking_uri)
    dump(tracking_uri, out_path)
