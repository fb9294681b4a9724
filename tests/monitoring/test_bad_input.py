"""Bad input to drift: reported in the report or refused with a message that says how to fix it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import keel.monitoring as km
from keel.errors import InvalidArgumentError, NotFoundError


def _frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "country": rng.choice(["DE", "FR", "IT"], n),
            "age": rng.integers(18, 90, n),
        }
    )


def test_columns_that_differ_are_reported_not_a_crash() -> None:
    ref = _frame()
    cur = _frame(seed=1).drop(columns=["age"]).assign(channel="web")
    report = km.drift(ref, cur)
    assert report.missing_columns == ["age"]
    assert report.new_columns == ["channel"]
    assert report.features["age"].note == "missing from the current data"
    assert report.features["age"].test is None
    assert report.skipped["age"] == "missing from the current data"
    assert set(report.compared_features) == {"amount", "country"}
    assert "missing from the current data: age" in report.to_html()


def test_a_column_whose_type_changed_is_reported_as_drift() -> None:
    ref = _frame()
    cur = _frame(seed=1).assign(amount=lambda d: d["amount"].round().astype(int).astype(str))
    report = km.drift(ref, cur)
    assert report.type_changes == {"amount": ("numeric", "string")}
    assert report.features["amount"].test == "type"
    assert report.drifted_features == ["amount"]


def test_all_null_columns() -> None:
    ref = _frame().assign(empty=np.nan, none=None)
    cur = _frame(seed=1).assign(empty=np.nan, none=None)
    report = km.drift(ref, cur)
    for name in ("empty", "none"):
        f = report.features[name]
        assert f.test is None
        assert not f.drifted
        assert "only nulls in the reference" in f.note
    # A column empty now but not before: no distribution to compare, missing values drifted.
    report = km.drift(ref, cur.assign(amount=np.nan))
    f = report.features["amount"]
    assert f.test is None
    assert "only nulls in the current data" in f.note
    assert f.missing["current_share"] == 1.0
    assert report.missing_drift_features == ["amount"]


def test_one_row_on_either_side() -> None:
    ref, cur = _frame(), _frame(seed=1)
    for a, b in ((ref.head(1), cur), (ref, cur.head(1)), (ref.head(1), cur.head(1))):
        report = km.drift(a, b)
        assert report.drifted_features == []
        assert report.compared_features == []
        assert report.current_rows == len(b)
        note = report.features["amount"].note
        assert note.startswith("too few values to compare (reference ")
        assert note.endswith("at least 5 each)")


def test_constant_columns() -> None:
    ref = pd.DataFrame({"c": np.full(1000, 3.0), "s": ["x"] * 1000})
    same = km.drift(ref, pd.DataFrame({"c": np.full(800, 3.0), "s": ["x"] * 800}))
    assert same.drifted_features == []
    assert same.features["c"].kind == "categorical"  # one value: compared as a category
    changed = km.drift(ref, pd.DataFrame({"c": np.full(800, 4.0), "s": ["y"] * 800}))
    assert changed.drifted_features == ["c", "s"]
    assert changed.features["c"].new_categories == {"4": 800}
    assert changed.features["s"].new_categories == {"y": 800}
    forced = km.drift(
        ref, pd.DataFrame({"c": np.full(800, 4.0), "s": ["x"] * 800}), tests={"c": "wasserstein"}
    )
    assert forced.features["c"].score == pytest.approx(1 / 3)  # relative to the constant
    assert forced.features["c"].kind == "numeric"
    assert forced.features["c"].drifted


def test_mixed_types() -> None:
    rng = np.random.default_rng(0)
    numbers = rng.normal(size=1000).astype(object)
    numbers[::50] = "n/a"  # 2% text among numbers
    labels = np.array(["a", "b", 3, 4.5, None] * 200, dtype=object)
    ref = pd.DataFrame({"num": rng.normal(size=1000), "lab": labels})
    report = km.drift(ref, pd.DataFrame({"num": numbers, "lab": labels.copy()}))
    f = report.features["num"]
    assert f.kind == "numeric"
    assert not f.drifted
    assert f.missing["current_invalid"] == 20
    assert f.missing["current_share"] == pytest.approx(0.02)
    lab = report.features["lab"]
    assert lab.kind == "categorical"
    assert "mixed types" in lab.note or lab.note == ""
    assert not lab.drifted


def test_identifier_and_time_columns_are_skipped_with_a_note() -> None:
    n = 2000
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "order_uuid": [f"{i:032x}" for i in range(n)],
            "created": pd.date_range("2026-01-01", periods=n, freq="min"),
            "tags": [[1, 2]] * n,
            "x": np.random.default_rng(0).normal(size=n),
        }
    )
    report = km.drift(frame, frame.assign(customer_id=np.arange(n) + n))
    assert report.skipped == {
        "customer_id": "unique per row: looks like an identifier",
        "order_uuid": "unique per row: looks like an identifier or free text",
        "created": "dates and times are not compared",
        "tags": "values of this type are not compared",
    }
    kept = km.drift(frame, frame, numerical=["customer_id"])
    assert kept.features["customer_id"].test == "wasserstein"


def test_unsupported_inputs_and_paths() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"reference data is a builtins.dict.*Pass a pandas"
    ):
        km.drift({"a": [1]}, _frame())
    with pytest.raises(InvalidArgumentError, match=r"current data is a builtins.list"):
        km.drift(_frame(), [1, 2])
    with pytest.raises(NotFoundError, match=r"current path 'nope.parquet' does not exist"):
        km.drift(_frame(), "nope.parquet")
    with pytest.raises(NotFoundError, match=r"matches no file"):
        km.drift(_frame(), "nothing-here/*.parquet")


def test_unreadable_parquet_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(InvalidArgumentError, match=r"not a readable Parquet file"):
        km.drift(_frame(), bad)


def test_bad_options_name_the_value_and_the_fix() -> None:
    ref, cur = _frame(), _frame(seed=1)
    with pytest.raises(
        InvalidArgumentError, match=r"Unknown drift test 'wasserstien'.*Did you mean 'wasserstein'"
    ):
        km.drift(ref, cur, tests={"amount": "wasserstien"})
    with pytest.raises(
        InvalidArgumentError,
        match=r"test 'ks' cannot compare column 'country'.*\['chisquare', 'jensenshannon', 'psi'\]",
    ):
        km.drift(ref, cur, tests={"country": "ks"})
    with pytest.raises(
        InvalidArgumentError, match=r"names the column 'amout'.*Did you mean 'amount'"
    ):
        km.drift(ref, cur, tests={"amout": "psi"})
    with pytest.raises(InvalidArgumentError, match=r"columns names the column 'nope'"):
        km.drift(ref, cur, columns=["nope"])
    with pytest.raises(
        InvalidArgumentError,
        match=r"threshold of column 'amount' must be a positive number, got -1",
    ):
        km.drift(ref, cur, thresholds={"amount": -1})
    with pytest.raises(InvalidArgumentError, match=r"share must be in \(0, 1\], got 0"):
        km.drift(ref, cur, share=0)
    with pytest.raises(InvalidArgumentError, match=r"alpha must be in \(0, 1\), got 1.5"):
        km.drift(ref, cur, alpha=1.5)
    profile = km.reference_profile(ref)
    with pytest.raises(
        InvalidArgumentError, match=r"categorical cannot be given with a ReferenceProfile"
    ):
        km.drift(profile, cur, categorical=["age"])
    with pytest.raises(InvalidArgumentError, match=r"not a Keel reference profile"):
        km.ReferenceProfile.from_bytes(b'{"format": 99}')


def test_nulls_and_infinities_in_arrow_input() -> None:
    ref = pa.table(
        {"x": pa.array([1.0, 2.0, None, 4.0, 5.0] * 200), "k": pa.array(["a", None] * 500)}
    )
    cur = pa.table(
        {"x": pa.array([1.0, np.inf, None, 4.0, -np.inf] * 200), "k": pa.array(["a", "b"] * 500)}
    )
    report = km.drift(ref, cur)
    x = report.features["x"]
    assert x.missing["reference_share"] == pytest.approx(0.2)
    assert x.missing["current_share"] == pytest.approx(0.6)  # infinities count as invalid
    assert report.features["k"].new_categories == {"b": 500}
