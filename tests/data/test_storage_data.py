"""Where dataset bytes and rows live: S3 artifacts, out-of-core DuckDB, the migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import keel
import keel.data as kd


@pytest.mark.s3
def test_datasets_on_s3_are_cached_locally_with_digest_checked(
    keel_home: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, transactions: Any
) -> None:
    from keel.config import reset_settings

    monkeypatch.setenv("KEEL_ARTIFACT_URI", f"s3://{s3_bucket}/artifacts")
    reset_settings()
    ds = keel.datasets.register("tx", transactions)
    again = keel.datasets.register("tx", transactions)
    assert again.reused
    cached = ds.paths()[0]
    assert cached.is_relative_to(keel_home / "cache" / "data")
    assert kd.Suite("s", checks=[kd.unique("tx_id")]).validate(ds).passed
    assert len(keel.datasets.get("tx@v1").to_pandas()) == 2000
    # A damaged cache entry is noticed and fetched again from S3.
    from keel.data._client import reset_data_client

    reset_data_client()
    cached.write_bytes(b"garbage")
    fresh = keel.datasets.get("tx@v1")
    assert fresh.paths()[0].read_bytes() != b"garbage"
    assert fresh.profile.num_rows == 2000


@pytest.mark.slow
def test_folder_larger_than_duckdb_memory_registers_and_validates(
    keel_home: Path, tmp_path: Path
) -> None:
    # 4 million shuffled keys: far more than 64 MB once hashed for the uniqueness checks.
    import duckdb

    folder = tmp_path / "big"
    folder.mkdir()
    with duckdb.connect() as con:
        for i in range(4):
            con.execute(
                f"COPY (SELECT i AS id, 'k' || lpad(i::VARCHAR, 12, '0') AS key, "
                f"random() * 2 - 1 AS x FROM range({i * 1_000_000}, {(i + 1) * 1_000_000}) "
                f"r(i) ORDER BY hash(i)) TO '{folder}/part-{i}.parquet' "
                "(FORMAT parquet, ROW_GROUP_SIZE 200000)"
            )
    per_file = 1_000_000
    kd.configure_engine(memory_limit="64MB", threads=2)
    try:
        ds = keel.datasets.register("big", folder)
        assert ds.num_rows == 4 * per_file
        result = kd.Suite(
            "big",
            checks=[
                kd.unique("id"),
                kd.unique("key"),
                kd.not_null(["id", "x"]),
                kd.between("x", -10, 10),
            ],
        ).validate(ds)
        assert result.passed, result.summary()
        assert ds.profile.num_rows == 4 * per_file
    finally:
        kd.configure_engine()


def test_engine_options_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="amount of memory such as '1GB'"):
        kd.configure_engine(memory_limit="lots")
    with pytest.raises(InvalidArgumentError, match="at least 1"):
        kd.configure_engine(threads=0)
    monkeypatch.setenv("KEEL_DATA_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("KEEL_DATA_THREADS", "1")
    assert kd.engine_options().memory_limit == "512MB"
    assert kd.engine_options().threads == 1
    monkeypatch.setenv("KEEL_DATA_THREADS", "many")
    with pytest.raises(InvalidArgumentError, match="KEEL_DATA_THREADS must be a whole number"):
        kd.engine_options()


def test_migration_creates_exactly_the_data_tables(store_uri: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from keel.store import SqlMetadataStore
    from keel.store._schema import all_metadata

    store = SqlMetadataStore(store_uri)
    try:
        ours = {
            "datasets",
            "dataset_versions",
            "data_suites",
            "data_validations",
            "data_check_results",
        }
        with store.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), all_metadata())
        mine = [d for d in diffs if ours & _tables_of(d)]
        assert mine == []
        with store.engine.connect() as conn:
            heads = {r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
        assert "0002_data" in heads
    finally:
        store.close()


def _tables_of(diff: Any) -> set[str]:
    items = diff if isinstance(diff, list) else [diff]
    names = set()
    for item in items:
        for part in item:
            name = getattr(part, "name", None)
            table = getattr(part, "table", None)
            if table is not None:
                names.add(table.name)
            elif isinstance(name, str):
                names.add(name)
            elif isinstance(part, str):
                names.add(part)
    return names
