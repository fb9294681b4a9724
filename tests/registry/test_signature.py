"""Signatures: inference from examples and enforcement naming every offending column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keel.errors import InvalidArgumentError, ValidationFailedError
from keel.registry import ModelSignature, Schema, infer_signature
from keel.registry._signature import enforce_input, infer_schema

FRAME = pd.DataFrame(
    {
        "age": np.array([30, 41], dtype=np.int64),
        "small": np.array([1, 2], dtype=np.int32),
        "income": [52_000.0, np.nan],
        "ratio": np.array([0.5, 0.25], dtype=np.float32),
        "plan": ["basic", "pro"],
        "active": [True, False],
        "joined": pd.to_datetime(["2024-01-01", "2024-02-01"]),
        "blob": [b"a", b"b"],
        "tier": pd.Categorical(["a", "b"]),
    }
)


def test_column_types_are_inferred() -> None:
    schema = infer_schema(FRAME)
    assert [(c.name, c.type, c.nullable) for c in schema.columns] == [
        ("age", "long", False),
        ("small", "integer", False),
        ("income", "double", True),
        ("ratio", "float", False),
        ("plan", "string", False),
        ("active", "boolean", False),
        ("joined", "datetime", False),
        ("blob", "binary", False),
        ("tier", "category", False),
    ]
    assert Schema.from_dict(schema.to_dict()) == schema
    records = infer_schema([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    assert [(c.name, c.type) for c in records.columns] == [("a", "long"), ("b", "string")]


def test_tensor_signature_and_round_trip() -> None:
    sig = infer_signature(np.zeros((5, 3, 2), dtype=np.float32), np.zeros(5))
    assert sig.inputs.to_dict() == {"type": "tensor", "dtype": "float32", "shape": [-1, 3, 2]}
    assert ModelSignature.from_dict(sig.to_dict()) == sig
    assert infer_schema([[1, 2], [3, 4]]).tensor is not None


def test_violations_name_missing_extra_and_mistyped_columns() -> None:
    schema = infer_schema(FRAME)
    bad = FRAME.drop(columns=["plan", "ratio"]).assign(
        age=["thirty", "forty"], active=[1, 0], extra=1, more=2
    )
    with pytest.raises(ValidationFailedError) as err:
        enforce_input(bad, schema)
    msg = err.value.message
    assert "missing columns ['ratio', 'plan']" in msg
    assert "extra columns ['extra', 'more']" in msg
    assert "'active' (expected boolean, got long)" in msg
    assert "'age' (expected long, got string)" in msg
    assert err.value.details["missing"] == ["ratio", "plan"]
    assert set(err.value.details["mistyped"]) == {"age", "active"}


def test_safe_conversions_are_applied_and_columns_reordered() -> None:
    schema = infer_schema(FRAME[["income", "age", "ratio"]])
    given = pd.DataFrame(
        {"age": [1, 2], "ratio": [1, 2], "income": np.array([3, 4], dtype=np.int8)}
    )
    out = enforce_input(given, schema)
    assert list(out.columns) == ["income", "age", "ratio"]
    assert [str(t) for t in out.dtypes] == ["float64", "int64", "float32"]
    with pytest.raises(ValidationFailedError, match=r"'age' \(expected long, got double\)"):
        enforce_input(given.assign(age=[1.5, 2.0]), schema)
    with pytest.raises(ValidationFailedError, match=r"got double with missing values"):
        enforce_input(given.assign(age=[1.0, np.nan]), schema)
    arr = enforce_input(np.array([[1.0, 2.0, 3.0]]), schema)  # an array is read in column order
    assert list(arr.columns) == ["income", "age", "ratio"]
    assert arr["age"].dtype == np.int64
    with pytest.raises(ValidationFailedError, match=r"takes 3 named columns"):
        enforce_input(np.zeros((2, 5)), schema)
    small = infer_schema(FRAME[["small"]])
    with pytest.raises(ValidationFailedError, match=r"out of its range"):
        enforce_input(pd.DataFrame({"small": [2**40]}), small)


def test_tensor_enforcement_checks_shape_and_dtype() -> None:
    schema = infer_schema(np.zeros((4, 3), dtype=np.float32))
    assert enforce_input(np.ones((2, 3)), schema).dtype == np.float32
    assert enforce_input([1, 2, 3], schema).shape == (1, 3)  # one sample, batch added
    with pytest.raises(ValidationFailedError, match=r"has shape \(2, 4\).*\('n', 3\)"):
        enforce_input(np.ones((2, 4)), schema)
    with pytest.raises(ValidationFailedError, match=r"dtype '<U1'|dtype 'str"):
        enforce_input(np.array([["a", "b", "c"]]), schema)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("text", r"Cannot predict on a 'str'"),
        ([], r"empty list"),
        ({"a": [1, 2], "b": [1]}, r"lengths differ"),
    ],
)
def test_unusable_inputs_are_explained(data: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        enforce_input(data, None)


def test_nullable_extension_dtypes_infer_like_their_numpy_kin() -> None:
    # Regression: features.historical() returns Int64 columns, and inference raised TypeError.
    import pandas as pd

    from keel.registry._signature import infer_schema

    frame = pd.DataFrame(
        {
            "count": pd.array([1, None, 3], dtype="Int64"),
            "small": pd.array([1, 2, 3], dtype="Int32"),
            "score": pd.array([0.5, None, 1.5], dtype="Float64"),
        }
    )
    cols = {c["name"]: c for c in infer_schema(frame).to_dict()["columns"]}
    assert cols["count"]["type"] == "long"
    assert cols["count"]["nullable"] is True
    assert cols["small"]["type"] == "integer"
    assert cols["score"]["type"] == "double"
