"""Model signatures: the input and output schema of a model, inferred and enforced.

A schema is either *columns* (named, typed columns, for tabular models) or a *tensor* (a
dtype and a shape whose ``-1`` dimensions may vary, for array models). A signature is inferred
from an ``input_example`` and the model's prediction on it; :func:`enforce_input` checks data
against the input schema before every ``predict`` and names every missing, extra and
mistyped column in one error.

pandas is imported only when a frame is involved, so loading a model stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, ValidationFailedError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "COLUMN_TYPES",
    "ColSpec",
    "ModelSignature",
    "Schema",
    "TensorSpec",
    "enforce_input",
    "infer_schema",
    "infer_signature",
    "to_frame_or_array",
]

#: The column types a signature can name.
COLUMN_TYPES = (
    "boolean",
    "integer",
    "long",
    "float",
    "double",
    "string",
    "binary",
    "datetime",
    "category",
)


@dataclass(frozen=True)
class ColSpec:
    """A named, typed column.

    Attributes:
        name: The column name.
        type: One of :data:`COLUMN_TYPES`.
        nullable: Whether the example had missing values in this column.
    """

    name: str
    type: str
    nullable: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form ``{"name", "type", "nullable"}``."""
        return {"name": self.name, "type": self.type, "nullable": self.nullable}


@dataclass(frozen=True)
class TensorSpec:
    """An array's dtype and shape; ``-1`` marks a dimension that may vary (the batch).

    Attributes:
        dtype: A NumPy dtype name (``float64``, ``int32``, ...).
        shape: The dimensions; ``-1`` for any size.
    """

    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form ``{"dtype", "shape"}``."""
        return {"dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Schema:
    """Columns or one tensor.

    Attributes:
        columns: The columns of a tabular schema (empty for a tensor schema).
        tensor: The tensor of an array schema (``None`` for a tabular schema).
    """

    columns: tuple[ColSpec, ...] = ()
    tensor: TensorSpec | None = None

    @property
    def kind(self) -> str:
        """``"columns"`` or ``"tensor"``."""
        return "tensor" if self.tensor is not None else "columns"

    @property
    def names(self) -> list[str]:
        """The column names (empty for a tensor schema)."""
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form stored in the manifest and the store."""
        if self.tensor is not None:
            return {"type": "tensor", **self.tensor.to_dict()}
        return {"type": "columns", "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Rebuild a schema from :meth:`to_dict` output."""
        if data.get("type") == "tensor":
            return cls(tensor=TensorSpec(str(data["dtype"]), tuple(int(d) for d in data["shape"])))
        return cls(
            columns=tuple(
                ColSpec(str(c["name"]), str(c["type"]), bool(c.get("nullable", False)))
                for c in data.get("columns", [])
            )
        )

    def describe(self) -> list[tuple[str, str]]:
        """Return ``(name, type)`` rows for display (a tensor is one row)."""
        if self.tensor is not None:
            shape = ", ".join("-1" if d == -1 else str(d) for d in self.tensor.shape)
            return [("(tensor)", f"{self.tensor.dtype} [{shape}]")]
        return [(c.name, c.type + (" (nullable)" if c.nullable else "")) for c in self.columns]


@dataclass(frozen=True)
class ModelSignature:
    """What a model takes and returns.

    Attributes:
        inputs: The input schema, enforced on every ``predict``.
        outputs: The output schema, for documentation and serving.
    """

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form stored in the manifest and the store."""
        return {
            "inputs": self.inputs.to_dict(),
            "outputs": None if self.outputs is None else self.outputs.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        """Rebuild a signature from :meth:`to_dict` output."""
        outputs = data.get("outputs")
        return cls(
            inputs=Schema.from_dict(data["inputs"]),
            outputs=None if outputs is None else Schema.from_dict(outputs),
        )


def _is_frame(data: Any) -> bool:
    mod = type(data).__module__
    return mod.startswith("pandas") and type(data).__name__ == "DataFrame"


def _is_series(data: Any) -> bool:
    mod = type(data).__module__
    return mod.startswith("pandas") and type(data).__name__ == "Series"


def to_frame_or_array(data: Any) -> Any:
    """Turn accepted inputs into a pandas DataFrame or a NumPy array.

    Accepted: a DataFrame, a NumPy array, a list of dict records, a dict of columns, a list
    of rows (lists or tuples), or a torch tensor (as an array).

    Raises:
        InvalidArgumentError: The input is of another kind.
    """
    import numpy as np

    if _is_frame(data) or isinstance(data, np.ndarray):
        return data
    if isinstance(data, Mapping):
        import pandas as pd

        try:
            return pd.DataFrame({k: list(v) if _listlike(v) else [v] for k, v in data.items()})
        except ValueError as exc:
            raise InvalidArgumentError(
                f"Cannot read a dict of columns whose lengths differ: {exc}. Give every column "
                "the same number of values, or pass a list of records."
            ) from exc
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(r, Mapping) for r in data):
            import pandas as pd

            return pd.DataFrame.from_records(list(data))
        if not data:
            raise InvalidArgumentError(
                "Cannot predict on an empty list. Pass at least one record or row."
            )
        return np.asarray(data)
    if _is_series(data):
        return data.to_frame().T
    if type(data).__module__.startswith("torch"):
        return data.detach().cpu().numpy()
    raise InvalidArgumentError(
        f"Cannot predict on a {type(data).__name__!r}. Pass a pandas DataFrame, a NumPy array, "
        "a list of dict records, a dict of columns or a list of rows."
    )


def _listlike(v: Any) -> bool:
    return isinstance(v, (list, tuple)) or hasattr(v, "__array__")


def _itemsize(dtype: Any) -> int:
    import numpy as np

    size = getattr(dtype, "itemsize", None)
    return int(size) if size is not None else np.dtype(dtype).itemsize


def _column_type(series: Any) -> str:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    # Nullable extension dtypes (Int64, Float32, ...) are not NumPy dtypes but carry itemsize.
    if pd.api.types.is_integer_dtype(dtype):
        return "integer" if _itemsize(dtype) <= 4 else "long"
    if pd.api.types.is_float_dtype(dtype):
        return "float" if _itemsize(dtype) <= 4 else "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    values = series.dropna()
    if len(values) and all(isinstance(v, (bytes, bytearray)) for v in values):
        return "binary"
    if len(values) and all(isinstance(v, bool) for v in values):
        return "boolean"
    if len(values) and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "long"
    if len(values) and all(isinstance(v, (int, float)) for v in values):
        return "double"
    return "string"


def infer_schema(data: Any) -> Schema:
    """Infer a schema from an example: columns for frames and records, a tensor for arrays.

    Raises:
        InvalidArgumentError: The example is of a kind :func:`to_frame_or_array` rejects.
    """
    import numpy as np

    if _is_series(data):
        data = data.to_frame()
    elif isinstance(data, (list, tuple)) and data and not isinstance(data[0], Mapping):
        data = np.asarray(data)
    else:
        data = to_frame_or_array(data)
    if isinstance(data, np.ndarray):
        if data.ndim == 0:
            data = data.reshape(1)
        dtype = "object" if data.dtype.kind in "OUS" else data.dtype.name
        return Schema(tensor=TensorSpec(dtype, (-1, *data.shape[1:])))
    return Schema(
        columns=tuple(
            ColSpec(str(name), _column_type(data[name]), bool(data[name].isna().any()))
            for name in data.columns
        )
    )


def infer_signature(input_example: Any, output_example: Any = None) -> ModelSignature:
    """Infer a signature from an input example and, optionally, the model's output on it.

    Examples:
        >>> import numpy as np
        >>> sig = infer_signature(np.zeros((3, 4)), np.zeros(3))
        >>> sig.inputs.to_dict()
        {'type': 'tensor', 'dtype': 'float64', 'shape': [-1, 4]}
    """
    return ModelSignature(
        inputs=infer_schema(input_example),
        outputs=None if output_example is None else infer_schema(output_example),
    )


_INT_RANGES = {"integer": (-(2**31), 2**31 - 1)}


def _check_column(series: Any, spec: ColSpec, from_array: bool) -> tuple[Any, str | None]:
    """Return the column cast to the spec's type, or a reason it cannot be.

    ``from_array``: the column came out of one NumPy array, which has one dtype for every
    column, so whole-numbered floats are accepted for integer columns.
    """
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    want = spec.type
    got = _column_type(series)
    if want in ("double", "float"):
        if pd.api.types.is_bool_dtype(dtype):
            return series, f"expected {want}, got boolean"
        if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
            return series.astype(np.float64 if want == "double" else np.float32), None
        return series, f"expected {want}, got {got}"
    if want in ("long", "integer"):
        if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            if want == "integer":
                lo, hi = _INT_RANGES["integer"]
                if len(series) and (series.min() < lo or series.max() > hi):
                    return series, "expected integer (32-bit), got values out of its range"
                return series.astype(np.int32), None
            return series.astype(np.int64), None
        if got == "long":  # object column of Python ints
            return series.astype(np.int64 if want == "long" else np.int32), None
        if pd.api.types.is_float_dtype(dtype) and series.isna().any():
            return series, f"expected {want}, got double with missing values"
        if from_array and pd.api.types.is_float_dtype(dtype) and bool((series % 1 == 0).all()):
            return series.astype(np.int64 if want == "long" else np.int32), None
        return series, f"expected {want}, got {got}"
    if want == "boolean":
        if got == "boolean":
            return series.astype(bool), None
        return series, f"expected boolean, got {got}"
    if want == "string":
        if got in ("string", "category"):
            return series, None
        return series, f"expected string, got {got}"
    if want == "category":
        if got in ("category", "string"):
            return series, None
        return series, f"expected category, got {got}"
    if want == "datetime":
        if got == "datetime":
            return series, None
        return series, f"expected datetime, got {got}"
    if want == "binary":
        if got == "binary":
            return series, None
        return series, f"expected binary, got {got}"
    return series, f"has the unknown signature type {want!r}"


def _violation(
    missing: Sequence[str], extra: Sequence[str], mistyped: Mapping[str, str]
) -> ValidationFailedError:
    parts = []
    if missing:
        parts.append(f"missing columns {list(missing)!r}")
    if extra:
        parts.append(f"extra columns {list(extra)!r}")
    if mistyped:
        parts.append(
            "mistyped columns " + ", ".join(f"{k!r} ({v})" for k, v in sorted(mistyped.items()))
        )
    return ValidationFailedError(
        "The input does not match the model's signature: "
        + "; ".join(parts)
        + ". Send exactly the signature's columns with their types "
        "(see 'keel models show NAME VERSION'), or log a new version with a new input_example.",
        details={"missing": list(missing), "extra": list(extra), "mistyped": dict(mistyped)},
    )


def _enforce_columns(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    names = schema.names
    from_array = isinstance(data, np.ndarray)
    if from_array:
        arr = data.reshape(1, -1) if data.ndim == 1 else data
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise ValidationFailedError(
                f"The input is an array of shape {tuple(data.shape)!r}, but the model takes "
                f"{len(names)} named columns {names!r}. Send a DataFrame or records with those "
                f"columns, or an array of shape (n, {len(names)}) in that order.",
                details={"expected_columns": names, "shape": list(data.shape)},
            )
        data = pd.DataFrame(arr, columns=names)
        # An all-object array (mixed rows) carries Python values: let pandas infer per column.
        data = data.infer_objects()
    present = [str(c) for c in data.columns]
    missing = [n for n in names if n not in present]
    extra = [c for c in present if c not in names]
    mistyped: dict[str, str] = {}
    out: dict[str, Any] = {}
    for spec in schema.columns:
        if spec.name in missing:
            continue
        column, problem = _check_column(data[spec.name], spec, from_array)
        if problem:
            mistyped[spec.name] = problem
        out[spec.name] = column
    if missing or extra or mistyped:
        raise _violation(missing, extra, mistyped)
    return pd.DataFrame(out, index=data.index)


def _enforce_tensor(data: Any, spec: TensorSpec) -> Any:
    import numpy as np

    if _is_frame(data):
        data = data.to_numpy()
    arr = np.asarray(data)
    want = np.dtype(spec.dtype) if spec.dtype != "object" else np.dtype(object)
    if len(spec.shape) == arr.ndim + 1 and arr.ndim >= 1:
        arr = arr.reshape(1, *arr.shape)  # one sample without the batch dimension
    if arr.ndim != len(spec.shape) or any(
        w != -1 and w != g for w, g in zip(spec.shape, arr.shape, strict=True)
    ):
        expected = tuple("n" if d == -1 else d for d in spec.shape)
        raise ValidationFailedError(
            f"The input has shape {tuple(arr.shape)!r}, but the model takes arrays of shape "
            f"{expected!r}. Reshape the input to match.",
            details={"expected_shape": list(spec.shape), "shape": list(arr.shape)},
        )
    if arr.dtype == want:
        return arr
    if want.kind == "O" or np.can_cast(arr.dtype, want, casting="same_kind"):
        return arr.astype(want)
    if want.kind == "f" and arr.dtype.kind in "iub":
        return arr.astype(want)
    if arr.dtype.kind == "O":
        try:
            return arr.astype(want)
        except (TypeError, ValueError):
            pass
    raise ValidationFailedError(
        f"The input has dtype {arr.dtype.name!r}, which cannot be cast to the model's "
        f"{want.name!r} without changing its meaning. Send {want.name} values.",
        details={"expected_dtype": want.name, "dtype": arr.dtype.name},
    )


def enforce_input(data: Any, schema: Schema | None) -> Any:
    """Check ``data`` against ``schema`` and return it converted for the model.

    Columns are reordered to the schema's order and cast to its types where that keeps their
    meaning (integers to floats, say); a NumPy array is read as the columns in order.

    Raises:
        ValidationFailedError: Columns are missing, extra or mistyped (all are named), or the
            array's shape or dtype does not fit.
        InvalidArgumentError: The input is not a kind of data a model takes.
    """
    data = to_frame_or_array(data)
    if schema is None:
        return data
    if schema.tensor is not None:
        return _enforce_tensor(data, schema.tensor)
    return _enforce_columns(data, schema)


def as_array(data: Any) -> np.ndarray[Any, Any]:
    """Return a frame's values (or an array unchanged) as a NumPy array."""
    import numpy as np

    if _is_frame(data):
        return np.asarray(data.to_numpy())
    return np.asarray(data)
