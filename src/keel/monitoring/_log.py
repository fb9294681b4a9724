"""The prediction log's writer and reader API: what serving calls, and what monitors read.

:func:`log_predictions` stores one batch of predictions (with their input features) as one
Parquet segment in the artifact store and records it in the metadata store;
:func:`log_labels` does the same for ground truth that arrives later, joined to predictions by
``prediction_id``. The segment layout is documented in :mod:`keel.store._schema_predictions`.
Reads go through DuckDB over the segments' Parquet files, so a window of a large log is read
without loading the rest.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from keel._utils import now_ms, validate_key
from keel.errors import InvalidArgumentError
from keel.monitoring._client import MonitoringClient, get_monitoring_client
from keel.monitoring._frames import as_columns
from keel.store._predictions import NewLabelSegment, NewPredictionSegment

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "LabelBatch",
    "PredictionBatch",
    "RESERVED_COLUMNS",
    "log_labels",
    "log_predictions",
    "read_predictions",
]

#: Columns of a prediction segment that are not model inputs.
RESERVED_COLUMNS = (
    "prediction_id",
    "timestamp",
    "latency_ms",
    "error",
    "prediction",
    "prediction_score",
)


@dataclass(frozen=True)
class PredictionBatch:
    """A logged batch of predictions.

    Attributes:
        id: The segment's id (a lineage node ``("prediction_batch", id)``).
        deployment: The deployment that made the predictions.
        num_rows: Predictions in the batch.
        start_time: Earliest prediction time (epoch milliseconds).
        end_time: Latest prediction time (epoch milliseconds).
        digest: sha256 of the segment's Parquet bytes in the artifact store.
        prediction_ids: The id of each prediction, in row order (to log labels later).
    """

    id: str
    deployment: str
    num_rows: int
    start_time: int
    end_time: int
    digest: str
    prediction_ids: list[str]


@dataclass(frozen=True)
class LabelBatch:
    """A logged batch of labels."""

    id: str
    deployment: str
    num_rows: int
    digest: str


def _new_ids(n: int) -> list[str]:
    raw = os.urandom(16 * n).hex()
    return [raw[i : i + 32] for i in range(0, 32 * n, 32)]


def _timestamps(value: Any, n: int, what: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    ts_type = pa.timestamp("ms", tz="UTC")
    if value is None:
        return pa.array(np.full(n, now_ms(), dtype=np.int64)).cast(ts_type)
    if isinstance(value, (dt.datetime, int, np.integer)) and not isinstance(value, bool):
        value = [value] * n
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if not isinstance(value, pa.Array):
        arr = np.asarray(value)
        if arr.dtype.kind in "iu":
            value = pa.array(arr.astype(np.int64)).cast(ts_type)
        elif arr.dtype.kind == "M":
            value = pa.array(arr.astype("datetime64[ms]").astype(np.int64)).cast(ts_type)
        else:
            try:
                value = pa.array(list(value))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
                raise _bad_times(what, value) from exc
    if pa.types.is_integer(value.type):
        value = value.cast(pa.int64()).cast(ts_type)
    if not pa.types.is_timestamp(value.type):
        raise _bad_times(what, value)
    if value.type.tz is None:
        value = pc.assume_timezone(value.cast(pa.timestamp("ms")), "UTC")
    value = value.cast(ts_type)
    if len(value) != n:
        raise InvalidArgumentError(
            f"{what} has {len(value)} values for {n} rows; give one per row (or one for all)."
        )
    if value.null_count:
        raise InvalidArgumentError(
            f"{what} has {value.null_count} missing times; every row needs one."
        )
    return value


def _bad_times(what: str, value: Any) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{what} must be datetimes or epoch milliseconds, got {type(value).__name__} "
        f"{str(value)[:80]!r}."
    )


def _array(value: Any, n: int, what: str) -> pa.Array:
    import pyarrow as pa

    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if not isinstance(value, pa.Array):
        module = type(value).__module__.split(".")[0]
        if module in ("pandas", "polars"):
            value = value.to_numpy()
        try:
            value = pa.array(value)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise InvalidArgumentError(
                f"{what} must be a 1-D sequence of scalars, got {type(value).__name__}: {exc}."
            ) from exc
    if len(value) != n:
        raise InvalidArgumentError(f"{what} has {len(value)} values for {n} rows of features.")
    return value


def _check_deployment(deployment: Any) -> str:
    return validate_key("deployment", deployment)


def log_predictions(
    deployment: str,
    features: Any,
    predictions: Any = None,
    *,
    scores: Any = None,
    prediction_ids: Sequence[str] | None = None,
    timestamps: Any = None,
    latency_ms: Any = None,
    errors: Any = None,
    model_name: str | None = None,
    model_version: str | int | None = None,
) -> PredictionBatch:
    """Append a batch of predictions to a deployment's prediction log.

    Serving calls this for every batch it answers; call it yourself to monitor predictions
    made elsewhere. Any argument left out may instead be a column of ``features`` with its
    reserved name (``prediction``, ``prediction_score``, ``prediction_id``, ``timestamp``,
    ``latency_ms``, ``error``).

    Args:
        deployment: The deployment's name (``"churn-prod"``).
        features: The model's inputs, one row per prediction: a pandas or polars DataFrame,
            an Arrow table, or a Parquet path.
        predictions: The model's outputs (classes or values), one per row.
        scores: For classifiers, the score of the positive class (used for ROC AUC).
        prediction_ids: Ids to join labels on later; random ids are made if not given.
        timestamps: When each prediction was made (datetimes or epoch milliseconds, or one for
            all); now by default. Naive datetimes are taken as UTC.
        latency_ms: How long each prediction took, in milliseconds (or one for all).
        errors: Whether each request failed (or one for all); ``False`` by default.
        model_name: The registered model that answered.
        model_version: Its version.

    Returns:
        The batch, with its ``prediction_ids``.

    Raises:
        InvalidArgumentError: The batch is empty, a column has the wrong length or type, or an
            argument repeats a column of ``features``.

    Examples:
        >>> import pandas as pd, keel.monitoring as km
        >>> batch = km.log_predictions("churn-prod", pd.DataFrame({"age": [31, 45]}), [0, 1])
        >>> batch.num_rows
        2
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    deployment = _check_deployment(deployment)
    table = as_columns(features, "features").to_arrow()
    n = table.num_rows
    if n == 0:
        raise InvalidArgumentError(
            f"The batch for deployment {deployment!r} has no rows; log at least one prediction."
        )
    given = {
        "prediction": predictions,
        "prediction_score": scores,
        "prediction_id": prediction_ids,
        "timestamp": timestamps,
        "latency_ms": latency_ms,
        "error": errors,
    }
    columns: dict[str, Any] = {}
    for name, value in given.items():
        if name in table.column_names:
            if value is not None:
                raise InvalidArgumentError(
                    f"features has a column {name!r} and the argument {name} was given too; "
                    "keep one of them."
                )
            given[name] = table.column(name)
            table = table.drop_columns([name])
    if given["prediction"] is None:
        raise InvalidArgumentError(
            "No predictions: pass predictions=... or a 'prediction' column in features."
        )
    ids = given["prediction_id"]
    if ids is None:
        ids_arr = pa.array(_new_ids(n), pa.string())
    else:
        ids_arr = _array(ids, n, "prediction_ids").cast(pa.string())
        if ids_arr.null_count:
            raise InvalidArgumentError("prediction_ids has missing values; every row needs an id.")
    columns["prediction_id"] = ids_arr
    columns["timestamp"] = _timestamps(given["timestamp"], n, "timestamps")
    latency = given["latency_ms"]
    if latency is None:
        columns["latency_ms"] = pa.nulls(n, pa.float64())
    elif np.isscalar(latency):
        columns["latency_ms"] = pa.array(np.full(n, latency, dtype=np.float64))
    else:
        columns["latency_ms"] = _array(latency, n, "latency_ms").cast(pa.float64())
    err = given["error"]
    if err is None:
        columns["error"] = pa.array(np.zeros(n, dtype=bool))
    elif np.isscalar(err):
        columns["error"] = pa.array(np.full(n, bool(err)))
    else:
        errors = _array(err, n, "errors").cast(pa.bool_())
        # fill_null converts its Python scalar through pandas: only call it when needed.
        columns["error"] = errors.fill_null(False) if errors.null_count else errors
    columns["prediction"] = _array(given["prediction"], n, "predictions")
    if given["prediction_score"] is not None:
        columns["prediction_score"] = _array(given["prediction_score"], n, "scores").cast(
            pa.float64()
        )
    out = pa.table({**columns, **{name: table.column(name) for name in table.column_names}})
    # An Arrow buffer, not a Python file: the writer then needs the GIL for no page, so a
    # serving worker's requests are not held up by its log flushes.
    sink = pa.BufferOutputStream()
    pq.write_table(out, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    client = get_monitoring_client()
    digest = client.artifacts.put_bytes(data)
    bounds = pc.min_max(columns["timestamp"].cast(pa.int64()))
    start, end = int(bounds["min"].as_py()), int(bounds["max"].as_py())
    roles = dict.fromkeys(("prediction_id", "timestamp", "latency_ms", "error"), "meta")
    roles.update(prediction="prediction", prediction_score="prediction")
    record = client.log.add_segment(
        NewPredictionSegment(
            deployment=deployment,
            start_time=start,
            end_time=end,
            num_rows=n,
            num_errors=int(pc.sum(columns["error"]).as_py() or 0),
            digest=digest,
            size_bytes=len(data),
            columns=[
                {"name": f.name, "type": str(f.type), "role": roles.get(f.name, "feature")}
                for f in out.schema
            ],
            model_name=model_name,
            model_version=None if model_version is None else str(model_version),
        )
    )
    return PredictionBatch(record.id, deployment, n, start, end, digest, ids_arr.to_pylist())


def log_labels(
    deployment: str,
    prediction_ids: Any,
    labels: Any = None,
    *,
    timestamps: Any = None,
) -> LabelBatch:
    """Record ground truth for earlier predictions, joined to them by prediction id.

    Labels may arrive long after the predictions; each monitor window's performance is
    recomputed when labels for it arrive. A label sent again for the same prediction replaces
    the earlier one.

    Args:
        deployment: The deployment that made the predictions.
        prediction_ids: The predictions' ids, or a frame with columns ``prediction_id`` and
            ``label``.
        labels: The labels, one per id (when ``prediction_ids`` is not a frame).
        timestamps: When the labels became known; now by default.

    Returns:
        The stored batch.

    Raises:
        InvalidArgumentError: Ids and labels differ in length, or are missing.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    deployment = _check_deployment(deployment)
    module = type(prediction_ids).__module__.split(".")[0]
    if labels is None and module in ("pandas", "polars", "pyarrow"):
        table = as_columns(prediction_ids, "labels").to_arrow()
        missing = [c for c in ("prediction_id", "label") if c not in table.column_names]
        if missing:
            raise InvalidArgumentError(
                f"The label frame lacks the columns {missing!r}; it needs 'prediction_id' and "
                f"'label'. It has {table.column_names!r}."
            )
        ids, values = table.column("prediction_id"), table.column("label")
    else:
        if labels is None:
            raise InvalidArgumentError(
                "No labels: pass labels=... or a frame with 'prediction_id' and 'label' columns."
            )
        ids = _array(
            list(prediction_ids) if not hasattr(prediction_ids, "__array__") else prediction_ids,
            len(prediction_ids),
            "prediction_ids",
        )
        values = _array(labels, len(ids), "labels")
    n = len(ids)
    if n == 0:
        raise InvalidArgumentError("The label batch is empty; log at least one label.")
    ids = pa.array(ids.to_pylist() if isinstance(ids, pa.ChunkedArray) else ids).cast(pa.string())
    if ids.null_count:
        raise InvalidArgumentError("prediction_ids has missing values; every label needs an id.")
    out = pa.table(
        {
            "prediction_id": ids,
            "label": values,
            "labeled_at": _timestamps(timestamps, n, "timestamps"),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(out, buffer, compression="zstd")
    data = buffer.getvalue()
    client = get_monitoring_client()
    digest = client.artifacts.put_bytes(data)
    record = client.log.add_label_segment(NewLabelSegment(deployment, n, digest, len(data)))
    return LabelBatch(record.id, deployment, n, digest)


def _paths_sql(paths: Sequence[os.PathLike[str] | str]) -> str:
    return "[" + ", ".join("'" + os.fspath(p).replace("'", "''") + "'" for p in paths) + "]"


def _to_arrow(result: Any) -> pa.Table:
    method = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return method()


def window_table(
    client: MonitoringClient,
    deployment: str,
    start: int | None,
    end: int | None,
    *,
    labels: bool = False,
) -> pa.Table:
    """Return the predictions of ``deployment`` with timestamps in ``[start, end)``.

    With ``labels``, add a ``label`` column (null where no label arrived; the latest label of a
    prediction wins).
    """
    import pyarrow as pa

    segments = client.log.list_segments(deployment, start, end)
    if not segments:
        return pa.table({})
    paths = [client.local_blob(s.digest) for s in segments]
    where = []
    if start is not None:
        where.append(f'epoch_ms("timestamp") >= {int(start)}')
    if end is not None:
        where.append(f'epoch_ms("timestamp") < {int(end)}')
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    con = client.duckdb()
    try:
        con.execute("SET TimeZone = 'UTC'")
        query = f"SELECT * FROM read_parquet({_paths_sql(paths)}, union_by_name = true) {clause}"
        if labels:
            label_segments = client.log.list_label_segments(deployment)
            if label_segments:
                label_paths = [client.local_blob(s.digest) for s in label_segments]
                query = (
                    f"WITH p AS ({query}), l AS (SELECT prediction_id, label FROM "
                    f"read_parquet({_paths_sql(label_paths)}, union_by_name = true) "
                    "QUALIFY row_number() OVER (PARTITION BY prediction_id "
                    "ORDER BY labeled_at DESC) = 1) "
                    "SELECT p.*, l.label FROM p LEFT JOIN l USING (prediction_id)"
                )
            else:
                query = f"SELECT *, NULL AS label FROM ({query})"
        table = _to_arrow(con.sql(f'{query} ORDER BY "timestamp", prediction_id'))
    finally:
        con.close()
    return table


def read_predictions(
    deployment: str,
    *,
    start: dt.datetime | int | None = None,
    end: dt.datetime | int | None = None,
    labels: bool = False,
) -> pa.Table:
    """Return a deployment's logged predictions as an Arrow table, oldest first.

    Args:
        deployment: The deployment.
        start: Only predictions at or after this time (datetime or epoch milliseconds).
        end: Only predictions before this time.
        labels: Add the ``label`` column joined from :func:`log_labels`.

    Raises:
        NotFoundError: Nothing was logged for the deployment.
    """
    client = get_monitoring_client()
    client.log.require_deployment(_check_deployment(deployment))
    return window_table(client, deployment, _ms(start), _ms(end), labels=labels)


def _ms(value: dt.datetime | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise InvalidArgumentError(f"A time must be a datetime or epoch milliseconds, got {value!r}.")
