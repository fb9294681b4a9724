"""Round trips per flavor: save, load (models:/ and runs:/), same predictions; SQLite and PG."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import keel
from keel.errors import InvalidArgumentError, MissingDependencyError
from keel.registry import LibraryVersionWarning, LoadedModel
from keel.tracking import TrackingClient

from .conftest import churn_frame

X, Y = churn_frame()


def _log(model: Any, name: str, example: Any, **kwargs: Any) -> keel.registry.ModelInfo:
    with keel.start_run():
        keel.log_metric("auc", 0.9)
        return keel.log_model(model, "model", input_example=example, registered_name=name, **kwargs)


def _same(a: Any, b: Any) -> None:
    np.testing.assert_allclose(
        np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-5, atol=1e-6
    )


def _round_trip(info: keel.registry.ModelInfo, expected: Any, data: Any) -> LoadedModel:
    for uri in (f"models:/{info.registered_name}/{info.version}", info.model_uri):
        loaded = keel.load_model(uri)
        _same(loaded.predict(data), expected)
    return loaded


@pytest.mark.parametrize("serialization", ["cloudpickle", "joblib", "skops"])
def test_sklearn_pipeline_round_trip(client: TrackingClient, serialization: str) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    info = _log(model, "churn", X[:5], serialization=serialization)
    assert (info.flavor, info.serialization) == ("sklearn", serialization)
    loaded = _round_trip(info, model.predict(X), X)
    _same(loaded.predict_proba(X), model.predict_proba(X))
    # One predict for every input shape: records, a dict of columns, an array in column order.
    _same(loaded.predict(X[:7].to_dict("records")), model.predict(X[:7]))
    _same(loaded.predict({c: X[c][:3].tolist() for c in X.columns}), model.predict(X[:3]))
    _same(loaded.predict(X.to_numpy()[:9]), model.predict(X[:9]))
    assert loaded.manifest.libraries["scikit-learn"]
    assert info.signature is not None
    assert info.signature.inputs.names == list(X.columns)


def test_sklearn_array_model_and_tree_in_skops(client: TrackingClient) -> None:
    from sklearn.ensemble import RandomForestClassifier

    arr = X.to_numpy()
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(arr, Y)
    info = _log(model, "forest", arr[:5], serialization="skops")
    loaded = _round_trip(info, model.predict(arr), arr)
    assert loaded.signature is not None
    assert loaded.signature.inputs.kind == "tensor"
    _same(loaded.predict(arr.tolist()), model.predict(arr))


@pytest.mark.parametrize("serialization", ["ubj", "json"])
def test_xgboost_round_trip(client: TrackingClient, serialization: str) -> None:
    xgb = pytest.importorskip("xgboost")
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, Y)
    info = _log(model, "xgb", X[:5], serialization=serialization)
    loaded = _round_trip(info, model.predict(X), X)
    _same(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.manifest.options["model_class"] == "XGBClassifier"


def test_xgboost_booster_round_trip(client: TrackingClient) -> None:
    xgb = pytest.importorskip("xgboost")
    arr = X.to_numpy()
    booster = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(arr, label=Y), 5)
    info = _log(booster, "xgb-booster", arr[:5])
    _round_trip(info, booster.predict(xgb.DMatrix(arr)), arr)


def test_lightgbm_classifier_and_regressor_round_trip(client: TrackingClient) -> None:
    lgb = pytest.importorskip("lightgbm")
    clf = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, Y)
    info = _log(clf, "lgb", X[:5])
    loaded = _round_trip(info, clf.predict(X), X)
    _same(loaded.predict_proba(X), clf.predict_proba(X))
    reg = lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(X.to_numpy(), X["monthly"])
    info = _log(reg, "lgb-reg", X.to_numpy()[:5])
    _round_trip(info, reg.predict(X.to_numpy()), X.to_numpy())
    assert info.serialization == "text"


@pytest.mark.slow
def test_pytorch_export_round_trip(client: TrackingClient) -> None:
    torch = pytest.importorskip("torch")
    from ._torch_models import TinyNet

    torch.manual_seed(0)
    net = TinyNet().eval()
    arr = X.to_numpy().astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(arr)).numpy()
    info = _log(net, "net", arr[:1])  # a batch of one still exports a dynamic batch size
    assert info.serialization == "export"
    loaded = _round_trip(info, expected, arr)
    _same(loaded.predict(X.to_numpy()[:3]), expected[:3])  # float64 input cast to the dtype


@pytest.mark.slow
def test_pytorch_state_dict_round_trip(client: TrackingClient) -> None:
    torch = pytest.importorskip("torch")
    from ._torch_models import TinyNet

    net = TinyNet(n_in=4, hidden=6).eval()
    arr = X.to_numpy().astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(arr)).numpy()
    info = _log(
        net, "net-sd", arr[:4], serialization="state_dict", init_kwargs={"n_in": 4, "hidden": 6}
    )
    _round_trip(info, expected, arr)


class ThresholdModel:
    """A plain Python model: its source is captured with it."""

    def __init__(self, column: str, threshold: float) -> None:
        self.column, self.threshold = column, threshold

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return (data[self.column] > self.threshold).astype(int).to_numpy()


def test_pyfunc_round_trip_captures_code(client: TrackingClient, tmp_path: Path) -> None:
    helper = tmp_path / "helper.py"
    helper.write_text("SCALE = 2\n")
    model = ThresholdModel("score", 0.1)
    info = _log(model, "rule", X[:5], code_paths=[str(helper)])
    assert info.flavor == "pyfunc"
    files = {e.path for e in info.files}
    assert "model/code/helper.py" in files
    assert any(p.startswith("model/code/") and p.endswith("test_flavors.py") for p in files)
    loaded = _round_trip(info, model.predict(X), X)
    assert isinstance(loaded.unwrap(), object)


def test_pyfunc_loads_in_a_process_without_the_code(
    client: TrackingClient, tmp_path: Path, keel_env: dict[str, Any]
) -> None:
    import subprocess

    info = _log(ThresholdModel("score", 0.0), "rule-proc", X[:5])
    script = (
        "import keel, pandas as pd\n"
        f"m = keel.load_model('models:/rule-proc/{info.version}')\n"
        "print(m.predict(pd.DataFrame({'tenure':[1,2],'monthly':[1.0,2.0],"
        "'support_calls':[0,1],'score':[-1.0,1.0]})).tolist())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert out.stdout.strip() == "[0, 1]"


def test_loading_under_other_library_versions_warns(
    local: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(X, Y)
    with monkeypatch.context() as m:
        m.setattr(sklearn, "__version__", "0.20.0")
        info = _log(model, "old", X[:5])
    # The estimator itself (compiled=False) is unpickled by this scikit-learn: it warns.
    with pytest.warns(LibraryVersionWarning):
        loaded = keel.load_model(info.model_uri, compiled=False)
    assert loaded.manifest.libraries["scikit-learn"] == "0.20.0"
    with pytest.warns(LibraryVersionWarning, match=r"scikit-learn 0\.20\.0 \(now "):
        keel.load_model(f"models:/old/{info.version}", compiled=False)
    # Its compiled form needs NumPy only, so loading it does not warn; asking for the
    # estimator does.
    with warnings.catch_warnings():
        warnings.simplefilter("error", LibraryVersionWarning)
        compiled = keel.load_model(f"models:/old/{info.version}")
    assert compiled.compiled is not None
    with pytest.warns(LibraryVersionWarning):
        compiled.unwrap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LibraryVersionWarning)
        keel.load_model("models:/old/latest")


def test_unknown_flavor_format_and_object_are_refused(local: TrackingClient) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(X, Y)
    with keel.start_run():
        with pytest.raises(InvalidArgumentError, match=r"Unknown model flavor 'sklern'.*'sklearn'"):
            keel.log_model(model, flavor="sklern")
        with pytest.raises(InvalidArgumentError, match=r"cannot save in format 'pickle'"):
            keel.log_model(model, serialization="pickle")
        with pytest.raises(InvalidArgumentError, match=r"has no predict method"):
            keel.log_model(object())
        with pytest.raises(InvalidArgumentError, match=r"could not predict on its input_example"):
            keel.log_model(
                model,
                input_example=pd.DataFrame({"a": ["x"]}),
                signature={
                    "inputs": {"type": "columns", "columns": [{"name": "a", "type": "string"}]}
                },
            )
        with pytest.raises(InvalidArgumentError, match=r"Invalid model name 'a/b'"):
            keel.log_model(model, registered_name="a/b")
        with pytest.raises(InvalidArgumentError, match=r"artifact_path must name a folder"):
            keel.log_model(model, ".")


def test_log_model_needs_a_run(local: TrackingClient) -> None:
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(keel.errors.InvalidStateError, match=r"needs an active run"):
        keel.log_model(LogisticRegression().fit(X, Y))


def test_missing_extra_names_the_install_command(local: TrackingClient) -> None:
    from keel.registry._flavor import get_flavor

    flavor = get_flavor("lightgbm")
    saved = flavor.libraries
    try:
        type(flavor).libraries = {"lightgbm": "lightgbm_not_installed_here"}
        with pytest.raises(MissingDependencyError, match=r"pip install 'keel\[lightgbm\]'"):
            flavor.import_library()
    finally:
        type(flavor).libraries = saved
