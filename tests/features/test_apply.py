"""Applying definitions: versions, the diff, checks against the source, lineage and audit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from keel.errors import InvalidArgumentError, InvalidStateError, NotFoundError
from keel.features import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    OnDemandFeatureView,
    on_demand_feature_view,
)

CUSTOMER = Entity("customer", join_keys=["customer_id"])
FEATURES = {"avg_amount_7d": "float64", "tx_count_7d": "int64", "country": "string"}


def view(path: Path, **kw: object) -> FeatureView:
    args: dict[str, object] = {
        "entities": [CUSTOMER],
        "source": str(path),
        "timestamp": "event_time",
        "ttl": "30d",
        "features": dict(FEATURES),
    }
    args.update(kw)
    return FeatureView("customer_stats", **args)  # type: ignore[arg-type]


def test_apply_versions_and_diff(
    fs: FeatureStore, stats_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = fs.apply([CUSTOMER, view(stats_path)])
    out = capsys.readouterr().out
    assert "+ entity customer (new, v1)" in out
    assert "+ feature view customer_stats (new, v1)" in out
    assert first.applied
    assert [c.action for c in first.changes] == ["create", "create"]
    again = fs.apply([CUSTOMER, view(stats_path)])
    assert not again.applied
    assert "No changes." in capsys.readouterr().out
    changed = dict(FEATURES, tx_count_7d="float64")
    plan = fs.apply([view(stats_path, features=changed, ttl="7d")], dry_run=True)
    text = capsys.readouterr().out
    assert "~ feature view customer_stats v1 -> v2" in text
    assert "features.tx_count_7d: 'int64' -> 'float64'" in text
    assert "ttl: '30d' -> '1w'" in text
    assert not plan.applied
    assert fs.get_feature_view("customer_stats").version == 1
    fs.apply([view(stats_path, features=changed)], show_diff=False)
    latest = fs.get_feature_view("customer_stats")
    assert latest.version == 2
    assert latest.features["tx_count_7d"] == "float64"
    assert fs.get_feature_view("customer_stats", version=1).features["tx_count_7d"] == "int64"
    assert latest.data_digest != fs.get_feature_view("customer_stats", version=1).data_digest
    # adding a feature and changing the description are new versions too
    fs.apply([view(stats_path, features=changed, description="hourly")], show_diff=False)
    assert fs.get_feature_view("customer_stats").version == 3
    assert [r.version for r in fs.repo.list_versions("feature_view", "customer_stats")] == [1, 2, 3]


def test_apply_resolves_relative_paths_and_key_types(fs: FeatureStore, stats_path: Path) -> None:
    rel = stats_path.relative_to(stats_path.parents[2])
    fs.apply([CUSTOMER, view(rel)], show_diff=False, base_dir=stats_path.parents[2])
    stored = fs.get_feature_view("customer_stats")
    assert stored.source.spec()["path"] == str(stats_path)
    assert stored.key_types == {"customer_id": "int64"}


def test_apply_checks_the_source(fs: FeatureStore, stats_path: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="has no files"):
        fs.apply([CUSTOMER, view(tmp_path / "nowhere" / "*.parquet")], show_diff=False)
    with pytest.raises(
        InvalidArgumentError,
        match=r"no column for feature 'avg_amount'.*Did you mean 'avg_amount_7d'",
    ):
        fs.apply([CUSTOMER, view(stats_path, features={"avg_amount": "float64"})], show_diff=False)
    with pytest.raises(
        InvalidArgumentError, match=r"declared 'int64' but its source column is DOUBLE"
    ):
        fs.apply([CUSTOMER, view(stats_path, features={"avg_amount_7d": "int64"})], show_diff=False)
    with pytest.raises(
        InvalidArgumentError, match=r"no timestamp column 'evnt_time'.*Did you mean 'event_time'"
    ):
        fs.apply([CUSTOMER, view(stats_path, timestamp="evnt_time")], show_diff=False)
    with pytest.raises(InvalidArgumentError, match="no join key column 'cid'"):
        fs.apply(
            [Entity("c2", join_keys=["cid"]), view(stats_path, entities=["c2"])], show_diff=False
        )
    with pytest.raises(InvalidArgumentError, match="entity declares 'string'"):
        fs.apply(
            [Entity("c3", join_keys={"customer_id": "string"}), view(stats_path, entities=["c3"])],
            show_diff=False,
        )
    with pytest.raises(NotFoundError, match=r"uses the entity 'custmer'.*Did you mean 'customer'"):
        fs.apply([CUSTOMER, view(stats_path, entities=["custmer"])], show_diff=False)
    assert fs.repo.latest_definitions() == []  # nothing was written by failed applies


def test_bad_definitions() -> None:
    with pytest.raises(InvalidArgumentError, match="not a feature type.*Did you mean 'float64'"):
        FeatureView("v", entities=[CUSTOMER], source="x.parquet", features={"a": "flaot64"})
    with pytest.raises(InvalidArgumentError, match="positive duration"):
        FeatureView(
            "v",
            entities=[CUSTOMER],
            source="x.parquet",
            features={"a": "int64"},
            ttl="3 fortnights",
        )
    with pytest.raises(InvalidArgumentError, match="name 'a:b' is not valid"):
        FeatureView("a:b", entities=[CUSTOMER], source="x.parquet", features={"a": "int64"})
    with pytest.raises(InvalidArgumentError, match="cannot also be features"):
        FeatureView("v", entities=[CUSTOMER], source="x.parquet", features={"customer_id": "int64"})
    with pytest.raises(InvalidArgumentError, match="join keys are 'int64' or 'string'"):
        Entity("e", join_keys={"k": "float64"})
    with pytest.raises(InvalidArgumentError, match="lambda"):
        OnDemandFeatureView(
            "o",
            sources=[],
            request_schema={"a": "int64"},
            features={"b": "int64"},
            function=lambda df: df,
        )
    from keel.features._apply import _collect

    with pytest.raises(InvalidArgumentError, match="given twice"):
        _collect([Entity("e"), Entity("e")])


def test_services_odfv_lineage_and_audit(fs: FeatureStore, stats_path: Path) -> None:
    stats = view(stats_path)

    @on_demand_feature_view(
        sources=[stats[["avg_amount_7d"]]],
        request_schema={"amount": "float64"},
        features={"ratio": "float64"},
    )
    def ratio(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"ratio": df["amount"] / df["avg_amount_7d"]})

    service = FeatureService("churn", [stats[["avg_amount_7d", "country"]], ratio])
    with pytest.raises(InvalidStateError, match="has no version yet"):
        service.lineage_node()
    fs.apply([service], show_diff=False)  # its views and their entity come along
    assert service.version == 1
    assert service.lineage_node() == ("feature_service", "churn@v1")
    loaded = fs.get_feature_service("churn")
    assert loaded.features == [
        "customer_stats:avg_amount_7d",
        "customer_stats:country",
        "ratio:ratio",
    ]
    odfv = fs.get_on_demand_feature_view("ratio")
    assert odfv.inputs == [("customer_stats", ["avg_amount_7d"])]
    assert "def ratio" in odfv.function_source
    upstream = fs.metadata.list_lineage_edges(("feature_service", "churn@v1"), "upstream")
    assert {(e.source_kind, e.source_id, e.relation) for e in upstream} == {
        ("feature_view", "customer_stats@v1", "feature"),
        ("feature_view", "ratio@v1", "feature"),
    }
    view_edges = fs.metadata.list_lineage_edges(("feature_view", "customer_stats@v1"), "upstream")
    assert [(e.source_kind, e.source_id) for e in view_edges] == [("entity", "customer@v1")]
    actions = [e.action for e in fs.metadata.list_audit_events()]
    for action in (
        "entity.apply",
        "feature_view.apply",
        "on_demand_feature_view.apply",
        "feature_service.apply",
    ):
        assert action in actions
    assert fs.metadata.verify_audit_chain().ok

    import keel

    with keel.start_run() as run:
        keel.log_input(loaded)
    inputs = fs.metadata.list_lineage_edges(("run", run.id), "upstream")
    assert [(e.source_kind, e.source_id) for e in inputs] == [("feature_service", "churn@v1")]


def test_service_with_colliding_names_is_refused(
    fs: FeatureStore, stats_path: Path, tmp_path: Path
) -> None:
    geo_path = tmp_path / "geo.parquet"
    pd.DataFrame(
        {
            "customer_id": [1],
            "event_time": [pd.Timestamp("2025-01-01", tz="UTC")],
            "country": ["DE"],
        }
    ).to_parquet(geo_path)
    geo = FeatureView(
        "geo",
        entities=[CUSTOMER],
        source=str(geo_path),
        timestamp="event_time",
        features={"country": "string"},
    )
    with pytest.raises(InvalidArgumentError, match="'country' is requested from two views"):
        fs.apply(
            [
                view(stats_path),
                geo,
                FeatureService("svc", ["customer_stats:country", "geo:country"]),
            ],
            show_diff=False,
        )
    with pytest.raises(
        NotFoundError,
        match=r"Unknown feature 'customer_stats:contry'.*Did you mean 'customer_stats:country'",
    ):
        fs.apply(
            [view(stats_path), FeatureService("svc", ["customer_stats:contry"])], show_diff=False
        )


def test_concurrent_apply_is_detected(fs: FeatureStore, stats_path: Path) -> None:
    fs.apply([CUSTOMER, view(stats_path)], show_diff=False)
    stale = fs.plan([view(stats_path, ttl="1d")])
    fs.apply([view(stats_path, ttl="2d")], show_diff=False)
    with pytest.raises(InvalidStateError, match="changed while this apply ran"):
        fs.apply_plan(stale)
    assert fs.get_feature_view("customer_stats").ttl == "2d"


def test_dataset_source(fs: FeatureStore, stats_path: Path) -> None:
    import keel.datasets

    ds = keel.datasets.register("customer-stats", str(stats_path))
    stats = view(stats_path, source=f"{ds.ref}")
    fs.apply([CUSTOMER, stats], show_diff=False)
    edges = fs.metadata.list_lineage_edges(("feature_view", "customer_stats@v1"), "upstream")
    assert ("dataset_version", "customer-stats@v1") in {(e.source_kind, e.source_id) for e in edges}
    entity = pd.DataFrame(
        {"customer_id": [3], "event_timestamp": [pd.Timestamp("2025-01-02T05:30Z")]}
    )
    direct = fs.historical(entity, ["customer_stats:avg_amount_7d"])
    frame = pd.read_parquet(stats_path)
    want = frame[(frame.customer_id == 3) & (frame.event_time == pd.Timestamp("2025-01-02T05:00Z"))]
    assert direct["avg_amount_7d"].tolist() == want["avg_amount_7d"].tolist()
    with pytest.raises(NotFoundError):
        fs.apply([view(stats_path, source="no-such-dataset@v1")], show_diff=False)


@pytest.mark.postgres
def test_apply_on_postgres(
    keel_home: Path, postgres_uri: str, stats_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.config import reset_settings

    monkeypatch.setenv("KEEL_STORE_URI", postgres_uri)
    reset_settings()
    store = FeatureStore()
    try:
        store.apply([CUSTOMER, view(stats_path)], show_diff=False)
        store.apply([view(stats_path, ttl="1d")], show_diff=False)
        assert store.get_feature_view("customer_stats").version == 2
        entity = pd.DataFrame(
            {"customer_id": [1], "event_timestamp": [pd.Timestamp("2025-01-01T01:00Z")]}
        )
        fresh = FeatureStore()  # reading definitions from PostgreSQL takes the full path
        try:
            assert len(fresh.historical(entity, ["customer_stats:country"])) == 1
            assert fresh._metadata is not None
        finally:
            fresh.close()
        assert len(store.historical(entity, ["customer_stats:country"])) == 1
        assert store.materialize(end=pd.Timestamp("2025-01-03T00:00Z"))[0].rows_written == 20
    finally:
        store.close()
        store.metadata.close()
