"""A pipeline cache hit never points to a collected artifact."""

from __future__ import annotations

from typing import Any

import pandas as pd

import keel
from keel.governance._gc import collect_garbage
from keel.governance._retention import set_retention
from keel.store._gc import GcRepository
from keel.tracking import get_client


@keel.step
def make(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n))})


@keel.step
def total(df: pd.DataFrame) -> float:
    return float(df["x"].sum())


@keel.pipeline
def tiny(n: int = 7):
    return total(make(n))


def _gc() -> None:
    client = get_client()
    collect_garbage(client.store, client.artifacts, grace_s=0)


def test_cache_entries_keep_their_blobs_and_expired_or_missing_ones_miss(
    keel_env: dict[str, Any],
) -> None:
    client = get_client()
    first = tiny.run(n=7)
    assert first.outputs == 21.0
    # The run that produced the cached outputs is deleted and purged: the cache still names
    # the outputs, so they survive and the next run is a hit that reads them.
    set_retention(client.store, {"runs-deleted": "0s"})
    GcRepository(client.store).delete_run(first.id)
    _gc()
    second = tiny.run(n=7)
    assert second.steps["make"].cache_hit
    assert second.outputs == 21.0
    for output in second.steps["make"].record.outputs:
        assert client.artifacts.verify(output["digest"])

    # A blob that disappears under a cache entry makes a miss that recomputes, never a broken hit.
    digest = second.steps["make"].record.outputs[0]["digest"]
    client.artifacts.delete(digest)
    third = tiny.run(n=7)
    assert not third.steps["make"].cache_hit
    assert third.outputs == 21.0
    assert client.artifacts.verify(digest)

    # Expired cache entries: the next run misses and computes again.
    set_retention(client.store, {"pipeline-cache": "0s"})
    report = collect_garbage(client.store, client.artifacts, grace_s=0)
    assert report.cache_entries_expired >= 2
    fourth = tiny.run(n=7)
    assert not fourth.steps["make"].cache_hit
    assert fourth.outputs == 21.0
