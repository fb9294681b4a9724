"""The online-store contract, run on every backend (SQLite and Redis)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest

from keel.errors import InvalidArgumentError
from keel.features import BaseOnlineStore, OnlineTable, open_online_store

TABLE = OnlineTable(
    view="stats",
    namespace="stats@abc123",
    keys=(("customer_id", "int64"),),
    features=(
        ("amount", "float64"),
        ("count", "int64"),
        ("country", "string"),
        ("active", "bool"),
        ("seen", "timestamp"),
    ),
)
PAIR = OnlineTable(
    view="pair",
    namespace="pair@def456",
    keys=(("shop", "string"), ("item", "int64")),
    features=(("price", "float64"),),
)


@pytest.fixture
def online(online_uri: str) -> Iterator[BaseOnlineStore]:
    store = open_online_store(online_uri)
    yield store
    store.close()


def test_write_then_read_round_trips_every_type(online: BaseOnlineStore) -> None:
    rows = [
        (1, 100, None, 1.5, 3, "DE", True, 1_700_000_000_000_000),
        (2, 200, 7, None, None, None, False, None),
    ]
    online.write(TABLE, rows)
    got = online.read(TABLE, [(2,), (1,), (3,)])
    assert got[0] == (200, 7, None, None, None, False, None)
    assert got[1] == (100, None, 1.5, 3, "DE", True, 1_700_000_000_000_000)
    assert got[2] is None
    assert isinstance(got[1][5], bool)


def test_nan_and_infinity_survive(online: BaseOnlineStore) -> None:
    online.write(
        TABLE, [(1, 1, None, math.nan, 0, "x", True, 0), (2, 1, None, -math.inf, 0, "", False, 0)]
    )
    first, second = online.read(TABLE, [(1,), (2,)])
    assert first is not None
    assert math.isnan(first[2])
    assert second is not None
    assert second[2] == -math.inf
    assert second[4] == ""


def test_nan_among_plain_floats_without_booleans(online: BaseOnlineStore) -> None:
    # A table without booleans keeps SQLite's rows as they are unless one holds Keel's NaN.
    online.write(
        PAIR, [("a", 1, 0, None, 3.0), ("a", 2, 0, None, math.nan), ("b", 1, 0, None, None)]
    )
    got = online.read(PAIR, [("a", 1), ("a", 2), ("b", 1), ("a", 1)])
    assert got[0] == (0, None, 3.0)
    assert isinstance(got[0][2], float)
    assert got[1] is not None
    assert math.isnan(got[1][2])
    assert got[2] == (0, None, None)
    assert got[3] == got[0]


def test_older_rows_never_replace_newer(online: BaseOnlineStore) -> None:
    online.write(TABLE, [(1, 200, None, 2.0, 2, "new", True, 0)])
    online.write(TABLE, [(1, 100, None, 1.0, 1, "old", True, 0)])
    assert online.read(TABLE, [(1,)])[0] == (200, None, 2.0, 2, "new", True, 0)
    online.write(TABLE, [(1, 200, 5, 3.0, 3, "same time, written later", True, 0)])
    assert online.read(TABLE, [(1,)])[0][4] == "same time, written later"
    online.write(TABLE, [(1, 200, 4, 4.0, 4, "same time, created earlier", True, 0)])
    assert online.read(TABLE, [(1,)])[0][4] == "same time, written later"
    online.write(TABLE, [(1, 300, None, 5.0, 5, "newest", True, 0)])
    assert online.read(TABLE, [(1,)])[0][4] == "newest"


def test_composite_string_and_int_keys(online: BaseOnlineStore) -> None:
    online.write(
        PAIR, [("a:b", 1, 10, None, 1.0), ("a:b", 2, 10, None, 2.0), ("x", 1, 10, None, 3.0)]
    )
    got = online.read(PAIR, [("a:b", 2), ("x", 1), ("x", 2), ("a:b", 1)])
    assert [g[2] if g else None for g in got] == [2.0, 3.0, None, 1.0]


def test_many_keys_in_one_read_and_duplicates(online: BaseOnlineStore) -> None:
    online.write(TABLE, [(i, i, None, float(i), i, str(i), True, 0) for i in range(1000)])
    keys = [(i,) for i in range(0, 1200, 3)] + [(5,), (5,)]
    got = online.read(TABLE, keys)
    assert len(got) == len(keys)
    assert all((g is None) == (k[0] >= 1000) for g, k in zip(got, keys, strict=True))
    assert got[-1] == got[-2]
    assert got[-1][2] == 5.0


def test_reading_an_unwritten_table_gives_nothing(online: BaseOnlineStore) -> None:
    assert online.read(TABLE, [(1,), (2,)]) == [None, None]
    assert online.read(TABLE, []) == []


def test_namespaces_and_drop(online: BaseOnlineStore) -> None:
    other = OnlineTable(TABLE.view, "stats@zzz999", TABLE.keys, TABLE.features)
    online.write(TABLE, [(1, 1, None, 1.0, 1, "a", True, 0)])
    online.write(other, [(1, 1, None, 9.0, 9, "b", True, 0)])
    online.write(PAIR, [("s", 1, 1, None, 1.0)])
    assert sorted(online.namespaces("stats")) == ["stats@abc123", "stats@zzz999"]
    online.drop_namespace("stats@zzz999")
    assert online.namespaces("stats") == ["stats@abc123"]
    assert online.read(other, [(1,)]) == [None]
    online.drop(TABLE)
    assert online.read(TABLE, [(1,)]) == [None]
    assert online.read(PAIR, [("s", 1)])[0] is not None


def test_concurrent_writers_and_readers(online: BaseOnlineStore) -> None:
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for step in range(20):
                online.write(
                    TABLE,
                    [
                        (k, offset * 100 + step, None, float(step), step, "w", True, 0)
                        for k in range(50)
                    ],
                )
                online.read(TABLE, [(k,) for k in range(50)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = online.read(TABLE, [(k,) for k in range(50)])
    assert all(r is not None and r[0] == 319 for r in rows)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="unsupported scheme 'memcached'"):
        open_online_store("memcached://127.0.0.1:11211")


def test_bad_redis_prefix_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="may not be empty or contain"):
        open_online_store("redis://127.0.0.1:6379/0?prefix=a:b")


def test_unreachable_redis_is_store_unavailable() -> None:
    from keel.errors import StoreUnavailableError

    store = open_online_store("redis://127.0.0.1:1/0")
    with pytest.raises(StoreUnavailableError, match="cannot be reached"):
        store.read(TABLE, [(1,)])
    store.close()
