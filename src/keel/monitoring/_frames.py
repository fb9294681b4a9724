"""Inputs of drift: pandas or polars DataFrames, Arrow tables, Parquet paths, ``"name@version"``.

Every input becomes a :class:`Columns` view that hands out one column at a time in the form the
statistics need (float64 with NaN for nulls, or value counts), without converting the whole
table: pandas float columns are read in place, Arrow tables column by column, and value counts
are computed by pandas' or Arrow's hash tables. Parquet is never read whole: a column is read
from the files when the statistics ask for it and dropped once they are computed, so reading
Parquet costs the memory of the columns being summarized at that moment (one per worker
thread), not of the table. Column kinds:

==============  =============================================================================
kind            what it holds
==============  =============================================================================
``numeric``     integers, floats, decimals
``bool``        booleans (compared as the categories ``True``/``False``)
``string``      text, pandas categoricals, Arrow dictionaries
``mixed``       a pandas object column holding numbers and text together
``empty``       only nulls, of no known type
``datetime``    dates, times, timestamps, durations (not compared: time moves on)
``other``       lists, structs, bytes (not compared)
==============  =============================================================================
"""

from __future__ import annotations

import copy
import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Columns", "as_columns", "is_dataset_ref"]


class _ParquetColumns:
    """Parquet files read one column at a time, never as a whole table.

    A single file is read with ``pyarrow.parquet.ParquetFile`` (one chunk per row group, and no
    ``pyarrow.dataset``, which loads pandas); a folder or a list of files with
    ``pyarrow.parquet.ParquetDataset``, as ``pq.read_table`` reads them (hive partitions
    included). Both are opened per read, so worker threads can read columns at once.

    Args:
        where: A Parquet file, a folder of them, or a list of files.
        names: The columns in view (all by default).
    """

    def __init__(self, where: str | list[str], names: Sequence[str] | None = None) -> None:
        import pyarrow.parquet as pq

        self.where = where
        self._metadata: Any = None
        self._dataset: Any = None
        if isinstance(where, str) and os.path.isfile(where):
            with pq.ParquetFile(where) as f:
                self._metadata = f.metadata
                schema = f.schema_arrow
            self.num_rows = int(self._metadata.num_rows)
        else:
            self._dataset = pq.ParquetDataset(where)
            schema = self._dataset.schema
            self.num_rows = sum(int(f.count_rows()) for f in self._dataset.fragments)
        schema = _normal_schema(schema)  # the types columns have once read (_normalize_arrow)
        self.schema = schema if names is None else _sub_schema(schema, names)
        self.column_names: list[str] = list(self.schema.names)

    def _read(self, names: list[str], threads: bool) -> pa.Table:
        if self._dataset is not None:
            table = self._dataset.read(columns=names, use_threads=threads)
        else:
            import pyarrow.parquet as pq

            with pq.ParquetFile(self.where, metadata=self._metadata) as f:
                table = f.read(columns=names, use_threads=threads)
        return _normalize_arrow(table)

    def column(self, name: str) -> pa.ChunkedArray:
        """Read one column from the files."""
        if name not in self.column_names:
            raise KeyError(name)
        # One column, one thread: the worker threads of drift already read columns in parallel.
        return self._read([name], threads=False).column(0)

    def select(self, names: Sequence[str]) -> _ParquetColumns:
        """Return a view of some columns, still unread."""
        view = copy.copy(self)
        view.schema = _sub_schema(self.schema, names)
        view.column_names = list(names)
        return view

    def read(self) -> pa.Table:
        """Read every column in view into one Arrow table."""
        return self._read(self.column_names, threads=True)


def _sub_schema(schema: pa.Schema, names: Sequence[str]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([schema.field(n) for n in names])


class Columns:
    """A read-only, column-at-a-time view of a table.

    Args:
        data: A pandas DataFrame, an Arrow table, or Parquet files read lazily.
        source: How to name the input in messages and reports.
        node: The input's lineage node (``("dataset_version", "tx@v3")``), if it has one.
    """

    def __init__(self, data: Any, source: str, node: tuple[str, str] | None = None) -> None:
        self._data = data
        self.source = source
        self.node = node
        self._pandas = _is_pandas(data)
        self._lazy = isinstance(data, _ParquetColumns)
        self._cache: dict[str, Any] = {}

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        if self._pandas:
            return [str(c) for c in self._data.columns]
        return list(self._data.column_names)

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        return int(len(self._data)) if self._pandas else int(self._data.num_rows)

    def _series(self, name: str) -> Any:
        if self._lazy:  # read on each use, never kept: the caller holds it while it needs it
            return self._data.column(name)
        if name in self._cache:
            return self._cache[name]
        self._cache[name] = found = self._lookup(name)
        return found

    def _type(self, name: str) -> pa.DataType:
        # An Arrow column's type, from the schema for Parquet (nothing is read).
        if self._lazy:
            return self._data.schema.field(name).type
        return self._series(name).type

    def _lookup(self, name: str) -> Any:
        if self._pandas:
            df = self._data
            if name in df.columns:
                return df[name]
            for col in df.columns:  # non-string labels (ints) were named by str()
                if str(col) == name:
                    return df[col]
        return self._data.column(name)

    def kind(self, name: str) -> str:
        """Return the column's kind (see the module docstring)."""
        if self._pandas:
            return _pandas_kind(self._series(name))
        return _arrow_kind(self._type(name))

    def is_integer(self, name: str) -> bool:
        """Whether the column has an integer type."""
        if self._pandas:
            import pandas as pd

            return bool(pd.api.types.is_integer_dtype(self._series(name).dtype))
        import pyarrow as pa

        return bool(pa.types.is_integer(self._type(name)))

    def numeric(self, name: str) -> tuple[np.ndarray[Any, np.dtype[np.float64]], int]:
        """Return the column as float64 with NaN for nulls, and the count of non-numbers.

        Text in a mixed column is not a number: it is counted and becomes NaN.
        """
        col = self._series(name)
        if self._pandas:
            return _pandas_numeric(col)
        return _arrow_numeric(col)

    def value_counts(self, name: str) -> tuple[list[str], np.ndarray[Any, np.dtype[np.int64]], int]:
        """Return the column's distinct values as text, their counts, and the number of nulls."""
        col = self._series(name)
        if self._pandas:
            return _pandas_counts(col)
        return _arrow_counts(col)

    def sample(self, n: int | float, seed: int) -> Columns:
        """Return a view of ``n`` rows (or a fraction ``n`` of them) drawn without replacement."""
        total = self.num_rows
        size = int(round(n * total)) if isinstance(n, float) and n <= 1 else int(n)
        if size >= total:
            return self
        idx = np.sort(np.random.default_rng(seed).choice(total, size=size, replace=False))
        if self._pandas:
            return Columns(self._data.iloc[idx], self.source, self.node)
        import pyarrow as pa

        table = self._data.read() if self._lazy else self._data
        return Columns(table.take(pa.array(idx)), self.source, self.node)

    def select(self, names: Sequence[str]) -> Columns:
        """Return a view of some columns only."""
        if self._pandas:
            return Columns(self._data[[self._label(n) for n in names]], self.source, self.node)
        return Columns(self._data.select(list(names)), self.source, self.node)

    def _label(self, name: str) -> Any:
        for col in self._data.columns:
            if str(col) == name:
                return col
        return name

    def to_arrow(self) -> pa.Table:
        """Return the data as an Arrow table (Parquet is read whole here)."""
        if self._pandas:
            import pyarrow as pa

            return pa.Table.from_pandas(self._data, preserve_index=False)
        if self._lazy:
            return self._data.read()
        return self._data


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas"


def is_dataset_ref(text: str) -> bool:
    """Whether a string names a registered dataset version (``"name@v3"``, ``"name@latest"``)."""
    if "@" not in text or os.path.exists(text):
        return False
    name, _, version = text.rpartition("@")
    return bool(name) and "/" not in version and not version.endswith(".parquet")


def as_columns(data: Any, role: str) -> Columns:
    """Turn a supported input into :class:`Columns`.

    Args:
        data: A pandas or polars DataFrame, an Arrow table or record batch, a Parquet file,
            folder or glob, or a registered dataset version ``"name@version"``.
        role: ``"reference"`` or ``"current"``, for messages.

    Raises:
        InvalidArgumentError: The input is of an unsupported type.
        NotFoundError: A path or dataset does not exist.
    """
    if isinstance(data, Columns):
        return data
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        import pandas as pd

        if isinstance(data, pd.Series):
            data = data.to_frame()
        if not isinstance(data, pd.DataFrame):
            raise _unsupported(data, role)
        return Columns(data, f"pandas DataFrame ({len(data):,} rows)")
    if module == "polars":
        to_arrow = getattr(data, "to_arrow", None)
        if to_arrow is None:  # a LazyFrame
            collect = getattr(data, "collect", None)
            if collect is None:
                raise _unsupported(data, role)
            data = collect()
            to_arrow = data.to_arrow
        table = _normalize_arrow(to_arrow())
        return Columns(table, f"polars DataFrame ({table.num_rows:,} rows)")
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if not isinstance(data, pa.Table):
            raise _unsupported(data, role)
        table = _normalize_arrow(data)
        return Columns(table, f"Arrow table ({table.num_rows:,} rows)")
    if isinstance(data, str) and is_dataset_ref(data):
        return _dataset(data)
    if isinstance(data, (str, os.PathLike)):
        return _parquet(os.fspath(data), role)
    raise _unsupported(data, role)


def _unsupported(data: Any, role: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"The {role} data is a {type(data).__module__}.{type(data).__name__}, which drift cannot "
        "read. Pass a pandas or polars DataFrame, an Arrow table, a Parquet path, or a "
        "registered dataset version such as 'transactions@v3'."
    )


def _normalize_arrow(table: pa.Table) -> pa.Table:
    schema = _normal_schema(table.schema)
    return table if schema is table.schema else table.cast(schema)


def _normal_schema(schema: pa.Schema) -> pa.Schema:
    """The schema with view types replaced (the same object when there are none)."""
    import pyarrow as pa

    # Polars hands out string_view columns, which not every Arrow kernel takes.
    fields = []
    changed = False
    for f in schema:
        if str(f.type) in ("string_view", "binary_view"):
            fields.append(
                f.with_type(pa.large_string() if "string" in str(f.type) else pa.large_binary())
            )
            changed = True
        else:
            fields.append(f)
    return pa.schema(fields, metadata=schema.metadata) if changed else schema


def _parquet(path: str, role: str) -> Columns:
    where: str | list[str] = path
    if any(ch in path for ch in "*?["):
        where = sorted(glob.glob(path))
        if not where:
            raise NotFoundError(
                f"The {role} path {path!r} matches no file. Check the pattern, or pass a "
                "DataFrame or a dataset version."
            )
    elif not os.path.exists(path):
        raise NotFoundError(
            f"The {role} path {path!r} does not exist. Pass a Parquet file or folder, a "
            "DataFrame, or a registered dataset version such as 'transactions@v3'."
        )
    # What pq.read_table(path) would read (same files, partitions and types), but only the
    # footers are read here (counting rows checks every file's footer); the columns are read
    # one by one when drift needs them.
    try:
        lazy = _ParquetColumns(where)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for bad files
        raise InvalidArgumentError(
            f"The {role} path {path!r} is not a readable Parquet file or folder: {exc}. "
            "Convert it to Parquet or load it into a DataFrame first."
        ) from exc
    name = Path(path).name
    return Columns(lazy, f"Parquet {name!r} ({lazy.num_rows:,} rows)")


def _dataset(ref: str) -> Columns:
    try:
        import keel.data as data
    except ImportError as exc:  # the data capability is part of Keel; a broken install says so
        raise InvalidArgumentError(
            f"{ref!r} looks like a dataset version, but keel.data cannot be imported ({exc})."
        ) from exc
    version = data.get(ref)
    table = _normalize_arrow(version.to_arrow())
    return Columns(
        table,
        f"dataset {version.ref!r} ({table.num_rows:,} rows)",
        ("dataset_version", version.ref),
    )


# -- pandas -------------------------------------------------------------------------------


def _pandas_kind(s: pd.Series[Any]) -> str:
    import pandas as pd

    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "datetime"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("string", "categorical"):
            return "string"
        if inferred == "empty":
            return "empty"
        if inferred == "boolean":
            return "bool"
        if inferred in ("integer", "floating", "decimal", "mixed-integer-float"):
            return "numeric"
        if inferred in ("mixed", "mixed-integer"):
            first = s.first_valid_index()
            sample = s.loc[first] if first is not None else None
            if isinstance(sample, (list, tuple, dict, set, bytes, np.ndarray)):
                return "other"
            return "mixed"
        if inferred in ("datetime", "datetime64", "date", "time", "timedelta", "period"):
            return "datetime"
        return "other"
    return "other"


def _pandas_numeric(s: pd.Series[Any]) -> tuple[np.ndarray[Any, np.dtype[np.float64]], int]:
    import pandas as pd

    if pd.api.types.is_bool_dtype(s.dtype):
        return np.asarray(s.astype("float64").to_numpy(), dtype=np.float64), 0
    if pd.api.types.is_numeric_dtype(s.dtype):  # float64 without nulls: no copy
        return np.asarray(s.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64), 0
    coerced = pd.to_numeric(s, errors="coerce")
    values = np.asarray(coerced.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    invalid = int((coerced.isna() & s.notna()).sum())
    return values, invalid


def _pandas_counts(s: pd.Series[Any]) -> tuple[list[str], np.ndarray[Any, np.dtype[np.int64]], int]:
    counts = s.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    labels = [_text(v) for v in counts.index.tolist()]
    values = np.asarray(counts.to_numpy(dtype=np.int64), dtype=np.int64)
    nulls = int(len(s) - values.sum())
    return _merge_labels(labels, values, nulls)


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _merge_labels(
    labels: list[str], counts: np.ndarray[Any, np.dtype[np.int64]], nulls: int
) -> tuple[list[str], np.ndarray[Any, np.dtype[np.int64]], int]:
    # Mixed columns can hold 1 and "1": their text is the same category.
    if len(set(labels)) == len(labels):
        return labels, counts, nulls
    merged: dict[str, int] = {}
    for label, count in zip(labels, counts.tolist(), strict=True):
        merged[label] = merged.get(label, 0) + int(count)
    return list(merged), np.fromiter(merged.values(), dtype=np.int64), nulls


# -- Arrow --------------------------------------------------------------------------------


def _arrow_kind(t: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_null(t):
        return "empty"
    if pa.types.is_temporal(t):
        return "datetime"
    return "other"


def _arrow_numeric(col: pa.ChunkedArray) -> tuple[np.ndarray[Any, np.dtype[np.float64]], int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if col.type != pa.float64():
        col = pc.cast(col, pa.float64())
    parts = [_float64_chunk(chunk) for chunk in col.chunks if len(chunk)]
    if not parts:
        return np.empty(0, dtype=np.float64), 0
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)), 0


# Arrow's to_numpy() and scalars import pandas on first use (about 35 MiB resident), which reading
# Parquet otherwise never needs; fixed-width buffers are read directly instead (no copy).


def _float64_chunk(chunk: pa.Array) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A float64 Arrow array as NumPy, nulls as NaN (zero-copy when it has no nulls)."""
    n = len(chunk)
    values = np.frombuffer(chunk.buffers()[1], dtype=np.float64, count=n, offset=chunk.offset * 8)
    if not chunk.null_count:
        return values
    return np.where(_validity(chunk), values, np.nan)


def _int64s(arr: pa.Array) -> np.ndarray[Any, np.dtype[np.int64]]:
    """An int64 Arrow array without nulls as NumPy."""
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n, offset=arr.offset * 8)


def _validity(chunk: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    bits = np.unpackbits(np.frombuffer(chunk.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[chunk.offset : chunk.offset + len(chunk)].astype(bool)


def _arrow_counts(
    col: pa.ChunkedArray,
) -> tuple[list[str], np.ndarray[Any, np.dtype[np.int64]], int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    counted = pc.value_counts(col)
    values = counted.field("values")
    counts = counted.field("counts")
    if values.null_count:  # the nulls' entry: counted apart
        valid = values.is_valid()
        values, counts = values.filter(valid), counts.filter(valid)
    labels = [_text(v) for v in values.to_pylist()]
    return _merge_labels(labels, _int64s(counts).copy(), int(col.null_count))
