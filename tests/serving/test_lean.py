"""A lean serving worker: a compiled numeric model is served without scikit-learn or pandas.

The worker runs in a subprocess (a fresh interpreter, as ``keel serve`` starts one): it builds
the app, serves requests over a real uvicorn server on 127.0.0.1, flushes the prediction log,
and reports which heavy modules it imported at each stage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.serving._inputs import InputChecker
from keel.serving._log import _arrow, _strings

from .conftest import serving

NAME = "lean"
COLUMNS = ["amount", "calls", "ratio"]


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(50, 10, n),
            "calls": rng.integers(0, 5, n).astype(np.int64),
            "ratio": rng.random(n),
        }
    )


def _fit() -> Any:
    from sklearn.linear_model import LogisticRegression

    X = _frame(200)
    y = (X["amount"] + 5 * X["calls"] > 60).astype(int)
    return LogisticRegression(max_iter=500).fit(X, y)


def _register(model: Any, example: pd.DataFrame) -> int:
    import keel

    with keel.start_run():
        info = keel.log_model(model, "model", input_example=example, registered_name=NAME)
    return int(info.version or 0)


def _records(n: int, seed: int = 1) -> list[dict[str, Any]]:
    X = _frame(n, seed)
    return [
        {"amount": float(a), "calls": int(c), "ratio": float(r)}
        for a, c, r in zip(X["amount"], X["calls"], X["ratio"], strict=True)
    ]


_WORKER = textwrap.dedent(
    """
    import http.client, json, sys

    HEAVY = ("pandas", "sklearn", "scipy", "typer", "rich")

    def loaded():
        return sorted(m for m in HEAVY if m in sys.modules)

    from keel.serving._server import lean_process
    lean_process()
    from keel.serving import create_app, start_server

    report = {}
    app = create_app(sys.argv[1], monitor_metrics=False, flush_interval=3600)
    state = app.state.keel
    report["matrix"] = state.runtime.route.primary.matrix
    report["built"] = loaded()
    body = json.dumps({"instances": json.loads(sys.argv[2])})
    answers = []
    with start_server(app) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        for _ in range(3):
            conn.request("POST", "/v1/predict", body, {"content-type": "application/json"})
            response = conn.getresponse()
            answers.append([response.status, json.loads(response.read())["predictions"]])
        conn.close()
        report["served"] = loaded()
        state.writer.flush()
        report["rows_written"] = state.writer.stats.rows_written
        report["flushed"] = loaded()
    report["answers"] = answers
    print(json.dumps(report))
    """
)


@pytest.fixture
def worker_report(keel_home: Path) -> dict[str, Any]:
    """Serve a compiled LogisticRegression from a fresh process; what it imported when."""
    model = _fit()
    _register(model, _frame(200)[:5])
    rows = _records(7)
    env = {**os.environ, "KEEL_HOME": str(keel_home)}
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, f"models:/{NAME}/1", json.dumps(rows)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    report["expected"] = model.predict(pd.DataFrame(rows)).tolist()
    return report


@pytest.mark.slow
def test_a_compiled_numeric_model_is_served_without_scikit_learn_or_pandas(
    worker_report: dict[str, Any],
) -> None:
    assert worker_report["matrix"]
    assert worker_report["built"] == []
    assert worker_report["served"] == []
    assert worker_report["answers"] == [[200, worker_report["expected"]]] * 3
    assert worker_report["rows_written"] == 21


@pytest.mark.slow
def test_the_prediction_log_flush_does_not_import_pandas(
    worker_report: dict[str, Any],
) -> None:
    assert worker_report["rows_written"] == 21
    assert worker_report["flushed"] == []


def test_the_compiled_path_never_loads_the_estimator(keel_home: Path) -> None:
    model = _fit()
    version = _register(model, _frame(200)[:5])
    rows = _records(9)
    with serving(f"models:/{NAME}/{version}", log_scores=True) as s:
        served = s.app.state.keel.runtime.route.primary
        assert served.matrix
        assert served.model.compiled is not None
        assert served.model._native is None  # unwrap() was never called
        body = s.predict({"instances": rows}).json()
        assert body["predictions"] == model.predict(pd.DataFrame(rows)).tolist()
        split = {"columns": COLUMNS, "data": [[r[c] for c in COLUMNS] for r in rows]}
        assert s.predict(split).json()["predictions"] == body["predictions"]
        bad = s.predict({"instances": [{**rows[0], "calls": "three"}]})
        assert bad.status_code == 422
        assert bad.json()["details"]["errors"][0]["loc"] == ["instances", 0, "calls"]
        assert served.model._native is None


def test_a_matrix_in_another_column_order_keeps_the_signature_for_requests_and_the_log() -> None:
    from keel.registry import infer_signature

    frame = _frame(5)
    signature = infer_signature(frame)
    order = ["ratio", "amount", "calls"]
    checker = InputChecker(signature, "frame", matrix=True, columns=order)
    rows = _records(4)
    want = np.array([[r[c] for c in order] for r in rows], dtype=np.float64)
    as_rows = [[r[c] for c in COLUMNS] for r in rows]
    for payload in (
        {"instances": rows},
        {"instances": as_rows},
        {"columns": COLUMNS, "data": as_rows},
        {"columns": order, "data": [[r[c] for c in order] for r in rows]},
    ):
        prepared = checker.prepare(payload)
        assert np.array_equal(prepared.model_input, want), payload
        assert prepared.model_input.flags.c_contiguous
        assert list(prepared.columns) == COLUMNS
        assert prepared.columns["calls"].dtype == np.int64
        assert prepared.columns["calls"].tolist() == [r["calls"] for r in rows]
    # The column-by-column path (a null here) builds the same order, and names the field.
    with pytest.raises(Exception, match=r"instances\.1\.calls"):
        checker.prepare({"instances": [rows[0], {**rows[1], "calls": None}]})
    with pytest.raises(ValueError, match="not the signature's inputs"):
        InputChecker(signature, "frame", matrix=True, columns=["amount", "calls"])


@pytest.mark.parametrize(
    "values",
    [
        np.array([1.5, np.nan, -0.0, 3.0]),
        np.array([1, 2, 3], dtype=np.int64),
        np.array([1, 2, 3], dtype=np.int32),
        np.array([1.5, 2.5], dtype=np.float32),
        np.array([True, False, True, True, False, False, True, False, True]),
        np.array([[1.0, 2.0], [3.0, 4.0]])[:, 1],  # a strided view
        np.array(["a", "bé", ""], dtype=object),
        np.array(["a", None, "ü"], dtype=object),
        np.array(["x", "yz"]),
        np.array([[1, 2], [3]], dtype=object),
    ],
)
def test_log_columns_are_the_arrow_arrays_pa_array_makes(values: np.ndarray[Any, Any]) -> None:
    got = _arrow(values)
    want = pa.array(values.tolist() if values.dtype.kind in "OU" else values)
    if values.dtype.kind == "O" and not all(isinstance(v, (str, type(None))) for v in values):
        want = pa.array(values.tolist())
    got.validate(full=True)
    assert got.type == want.type
    assert got.to_pylist() == want.to_pylist() or (
        values.dtype.kind == "f" and np.array_equal(got.to_numpy(), values, equal_nan=True)
    )


def test_string_columns_from_buffers() -> None:
    ids = [f"{i:032x}" for i in range(1000)]
    arr = _strings(ids)
    assert arr is not None
    arr.validate(full=True)
    assert arr.to_pylist() == ids
    assert arr.null_count == 0
    mixed = _strings(["a", None, "b"])
    assert mixed is not None
    assert mixed.null_count == 1
    assert mixed.to_pylist() == ["a", None, "b"]
    assert _strings(["a", 1]) is None
    assert _strings(["\ud800"]) is None  # not UTF-8: left to pa.array's error
    empty = _strings([])
    assert empty is not None
    assert len(empty) == 0


def test_rows_the_compiled_form_leaves_go_to_the_estimator(keel_home: Path) -> None:
    model = _fit()
    version = _register(model, _frame(200)[:5])
    with serving(f"models:/{NAME}/{version}") as s:
        served = s.app.state.keel.runtime.route.primary
        assert served.matrix
        assert served.model._native is None
        rows = np.array([[50.0, 1.0, 0.5], [70.0, 3.0, 0.1]])
        want = model.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()
        assert served.predict(rows).tolist() == want
        with pytest.raises(ValueError, match="NaN"):  # the estimator's own answer to NaN
            served.predict(np.array([[np.nan, 1.0, 0.5]]))
        assert served.model._native is not None


def test_predict_is_answered_ahead_of_fastapi_routing_and_still_documented(
    keel_home: Path,
) -> None:
    model = _fit()
    version = _register(model, _frame(200)[:5])
    rows = _records(2)
    with serving(f"models:/{NAME}/{version}") as s:
        assert s.predict({"instances": rows}).status_code == 200
        assert s.client.get("/v1/predict").status_code == 405
        bad = s.client.post(
            "/v1/predict", content=b"{", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        assert bad.json()["error_code"] == "invalid-argument"
        spec = s.client.get("/openapi.json").json()
        assert "post" in spec["paths"]["/v1/predict"]


def test_the_predict_path_is_found_under_a_root_path() -> None:
    from keel.serving._app import _route_path

    assert _route_path({"path": "/v1/predict"}) == "/v1/predict"
    assert _route_path({"path": "/api/v1/predict", "root_path": "/api"}) == "/v1/predict"
    assert _route_path({"path": "/v1/predict", "root_path": "/api"}) == "/v1/predict"
