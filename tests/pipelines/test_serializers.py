"""Serializers: each type to its format and back; custom serializers; what cannot be stored."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.errors import InvalidArgumentError, NotFoundError
from keel.pipelines import Serializer, UnserializableOutputError, list_serializers
from keel.pipelines import _serializers as ser


def _roundtrip(obj: Any) -> tuple[Any, str]:
    data, name = ser.serialize(obj, what="Step 'x' returned")
    return ser.deserialize(data, name), name


def test_frames_go_to_parquet_and_arrays_to_npy() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[10, 20])
    back, name = _roundtrip(frame)
    assert name == "pandas-parquet"
    pd.testing.assert_frame_equal(back, frame)
    table = pa.table({"a": [1, 2]})
    back, name = _roundtrip(table)
    assert name == "arrow-parquet"
    assert back.equals(table)
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    back, name = _roundtrip(array)
    assert name == "numpy"
    assert back.dtype == np.float32
    assert (back == array).all()


def test_polars_frames_go_to_parquet() -> None:
    polars = pytest.importorskip("polars")
    frame = polars.DataFrame({"a": [1, 2]})
    back, name = _roundtrip(frame)
    assert name == "polars-parquet"
    assert back.equals(frame)


def test_plain_data_is_json_and_the_rest_pickle() -> None:
    back, name = _roundtrip({"a": [1, 2.5, None, True], "b": "text"})
    assert name == "json"
    assert back == {"a": [1, 2.5, None, True], "b": "text"}
    back, name = _roundtrip(float("nan"))
    assert name == "json"
    assert math.isnan(back)
    back, name = _roundtrip((1, 2))  # a tuple would come back a list from JSON
    assert name == "pickle"
    assert back == (1, 2)
    back, name = _roundtrip(np.array([{"a": 1}], dtype=object))
    assert name == "pickle"
    assert back[0] == {"a": 1}
    frame = pd.DataFrame({"a": [1, "x"]})  # a column Parquet cannot type: pickle takes it
    back, name = _roundtrip(frame)
    assert name == "pickle"
    pd.testing.assert_frame_equal(back, frame)


def test_what_no_serializer_can_store() -> None:
    with pytest.raises(
        UnserializableOutputError,
        match=r"Step 'x' returned a function object \(<function .*<lambda>.*\), which no "
        r"serializer can store",
    ):
        ser.serialize(lambda: 1, what="Step 'x' returned")


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


class PointSerializer(Serializer):
    name = "point"

    def can_handle(self, obj: Any) -> bool:
        return isinstance(obj, Point)

    def dumps(self, obj: Any) -> bytes:
        return str(obj.x).encode()

    def loads(self, data: bytes) -> Any:
        return Point(int(data))


def test_custom_serializers_come_first() -> None:
    ser.register_serializer(PointSerializer())
    try:
        assert list_serializers()[0] == "point"
        back, name = _roundtrip(Point(4))
        assert name == "point"
        assert back.x == 4
    finally:
        ser._registered[:] = [s for s in ser._registered if s.name != "point"]
        ser._by_name.pop("point", None)
    with pytest.raises(NotFoundError, match=r"No serializer is called 'point'"):
        ser.get_serializer("point")
    with pytest.raises(InvalidArgumentError, match=r"needs a keel.pipelines.Serializer"):
        ser.register_serializer("point")  # type: ignore[arg-type]
