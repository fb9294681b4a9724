"""Entity lookups: ``{"entities": [...]}`` reads the feature service from the online store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import keel.monitoring as km

from .conftest import fit_model, serving

SERVICE = "churn-features"


@pytest.fixture
def online(keel_home: Path, tmp_path: Path) -> pd.DataFrame:
    """Materialized features ``amount``, ``calls``, ``country`` for customers 0 to 9."""
    import keel.features as kf

    rng = np.random.default_rng(3)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(10, dtype=np.int64),
            "event_time": [now - pd.Timedelta(hours=1)] * 10,
            "amount": rng.normal(50, 10, 10).round(3),
            "calls": rng.integers(0, 5, 10).astype(np.int64),
            "country": rng.choice(["DE", "FR"], 10),
        }
    )
    path = tmp_path / "features" / "stats.parquet"
    path.parent.mkdir(parents=True)
    frame.to_parquet(path)
    customer = kf.Entity("customer", join_keys=["customer_id"])
    view = kf.FeatureView(
        "customer_stats",
        entities=[customer],
        source=str(path),
        timestamp="event_time",
        features={"amount": "float64", "calls": "int64", "country": "string"},
    )
    service = kf.FeatureService(SERVICE, [view])
    fs = kf.store()
    fs.apply([customer, view, service], show_diff=False)
    fs.materialize(["customer_stats"])
    return frame


def _log(metadata: dict[str, Any] | None, via_lineage: bool) -> int:
    import keel
    import keel.features as kf

    from .conftest import training_frame

    X, _ = training_frame()
    with keel.start_run():
        if via_lineage:
            keel.log_input(kf.store().get_feature_service(SERVICE))
        info = keel.log_model(
            fit_model(), "model", input_example=X[:5], registered_name="churn", metadata=metadata
        )
    return int(info.version or 0)


def test_entity_lookup_reads_the_feature_service(online: pd.DataFrame) -> None:
    import keel

    v1 = _log({"feature_service": SERVICE}, via_lineage=False)
    v2 = _log(None, via_lineage=True)
    v3 = _log(None, via_lineage=False)
    rows = online.set_index("customer_id").loc[[2, 5, 7], ["amount", "calls", "country"]]
    expected = keel.load_model(f"models:/churn/{v1}").predict(rows.reset_index(drop=True))
    for version in (v1, v2):
        with serving(f"models:/churn/{version}", flush_interval=0.1) as s:
            r = s.predict(
                {"entities": [{"customer_id": 2}, {"customer_id": 5}, {"customer_id": 7}]}
            )
            assert r.status_code == 200, r.text
            assert r.json()["predictions"] == expected.tolist()
            unknown = s.predict({"entities": [{"customer_id": 99}]})
            assert unknown.status_code == 422  # no online value: null, and not nullable
            errors = unknown.json()["details"]["errors"]
            assert {tuple(e["loc"]) for e in errors} == {
                ("entities", 0, "amount"),
                ("entities", 0, "calls"),
                ("entities", 0, "country"),
            }
            no_key = s.predict({"entities": [{"id": 2}]})
            assert no_key.status_code == 400
            assert "customer_id" in no_key.json()["message"]
    logged = km.read_predictions(f"churn.v{v1}")
    by_customer = dict(
        zip(logged["customer_id"].to_pylist(), logged["amount"].to_pylist(), strict=True)
    )
    assert by_customer == rows["amount"].to_dict()  # the keys and the looked-up values
    with serving(f"models:/churn/{v3}") as s:
        r = s.predict({"entities": [{"customer_id": 2}]})
        assert r.status_code == 422
        assert "no feature service" in r.json()["message"]
    with serving(f"models:/churn/{v3}", feature_service=SERVICE) as s:
        assert s.predict({"entities": [{"customer_id": 2}]}).status_code == 200
