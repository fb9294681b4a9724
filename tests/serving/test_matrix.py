"""The scikit-learn matrix fast path: same answers and errors as the DataFrame path, and a
fallback to DataFrames whenever the two paths could differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import keel.monitoring as km
from keel.serving._inputs import InputChecker
from keel.serving._matrix import matrix_model, strip_feature_names

from .conftest import serving

NAME = "numeric"


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(50, 10, n),
            "calls": rng.integers(0, 5, n).astype(np.int64),
            "ratio": rng.random(n),
        }
    )


def _register(model: Any, name: str = NAME) -> int:
    import keel

    X = _frame(200)
    with keel.start_run():
        info = keel.log_model(model, "model", input_example=X[:5], registered_name=name)
    return int(info.version or 0)


def _fit(kind: str = "logreg") -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _frame(200)
    y = (X["amount"] + 5 * X["calls"] > 60).astype(int)
    if kind == "pipeline":
        return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    return LogisticRegression(max_iter=500).fit(X, y)


def _records(n: int, seed: int = 1) -> list[dict[str, Any]]:
    X = _frame(n, seed)
    return [
        {"amount": float(a), "calls": int(c), "ratio": float(r)}
        for a, c, r in zip(X["amount"], X["calls"], X["ratio"], strict=True)
    ]


@pytest.mark.parametrize("kind", ["logreg", "pipeline"])
def test_numeric_models_are_served_on_a_matrix_with_the_same_answers(
    keel_home: Path, kind: str
) -> None:
    model = _fit(kind)
    version = _register(model)
    rows = _records(7)
    frame = pd.DataFrame(rows)
    expected = model.predict(frame).tolist()
    with serving(f"models:/{NAME}/{version}", log_scores=True) as s:
        served = s.app.state.keel.runtime.route.primary
        assert served.matrix
        assert served.checker.matrix
        first = s.predict({"instances": rows}).json()
        assert first["predictions"] == expected
        split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
        assert s.predict(split).json()["predictions"] == expected
        as_rows = {"instances": [[r["amount"], r["calls"], r["ratio"]] for r in rows]}
        assert s.predict(as_rows).json()["predictions"] == expected
        # Columns in another order, and integral floats in the integer column, are checked
        # column by column and answer the same.
        order = ["ratio", "amount", "calls"]
        shuffled = {"columns": order, "data": frame[order].to_numpy().tolist()}
        assert s.predict(shuffled).json()["predictions"] == expected
        as_floats = [{**r, "calls": float(r["calls"])} for r in rows]
        assert s.predict({"instances": as_floats}).json()["predictions"] == expected
    # The estimator the user logged still has its feature names (the fast path used a copy).
    assert list(model.feature_names_in_) == ["amount", "calls", "ratio"]
    table = km.read_predictions(f"{NAME}.v{version}")
    assert table.num_rows == 5 * 7
    # The log keeps the signature's types, whichever path a request took.
    assert str(table.schema.field("calls").type) == "int64"
    assert str(table.schema.field("amount").type) == "double"
    score = dict(
        zip(
            table.column("prediction_id").to_pylist(),
            table.column("prediction_score").to_pylist(),
            strict=True,
        )
    )
    logged = [score[i] for i in first["prediction_ids"]]
    # Equal up to the last bit: BLAS may sum in another order on another memory layout.
    assert np.allclose(logged, model.predict_proba(frame)[:, 1], rtol=1e-12, atol=0)


def test_matrix_path_names_the_same_errors(keel_home: Path) -> None:
    version = _register(_fit())
    good = _records(3)
    cases: list[tuple[Any, list[Any]]] = [
        ({"instances": [good[0], {"amount": 1.0, "calls": 1}]}, ["instances", 1, "ratio"]),
        ({"instances": [{**good[0], "extra": 1}]}, ["instances", 0, "extra"]),
        ({"instances": [{**good[0], "amount": None}]}, ["instances", 0, "amount"]),
        ({"instances": [{**good[0], "amount": "1.5"}]}, ["instances", 0, "amount"]),
        ({"instances": [{**good[0], "amount": True}]}, ["instances", 0, "amount"]),
        ({"instances": [{**good[0], "calls": 1.5}]}, ["instances", 0, "calls"]),
        ({"instances": [[1.0, 2, 0.5], [1.0, 2]]}, ["instances", 1]),
        ({"columns": ["amount", "calls", "ratio"], "data": [[1.0, "x", 0.5]]}, ["data", 0, 1]),
    ]
    with serving(f"models:/{NAME}/{version}", log_predictions=False) as s:
        assert s.app.state.keel.runtime.route.primary.matrix
        for body, loc in cases:
            r = s.predict(body)
            assert r.status_code == 422, (body, r.text)
            locs = [e["loc"] for e in r.json()["details"]["errors"]]
            assert loc in locs, (body, locs)
        assert s.predict({"instances": good}).status_code == 200


class _FrameSensitive(ClassifierMixin, BaseEstimator):
    """Answers 1 on a DataFrame and 0 on an array: the fast path must not be taken."""

    def fit(self, X: pd.DataFrame, y: Any) -> _FrameSensitive:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X: Any) -> np.ndarray[Any, Any]:
        return np.full(len(X), int(hasattr(X, "columns")))


def test_models_answering_differently_on_arrays_stay_on_dataframes(keel_home: Path) -> None:
    import keel

    X = _frame(20)
    version = _register(_FrameSensitive().fit(X, None), name="sensitive")
    with serving(f"models:/sensitive/{version}", log_predictions=False) as s:
        served = s.app.state.keel.runtime.route.primary
        assert not served.matrix
        assert s.predict({"instances": _records(2)}).json()["predictions"] == [1, 1]
    loaded = keel.load_model(f"models:/sensitive/{version}")
    checker = InputChecker(loaded.signature, "frame")
    example = json.dumps({"type": "records", "data": _records(2)}).encode()
    assert matrix_model(loaded, checker, example) is None
    assert matrix_model(loaded, checker, None) is None  # no example: no check, no fast path


def test_models_with_non_numeric_inputs_stay_on_dataframes(keel_home: Path) -> None:
    from .conftest import MODEL, fit_model, records, register

    version = register(fit_model())
    with serving(f"models:/{MODEL}/{version}", log_predictions=False) as s:
        assert not s.app.state.keel.runtime.route.primary.matrix
        assert s.predict({"instances": records(2)}).status_code == 200


def test_strip_feature_names_copies() -> None:
    model = _fit("pipeline")
    stripped = strip_feature_names(model)
    assert stripped is not None
    assert not hasattr(stripped, "feature_names_in_")
    assert list(model.feature_names_in_) == ["amount", "calls", "ratio"]
    assert list(model.steps[0][1].feature_names_in_) == ["amount", "calls", "ratio"]
    frame = _frame(5, seed=3)
    assert stripped.predict(frame.to_numpy()).tolist() == model.predict(frame).tolist()
