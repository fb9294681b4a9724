"""Materialization and online lookup, on SQLite and Redis: watermarks, batches, lineage, and
the offline and online paths agreeing for the same entity and time (on-demand features too)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from keel.errors import InvalidArgumentError, NotFoundError
from keel.features import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    OnDemandFeatureView,
    get_online_features,
)

from .conftest import write_stats

CUSTOMER = Entity("customer", join_keys=["customer_id"])
FEATURES = {"avg_amount_7d": "float64", "tx_count_7d": "int64", "country": "string"}
REFS = [f"customer_stats:{f}" for f in FEATURES]


def amount_features(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ratio": df["amount"] / df["avg_amount_7d"],
            "busy": df["tx_count_7d"] > 50,
            "label": df["country"] + "-" + df["channel"],
        }
    )


def make_view(path: Path, ttl: str | None = None) -> FeatureView:
    return FeatureView(
        "customer_stats",
        entities=[CUSTOMER],
        source=str(path),
        timestamp="event_time",
        ttl=ttl,
        features=dict(FEATURES),
    )


@pytest.fixture
def store_on(keel_home: Path, fs: FeatureStore, online_uri: str) -> FeatureStore:
    store = FeatureStore(fs.metadata, online_uri)
    yield store
    store.close()


@pytest.fixture
def recent(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """48 hours of stats for 20 customers, ending an hour ago."""
    now = pd.Timestamp.now(tz="UTC").floor("h")
    path = tmp_path / "recent" / "stats.parquet"
    frame = write_stats(path)
    frame["event_time"] = (
        frame["event_time"] - frame["event_time"].min() + (now - pd.Timedelta(hours=48))
    )
    frame.to_parquet(path)
    return path, frame


def test_offline_and_online_agree(
    store_on: FeatureStore, recent: tuple[Path, pd.DataFrame]
) -> None:
    path, _ = recent
    fs = store_on
    stats = make_view(path, ttl="30d")
    odfv = OnDemandFeatureView(
        "amounts",
        sources=[stats],
        request_schema={"amount": "float64", "channel": "string"},
        features={"ratio": "float64", "busy": "bool", "label": "string"},
        function=amount_features,
    )
    fs.apply([CUSTOMER, stats, odfv, FeatureService("svc", [stats, odfv])], show_diff=False)
    now = pd.Timestamp.now(tz="UTC")
    (rec,) = fs.materialize(end=now)
    assert rec.rows_read == 20 * 48
    assert rec.rows_written == 20
    ids = [0, 7, 19, 99]
    entity = pd.DataFrame(
        {"customer_id": ids, "event_timestamp": [now] * 4, "amount": 30.0, "channel": "web"}
    )
    offline = fs.historical(entity, "svc")
    online = fs.get_online_features(
        "svc", [{"customer_id": i, "channel": "web"} for i in ids], request_data={"amount": 30.0}
    )
    assert list(online) == ["customer_id", *FEATURES, "ratio", "busy", "label"]
    assert online["customer_id"] == ids
    for column in [*FEATURES, "ratio", "busy", "label"]:
        off = [None if pd.isna(v) else v for v in offline[column].tolist()]
        assert off == online[column], column
    assert online["avg_amount_7d"][3] is None
    assert online["ratio"][3] is None
    assert isinstance(online["tx_count_7d"][0], int)
    assert isinstance(online["busy"][0], bool)


def test_incremental_materialization_from_the_watermark(
    store_on: FeatureStore, recent: tuple[Path, pd.DataFrame]
) -> None:
    path, frame = recent
    fs = store_on
    fs.apply([CUSTOMER, make_view(path)], show_diff=False)
    start = frame["event_time"].min()
    middle = start + pd.Timedelta(hours=24)
    (first,) = fs.materialize(["customer_stats"], end=middle, batch_size=7)
    assert first.start_us is None
    assert first.rows_read == 20 * 24
    assert first.batches == 3
    got = fs.online(REFS, [{"customer_id": 3}])
    want = frame[(frame.customer_id == 3) & (frame.event_time == middle - pd.Timedelta(hours=1))]
    assert got["avg_amount_7d"] == want["avg_amount_7d"].tolist()
    (second,) = fs.materialize(["customer_stats"])
    assert second.start_us == first.end_us
    assert second.rows_read == 20 * 24
    assert fs.online(["customer_stats:tx_count_7d"], {"customer_id": [3]})["tx_count_7d"] == [
        int(frame[(frame.customer_id == 3)].sort_values("event_time")["tx_count_7d"].iloc[-1])
    ]
    (third,) = fs.materialize()
    assert third.rows_read == 0
    assert third.start_us == second.end_us
    mats = fs.repo.list_materializations("customer_stats")
    assert [m.id for m in mats][::-1][:3] == [first.id, second.id, third.id] or len(mats) == 3
    lineage = fs.metadata.list_lineage_edges(("feature_materialization", first.id), "upstream")
    assert [(e.source_kind, e.source_id, e.relation) for e in lineage] == [
        ("feature_view", "customer_stats@v1", "materialized")
    ]
    assert "feature_view.materialize" in [e.action for e in fs.metadata.list_audit_events()]
    # a backfill window that is older does not go back in time
    fs.materialize(["customer_stats"], start=start, end=middle)
    assert fs.online(["customer_stats:tx_count_7d"], {"customer_id": [3]})["tx_count_7d"] == [
        int(frame[(frame.customer_id == 3)].sort_values("event_time")["tx_count_7d"].iloc[-1])
    ]


def test_type_change_rematerializes_into_a_new_namespace(
    store_on: FeatureStore, recent: tuple[Path, pd.DataFrame]
) -> None:
    path, _ = recent
    fs = store_on
    fs.apply([CUSTOMER, make_view(path)], show_diff=False)
    fs.materialize()
    before = fs.online(["customer_stats:tx_count_7d"], [{"customer_id": 1}])["tx_count_7d"][0]
    changed = make_view(path)
    changed.features["tx_count_7d"] = "float64"
    fs.apply([changed], show_diff=False)
    assert fs.online(["customer_stats:tx_count_7d"], [{"customer_id": 1}])["tx_count_7d"] == [None]
    (rec,) = fs.materialize()
    assert rec.start_us is None
    assert rec.view_version == 2
    after = fs.online(["customer_stats:tx_count_7d"], [{"customer_id": 1}])["tx_count_7d"][0]
    assert after == float(before)
    assert isinstance(after, float)
    assert len(fs.online_store.namespaces("customer_stats")) == 1


def test_online_ttl_expires_old_values(
    store_on: FeatureStore, recent: tuple[Path, pd.DataFrame]
) -> None:
    path, _ = recent
    fs = store_on
    fs.apply([CUSTOMER, make_view(path, ttl="30m")], show_diff=False)
    fs.materialize(start=pd.Timestamp("2000-01-01", tz="UTC"))
    got = fs.online(REFS, [{"customer_id": 1}])
    assert got["avg_amount_7d"] == [None]  # the newest row is an hour old
    offline = fs.historical(
        pd.DataFrame({"customer_id": [1], "event_timestamp": [pd.Timestamp.now(tz="UTC")]}), REFS
    )
    assert offline["avg_amount_7d"].isna().all()


def test_online_bad_input(store_on: FeatureStore, recent: tuple[Path, pd.DataFrame]) -> None:
    path, _ = recent
    fs = store_on
    fs.apply([CUSTOMER, make_view(path)], show_diff=False)
    with pytest.raises(
        InvalidArgumentError, match=r"no join key 'customer_id'.*Did you mean 'customerid'"
    ):
        fs.online(REFS, [{"customerid": 1}])
    with pytest.raises(
        InvalidArgumentError, match=r"Join key 'customer_id' is an int64, but entity 0 has '1'"
    ):
        fs.online(REFS, [{"customer_id": "1"}])
    with pytest.raises(NotFoundError, match="Did you mean 'customer_stats:country'"):
        fs.online(["customer_stats:countyr"], [{"customer_id": 1}])
    with pytest.raises(NotFoundError, match="No feature service is named 'svc2'"):
        fs.get_online_features("svc2", [{"customer_id": 1}])
    with pytest.raises(InvalidArgumentError, match="different lengths"):
        fs.online(REFS, {"customer_id": [1, 2], "x": [1]})
    import numpy as np

    assert fs.online(REFS, {"customer_id": np.array([1, 2])})["customer_id"] == [1, 2]


def test_online_entities_of_mixed_shapes(
    store_on: FeatureStore, recent: tuple[Path, pd.DataFrame]
) -> None:
    # Plain one-key dicts take a fast path; any other entity list must give the same answer.
    path, _ = recent
    fs = store_on
    fs.apply([CUSTOMER, make_view(path)], show_diff=False)
    fs.materialize(start=pd.Timestamp("2000-01-01", tz="UTC"))
    plain = fs.online(REFS, [{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 1}])
    assert plain["customer_id"] == [1, 2, 1]
    assert plain["country"][0] == plain["country"][2] is not None
    extra = fs.online(
        REFS, [{"customer_id": 1}, {"customer_id": 2, "channel": "web"}, {"customer_id": 1}]
    )
    assert extra == plain
    missing = fs.online(REFS, [{"customer_id": 1}, {"customerid": 2}])
    assert missing["customer_id"] == [1, None]
    assert missing["country"] == [plain["country"][0], None]
    with pytest.raises(InvalidArgumentError, match=r"Entity 1 is 5; each entity is a dict"):
        fs.online(REFS, [{"customer_id": 1}, 5])  # type: ignore[list-item]


def test_module_level_lookup_uses_the_settings(
    keel_home: Path, recent: tuple[Path, pd.DataFrame]
) -> None:
    import keel

    path, _ = recent
    fs = keel.features.store()
    assert keel.features.store() is fs
    fs.apply(
        [CUSTOMER, make_view(path), FeatureService("svc", ["customer_stats:country"])],
        show_diff=False,
    )
    fs.materialize()
    assert get_online_features("svc", [{"customer_id": 2}])["country"][0] in {"DE", "FR", "IT"}
    assert str(keel_home / "online.db") in fs.online_store.uri


def test_redis_setting_selects_redis(keel_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.config import get_settings, reset_settings
    from tests.conftest import REDIS_URL

    monkeypatch.setenv("KEEL_ONLINE_STORE", REDIS_URL)
    reset_settings()
    assert get_settings().online_store_uri == REDIS_URL
    from keel.features import open_online_store

    store = open_online_store(get_settings().online_store_uri)
    assert type(store).__name__ == "RedisOnlineStore"
    store.close()


def test_timestamp_features_and_on_demand_errors(store_on: FeatureStore, tmp_path: Path) -> None:
    fs = store_on
    now = pd.Timestamp.now(tz="UTC").floor("s")
    path = tmp_path / "seen.parquet"
    pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "event_time": [now - pd.Timedelta(hours=3), now - pd.Timedelta(hours=1), now],
            "last_seen": [now - pd.Timedelta(days=9), now - pd.Timedelta(days=2), None],
        }
    ).to_parquet(path)
    seen = FeatureView(
        "seen",
        entities=[CUSTOMER],
        source=str(path),
        timestamp="event_time",
        features={"last_seen": "timestamp"},
    )

    def days_since(df: pd.DataFrame) -> dict[str, object]:
        return {"days": (df["at"] - df["last_seen"]).dt.days}

    odfv = OnDemandFeatureView(
        "recency",
        sources=[seen],
        request_schema={"at": "timestamp"},
        features={"days": "int64"},
        function=days_since,
    )
    broken = OnDemandFeatureView(
        "broken",
        sources=[seen],
        request_schema={},
        features={"x": "int64"},
        function=amount_features,
    )
    fs.apply([CUSTOMER, seen, odfv, broken], show_diff=False)
    fs.materialize(end=now + pd.Timedelta(seconds=1))
    refs = ["seen:last_seen", "recency:days"]
    later = now + pd.Timedelta(days=1)
    online = fs.online(refs, [{"customer_id": 1}, {"customer_id": 2}], request_data={"at": later})
    offline = fs.historical(
        pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [now] * 2, "at": [later] * 2}), refs
    )
    assert online["last_seen"][0] == (now - pd.Timedelta(days=2)).to_pydatetime()
    assert offline["last_seen"].iloc[0] == now - pd.Timedelta(days=2)
    assert online["last_seen"][1] is None
    assert pd.isna(offline["last_seen"].iloc[1])
    assert online["days"] == [3, None]
    assert offline["days"].tolist()[0] == 3
    with pytest.raises(
        InvalidArgumentError, match=r"function of on-demand feature view 'broken' raised KeyError"
    ):
        fs.online(["broken:x"], [{"customer_id": 1}])
    with pytest.raises(InvalidArgumentError, match=r"has no column 'at', a request field"):
        fs.historical(pd.DataFrame({"customer_id": [1], "event_timestamp": [now]}), refs)
    with pytest.raises(InvalidArgumentError, match="request field 'at' of the requested on-demand"):
        fs.online(refs, [{"customer_id": 1}])


def test_stored_function_runs_in_another_process(store_on: FeatureStore, tmp_path: Path) -> None:
    """A fresh process compiles the on-demand function from its stored source."""
    import subprocess
    import sys

    from keel.features._definitions import compile_function

    fs = store_on
    source = "def double(df):\n    return {'y': df['x'] * 2}\n"
    fn = compile_function("double", source, "dbl")
    odfv = OnDemandFeatureView(
        "dbl", sources=[], request_schema={"x": "int64"}, features={"y": "int64"}, function=fn
    )
    fs.apply([odfv], show_diff=False)
    code = (
        "import keel.features as kf\n"
        f"fs = kf.FeatureStore(online_store={fs.online_store.uri!r})\n"
        "print(fs.online(['dbl:y'], [{'x': 21}]))\n"
    )
    env = {**__import__("os").environ}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "{'y': [42]}" in done.stdout
