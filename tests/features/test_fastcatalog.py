"""Reading the feature catalog of a SQLite store without SQLAlchemy, and its fallbacks."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd

from keel.features import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    on_demand_feature_view,
)
from keel.features._fastcatalog import latest_definitions

CUSTOMER = Entity("customer", join_keys=["customer_id"])
FEATURES = {"avg_amount_7d": "float64", "tx_count_7d": "int64", "country": "string"}


def _definitions(path: Path, ttl: str | None = "30d") -> list[object]:
    stats = FeatureView(
        "customer_stats",
        entities=[CUSTOMER],
        source=str(path),
        timestamp="event_time",
        ttl=ttl,
        features=dict(FEATURES),
    )

    @on_demand_feature_view(
        sources=[stats[["avg_amount_7d"]]],
        request_schema={"amount": "float64"},
        features={"ratio": "float64"},
    )
    def ratio(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"ratio": df["amount"] / df["avg_amount_7d"]})

    return [CUSTOMER, stats, ratio, FeatureService("churn", [stats[["country"]], ratio])]


def _uri(home: Path) -> str:
    return f"sqlite:///{home / 'keel.db'}"


def test_fast_and_full_paths_agree(fs: FeatureStore, keel_home: Path, stats_path: Path) -> None:
    fs.apply(_definitions(stats_path), show_diff=False)
    fs.apply(_definitions(stats_path, ttl="2d"), show_diff=False)  # a second version
    full = fs.repo.latest_definitions()
    fast = latest_definitions(_uri(keel_home))
    assert fast is not None
    assert [(r.kind, r.name, r.version, r.digest, r.spec) for r in full] == [
        (r.kind, r.name, r.version, r.digest, r.spec) for r in fast
    ]
    assert [r.version for r in fast if r.kind == "feature_view"] == [2]

    lazy = FeatureStore()  # opens no metadata store: the catalog comes from sqlite3
    full = FeatureStore(fs.metadata)
    try:
        catalog, expected = lazy.catalog(), full.catalog()
        assert lazy._metadata is None
        for kind in ("entities", "views", "on_demand", "services"):
            got, want = getattr(catalog, kind), getattr(expected, kind)
            assert list(got) == list(want)
            assert [(o.version, o.spec()) for o in got.values()] == [
                (o.version, o.spec()) for o in want.values()
            ]
        assert lazy._versions == full._versions
    finally:
        lazy.close()
        full.close()


def test_fast_path_declines_what_it_cannot_read(keel_home: Path, tmp_path: Path) -> None:
    assert latest_definitions(_uri(tmp_path / "missing")) is None
    assert latest_definitions("postgresql+psycopg://postgres@127.0.0.1:5432/test") is None
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert latest_definitions(f"sqlite:///{empty}") is None  # no tables yet
    assert latest_definitions(f"sqlite:///{empty}?mode=ro") is None
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    assert latest_definitions(f"sqlite:///{garbage}") is None


def test_a_fresh_store_is_created_on_first_use(keel_home: Path, stats_path: Path) -> None:
    fs = FeatureStore()
    try:
        assert fs.catalog().views == {}  # no database yet: the full path creates it
        assert fs._metadata is not None
        assert (keel_home / "keel.db").is_file()
        fs.apply(_definitions(stats_path), show_diff=False)
        assert list(fs.catalog().views) == ["customer_stats"]
    finally:
        fs.close()


def test_reading_features_does_not_import_sqlalchemy(
    fs: FeatureStore, keel_home: Path, stats_path: Path, tmp_path: Path
) -> None:
    online = f"sqlite:///{tmp_path / 'online.db'}"
    writer = FeatureStore(fs.metadata, online)
    try:
        writer.apply(_definitions(stats_path, ttl=None), show_diff=False)  # online: no ttl
        writer.materialize(end=pd.Timestamp("2025-01-03T00:00Z"))
    finally:
        writer.close()
    code = (
        "import sys\n"
        "import pandas as pd\n"
        "import keel.features as kf\n"
        f"fs = kf.FeatureStore(online_store={online!r}, cache_ttl=1e9)\n"
        "rows = pd.DataFrame({'customer_id': [1, 2], 'event_timestamp': "
        "[pd.Timestamp('2025-01-02T05:30Z')] * 2})\n"
        "out = fs.historical(rows, ['customer_stats:avg_amount_7d', 'customer_stats:country'])\n"
        "print(len(out), int(out['avg_amount_7d'].notna().sum()))\n"
        "got = fs.online(['customer_stats:country'], [{'customer_id': 1}])\n"
        "print(got['country'][0] is not None)\n"
        "print('sqlalchemy' in sys.modules)\n"
    )
    env = {**os.environ, "KEEL_HOME": str(keel_home)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["2 2", "True", "False"]
