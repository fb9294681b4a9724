"""The feature store's DuckDB databases: local reads without Parquet prefetching, remote with."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.features._duck import connect
from keel.features._sources import (
    DatasetSource,
    ParquetSource,
    SqlSource,
    reads_remote,
    text_reads_remote,
)


def _prefetching_off(remote: bool) -> bool:
    con = connect(remote=remote)
    try:
        row = con.execute("SELECT current_setting('disable_parquet_prefetching')").fetchone()
    finally:
        con.close()
    assert row is not None
    return bool(row[0])


def test_local_reads_skip_parquet_prefetching_and_remote_reads_keep_it(keel_home: Path) -> None:
    # Prefetching buffers whole row groups per scanning thread: the bulk of a historical
    # retrieval's peak memory on local files, and no faster there.
    assert _prefetching_off(remote=False)
    assert not _prefetching_off(remote=True)
    assert _prefetching_off(remote=False)  # the two databases do not share the setting


@pytest.mark.parametrize(
    ("source", "remote"),
    [
        (ParquetSource("data/stats/*.parquet"), False),
        (ParquetSource("/abs/stats.parquet"), False),
        (ParquetSource("file:///abs/stats.parquet"), False),
        (ParquetSource("s3://bucket/stats/*.parquet"), True),
        (ParquetSource("https://host/stats.parquet"), True),
        (SqlSource("SELECT * FROM read_parquet('data/x.parquet')"), False),
        (SqlSource("SELECT * FROM read_parquet('gs://bucket/x.parquet')"), True),
        (DatasetSource("stats@v1"), False),  # read from local copies of its files
    ],
)
def test_reads_remote(source: object, remote: bool) -> None:
    assert reads_remote(source) is remote  # type: ignore[arg-type]


def test_text_reads_remote_ignores_file_urls() -> None:
    assert not text_reads_remote("SELECT 'file://x' AS a")
    assert text_reads_remote("FROM 'hf://datasets/x/y.parquet'")
