"""The prediction log writer: batches by version, survives a failing store, loses nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keel.monitoring as km
from keel.serving import PredictionLogWriter


def _append(writer: PredictionLogWriter, version: int, n: int, start: int = 0) -> list[str]:
    ids = [f"id-{version}-{start + i}" for i in range(n)]
    writer.append(
        "dep",
        "churn",
        version,
        {
            "amount": np.arange(start, start + n, dtype=np.float64),
            "country": np.array(["DE"] * n, dtype=object),
        },
        np.arange(n) % 2,
        ids,
        timestamp_ms=1_700_000_000_000 + start,
        latency_ms=1.5,
    )
    return ids


def test_writer_groups_by_version_and_retries_after_a_failure(
    keel_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.monitoring._client import get_monitoring_client, reset_monitoring_client

    reset_monitoring_client()
    writer = PredictionLogWriter(flush_interval=3600, flush_rows=10**6)
    ids = _append(writer, 1, 3) + _append(writer, 2, 2) + _append(writer, 1, 4, start=10)
    assert writer.pending_rows == 9
    calls: list[Any] = []
    original = km.log_predictions

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise OSError("the store is down")

    monkeypatch.setattr(km, "log_predictions", failing)
    writer.flush()
    assert writer.stats.flush_failures == 2  # one per version, each kept
    assert writer.pending_rows == 9
    monkeypatch.setattr(km, "log_predictions", original)
    writer.close()
    assert writer.stats.rows_written == 9
    table = km.read_predictions("dep")
    assert sorted(table.column("prediction_id").to_pylist()) == sorted(ids)
    segments = get_monitoring_client().log.list_segments("dep")
    assert sorted((s.model_version, s.num_rows) for s in segments) == [("1", 7), ("2", 2)]
    reset_monitoring_client()


def test_writer_drops_oldest_rows_past_its_limit(
    keel_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = PredictionLogWriter(flush_interval=3600, max_pending_rows=5)

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the store is down")

    monkeypatch.setattr(km, "log_predictions", failing)
    _append(writer, 1, 3)
    _append(writer, 1, 3, start=3)
    writer.flush()
    assert writer.stats.rows_dropped == 3
    assert writer.pending_rows == 3


def test_release_free_memory_is_safe_to_call_any_time() -> None:
    import pyarrow as pa

    from keel.serving._log import release_free_memory

    pa.array(np.arange(100_000))  # something for Arrow's pool to hold and give back
    release_free_memory()
    release_free_memory()
    writer = PredictionLogWriter(release_memory=True, release_interval=0.0)
    writer.flush()  # nothing pending: nothing written, nothing released
    assert writer.stats.rows_written == 0
