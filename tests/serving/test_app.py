"""The inference app over a real uvicorn server: request forms, validation, NaN policy, log,
feedback, metrics, health and docs."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import keel.monitoring as km
from keel.errors import NotFoundError
from keel.monitoring._client import get_monitoring_client

from .conftest import MODEL, Models, records, serving, training_frame


def test_both_request_forms_answer_like_the_model(models: Models) -> None:
    import keel

    rows = records(5)
    expected = keel.load_model(f"models:/{MODEL}/1").predict(pd.DataFrame(rows)).tolist()
    with serving(f"models:/{MODEL}@champion") as s:
        r = s.predict({"instances": rows})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["predictions"] == expected
        assert (body["model"], body["version"]) == (MODEL, 1)
        assert len(set(body["prediction_ids"])) == 5
        split = {"columns": ["country", "amount", "calls"]}
        split["data"] = [[x["country"], x["amount"], x["calls"]] for x in rows]
        r2 = s.predict(split)
        assert r2.status_code == 200, r2.text
        assert r2.json()["predictions"] == expected
        rows_form = [[x["amount"], x["calls"], x["country"]] for x in rows]  # signature order
        assert s.predict({"instances": rows_form}).json()["predictions"] == expected


def test_validation_errors_name_each_field(models: Models) -> None:
    with serving(f"models:/{MODEL}/1", max_body_bytes=2000) as s:
        bad = [
            {"amount": "12", "calls": 1.5, "country": "DE", "zip": "x"},
            {"calls": 2, "country": 7},
        ]
        r = s.predict({"instances": bad})
        assert r.status_code == 422
        body = r.json()
        assert body["error_code"] == "validation-failed"
        found = {(tuple(e["loc"]), e["type"]) for e in body["details"]["errors"]}
        assert found == {
            (("instances", 0, "zip"), "extra"),
            (("instances", 0, "amount"), "type"),
            (("instances", 1, "amount"), "missing"),
            (("instances", 0, "calls"), "type"),
            (("instances", 1, "country"), "type"),
        }
        msgs = {tuple(e["loc"]): e["msg"] for e in body["details"]["errors"]}
        assert msgs[("instances", 0, "amount")] == "expected double, got string '12'"
        assert "instances.0.zip" in body["message"]
        split = s.predict({"columns": ["amount", "calls"], "data": [[1.0, 2], [3.0]]})
        assert split.status_code == 422
        assert split.json()["details"]["errors"][0]["loc"] == ["data", 1]
        missing_col = s.predict({"columns": ["amount", "calls"], "data": [[1.0, 2]]})
        assert missing_col.json()["details"]["errors"][0]["loc"] == ["columns", "country"]
        assert s.predict({"rows": []}).status_code == 422
        assert s.predict({"instances": []}).status_code == 422
        big = s.predict({"instances": records(40)})
        assert big.status_code == 413
        assert "limit is 2,000" in big.json()["message"]
        assert s.client.post("/v1/predict", content=b"{not json").status_code == 400
        r = s.client.post("/v1/predict", content=b"[1]")
        assert r.status_code == 422
        r = s.client.post(
            "/v1/predict", content=b"x", headers={"content-type": "application/x-pickle"}
        )
        assert r.status_code == 415


class NanModel:
    """Returns NaN for negative amounts, else the amount (a python-function model)."""

    def predict(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
        amount = X["amount"].to_numpy(dtype=float)
        return np.where(amount < 0, np.nan, amount)


def test_nan_policy(keel_home: Any) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    import keel

    X, y = training_frame()
    X = X[["amount", "calls"]].copy()
    X.loc[::7, "amount"] = np.nan  # the example has missing amounts: amount is nullable
    with keel.start_run():
        keel.log_model(
            HistGradientBoostingClassifier(max_iter=5).fit(X, y),
            "model",
            input_example=X[:8],
            registered_name="nullable",
        )
        keel.log_model(
            NanModel(), "model2", input_example=X[1:5].fillna(1.0), registered_name="nan-out",
            flavor="pyfunc",
        )  # fmt: skip
    with serving("models:/nullable/1") as s:
        ok = s.predict({"instances": [{"amount": None, "calls": 1}, {"amount": 3.0, "calls": 1}]})
        assert ok.status_code == 200, ok.text
        no = s.predict({"instances": [{"amount": 1.0, "calls": None}]})
        assert no.status_code == 422
        assert no.json()["details"]["errors"][0]["type"] == "null"
        for token in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
            body = b'{"instances": [{"amount": ' + token + b', "calls": 1}]}'
            r = s.client.post("/v1/predict", content=body)
            assert r.status_code == 400, token
            assert "no NaN" in r.json()["message"]
        r = s.predict({"instances": [{"amount": "NaN", "calls": 1}]})
        assert r.status_code == 422
    with serving("models:/nan-out/1") as s:
        r = s.predict({"instances": [{"amount": -1.0, "calls": 1}, {"amount": 2.0, "calls": 1}]})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == [None, 2.0]


def test_graceful_shutdown_flushes_the_prediction_log(models: Models) -> None:
    with serving(f"models:/{MODEL}@champion", flush_interval=3600) as s:
        ids = []
        for i in range(20):
            r = s.predict({"instances": records(3, seed=i)})
            ids += r.json()["prediction_ids"]
        assert get_monitoring_client().log.list_segments("churn.champion") == []
        s.stop()  # graceful: drains requests, then flushes the log once
    table = km.read_predictions("churn.champion")
    assert sorted(table.column("prediction_id").to_pylist()) == sorted(ids)
    assert set(table.column_names) >= {"amount", "calls", "country", "prediction", "latency_ms"}
    (segment,) = get_monitoring_client().log.list_segments("churn.champion")
    assert (segment.model_name, segment.model_version, segment.num_rows) == (MODEL, "1", 60)


def test_feedback_attaches_labels(models: Models) -> None:
    opts = {"deployment": "churn-test", "flush_interval": 0.2, "log_scores": True}
    with serving(f"models:/{MODEL}/1", **opts) as s:
        ids = s.predict({"instances": records(4)}).json()["prediction_ids"]
        r = s.client.post("/v1/feedback", json={"prediction_id": ids[0], "label": 1})
        assert r.status_code == 202
        assert r.json() == {"accepted": 1}
        many = [{"prediction_id": i, "label": 0} for i in ids[1:3]]
        assert s.client.post("/v1/feedback", json=many).json() == {"accepted": 2}
        bad = s.client.post("/v1/feedback", json={"label": 1})
        assert bad.status_code == 422
        assert bad.json()["details"]["errors"][0]["loc"] == ["prediction_id"]
    table = km.read_predictions("churn-test", labels=True)
    labels = dict(zip(table["prediction_id"].to_pylist(), table["label"].to_pylist(), strict=True))
    assert [labels[i] for i in ids] == [1, 0, 0, None]
    scores = table.column("prediction_score").to_pylist()
    assert all(0.0 <= x <= 1.0 for x in scores)  # log_scores: the positive class's probability


def test_metrics_health_ready_and_docs(models: Models) -> None:
    with serving(f"models:/{MODEL}@champion", monitor_metrics=True) as s:
        s.predict({"instances": records(2)})
        s.predict({"instances": [{"amount": "x"}]})
        assert s.client.get("/v1/health").json() == {"status": "ok"}
        ready = s.client.get("/v1/ready").json()
        assert ready["models"] == [{"role": "primary", "model": MODEL, "version": 1}]
        text = s.client.get("/metrics").text
        labels = 'deployment="churn.champion",model="churn"'
        assert f'keel_serving_requests_total{{{labels},status="200",version="1"}} 1.0' in text
        assert f'keel_serving_requests_total{{{labels},status="422",version="1"}} 1.0' in text
        assert (
            f'keel_serving_errors_total{{code="validation-failed",{labels},version="1"}} 1.0'
            in text
        )
        assert "keel_serving_request_duration_seconds_bucket{" in text
        assert f'keel_serving_predictions_total{{{labels},role="primary",version="1"}} 2.0' in text
        assert f'keel_serving_model_info{{{labels},role="primary",version="1"}} 1.0' in text
        assert "keel_serving_log_pending_rows" in text
        assert "process_resident_memory_bytes" in text
        assert s.client.get("/docs").status_code == 200
        spec = s.client.get("/openapi.json").json()
        body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
        assert set(body["example"]["instances"][0]) == {"amount", "calls", "country"}


def test_unknown_targets_fail_before_serving(models: Models) -> None:
    from keel.serving import create_app

    with pytest.raises(NotFoundError, match="no-such"):
        create_app("models:/no-such@champion")
    with pytest.raises(NotFoundError, match="churn-prd"):
        create_app("churn-prd")


def test_model_errors_are_500_and_logged(keel_home: Any) -> None:
    import keel

    class Broken:
        def predict(self, X: Any) -> Any:
            if (X["amount"] > 100).any():
                raise RuntimeError("too much")
            return X["amount"].to_numpy()

    X, _ = training_frame()
    with keel.start_run():
        keel.log_model(
            Broken(), "m", input_example=X[["amount"]][:3], registered_name="broken",
            flavor="pyfunc",
        )  # fmt: skip
    with serving("models:/broken/1", flush_interval=0.1) as s:
        r = s.predict({"instances": [{"amount": 1000.0}]})
        assert r.status_code == 500
        assert r.json()["error_code"] == "model-error"
        assert "too much" in r.json()["message"]
        assert s.predict({"instances": [{"amount": 1.0}]}).status_code == 200
    table = km.read_predictions("broken.v1")
    assert table.column("error").to_pylist() == [True, False]


def test_concurrent_requests_are_logged_once_each(models: Models) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with serving(f"models:/{MODEL}@champion", flush_interval=0.05, flush_rows=10) as s:

        def one(i: int) -> list[str]:
            with httpx.Client(base_url=s.url, timeout=30) as c:
                r = c.post("/v1/predict", json={"instances": records(2, seed=i)})
                assert r.status_code == 200
                ids: list[str] = r.json()["prediction_ids"]
                return ids

        with ThreadPoolExecutor(4) as pool:
            ids = [i for batch in pool.map(one, range(40)) for i in batch]
        time.sleep(0.2)
    table = km.read_predictions("churn.champion")
    assert sorted(table.column("prediction_id").to_pylist()) == sorted(ids)
    assert len(get_monitoring_client().log.list_segments("churn.champion")) > 1


def test_array_models_take_rows_of_numbers(keel_home: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    import keel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    with keel.start_run():
        keel.log_model(model, "m", input_example=X[:5], registered_name="arr")
    with serving("models:/arr/1", flush_interval=0.1) as s:
        r = s.predict({"instances": X[:4].tolist()})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == model.predict(X[:4]).tolist()
        assert (
            s.predict({"data": X[:2].tolist()}).json()["predictions"]
            == model.predict(X[:2]).tolist()
        )
        wide = s.predict({"instances": [[1.0, 2.0]]})
        assert wide.status_code == 422
        assert "shape" in wide.json()["message"]
        bad = s.predict({"instances": [[1.0, "x", 2.0], [1.0, None, 2.0]]})
        assert bad.status_code == 422
        assert [e["loc"] for e in bad.json()["details"]["errors"]] == [
            ["instances", 0, 1],
            ["instances", 1, 1],
        ]
    table = km.read_predictions("arr.v1")
    assert table.column_names[-3:] == ["x0", "x1", "x2"]
