"""``historical`` against a brute-force reference on random data (hypothesis).

Random sources over a few entities and hours produce ties between entity and feature times,
duplicate event timestamps (within a file and across files, with and without created
timestamps), null values, null timestamps and keys, rows past the ttl, entities with no rows
and two views with different join keys in one request.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.features import Entity, FeatureStore, FeatureView
from keel.features import _offline as offline

from .conftest import T0

HOUR = pd.Timedelta(hours=1)
KEYS = [0, 1, 2, 3]
SHOPS = ["a", "b"]

maybe_hour = st.one_of(st.none(), st.integers(0, 6))
source_row = st.fixed_dictionaries(
    {
        "k": st.one_of(st.none(), st.sampled_from(KEYS)),
        "shop": st.sampled_from(SHOPS),
        "hour": maybe_hour,
        "created": st.one_of(st.none(), st.integers(0, 2)),
        "x": st.one_of(st.none(), st.floats(-5, 5, allow_nan=False, width=32)),
        "n": st.one_of(st.none(), st.integers(-3, 3)),
        "file": st.integers(0, 2),
    }
)
entity_row = st.tuples(st.sampled_from([*KEYS, 9]), st.sampled_from(SHOPS), st.integers(-1, 14))
ttl_hours = st.one_of(st.none(), st.integers(1, 3))


def _naive(hours: Any) -> pd.Series:
    """Naive source times (UTC by the rule), ``None`` for a null hour."""
    base = T0.tz_localize(None)
    values = [None if h is None or pd.isna(h) else base + int(h) * HOUR for h in hours]
    return pd.Series(pd.to_datetime(values), dtype="datetime64[us]")


def _files(folder: Path, rows: list[dict[str, Any]]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    frame = pd.DataFrame(rows)
    for file_no in range(3):
        part = frame[frame["file"] == file_no] if len(frame) else frame
        out = pd.DataFrame(
            {
                "k": pd.array(part.get("k", []), dtype="Int64"),
                "shop": pd.array(part.get("shop", []), dtype="string"),
                "ts": _naive(part.get("hour", [])),
                "created": _naive(part.get("created", [])),
                "x": pd.array(part.get("x", []), dtype="Float64"),
                "n": pd.array(part.get("n", []), dtype="Int64"),
            }
        )
        out.to_parquet(folder / f"part-{file_no}.parquet")


def _reference(
    rows: list[dict[str, Any]],
    keys: list[str],
    entity: tuple[Any, ...],
    ttl: int | None,
    created: bool,
    features: list[str],
) -> list[Any]:
    """The latest row at or before t within ttl; ties: latest created (null oldest), then last."""
    key_values, half_hours = entity[:-1], entity[-1]
    t = half_hours / 2
    best: tuple[Any, ...] | None = None
    best_row: dict[str, Any] | None = None
    for pos, row in sorted(enumerate(rows), key=lambda p: (p[1]["file"], p[0])):
        if row["hour"] is None or any(
            row[k] is None or row[k] != v for k, v in zip(keys, key_values, strict=True)
        ):
            continue
        if row["hour"] > t or (ttl is not None and row["hour"] < t - ttl):
            continue
        c = (-1 if row["created"] is None else row["created"]) if created else 0
        rank = (row["hour"], c, row["file"], pos)
        if best is None or rank > best:
            best, best_row = rank, row
    return [None if best_row is None else best_row[f] for f in features]


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows_a=st.lists(source_row, max_size=25),
    rows_b=st.lists(source_row, max_size=15),
    entities=st.lists(entity_row, min_size=1, max_size=12),
    ttl_a=ttl_hours,
    ttl_b=ttl_hours,
    created_a=st.booleans(),
)
def test_historical_matches_brute_force(
    fs: FeatureStore,
    tmp_path: Path,
    rows_a: list[dict[str, Any]],
    rows_b: list[dict[str, Any]],
    entities: list[tuple[Any, ...]],
    ttl_a: int | None,
    ttl_b: int | None,
    created_a: bool,
) -> None:
    _files(tmp_path / "a", rows_a)
    _files(tmp_path / "b", rows_b)
    key = Entity("k", join_keys={"k": "int64"})
    shop = Entity("shop", join_keys={"shop": "string"})
    view_a = FeatureView(
        "va",
        entities=[key],
        source=str(tmp_path / "a"),
        timestamp="ts",
        created_timestamp="created" if created_a else None,
        ttl=None if ttl_a is None else f"{ttl_a}h",
        features={"x": "float64", "n": "int64"},
    )
    view_b = FeatureView(
        "vb",
        entities=[key, shop],
        source=str(tmp_path / "b"),
        timestamp="ts",
        ttl=None if ttl_b is None else f"{ttl_b}h",
        features={"x": "float64"},
    )
    fs.apply([key, shop, view_a, view_b], show_diff=False)
    # entity times on half hours: equal to feature times (ties) or between them; aware UTC
    frame = pd.DataFrame(
        {
            "k": [e[0] for e in entities],
            "shop": [e[1] for e in entities],
            "event_timestamp": [T0 + e[2] * HOUR / 2 for e in entities],
        }
    )
    want = [
        _reference(rows_a, ["k"], (k, half), ttl_a, created_a, ["x", "n"])
        + _reference(rows_b, ["k", "shop"], (k, s, half), ttl_b, False, ["x"])
        for k, s, half in entities
    ]
    for strategy in ("asof", "buckets"):  # both ways of matching rows, one reference
        offline.STRATEGY = strategy
        try:
            out = fs.historical(frame, ["va:x", "va:n", "vb:x"], full_feature_names=True)
        finally:
            offline.STRATEGY = None
        cols = out[["va__x", "va__n", "vb__x"]]
        got = cols.astype(object).where(cols.notna(), None)
        for i, row in enumerate(want):
            assert got.iloc[i].tolist() == row, (strategy, i, entities[i])
