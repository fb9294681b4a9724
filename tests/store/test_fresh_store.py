"""A brand-new store is created from the models and stamped; it must equal a migrated one."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from keel.store import SqlMetadataStore, schema_heads
from keel.store._schema import all_metadata

from .test_migrations import _differences, _upgrade_with_alembic


def _sqlite_sql(uri: str) -> dict[str, str]:
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
            ).all()
    finally:
        engine.dispose()
    return {name: " ".join(sql.split()) for name, sql in rows}


def test_fresh_store_matches_models_and_is_stamped_at_the_heads(store_uri: str) -> None:
    store = SqlMetadataStore(store_uri)
    store.close()
    assert _differences(store_uri) == []
    engine = create_engine(store_uri)
    try:
        assert set(inspect(engine).get_table_names()) == {*all_metadata().tables, "alembic_version"}
        with engine.connect() as conn:
            heads = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
    finally:
        engine.dispose()
    assert heads == set(schema_heads())


def test_fresh_sqlite_store_has_the_same_tables_and_indexes_as_a_migrated_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    created = f"sqlite:///{tmp_path / 'created.db'}"
    migrated = f"sqlite:///{tmp_path / 'migrated.db'}"
    SqlMetadataStore(created).close()
    _upgrade_with_alembic(migrated)
    a, b = _sqlite_sql(created), _sqlite_sql(migrated)
    assert set(a) == set(b)
    # WITHOUT ROWID and the other table options survive both paths.
    assert "WITHOUT ROWID" in a["params"]
    assert "WITHOUT ROWID" in b["params"]
