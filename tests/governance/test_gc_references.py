"""The reference list covers every column that names a blob: a new one cannot be forgotten."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, String, Table

from keel.store._references import (
    NOT_BLOBS,
    REFERENCES,
    digests_in,
    unregistered_digest_columns,
)
from keel.store._schema import all_metadata


def test_every_digest_column_is_registered() -> None:
    missing = unregistered_digest_columns()
    assert missing == [], (
        f"Columns {missing!r} hold digests but are in neither keel.store._references.REFERENCES "
        "(they name blobs garbage collection must keep) nor NOT_BLOBS (they hash something "
        "else). Register them there."
    )


def test_registered_columns_exist() -> None:
    tables = all_metadata().tables
    for ref in REFERENCES:
        if ref.table in tables:  # capabilities being built may not have landed yet
            assert ref.column in tables[ref.table].c, ref
            if ref.owner is not None:
                assert ref.owner[1] in tables[ref.table].c, ref
    for table, column in NOT_BLOBS:
        if table in tables:
            assert column in tables[table].c


@pytest.fixture
def new_capability() -> Iterator[Table]:
    metadata = all_metadata()
    table = Table(
        "gc_test_new_capability",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("report_digest", String(64)),
    )
    yield table
    metadata.remove(table)


def test_a_new_unregistered_digest_column_is_caught(new_capability: Table) -> None:
    assert ("gc_test_new_capability", "report_digest") in unregistered_digest_columns()


def test_digests_are_found_anywhere_in_json() -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    value = {"files": [{"digest": a, "size": 1}], "nested": {"model": {"blob_digest": b}}}
    assert sorted(digests_in(value)) == [a, b]
    assert list(digests_in(f'[{{"digest": "{c}"}}]')) == [c]
    assert list(digests_in({"digest": "not-a-digest", "other": a})) == []
    assert list(digests_in("not json")) == []
