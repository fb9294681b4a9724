"""Migration 0006_monitoring creates exactly the monitoring and prediction-log tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from keel.store import SqlMetadataStore
from keel.store._schema import all_metadata

TABLES = {
    "prediction_segments",
    "prediction_label_segments",
    "monitors",
    "monitor_results",
    "monitor_alert_states",
    "monitor_events",
}


def test_migrated_tables_match_the_models(store_uri: str) -> None:
    store = SqlMetadataStore(store_uri)
    try:
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), all_metadata())
            names = set(conn.dialect.get_table_names(conn))
    finally:
        store.close()
    assert names >= TABLES
    assert [d for d in diff if any(t in repr(d) for t in TABLES)] == []
