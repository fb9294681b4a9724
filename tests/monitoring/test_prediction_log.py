"""The prediction log contract: segments and labels in the stores, read back by window."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import keel.monitoring as km
from keel.errors import InvalidArgumentError, NotFoundError

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _features(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"age": np.arange(30, 30 + n), "country": ["DE", "FR"] * (n // 2)})


def test_log_and_read_predictions_with_late_labels(keel_env: dict[str, Any]) -> None:
    from keel.monitoring._client import get_monitoring_client

    batch = km.log_predictions(
        "churn",
        _features(),
        [0, 1, 1, 0],
        scores=[0.1, 0.9, 0.7, 0.2],
        timestamps=[T0 + dt.timedelta(minutes=m) for m in (0, 30, 60, 90)],
        latency_ms=[3.0, 4.0, 5.0, 6.0],
        errors=[False, False, True, False],
        model_name="churn",
        model_version=3,
    )
    assert batch.num_rows == 4
    assert len(set(batch.prediction_ids)) == 4
    assert batch.end_time - batch.start_time == 90 * 60_000
    table = km.read_predictions("churn")
    assert table.column_names[:6] == [
        "prediction_id",
        "timestamp",
        "latency_ms",
        "error",
        "prediction",
        "prediction_score",
    ]
    assert table.column("age").to_pylist() == [30, 31, 32, 33]
    window = km.read_predictions(
        "churn", start=T0 + dt.timedelta(minutes=30), end=T0 + dt.timedelta(hours=1)
    )
    assert window.column("age").to_pylist() == [31]
    km.log_labels("churn", batch.prediction_ids[:3], [0, 0, 1])
    km.log_labels("churn", pd.DataFrame({"prediction_id": [batch.prediction_ids[1]], "label": [1]}))
    labeled = km.read_predictions("churn", labels=True)
    assert labeled.column("label").to_pylist() == [0, 1, 1, None]  # the later label wins
    client = get_monitoring_client()
    (segment,) = client.log.list_segments("churn")
    assert (segment.model_name, segment.model_version, segment.num_errors) == ("churn", "3", 1)
    roles = {c["name"]: c["role"] for c in segment.columns}
    assert roles == {
        "prediction_id": "meta",
        "timestamp": "meta",
        "latency_ms": "meta",
        "error": "meta",
        "prediction": "prediction",
        "prediction_score": "prediction",
        "age": "feature",
        "country": "feature",
    }
    assert client.artifacts.exists(segment.digest)
    edges = client.store.list_lineage_edges(("deployment", "churn"), "downstream")
    assert ("prediction_batch", batch.id, "logged") in {
        (e.target_kind, e.target_id, e.relation) for e in edges
    }
    actions = [e.action for e in client.store.list_audit_events()]
    assert actions.count("prediction_log.append") == 1
    assert actions.count("prediction_log.add_labels") == 2
    assert client.store.verify_audit_chain().ok


def test_reserved_columns_may_come_inside_the_frame(keel_home: Any) -> None:
    frame = pa.table(
        {
            "prediction_id": ["a", "b"],
            "timestamp": pa.array([1_700_000_000_000, 1_700_000_001_000]),
            "prediction": [1.5, 2.5],
            "x": [1, 2],
        }
    )
    batch = km.log_predictions("reg", frame)
    assert batch.prediction_ids == ["a", "b"]
    assert batch.start_time == 1_700_000_000_000
    polars_batch = km.log_predictions("reg", pl.DataFrame({"x": [3]}), [9.0], latency_ms=5)
    table = km.read_predictions("reg")
    assert table.num_rows == 3
    assert polars_batch.num_rows == 1
    assert table.column("latency_ms").to_pylist()[-1] == 5.0


def test_bad_prediction_batches_are_refused(keel_home: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"has no rows"):
        km.log_predictions("d", _features().head(0), [])
    with pytest.raises(InvalidArgumentError, match=r"No predictions"):
        km.log_predictions("d", _features())
    with pytest.raises(InvalidArgumentError, match=r"predictions has 3 values for 4 rows"):
        km.log_predictions("d", _features(), [1, 2, 3])
    with pytest.raises(InvalidArgumentError, match=r"column 'prediction' and the argument"):
        km.log_predictions("d", _features().assign(prediction=1), [1, 2, 3, 4])
    with pytest.raises(
        InvalidArgumentError, match=r"timestamps must be datetimes or epoch milliseconds"
    ):
        km.log_predictions("d", _features(), [1, 2, 3, 4], timestamps=["soon"] * 4)
    with pytest.raises(InvalidArgumentError, match=r"Invalid deployment name 'a\*b'"):
        km.log_predictions("a*b", _features(), [1, 2, 3, 4])
    with pytest.raises(InvalidArgumentError, match=r"label frame lacks the columns \['label'\]"):
        km.log_labels("d", pd.DataFrame({"prediction_id": ["x"]}))
    with pytest.raises(InvalidArgumentError, match=r"No labels"):
        km.log_labels("d", ["x"])
    km.log_predictions("churn", _features(), [0, 1, 0, 1])
    with pytest.raises(
        NotFoundError,
        match=r"No predictions were logged for deployment 'chrun'. Did you mean 'churn'",
    ):
        km.read_predictions("chrun")
