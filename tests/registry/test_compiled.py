"""Compiled scikit-learn models: NumPy-only loading that answers exactly as the estimator does."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import keel
from keel.errors import IntegrityError
from keel.registry._compiled import COMPILED_FILE, CompiledModel, NotCompiled, compile_estimator
from keel.tracking import TrackingClient

from .conftest import churn_frame

_BIN = make_classification(600, 6, n_informative=4, random_state=0)
_MULTI = make_classification(600, 6, n_informative=4, n_classes=3, random_state=1)
_REG = make_regression(600, 6, noise=5.0, random_state=2)

CASES: dict[str, tuple[Any, tuple[np.ndarray, np.ndarray]]] = {
    "logistic": (LogisticRegression(max_iter=500), _BIN),
    "logistic-multinomial": (LogisticRegression(max_iter=500), _MULTI),
    "scaled-logistic": (make_pipeline(StandardScaler(), LogisticRegression()), _BIN),
    "minmax-clip-logistic": (make_pipeline(MinMaxScaler(clip=True), LogisticRegression()), _MULTI),
    "maxabs-ridge": (make_pipeline(MaxAbsScaler(), Ridge()), _REG),
    "linear-regression": (LinearRegression(), _REG),
    "lasso": (Lasso(alpha=0.5), _REG),
    "elastic-net": (ElasticNet(alpha=0.5), _REG),
    "ridge-classifier": (RidgeClassifier(), _MULTI),
    "linear-svc": (LinearSVC(), _BIN),
    "sgd-log-loss": (SGDClassifier(loss="log_loss", random_state=0), _BIN),
    "sgd-log-loss-ovr": (SGDClassifier(loss="log_loss", random_state=0), _MULTI),
    "sgd-hinge": (SGDClassifier(random_state=0), _MULTI),
    "decision-tree": (DecisionTreeClassifier(random_state=0), _MULTI),
    "decision-tree-regressor": (DecisionTreeRegressor(max_depth=8, random_state=0), _REG),
    "random-forest": (RandomForestClassifier(40, random_state=0), _MULTI),
    "random-forest-regressor": (RandomForestRegressor(25, random_state=0), _REG),
    "extra-trees": (ExtraTreesClassifier(25, random_state=0), _BIN),
    "extra-trees-regressor": (ExtraTreesRegressor(20, max_depth=6, random_state=0), _REG),
}


def _frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])


def _same(want: Any, got: Any) -> None:
    want, got = np.asarray(want), np.asarray(got)
    assert want.dtype == got.dtype
    assert want.shape == got.shape
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("named", [True, False], ids=["frame", "array"])
def test_compiled_model_answers_as_the_estimator(
    local: TrackingClient, case: str, named: bool
) -> None:
    model, (X, y) = CASES[case]
    train = _frame(X[:400]) if named else X[:400]
    model.fit(train, y[:400])
    with keel.start_run():
        info = keel.log_model(model, "model", input_example=train[:5], registered_name=case)
    loaded = keel.load_model(f"models:/{case}/{info.version}")
    assert loaded.compiled is not None, loaded.manifest.options.get("compiled_note")
    held_out = _frame(X[400:]) if named else X[400:]
    _same(model.predict(held_out), loaded.predict(held_out))
    if "predict_proba" in loaded.manifest.methods:
        _same(model.predict_proba(held_out), loaded.predict_proba(held_out))
    # Every answer came from the NumPy form: the estimator was never loaded.
    assert loaded._native is None
    assert type(loaded.unwrap()) is type(model)


def test_string_labels_come_back_as_the_estimator_gives_them(local: TrackingClient) -> None:
    X, y = _BIN
    labels = np.where(y == 1, "churn", "stay").astype(object)
    model = RandomForestClassifier(10, random_state=0).fit(X, labels)
    with keel.start_run():
        info = keel.log_model(model, "model", input_example=X[:5], registered_name="labels")
    loaded = keel.load_model(f"models:/labels/{info.version}")
    assert loaded.compiled is not None
    _same(model.predict(X), loaded.predict(X))


def test_fresh_process_imports_neither_scikit_learn_nor_scipy(
    local: TrackingClient, tmp_path: Path
) -> None:
    model, (X, y) = CASES["scaled-logistic"]
    model.fit(X, y)
    with keel.start_run():
        keel.log_model(model, "model", input_example=X[:5], registered_name="cold")
    np.save(tmp_path / "rows.npy", X[:50])
    script = (
        "import json, sys, numpy as np, keel\n"
        "m = keel.load_model('models:/cold/1')\n"
        f"p = m.predict_proba(np.load({str(tmp_path / 'rows.npy')!r}))\n"
        "heavy = [n for n in ('sklearn', 'scipy', 'pandas', 'sqlalchemy') if n in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'proba': p.tolist()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["heavy"] == []
    _same(model.predict_proba(X[:50]), np.asarray(found["proba"]))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_inputs_the_compiled_form_leaves_to_the_estimator(local: TrackingClient) -> None:
    X, y = _BIN
    model = RandomForestClassifier(10, random_state=0).fit(X, y)
    with keel.start_run():
        keel.log_model(model, "model", input_example=X[:5], registered_name="nan")
    loaded = keel.load_model("models:/nan/1")
    assert loaded.compiled is not None
    rows = X[:20].copy()
    rows[3, 2] = np.nan  # scikit-learn's trees route missing values their own way
    _same(model.predict_proba(rows), loaded.predict_proba(rows))
    assert loaded._native is not None  # the estimator answered that one
    huge = X[:3].copy()
    huge[0, 0] = 1e300  # beyond float32: scikit-learn refuses it, and so does Keel
    with pytest.raises(ValueError, match="too large"):
        loaded.predict(huge)


def test_estimator_errors_are_unchanged_for_nan_in_a_linear_model(local: TrackingClient) -> None:
    X, y = _BIN
    with keel.start_run():
        keel.log_model(
            LogisticRegression().fit(X, y), "model", input_example=X[:5], registered_name="lin"
        )
    loaded = keel.load_model("models:/lin/1")
    rows = X[:4].copy()
    rows[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        loaded.predict(rows)


def test_compiled_false_loads_the_estimator(local: TrackingClient) -> None:
    X, y = _BIN
    with keel.start_run():
        keel.log_model(
            LogisticRegression().fit(X, y), "model", input_example=X[:5], registered_name="est"
        )
    loaded = keel.load_model("models:/est/1", compiled=False)
    assert loaded.compiled is None
    assert loaded._native is not None


def test_models_keel_does_not_compile_load_as_before(local: TrackingClient) -> None:
    X, y = _BIN
    model = HistGradientBoostingClassifier(max_iter=10).fit(X, y)
    with keel.start_run():
        info = keel.log_model(model, "model", input_example=X[:5], registered_name="hgb")
    loaded = keel.load_model(f"models:/hgb/{info.version}")
    assert loaded.compiled is None
    assert "HistGradientBoostingClassifier" in loaded.manifest.options["compiled_note"]
    assert COMPILED_FILE not in loaded.manifest.files
    _same(model.predict_proba(X), loaded.predict_proba(X))


class ShiftedLogistic(LogisticRegression):
    """A user's subclass that changes predict: compiling the parent's math would be wrong."""

    def predict_proba(self, X: Any) -> Any:
        return super().predict_proba(X)[:, ::-1]


def test_subclasses_and_models_without_an_example_are_not_compiled(local: TrackingClient) -> None:
    X, y = _BIN
    with keel.start_run():
        sub = keel.log_model(ShiftedLogistic().fit(X, y), "m1", input_example=X[:5])
        bare = keel.log_model(LogisticRegression().fit(X, y), "m2")
    assert keel.load_model(sub.model_uri).compiled is None
    note = keel.load_model(bare.model_uri).manifest.options["compiled_note"]
    assert "without an input_example" in note
    with pytest.raises(NotCompiled, match="ShiftedLogistic"):
        compile_estimator(ShiftedLogistic().fit(X, y))


def test_a_tampered_compiled_file_is_refused(local: TrackingClient) -> None:
    X, y = _BIN
    with keel.start_run():
        info = keel.log_model(
            LogisticRegression().fit(X, y), "model", input_example=X[:5], registered_name="t"
        )
    (entry,) = [e for e in info.files if e.path == f"model/{COMPILED_FILE}"]
    root = Path(local.artifacts.uri)
    blob = root / "sha256" / entry.digest[:2] / entry.digest[2:4] / entry.digest
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-40] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its digest"):
        keel.load_model("models:/t/1")


def test_arrays_that_do_not_fit_or_hold_pickles_are_refused() -> None:
    X, y = _BIN
    spec, data = compile_estimator(LogisticRegression().fit(X, y))
    with np.load(io.BytesIO(data)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    short = dict(arrays)
    short["s0_coef"] = arrays["s0_coef"][:, :3]
    buffer = io.BytesIO()
    np.savez(buffer, **short)
    with pytest.raises(IntegrityError, match="does not fit"):
        CompiledModel.from_bytes(spec, buffer.getvalue())
    pickled = dict(arrays)
    pickled["s0_coef"] = np.array([object()], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **pickled)
    with pytest.raises(IntegrityError, match="does not fit"):
        CompiledModel.from_bytes(spec, buffer.getvalue())


@pytest.mark.parametrize("seed", range(8))
def test_random_forests_on_random_data_match_bitwise(seed: int) -> None:
    """Random depths, widths, duplicate values and class counts: the walk is scikit-learn's."""
    rng = np.random.default_rng(seed)
    n, width = 300, int(rng.integers(1, 9))
    X = np.round(rng.normal(size=(n, width)), int(rng.integers(0, 3)))  # ties on thresholds
    y = rng.integers(0, int(rng.integers(2, 5)), n)
    model = RandomForestClassifier(
        int(rng.integers(1, 20)), max_depth=int(rng.integers(1, 12)), random_state=seed
    ).fit(X, y)
    spec, data = compile_estimator(model)
    compiled = CompiledModel.from_bytes(spec, data)
    rows = np.round(rng.normal(size=(500, width)) * 1.5, 2)
    np.testing.assert_array_equal(compiled.predict_proba(rows), model.predict_proba(rows))
    np.testing.assert_array_equal(compiled.predict(rows), model.predict(rows))


def test_the_churn_frame_with_integer_columns(local: TrackingClient) -> None:
    X, y = churn_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with keel.start_run():
        keel.log_model(model, "model", input_example=X[:5], registered_name="churn")
    loaded = keel.load_model("models:/churn/1")
    assert loaded.compiled is not None
    assert loaded.compiled.feature_names == list(X.columns)
    records = X[:7].to_dict(orient="records")
    _same(model.predict_proba(X[:7]), loaded.predict_proba(records))
    assert loaded._native is None
