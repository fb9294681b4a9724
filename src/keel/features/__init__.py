"""The feature store: entities, feature views, point-in-time training data and online features.

Define entities and feature views, apply them (versioned in the metadata store, with a diff
before anything changes), build point-in-time correct training frames with DuckDB ASOF joins
over Parquet, materialize the latest values into an online store (SQLite by default, Redis with
``KEEL_ONLINE_STORE=redis://127.0.0.1:6379/0``) and look them up at serving time::

    customer = keel.features.Entity("customer", join_keys=["customer_id"])
    stats = keel.features.FeatureView(
        name="customer_stats", entities=[customer], source="data/customer_stats/*.parquet",
        timestamp="event_time", ttl="30d",
        features={"avg_amount_7d": "float64", "tx_count_7d": "int64", "country": "string"},
    )
    fs = keel.features.store()
    fs.apply([customer, stats])
    train = fs.historical(entity_df, features=["customer_stats:avg_amount_7d"])
    fs.materialize(["customer_stats"])
    fs.online(["customer_stats:avg_amount_7d"], entities=[{"customer_id": 42}])

Timestamps: naive means UTC, aware is converted to UTC, and one column may not mix the two.
"""

from __future__ import annotations

from keel.features._apply import ApplyResult, Change
from keel.features._definitions import (
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    OnDemandFeatureView,
    on_demand_feature_view,
)
from keel.features._sources import DatasetSource, ParquetSource, Source, SqlSource
from keel.features._store import FeatureStore, get_online_features, store
from keel.features.online import (
    BaseOnlineStore,
    OnlineTable,
    SqliteOnlineStore,
    open_online_store,
)

__all__ = [
    "ApplyResult",
    "BaseOnlineStore",
    "Change",
    "DatasetSource",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "FeatureViewProjection",
    "OnDemandFeatureView",
    "OnlineTable",
    "ParquetSource",
    "Source",
    "SqlSource",
    "SqliteOnlineStore",
    "get_online_features",
    "on_demand_feature_view",
    "open_online_store",
    "store",
]
