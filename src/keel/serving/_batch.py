"""Batch scoring: a registered model over a Parquet or CSV file, in chunks, out of core.

:func:`predict_batch` streams the input with pyarrow (Parquet row groups or CSV blocks, cut
into chunks of ``chunk_rows``), so a file larger than memory is scored with one chunk in
memory at a time. Before the first prediction the file's columns are checked against the
model's input signature, naming every missing and mistyped column. The output is written to a
temporary file beside the destination and renamed into place only once complete, so a failed
or interrupted run never leaves a partial file under the output name. The run is recorded in
the lineage graph as ``model_version -> batch_prediction`` (relation ``scored``;
``run -> batch_prediction`` for a ``runs:/`` model) with the input, output, row count and
the output's sha256, and audited in the same transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from keel._utils import new_id, now_ms
from keel.errors import InvalidArgumentError, NotFoundError, ValidationFailedError

if TYPE_CHECKING:
    import pyarrow as pa

    from keel.registry import LoadedModel
    from keel.registry._signature import Schema

__all__ = ["BatchPrediction", "ProgressCallback", "predict_batch"]

#: Called after each chunk with ``(rows_done, completed, total)``: ``completed`` and ``total``
#: are rows for Parquet input and bytes read for CSV input (whose row count is not known
#: before the end).
ProgressCallback = Callable[[int, int, int], None]

_FORMATS = ("parquet", "csv")
_DEFAULT_CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class BatchPrediction:
    """What :func:`predict_batch` wrote.

    Attributes:
        id: The batch's id (a lineage node ``("batch_prediction", id)``).
        model_uri: The model URI as given.
        model_name: The registered model (``None`` for a ``runs:/`` URI).
        model_version: The version used (``None`` for a ``runs:/`` URI).
        input: The input file.
        output: The output file.
        num_rows: Rows scored.
        num_chunks: Chunks the rows were scored in.
        sha256: The digest of the output file's bytes.
        duration_s: Wall time of the scoring, in seconds.
    """

    id: str
    model_uri: str
    model_name: str | None
    model_version: int | None
    input: Path
    output: Path
    num_rows: int
    num_chunks: int
    sha256: str
    duration_s: float


def _file_format(path: Path, given: str | None, role: str) -> str:
    if given is not None:
        fmt = given.lower()
        if fmt not in _FORMATS:
            raise InvalidArgumentError(f"Unknown {role} format {given!r}. Use 'parquet' or 'csv'.")
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise InvalidArgumentError(
        f"Cannot tell the format of {role} file {str(path)!r} from its suffix {suffix!r}. "
        "Name it '.parquet' or '.csv', or pass the format explicitly "
        f"(--{role}-format parquet|csv)."
    )


class _Reader:
    """Record batches of at most ``chunk_rows`` rows, and progress in rows or bytes."""

    def __init__(self, path: Path, fmt: str, chunk_rows: int) -> None:
        import pyarrow as pa

        self.path = path
        self.fmt = fmt
        self.chunk_rows = chunk_rows
        self._fh: Any = None
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                # pre_buffer (pyarrow's default) reads every requested row group's column
                # chunks up front, i.e. the whole file for iter_batches: memory would grow
                # with the file instead of staying at one chunk.
                self._pq = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
                self.schema: pa.Schema = self._pq.schema_arrow
                self.total = int(self._pq.metadata.num_rows)
            else:
                import pyarrow.csv as pacsv

                self.total = path.stat().st_size
                self._fh = path.open("rb")
                self._csv = pacsv.open_csv(
                    self._fh, read_options=pacsv.ReadOptions(block_size=8 << 20)
                )
                self.schema = self._csv.schema
        except (pa.ArrowException, OSError) as exc:
            self.close()
            raise InvalidArgumentError(
                f"Cannot read {fmt} file {str(path)!r}: {exc}. Check that it is a valid "
                f"{fmt} file (or pass the right --input-format)."
            ) from exc

    def progress(self, rows_done: int) -> int:
        if self.fmt == "parquet":
            return rows_done
        # The CSV reader reads ahead of what it has handed out; bytes consumed is close enough.
        return min(self.total, int(self._fh.tell())) if self._fh is not None else self.total

    def batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        if self.fmt == "parquet":
            source: Iterator[pa.RecordBatch] = self._pq.iter_batches(batch_size=self.chunk_rows)
            yield from source
            return
        # CSV blocks are cut by bytes: regroup them into chunks of exactly chunk_rows.
        pending: list[pa.RecordBatch] = []
        size = 0
        try:
            for block in self._csv:
                pending.append(block)
                size += block.num_rows
                while size >= self.chunk_rows:
                    table = pa.Table.from_batches(pending, schema=self.schema)
                    head = table.slice(0, self.chunk_rows).combine_chunks()
                    yield from head.to_batches()
                    rest = table.slice(self.chunk_rows)
                    pending = rest.combine_chunks().to_batches() if rest.num_rows else []
                    size = rest.num_rows
        except pa.ArrowInvalid as exc:
            raise ValidationFailedError(
                f"Cannot read CSV file {str(self.path)!r}: {exc}. A column's values changed "
                "type part-way through the file (the type is inferred from the first block); "
                "convert the file to Parquet with explicit types.",
                details={"input": str(self.path)},
            ) from exc
        if size:
            yield from (
                pa.Table.from_batches(pending, schema=self.schema).combine_chunks().to_batches()
            )

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


_ARROW_KINDS = {
    "double": "number",
    "float": "number",
    "integer": "integer",
    "long": "integer",
    "boolean": "boolean",
    "string": "string",
    "category": "string",
    "binary": "binary",
    "datetime": "datetime",
}


def _arrow_kind(dtype: pa.DataType) -> str:
    import pyarrow.types as pat

    if pat.is_dictionary(dtype):
        return _arrow_kind(dtype.value_type)
    if pat.is_boolean(dtype):
        return "boolean"
    if pat.is_integer(dtype):
        return "integer"
    if pat.is_floating(dtype) or pat.is_decimal(dtype):
        return "number"
    if pat.is_string(dtype) or pat.is_large_string(dtype):
        return "string"
    if pat.is_binary(dtype) or pat.is_large_binary(dtype):
        return "binary"
    if pat.is_timestamp(dtype) or pat.is_date(dtype):
        return "datetime"
    if pat.is_null(dtype):
        return "null"
    return str(dtype)


def _shown(dtype: pa.DataType) -> str:
    kind = _arrow_kind(dtype)
    return {"number": "double", "integer": "long"}.get(kind, kind)


def _accepts(want: str, got: str) -> bool:
    kind = _ARROW_KINDS.get(want, want)
    if got == "null":  # an all-empty CSV column: the per-chunk check decides
        return True
    if kind == "number":
        return got in ("number", "integer")
    if kind == "integer":
        # Integers with missing values arrive as floats; the per-chunk check names them.
        return got in ("integer", "number")
    return kind == got


def check_schema(schema: pa.Schema, inputs: Schema | None, source: str) -> list[str]:
    """Check a file's columns against a model's input schema; return the feature columns.

    For a column schema the feature columns are the signature's names, in its order (other
    columns of the file are passed through, not given to the model). For a tensor schema or a
    model without a signature, they are every column of the file.

    Raises:
        ValidationFailedError: Columns are missing or of a type the model cannot take; every
            one is named.
    """
    present = list(schema.names)
    if inputs is None or inputs.tensor is not None:
        return present
    missing = [c.name for c in inputs.columns if c.name not in present]
    mistyped = {
        c.name: f"expected {c.type}, got {_shown(schema.field(c.name).type)}"
        for c in inputs.columns
        if c.name in present and not _accepts(c.type, _arrow_kind(schema.field(c.name).type))
    }
    if missing or mistyped:
        parts = []
        if missing:
            parts.append(f"missing columns {missing!r}")
        if mistyped:
            parts.append(
                "mistyped columns " + ", ".join(f"{k!r} ({v})" for k, v in sorted(mistyped.items()))
            )
        raise ValidationFailedError(
            f"{source} does not match the model's signature: " + "; ".join(parts) + ". "
            f"The model takes {inputs.names!r}; see 'keel models show NAME VERSION'. "
            "Add or convert those columns, or score with a model version whose signature "
            "fits the file.",
            details={"missing": missing, "mistyped": mistyped, "present": present},
        )
    return [c.name for c in inputs.columns]


def _prediction_columns(pred: Any, n: int, column: str) -> dict[str, Any]:
    """Turn a model's output for ``n`` rows into named 1-D columns."""
    import numpy as np

    if hasattr(pred, "columns") and hasattr(pred, "to_numpy"):  # a DataFrame
        return {f"{column}_{c}": pred[c].to_numpy() for c in pred.columns}
    if isinstance(pred, dict):
        return {f"{column}_{k}": np.asarray(v) for k, v in pred.items()}
    arr = np.asarray(pred)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise InvalidArgumentError(
            f"The model returned {arr.shape!r} for a chunk of {n} rows; batch scoring needs one "
            "prediction (or one row of predictions) per input row."
        )
    if arr.ndim == 1:
        return {column: arr}
    flat = arr.reshape(n, -1)
    if flat.shape[1] == 1:
        return {column: flat[:, 0]}
    return {f"{column}_{i}": flat[:, i] for i in range(flat.shape[1])}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Writer:
    """Appends chunks to a temp file next to ``path``; :meth:`commit` renames it into place."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(f".{path.name}.{new_id()[:12]}.tmp")
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._schema = table.schema
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.tmp, table.schema)
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self.tmp, table.schema)
        elif table.schema != self._schema:
            # A later chunk may infer a narrower type (int64 vs double); keep the first's.
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def commit(self, empty_schema: pa.Schema) -> None:
        import pyarrow as pa

        if self._writer is None:  # no rows at all: still write a valid, empty file
            self.write(pa.Table.from_batches([], schema=empty_schema))
        self._writer.close()
        self._writer = None
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self.tmp.unlink(missing_ok=True)


def _load(model: str | LoadedModel) -> LoadedModel:
    if isinstance(model, str):
        from keel.registry import load_model

        return load_model(model)
    return model


def _record(result: BatchPrediction, model: LoadedModel, input_format: str) -> None:
    """Write the lineage edge ``model_version -> batch_prediction`` (audited with it)."""
    from keel.tracking import get_client

    if model.name is not None and model.version is not None:
        source = ("model_version", f"{model.name}/{model.version}")
    elif model.run_id:
        source = ("run", model.run_id)
    else:
        return
    get_client().store.add_lineage_edge(
        source,
        ("batch_prediction", result.id),
        "scored",
        {
            "model_uri": result.model_uri,
            "input": str(result.input),
            "input_format": input_format,
            "output": str(result.output),
            "rows": result.num_rows,
            "sha256": result.sha256,
            "created_at": now_ms(),
        },
    )


def predict_batch(
    model: str | LoadedModel,
    input: str | os.PathLike[str],  # named like the CLI option --input
    output: str | os.PathLike[str],
    *,
    chunk_rows: int = _DEFAULT_CHUNK_ROWS,
    input_format: Literal["parquet", "csv"] | None = None,
    output_format: Literal["parquet", "csv"] | None = None,
    keep_columns: Sequence[str] | None = None,
    prediction_column: str = "prediction",
    overwrite: bool = True,
    record_lineage: bool = True,
    progress: ProgressCallback | None = None,
) -> BatchPrediction:
    """Score a Parquet or CSV file with a model, chunk by chunk, into a new file.

    The input is streamed: at most one chunk of ``chunk_rows`` rows (plus one reader block)
    is in memory at a time, so files larger than memory work. The file's columns are checked
    against the model's signature before anything is scored; each chunk is then checked and
    converted like a ``predict`` call. The output holds the kept input columns followed by the
    prediction (``prediction``, or ``prediction_0..k`` for several outputs per row); it is
    written to a temporary file in the output's folder and renamed into place at the end.

    Args:
        model: A model URI (``models:/churn@champion``, ``models:/churn/3``,
            ``runs:/ID/model``) or a loaded model.
        input: The file to score (``.parquet`` or ``.csv``).
        output: The file to write (``.parquet`` or ``.csv``).
        chunk_rows: Rows per ``predict`` call and per output row group.
        input_format: ``parquet`` or ``csv``; by default from the suffix.
        output_format: ``parquet`` or ``csv``; by default from the suffix.
        keep_columns: Input columns copied to the output (all by default; ``[]`` for none).
        prediction_column: The name of the prediction column (or the prefix of several).
        overwrite: Replace an existing output file.
        record_lineage: Record the batch in the lineage graph.
        progress: Called after each chunk; see :data:`ProgressCallback`.

    Returns:
        Where the predictions went, how many, and the output's digest.

    Raises:
        NotFoundError: The input file or the model does not exist.
        ValidationFailedError: The input does not fit the model's signature.
        InvalidArgumentError: An option is invalid or the file cannot be read.

    Examples:
        >>> import keel.serving  # doctest: +SKIP
        >>> keel.serving.predict_batch(  # doctest: +SKIP
        ...     "models:/churn@champion", "in.parquet", "out.parquet", chunk_rows=50_000
        ... ).num_rows
        1000000
    """
    import time

    import pyarrow as pa

    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise InvalidArgumentError(
            f"chunk_rows must be a positive integer, got {chunk_rows!r}; 65536 is a good default."
        )
    src = Path(input).expanduser()
    dst = Path(output).expanduser()
    if not src.is_file():
        raise NotFoundError(
            f"The input file {str(src)!r} does not exist. Pass the path of a .parquet or .csv file."
        )
    if dst.exists() and not overwrite:
        raise InvalidArgumentError(
            f"The output file {str(dst)!r} exists. Remove it, choose another path, or pass "
            "overwrite=True (--overwrite)."
        )
    if dst.resolve() == src.resolve():
        raise InvalidArgumentError(
            f"The output {str(dst)!r} is the input file; write the predictions elsewhere."
        )
    in_fmt = _file_format(src, input_format, "input")
    out_fmt = _file_format(dst, output_format, "output")
    loaded = _load(model)
    uri = model if isinstance(model, str) else loaded.uri
    start = time.perf_counter()
    reader = _Reader(src, in_fmt, chunk_rows)
    writer = _Writer(dst, out_fmt)
    rows = chunks = 0
    try:
        inputs = loaded.signature.inputs if loaded.signature else None
        features = check_schema(reader.schema, inputs, f"The input file {str(src)!r}")
        keep = _kept(reader.schema, keep_columns)
        empty: pa.Schema | None = None
        for batch in reader.batches():
            table = pa.Table.from_batches([batch])
            frame = table.select(features).to_pandas(ignore_metadata=True)
            try:
                pred = loaded.predict(frame)
            except ValidationFailedError as exc:
                raise ValidationFailedError(
                    f"Rows {rows:,} to {rows + batch.num_rows - 1:,} of {str(src)!r}: "
                    f"{exc.message}",
                    details={**exc.details, "first_row": rows, "input": str(src)},
                ) from exc
            cols = _prediction_columns(pred, batch.num_rows, prediction_column)
            if not chunks:
                _check_clash(keep, list(cols))
            out = table.select(keep)
            for name, values in cols.items():
                out = out.append_column(name, pa.array(values))
            writer.write(out)
            empty = empty or out.schema
            rows += batch.num_rows
            chunks += 1
            if progress is not None:
                progress(rows, reader.progress(rows), reader.total)
        if empty is None:
            empty = reader.schema
            empty = pa.schema([empty.field(c) for c in keep]).append(
                pa.field(prediction_column, pa.float64())
            )
        writer.commit(empty)
    except BaseException:
        writer.abort()
        raise
    finally:
        reader.close()
    result = BatchPrediction(
        id=new_id(),
        model_uri=uri,
        model_name=loaded.name,
        model_version=loaded.version,
        input=src,
        output=dst,
        num_rows=rows,
        num_chunks=chunks,
        sha256=_sha256(dst),
        duration_s=time.perf_counter() - start,
    )
    if record_lineage:
        _record(result, loaded, in_fmt)
    return result


def _kept(schema: pa.Schema, keep: Sequence[str] | None) -> list[str]:
    names = list(schema.names)
    if keep is None:
        kept = names
    else:
        from keel.errors import near_matches

        unknown = [c for c in keep if c not in names]
        if unknown:
            hint = near_matches(unknown[0], names)
            raise InvalidArgumentError(
                f"keep_columns (--keep) names columns the input does not have: {unknown!r}.{hint} "
                f"Its columns: {names!r}."
            )
        kept = list(dict.fromkeys(keep))
    return kept


def _check_clash(kept: Sequence[str], predicted: Sequence[str]) -> None:
    clash = [c for c in predicted if c in kept]
    if clash:
        raise InvalidArgumentError(
            f"The input already has the column(s) {clash!r}, which the predictions would "
            "overwrite. Pass another prediction_column (--prediction-column), or leave those "
            "columns out with keep_columns (--keep)."
        )
