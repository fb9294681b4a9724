"""Running on-demand feature functions the same way offline and online.

Both paths build the function's input the same way (typed Arrow columns converted to pandas
with nullable integers and booleans) and cast its output to the declared types, so a function
sees the same frame and yields the same values for the same entity and time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError
from keel.features._frames import arrow_type, to_pandas

if TYPE_CHECKING:
    import pyarrow as pa

    from keel.features._definitions import OnDemandFeatureView

__all__ = ["run_on_demand", "typed_array"]


def typed_array(values: Any, feature_type: str, what: str) -> pa.Array:
    """Return ``values`` (a list, Series or Arrow array) as an Arrow array of ``feature_type``.

    Raises:
        InvalidArgumentError: The values cannot be read as that type.
    """
    import pyarrow as pa

    target = arrow_type(feature_type)
    try:
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            arr = values
        elif hasattr(values, "dtype") and hasattr(values, "to_numpy"):
            arr = pa.Array.from_pandas(values)
        else:
            arr = pa.array(list(values))
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr.type != target:
            if (
                pa.types.is_timestamp(arr.type)
                and arr.type.tz is None
                and feature_type == "timestamp"
            ):
                arr = arr.cast(pa.timestamp(arr.type.unit, tz="UTC"))
            arr = arr.cast(target, safe=feature_type not in ("float32",))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidArgumentError(f"{what} must hold {feature_type} values: {exc}.") from exc
    return arr


def run_on_demand(
    view: OnDemandFeatureView, inputs: Mapping[str, pa.Array], num_rows: int
) -> dict[str, pa.Array]:
    """Call the view's function on its inputs and return its features as typed Arrow arrays.

    Args:
        view: The on-demand view.
        inputs: Column name to typed Arrow array: request fields and source features.
        num_rows: The number of rows (inputs may be empty when the view reads nothing).

    Raises:
        InvalidArgumentError: The function failed, or returned the wrong columns or length.
    """
    import pandas as pd
    import pyarrow as pa

    if inputs:
        frame = to_pandas(pa.table(dict(inputs)))
    else:
        frame = pd.DataFrame(index=pd.RangeIndex(num_rows))
    try:
        result = view.function(frame)
    except Exception as exc:  # user code: say which view failed and keep the cause
        raise InvalidArgumentError(
            f"The function of on-demand feature view {view.name!r} raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(result, pd.DataFrame):
        columns: Mapping[str, Any] = {str(c): result[c] for c in result.columns}
    elif isinstance(result, Mapping):
        columns = result
    else:
        raise InvalidArgumentError(
            f"The function of on-demand feature view {view.name!r} returned "
            f"{type(result).__name__}; it must return a DataFrame or a dict of columns."
        )
    out: dict[str, pa.Array] = {}
    for name, typ in view.features.items():
        if name not in columns:
            raise InvalidArgumentError(
                f"The function of on-demand feature view {view.name!r} returned no column "
                f"{name!r}. It returned {sorted(columns)!r}; it must return every declared "
                f"feature: {list(view.features)!r}."
            )
        values = columns[name]
        if isinstance(values, pd.Series):
            values = values.reset_index(drop=True)
        arr = typed_array(values, typ, f"Feature {view.name}:{name}")
        if len(arr) != num_rows:
            raise InvalidArgumentError(
                f"The function of on-demand feature view {view.name!r} returned {len(arr)} "
                f"values of {name!r} for {num_rows} rows; return one value per row."
            )
        out[name] = arr
    return out
