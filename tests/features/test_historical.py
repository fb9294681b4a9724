"""Point-in-time retrieval: correctness on hand-made cases, sources, outputs and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from keel.errors import InvalidArgumentError, NotFoundError
from keel.features import Entity, FeatureStore, FeatureView, SqlSource

from .conftest import T0

CUSTOMER = Entity("customer", join_keys=["customer_id"])


def stats_view(source: object, **kw: object) -> FeatureView:
    args: dict[str, object] = {
        "entities": [CUSTOMER],
        "source": source,
        "timestamp": "event_time",
        "features": {"avg_amount_7d": "float64", "tx_count_7d": "int64", "country": "string"},
    }
    args.update(kw)
    return FeatureView("customer_stats", **args)  # type: ignore[arg-type]


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    ints = [c for c in ("tx_count_7d", "v") if c in frame]
    frame.astype(dict.fromkeys(ints, "Int64")).to_parquet(path)
    return path


@pytest.fixture
def small(tmp_path: Path, fs: FeatureStore) -> Path:
    h = pd.Timedelta(hours=1)
    path = write(
        tmp_path / "small" / "stats.parquet",
        [
            {
                "customer_id": 1,
                "event_time": T0,
                "avg_amount_7d": 1.0,
                "tx_count_7d": 1,
                "country": "DE",
            },
            {
                "customer_id": 1,
                "event_time": T0 + 2 * h,
                "avg_amount_7d": 2.0,
                "tx_count_7d": 2,
                "country": "FR",
            },
            {
                "customer_id": 1,
                "event_time": T0 + 5 * h,
                "avg_amount_7d": None,
                "tx_count_7d": None,
                "country": None,
            },
            {
                "customer_id": 2,
                "event_time": T0 + h,
                "avg_amount_7d": 20.0,
                "tx_count_7d": 20,
                "country": "IT",
            },
        ],
    )
    fs.apply([CUSTOMER, stats_view(str(path), ttl="3h")], show_diff=False)
    return path


FEATS = ["customer_stats:avg_amount_7d", "customer_stats:tx_count_7d", "customer_stats:country"]


def test_point_in_time_ttl_nulls_and_order(fs: FeatureStore, small: Path) -> None:
    h = pd.Timedelta(hours=1)
    entity = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 1, 2, 2, 3],
            "event_timestamp": [
                T0 - h,
                T0,
                T0 + 2 * h - pd.Timedelta(seconds=1),
                T0 + 4 * h,
                T0 + 6 * h,
                T0 + 4 * h,
                T0 + 5 * h,
                T0 + 9 * h,
            ],
            "label": list("abcdefgh"),
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    out = fs.historical(entity, FEATS)
    assert list(out.columns) == [
        "customer_id",
        "event_timestamp",
        "label",
        "avg_amount_7d",
        "tx_count_7d",
        "country",
    ]
    assert list(out.index) == list(entity.index)
    assert list(out["label"]) == list("abcdefgh")
    # before any row; at the row's own time (inclusive); a second before the next row; 2h later;
    # latest row has nulls (not an older non-null value); ttl 3h: 3h after is in, 4h is out.
    assert out["avg_amount_7d"].tolist()[:4] == [None, 1.0, 1.0, 2.0] or pd.isna(
        out["avg_amount_7d"].iloc[0]
    )
    assert out["tx_count_7d"].astype(object).where(out["tx_count_7d"].notna(), None).tolist() == [
        None,
        1,
        1,
        2,
        None,
        20,
        None,
        None,
    ]
    assert out["country"].tolist()[1:4] == ["DE", "DE", "FR"]
    assert pd.isna(out["country"].iloc[4])
    assert str(out["tx_count_7d"].dtype) == "Int64"


def test_without_ttl_old_rows_still_count(fs: FeatureStore, small: Path) -> None:
    fs.apply([stats_view(str(small))], show_diff=False)
    entity = pd.DataFrame({"customer_id": [2], "event_timestamp": [T0 + pd.Timedelta(days=300)]})
    assert fs.historical(entity, ["customer_stats:tx_count_7d"])["tx_count_7d"].tolist() == [20]


def test_naive_entity_timestamps_are_utc(fs: FeatureStore, small: Path) -> None:
    aware = pd.DataFrame(
        {"customer_id": [1, 1], "event_timestamp": [T0 + pd.Timedelta(hours=2), T0]}
    )
    naive = aware.assign(event_timestamp=aware["event_timestamp"].dt.tz_localize(None))
    berlin = aware.assign(event_timestamp=aware["event_timestamp"].dt.tz_convert("Europe/Berlin"))
    expected = [2, 1]
    for frame in (aware, naive, berlin):
        assert (
            fs.historical(frame, ["customer_stats:tx_count_7d"])["tx_count_7d"].tolist() == expected
        )
    objects = pd.DataFrame(
        {"customer_id": [1], "event_timestamp": [dt.datetime(2025, 1, 1, 2)]}, dtype=object
    )
    assert fs.historical(objects, ["customer_stats:tx_count_7d"])["tx_count_7d"].tolist() == [2]
    strings = pd.DataFrame({"customer_id": [1], "event_timestamp": ["2025-01-01T02:00:00Z"]})
    assert fs.historical(strings, ["customer_stats:tx_count_7d"])["tx_count_7d"].tolist() == [2]


def test_mixed_naive_and_aware_timestamps_are_refused(fs: FeatureStore, small: Path) -> None:
    mixed = pd.DataFrame(
        {
            "customer_id": [1, 1],
            "event_timestamp": [
                dt.datetime(2025, 1, 1, 2),
                dt.datetime(2025, 1, 1, 2, tzinfo=dt.UTC),
            ],
        },
        dtype=object,
    )
    with pytest.raises(
        InvalidArgumentError,
        match=r"mixes naive and timezone-aware timestamps \(1 naive, 1 aware\)",
    ):
        fs.historical(mixed, FEATS)
    strings = pd.DataFrame(
        {"customer_id": [1, 1], "event_timestamp": ["2025-01-01 02:00", "2025-01-01T02:00+01:00"]}
    )
    with pytest.raises(InvalidArgumentError, match="mixes naive and timezone-aware"):
        fs.historical(strings, FEATS)


def test_unknown_feature_lists_near_matches(fs: FeatureStore, small: Path) -> None:
    entity = pd.DataFrame({"customer_id": [1], "event_timestamp": [T0]})
    with pytest.raises(
        NotFoundError,
        match=r"Unknown feature 'customer_stats:avg_amount_7'.*Did you mean "
        r"'customer_stats:avg_amount_7d'",
    ):
        fs.historical(entity, ["customer_stats:avg_amount_7"])
    with pytest.raises(
        NotFoundError,
        match=r"no feature view is named 'customer_stat'.*Did you mean 'customer_stats:",
    ):
        fs.historical(entity, ["customer_stat:country"])
    with pytest.raises(
        InvalidArgumentError,
        match=r"'avg_amount_7d' is a feature of 'customer_stats:avg_amount_7d'",
    ):
        fs.historical(entity, ["avg_amount_7d"])


def test_entity_frame_missing_join_key_or_timestamp(fs: FeatureStore, small: Path) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"has no column 'customer_id', a join key.*Did you mean 'customerid'",
    ):
        fs.historical(pd.DataFrame({"customerid": [1], "event_timestamp": [T0]}), FEATS)
    with pytest.raises(
        InvalidArgumentError, match=r"no timestamp column 'event_timestamp'.*Pass timestamp='ts'"
    ):
        fs.historical(pd.DataFrame({"customer_id": [1], "ts": [T0]}), FEATS)
    out = fs.historical(pd.DataFrame({"customer_id": [1], "ts": [T0]}), FEATS, timestamp="ts")
    assert out["tx_count_7d"].tolist() == [1]
    with pytest.raises(InvalidArgumentError, match="has 1 null value"):
        fs.historical(pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [T0, None]}), FEATS)
    with pytest.raises(
        InvalidArgumentError, match="holds string values, but feature view 'customer_stats' keys"
    ):
        fs.historical(pd.DataFrame({"customer_id": ["1"], "event_timestamp": [T0]}), FEATS)


def test_same_feature_name_in_two_views(fs: FeatureStore, small: Path, tmp_path: Path) -> None:
    other = write(
        tmp_path / "other" / "o.parquet",
        [{"customer_id": 1, "ts": T0, "country": "ES"}],
    )
    view = FeatureView(
        "geo",
        entities=[CUSTOMER],
        source=str(other),
        timestamp="ts",
        features={"country": "string"},
    )
    fs.apply([view], show_diff=False)
    entity = pd.DataFrame({"customer_id": [1], "event_timestamp": [T0]})
    with pytest.raises(
        InvalidArgumentError,
        match=r"'country' is requested from two views, 'customer_stats' and 'geo'.*"
        r"full_feature_names=True",
    ):
        fs.historical(entity, ["customer_stats:country", "geo:country"])
    out = fs.historical(entity, ["customer_stats:country", "geo:country"], full_feature_names=True)
    assert out[["customer_stats__country", "geo__country"]].iloc[0].tolist() == ["DE", "ES"]


def test_several_views_with_different_keys(fs: FeatureStore, small: Path, tmp_path: Path) -> None:
    merchant = Entity("merchant", join_keys={"merchant_id": "string"})
    path = write(
        tmp_path / "m" / "m.parquet",
        [
            {"merchant_id": "m1", "customer_id": 1, "at": T0, "spend": 5.0},
            {"merchant_id": "m1", "customer_id": 1, "at": T0 + pd.Timedelta(hours=3), "spend": 7.0},
            {"merchant_id": "m2", "customer_id": 1, "at": T0, "spend": 9.0},
        ],
    )
    pair = FeatureView(
        "pair",
        entities=[merchant, CUSTOMER],
        source=str(path),
        timestamp="at",
        features={"spend": "float64"},
    )
    fs.apply([pair], show_diff=False)
    entity = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "merchant_id": ["m1", "m2", "m1"],
            "event_timestamp": [T0 + pd.Timedelta(hours=4)] * 3,
        }
    )
    out = fs.historical(entity, ["pair:spend", "customer_stats:tx_count_7d"])
    assert out["spend"].tolist()[:2] == [7.0, 9.0]
    assert pd.isna(out["spend"].iloc[2])
    assert out["tx_count_7d"].tolist()[0] == 2


def test_duplicate_timestamps_created_then_last_row_wins(fs: FeatureStore, tmp_path: Path) -> None:
    folder = tmp_path / "dups"
    write(
        folder / "part-0.parquet",
        [
            {"customer_id": 1, "event_time": T0, "v": 1, "created": T0},
            {"customer_id": 1, "event_time": T0, "v": 2, "created": T0},
            {"customer_id": 2, "event_time": T0, "v": 3, "created": T0 + pd.Timedelta(hours=1)},
        ],
    )
    write(
        folder / "part-1.parquet",
        [
            {"customer_id": 1, "event_time": T0, "v": 4, "created": None},
            {"customer_id": 2, "event_time": T0, "v": 5, "created": T0},
        ],
    )
    no_created = FeatureView(
        "dups",
        entities=[CUSTOMER],
        source=str(folder),
        timestamp="event_time",
        features={"v": "int64"},
    )
    fs.apply([no_created], show_diff=False)
    entity = pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [T0, T0]})
    assert fs.historical(entity, ["dups:v"])["v"].tolist() == [4, 5]  # last file, last row
    with_created = FeatureView(
        "dups",
        entities=[CUSTOMER],
        source=str(folder),
        timestamp="event_time",
        created_timestamp="created",
        features={"v": "int64"},
    )
    fs.apply([with_created], show_diff=False)
    assert fs.historical(entity, ["dups:v"])["v"].tolist() == [
        2,
        3,
    ]  # latest created; null is oldest


def test_sql_source_and_sql_entity_frame(fs: FeatureStore, small: Path) -> None:
    sql = f"SELECT customer_id, event_time, avg_amount_7d * 10 AS big FROM read_parquet('{small}')"
    view = FeatureView(
        "big",
        entities=[CUSTOMER],
        source=SqlSource(sql),
        timestamp="event_time",
        features={"big": "float64"},
    )
    fs.apply([view], show_diff=False)
    out = fs.historical(
        "SELECT 1 AS customer_id, TIMESTAMPTZ '2025-01-01 03:00:00+00' AS event_timestamp",
        ["big:big"],
    )
    assert out["big"].tolist() == [20.0]


def test_arrow_and_polars_frames(fs: FeatureStore, small: Path) -> None:
    table = pa.table(
        {
            "customer_id": [1, 2],
            "event_timestamp": pa.array(
                [T0, T0 + pd.Timedelta(hours=1)], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    out = fs.historical(table, FEATS, output="arrow")
    assert isinstance(out, pa.Table)
    assert out.column("tx_count_7d").to_pylist() == [1, 20]
    pl = pytest.importorskip("polars")
    frame = pl.from_arrow(table)
    res = fs.historical(frame, FEATS, output="polars")
    assert res["country"].to_list() == ["DE", "IT"]
    with pytest.raises(InvalidArgumentError, match="output must be one of"):
        fs.historical(table, FEATS, output="numpy")


def test_empty_entity_frame(fs: FeatureStore, small: Path) -> None:
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="int64"),
            "event_timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
        }
    )
    out = fs.historical(empty, FEATS)
    assert len(out) == 0
    assert list(out.columns)[-3:] == ["avg_amount_7d", "tx_count_7d", "country"]


def test_column_clash_with_entity_frame(fs: FeatureStore, small: Path) -> None:
    frame = pd.DataFrame({"customer_id": [1], "event_timestamp": [T0], "country": ["x"]})
    with pytest.raises(InvalidArgumentError, match=r"already has column\(s\) \['country'\]"):
        fs.historical(frame, FEATS)


def test_feature_service_by_name(fs: FeatureStore, small: Path) -> None:
    from keel.features import FeatureService

    fs.apply(
        [FeatureService("svc", ["customer_stats:country", "customer_stats:tx_count_7d"])],
        show_diff=False,
    )
    out = fs.historical(pd.DataFrame({"customer_id": [1], "event_timestamp": [T0]}), "svc")
    assert out[["country", "tx_count_7d"]].iloc[0].tolist() == ["DE", 1]


def test_repeated_index_labels_are_kept(fs: FeatureStore, small: Path) -> None:
    entity = pd.DataFrame(
        {"customer_id": [1, 2], "event_timestamp": [T0, T0 + pd.Timedelta(hours=1)]}, index=[7, 7]
    )
    out = fs.historical(entity, ["customer_stats:tx_count_7d"])
    assert list(out.index) == [7, 7]
    assert out["tx_count_7d"].tolist() == [1, 20]


def test_strategy_choice_follows_the_estimated_pairs(fs: FeatureStore, stats_path: Path) -> None:
    from keel.features import _offline
    from keel.features._duck import connect
    from keel.features._frames import read_entity_frame

    fs.apply([CUSTOMER, stats_view(str(stats_path), ttl="1h")], show_diff=False)
    view = fs.get_feature_view("customer_stats")
    con = connect()
    try:
        relation, ts_type, _, _ = _offline.source_relation(con, view)
        ts_sql, _ = _offline._ts_expr(view.timestamp, ts_type)

        def choice(n: int, ttl_us: int) -> bool:
            view.ttl_us = ttl_us
            frame = read_entity_frame(
                pd.DataFrame({"customer_id": [1] * n, "event_timestamp": [T0] * n}),
                ["customer_id"],
                "event_timestamp",
                [],
            )
            return _offline._use_buckets(con, frame, relation, ts_sql, ['"customer_id"'], "", view)

        hour = 3_600_000_000
        assert choice(10, hour)  # 10 rows x ~2 rows per key and window: cheap
        assert not choice(100, 48 * hour)  # 100 rows x 48 rows per key > 960 source rows
    finally:
        con.close()


@pytest.mark.parametrize("layout", ["one file", "folder", "glob"])
def test_ties_are_broken_alike_in_one_file_and_across_files(
    fs: FeatureStore, tmp_path: Path, layout: str
) -> None:
    # One Parquet file needs no file order to break ties (Keel leaves the file out then); a
    # folder or a glob does. Either way: greatest created timestamp, null as oldest, then the
    # last row.
    h = pd.Timedelta(hours=1)
    rows = [
        {"customer_id": 1, "event_time": T0, "v": 1, "created": T0 + h},
        {"customer_id": 1, "event_time": T0, "v": 2, "created": None},
        {"customer_id": 1, "event_time": T0, "v": 3, "created": T0 + h},
        {"customer_id": 2, "event_time": T0, "v": 4, "created": None},
        {"customer_id": 2, "event_time": T0, "v": 5, "created": None},
        {"customer_id": 3, "event_time": T0, "v": 6, "created": T0},
        {"customer_id": 3, "event_time": T0 + h, "v": 7, "created": None},
    ]
    folder = tmp_path / "ties"
    if layout == "one file":
        write(folder / "all.parquet", rows)
        source = str(folder / "all.parquet")
    else:  # the later file holds the later rows, so "last row" reads the same in both
        write(folder / "part-0.parquet", rows[:2])
        write(folder / "part-1.parquet", rows[2:])
        source = str(folder) if layout == "folder" else str(folder / "*.parquet")
    fs.apply(
        [
            FeatureView(
                "ties",
                entities=[CUSTOMER],
                source=source,
                timestamp="event_time",
                created_timestamp="created",
                features={"v": "int64"},
            )
        ],
        show_diff=False,
    )
    entity = pd.DataFrame(
        {
            "customer_id": [3, 1, 2, 4, 3, 1],
            "event_timestamp": [T0, T0, T0, T0, T0 + h, T0 - h],
        }
    )
    got = fs.historical(entity, ["ties:v"])["v"].tolist()
    assert got == [6, 3, 5, pd.NA, 7, pd.NA]


def test_views_are_queried_one_at_a_time_in_entity_order(
    fs: FeatureStore, small: Path, tmp_path: Path
) -> None:
    # Each view is its own query whose rows come back in any order; the features must still
    # line up with the entity rows, which repeat and are not sorted.
    other = write(
        tmp_path / "other" / "o.parquet",
        [{"customer_id": c, "at": T0, "score": float(c) * 10} for c in (1, 2, 3)],
    )
    fs.apply(
        [
            FeatureView(
                "other",
                entities=[CUSTOMER],
                source=str(other),
                timestamp="at",
                features={"score": "float64"},
            )
        ],
        show_diff=False,
    )
    h = pd.Timedelta(hours=1)
    entity = pd.DataFrame(
        {
            "customer_id": [2, 1, 3, 1, 2, 9],
            "event_timestamp": [T0 + 2 * h, T0 + 3 * h, T0, T0, T0, T0 + h],
        }
    )
    out = fs.historical(entity, ["customer_stats:country", "other:score"])
    assert [None if pd.isna(v) else v for v in out["country"]] == [
        "IT",
        "FR",
        None,
        "DE",
        None,
        None,
    ]
    assert [None if pd.isna(v) else v for v in out["score"]] == [20.0, 10.0, 30.0, 10.0, 20.0, None]
