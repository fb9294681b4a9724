"""Entity frames in and training frames out: pandas, Arrow, polars or a DuckDB query.

Applies the timestamp rule of :mod:`keel.features._types`: naive is UTC, aware is converted,
and one column may not mix the two.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, near_matches

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["EntityFrame", "arrow_type", "read_entity_frame", "to_pandas"]

ROW_COL = "__keel_row"
_OFFSET = re.compile(r"[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$", re.I)
TS_COL = "__keel_ts"


def arrow_type(feature_type: str) -> pa.DataType:
    """Return the Arrow type of a feature type."""
    import pyarrow as pa

    return {
        "bool": pa.bool_(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float32": pa.float32(),
        "float64": pa.float64(),
        "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[feature_type]


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Convert Arrow to pandas keeping integers and booleans nullable (``Int64``, ``boolean``)."""
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    frame: pd.DataFrame = table.to_pandas(types_mapper=mapping.get)
    return frame


@dataclass
class EntityFrame:
    """The user's entity rows and the Arrow table of the columns retrieval needs.

    Attributes:
        original: What the user passed (pandas, Arrow or polars), returned with features added.
        kind: ``"pandas"``, ``"arrow"`` or ``"polars"``.
        table: Join keys, ``__keel_ts`` (the entity timestamp) and ``__keel_row`` (position).
        columns: The user's column names.
        ts_range: The smallest and largest entity timestamp in epoch µs (``None`` if no rows).
    """

    original: Any
    kind: str
    table: pa.Table
    columns: list[str]
    ts_range: tuple[int, int] | None

    @property
    def num_rows(self) -> int:
        """The number of entity rows."""
        return int(self.table.num_rows)

    def column_pandas(self, name: str) -> pd.Series:
        """Return one of the user's columns as a pandas Series (for request data)."""
        import pandas as pd

        if self.kind == "pandas":
            series: pd.Series = self.original[name].reset_index(drop=True)
            return series
        if self.kind == "polars":
            return pd.Series(self.original[name].to_arrow().to_pylist(), name=name)
        return pd.Series(self.original.column(name).to_pylist(), name=name)

    def column_arrow(self, name: str) -> pa.ChunkedArray:
        """Return one of the user's columns as Arrow."""
        import pyarrow as pa

        if self.kind == "pandas":
            return pa.chunked_array([pa.Array.from_pandas(self.original[name])])
        if self.kind == "polars":
            return pa.chunked_array([self.original[name].to_arrow()])
        col: pa.ChunkedArray = self.original.column(name)
        return col


def read_entity_frame(
    entity_df: Any, keys: Sequence[str], timestamp: str, request: Sequence[str]
) -> EntityFrame:
    """Check the entity rows and extract the join keys and the timestamp.

    Args:
        entity_df: A pandas or polars DataFrame, an Arrow table, or a DuckDB query string.
        keys: The join keys the requested views need.
        timestamp: The name of the entity timestamp column.
        request: Request fields on-demand views read from the frame.

    Raises:
        InvalidArgumentError: The frame lacks a key, the timestamp or a request field, or its
            timestamps are null, not timestamps, or mix naive and timezone-aware values.
    """
    import pyarrow as pa

    kind, original = _kind_of(entity_df)
    columns = _columns(kind, original)
    needed = [*dict.fromkeys([*keys, *request])]
    missing = [c for c in needed if c not in columns]
    if missing:
        first = missing[0]
        role = "join key" if first in keys else "request field"
        raise InvalidArgumentError(
            f"The entity frame has no column {first!r}, a {role} of the requested features."
            f"{near_matches(first, columns)} Its columns: {', '.join(repr(c) for c in columns)}. "
            f"Add the column{'s ' + repr(missing) if len(missing) > 1 else ''} to the frame.",
            details={"missing": missing},
        )
    if timestamp not in columns:
        guess = [c for c in columns if _looks_temporal(kind, original, c)]
        hint = (
            f" Pass timestamp={guess[0]!r} to use the column {guess[0]!r}."
            if guess
            else " Add a column with each row's point in time."
        )
        raise InvalidArgumentError(
            f"The entity frame has no timestamp column {timestamp!r}."
            f"{near_matches(timestamp, columns)}{hint} Its columns: "
            f"{', '.join(repr(c) for c in columns)}.",
            details={"timestamp": timestamp},
        )
    arrays: dict[str, Any] = {}
    for key in dict.fromkeys(keys):
        arrays[key] = _key_array(kind, original, key)
    ts = _timestamp_array(kind, original, timestamp)
    arrays[TS_COL] = ts
    n = len(ts)
    import numpy as np

    arrays[ROW_COL] = pa.array(np.arange(n, dtype=np.int64))
    table = pa.table(arrays)
    ts_range = None
    if n:
        import pyarrow.compute as pc

        us = pc.cast(ts.cast(pa.timestamp("us", tz="UTC")), pa.int64())
        bounds = pc.min_max(us).as_py()
        ts_range = (int(bounds["min"]), int(bounds["max"]))
    return EntityFrame(original, kind, table, columns, ts_range)


def _kind_of(entity_df: Any) -> tuple[str, Any]:
    import pandas as pd
    import pyarrow as pa

    if isinstance(entity_df, pd.DataFrame):
        return "pandas", entity_df
    if isinstance(entity_df, pa.Table):
        return "arrow", entity_df
    if type(entity_df).__module__.startswith("polars") and hasattr(entity_df, "to_arrow"):
        return "polars", entity_df
    if isinstance(entity_df, str) and entity_df.strip():
        from keel.features._duck import arrow_table, connect
        from keel.features._sources import text_reads_remote

        con = connect(remote=text_reads_remote(entity_df))
        try:
            import duckdb

            try:
                table = arrow_table(con, entity_df)
            except duckdb.Error as exc:
                raise InvalidArgumentError(
                    f"The entity query failed: {str(exc).splitlines()[0]}. Pass a DuckDB SELECT "
                    "or a DataFrame."
                ) from exc
        finally:
            con.close()
        return "pandas", table.to_pandas()
    if isinstance(entity_df, Mapping):
        return "pandas", pd.DataFrame(dict(entity_df))
    raise InvalidArgumentError(
        f"The entity frame must be a pandas or polars DataFrame, a pyarrow Table or a DuckDB "
        f"query, got {type(entity_df).__name__}."
    )


def _columns(kind: str, original: Any) -> list[str]:
    if kind == "pandas":
        return [str(c) for c in original.columns]
    if kind == "arrow":
        return list(original.column_names)
    return list(original.columns)


def _looks_temporal(kind: str, original: Any, column: str) -> bool:
    import pandas as pd
    import pyarrow as pa

    if kind == "pandas":
        return bool(pd.api.types.is_datetime64_any_dtype(original[column]))
    typ = original.schema.field(column).type if kind == "arrow" else None
    if kind == "polars":
        typ = original[column].to_arrow().type
    return bool(typ is not None and (pa.types.is_timestamp(typ) or pa.types.is_date(typ)))


def _key_array(kind: str, original: Any, key: str) -> Any:
    import pyarrow as pa

    if kind == "pandas":
        series = original[key]
        try:
            return pa.Array.from_pandas(series)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgumentError(
                f"The entity frame's join key {key!r} mixes value types ({exc}). Use integers "
                "or strings throughout."
            ) from exc
    if kind == "polars":
        return original[key].to_arrow()
    return original.column(key).combine_chunks()


def _timestamp_array(kind: str, original: Any, column: str) -> Any:
    import pyarrow as pa

    if kind == "pandas":
        series = original[column]
    elif kind == "polars":
        arr = original[column].to_arrow()
        series = _arrow_series(arr)
    else:
        arr = original.column(column).combine_chunks()
        series = _arrow_series(arr)
    ts_arr = series if isinstance(series, pa.Array) else _series_to_timestamps(series, column)
    if ts_arr.null_count:
        raise InvalidArgumentError(
            f"The entity frame's timestamp column {column!r} has {ts_arr.null_count} null "
            "value(s). Every entity row needs a point in time: fill or drop those rows.",
            details={"timestamp": column, "nulls": ts_arr.null_count},
        )
    return ts_arr


def _arrow_series(arr: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_timestamp(arr.type):
        return arr
    if pa.types.is_date(arr.type):
        return arr.cast(pa.timestamp("us"))
    return arr.to_pandas()


def _series_to_timestamps(series: pd.Series, column: str) -> Any:
    import pandas as pd
    import pyarrow as pa

    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
        return pa.Array.from_pandas(series)
    values = series.dropna()
    if len(values) == 0 and len(series):
        return pa.nulls(len(series), pa.timestamp("us"))
    aware = naive = 0
    sample = values.tolist()
    for v in sample:
        if isinstance(v, dt.datetime):
            if v.tzinfo is None or v.tzinfo.utcoffset(v) is None:
                naive += 1
            else:
                aware += 1
        elif isinstance(v, str):
            text = v.strip()
            if text.endswith(("Z", "z")) or _has_offset(text):
                aware += 1
            else:
                naive += 1
        elif isinstance(v, dt.date):
            naive += 1
        else:
            raise InvalidArgumentError(
                f"The entity frame's timestamp column {column!r} holds {v!r} "
                f"({type(v).__name__}); it must hold datetimes, dates or ISO 8601 strings."
            )
    if aware and naive:
        raise InvalidArgumentError(
            f"The entity frame's timestamp column {column!r} mixes naive and timezone-aware "
            f"timestamps ({naive} naive, {aware} aware). Keel reads naive timestamps as UTC "
            "and converts aware ones to UTC, but will not guess within one column: make them "
            "all aware (series.dt.tz_localize('UTC') on the naive ones) or all naive UTC.",
            details={"timestamp": column, "naive": naive, "aware": aware},
        )
    try:
        parsed = pd.to_datetime(series, utc=bool(aware), format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(
            f"The entity frame's timestamp column {column!r} has values that are not points in "
            f"time ({exc})."
        ) from exc
    return pa.Array.from_pandas(parsed)


def _has_offset(text: str) -> bool:
    return _OFFSET.search(text) is not None


def attach(frame: EntityFrame, features: pa.Table, output: str) -> Any:
    """Return the user's frame with the feature columns added, in the requested form.

    Raises:
        InvalidArgumentError: A feature column has the name of a column of the frame.
    """
    clash = [c for c in features.column_names if c in frame.columns]
    if clash:
        raise InvalidArgumentError(
            f"The entity frame already has column(s) {clash!r}, which the requested features "
            "would overwrite. Rename the frame's columns or pass full_feature_names=True."
        )
    if output == "arrow":
        base = frame.original if frame.kind == "arrow" else _as_arrow(frame)
        for name in features.column_names:
            base = base.append_column(name, features.column(name))
        return base
    if output == "polars":
        import polars as pl

        left: Any = frame.original if frame.kind == "polars" else pl.from_arrow(_as_arrow(frame))
        extra: Any = pl.from_arrow(features)
        return pl.concat([left, extra], how="horizontal")
    feats = to_pandas(features)
    base_df = frame.original if frame.kind == "pandas" else to_pandas(_as_arrow(frame))
    out = base_df.copy(deep=False)
    for name in feats.columns:  # arrays, not Series: no index alignment (indexes may repeat)
        out[name] = feats[name].array
    return out


def _as_arrow(frame: EntityFrame) -> Any:
    import pyarrow as pa

    if frame.kind == "arrow":
        return frame.original
    if frame.kind == "polars":
        return frame.original.to_arrow()
    return pa.Table.from_pandas(frame.original, preserve_index=False)
