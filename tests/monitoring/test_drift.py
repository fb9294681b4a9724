"""Drift verdicts on synthetic data with known shifts, at 1,000 and 1,000,000 rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import keel.monitoring as km

from ._synthetic import SHIFTED, STABLE, synthetic


@pytest.mark.parametrize("n", [1_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_known_shifts_are_found_and_stable_columns_are_not(n: int) -> None:
    report = km.drift(synthetic(n, 3, shifted=False), synthetic(n, 4, shifted=True))
    assert report.drifted_features == SHIFTED
    assert report.skipped == {"id": "unique per row: looks like an identifier"}
    assert report.features["new_category"].new_categories == {
        "zz": pytest.approx(0.15 * n, rel=0.2)
    }
    assert report.features["new_category"].new_category_share == pytest.approx(0.15, abs=0.03)
    assert report.share == pytest.approx(5 / 12)
    assert not report.dataset_drift  # 5 of 12 is below the default share of 0.5
    small = n <= 1000
    kinds = {f.name: (f.kind, f.test) for f in report.features.values() if f.test}
    assert kinds["mean_shift"] == ("numeric", "ks" if small else "wasserstein")
    assert kinds["mix"] == ("categorical", "chisquare" if small else "jensenshannon")
    assert kinds["small_ints"][0] == "categorical"  # five values: compared as categories
    assert kinds["flag"][0] == "categorical"


def test_the_score_estimates_the_same_distance_at_every_size() -> None:
    small = km.drift(synthetic(1_000, 3, False), synthetic(1_000, 4, True))
    large = km.drift(synthetic(200_000, 3, False), synthetic(200_000, 4, True))
    for name in ("mean_shift", "variance", "new_mode"):
        assert small.features[name].score == pytest.approx(large.features[name].score, abs=0.1)
    assert large.features["mean_shift"].score == pytest.approx(0.5, abs=0.02)


def test_no_column_drifts_between_two_samples_of_one_distribution() -> None:
    report = km.drift(synthetic(5_000, 5, False), synthetic(5_000, 6, False))
    assert report.drifted_features == []
    assert report.missing_drift_features == []


def _false_positives(n: int, seeds: int) -> dict[str, int]:
    counts = dict.fromkeys(SHIFTED + STABLE, 0)
    for seed in range(seeds):
        report = km.drift(
            synthetic(n, 1000 + 2 * seed, False), synthetic(n, 1001 + 2 * seed, False)
        )
        for name in report.drifted_features:
            counts[name] += 1
        for name in report.missing_drift_features:
            counts[name] += 1
    return counts


def test_false_positive_rate_at_1000_rows_is_at_most_5_percent_per_column() -> None:
    counts = _false_positives(1_000, 50)
    assert max(counts.values()) <= 2, counts  # 2 of 50 seeds = 4%


@pytest.mark.slow
def test_false_positive_rate_at_1_000_000_rows_is_at_most_5_percent_per_column() -> None:
    # Fewer, cheaper columns than at 1,000 rows, one of each kind: floats (symmetric and
    # skewed), integers with many ties, categories, booleans.
    counts = dict.fromkeys(["normal", "lognormal", "counts", "letters", "flag"], 0)
    n = 1_000_000
    for seed in range(50):
        frames = []
        for offset in (0, 1):
            rng = np.random.default_rng(5000 + 2 * seed + offset)
            z = rng.standard_normal(n)
            frames.append(
                pd.DataFrame(
                    {
                        "normal": z,
                        "lognormal": np.exp(rng.standard_normal(n)),
                        "counts": rng.integers(20, 60, n),
                        "letters": pd.Categorical.from_codes(
                            np.searchsorted([0.4, 0.7, 0.9], rng.random(n)), ["a", "b", "c", "d"]
                        ),
                        "flag": z > 0.5,
                    }
                )
            )
        report = km.drift(frames[0], frames[1])
        for name in report.drifted_features + report.missing_drift_features:
            counts[name] += 1
    assert max(counts.values()) <= 2, counts


def test_missing_value_drift_is_reported_on_its_own() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=2000)})
    values = rng.normal(size=2000)
    values[:600] = np.nan
    report = km.drift(ref, pd.DataFrame({"x": values}))
    f = report.features["x"]
    assert report.missing_drift_features == ["x"]
    assert f.missing["current_share"] == pytest.approx(0.3)
    assert not f.drifted  # the values present are distributed as before
    assert report.drifted_features == []


def test_tests_and_thresholds_can_be_overridden_per_column() -> None:
    ref, cur = synthetic(5_000, 7, False), synthetic(5_000, 8, True)
    report = km.drift(
        ref,
        cur,
        tests={"mean_shift": "psi", "mix": "psi", "normal": "ks", "variance": "jensenshannon"},
        thresholds={"mean_shift": 5.0},
    )
    f = report.features["mean_shift"]
    assert (f.test, f.threshold, f.drifted) == ("psi", 5.0, False)
    assert f.statistic == pytest.approx(f.score)
    assert report.features["mix"].test == "psi"
    assert report.features["mix"].drifted
    assert report.features["normal"].test == "ks"
    assert report.features["normal"].threshold == 0.05
    assert report.features["variance"].test == "jensenshannon"
    assert report.features["variance"].drifted


def test_one_test_name_applies_where_it_can() -> None:
    report = km.drift(synthetic(3_000, 9, False), synthetic(3_000, 10, True), tests="chisquare")
    assert {f.test for f in report.features.values() if f.test} == {"chisquare"}
    report = km.drift(synthetic(3_000, 9, False), synthetic(3_000, 10, True), tests="ks")
    assert report.features["normal"].test == "ks"
    assert report.features["mix"].test == "jensenshannon"  # no KS on categories: automatic


def test_sampling_happens_only_when_asked() -> None:
    ref, cur = synthetic(20_000, 11, False), synthetic(20_000, 12, True)
    full = km.drift(ref, cur)
    sampled = km.drift(ref, cur, sample=2_000, seed=3)
    assert full.features["normal"].current_rows == 20_000
    assert sampled.features["normal"].current_rows == 2_000
    assert sampled.drifted_features == full.drifted_features == SHIFTED
    assert sampled.settings["sample"] == 2_000


def test_reference_profile_is_reusable_and_survives_serialization() -> None:
    ref, cur = synthetic(50_000, 13, False), synthetic(50_000, 14, True)
    profile = km.reference_profile(ref)
    again = km.ReferenceProfile.from_bytes(profile.to_bytes())
    direct, reused = km.drift(ref, cur), km.drift(again, cur)
    assert reused.drifted_features == direct.drifted_features
    for name, f in direct.features.items():
        assert reused.features[name].score == f.score
    assert len(profile.to_bytes()) < 400_000  # does not grow with the rows


def test_report_dict_is_json_and_dataset_drift_follows_the_share() -> None:
    report = km.drift(synthetic(2_000, 15, False), synthetic(2_000, 16, True), share=0.4)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["dataset_drift"] is True
    assert data["drifted_features"] == SHIFTED
    assert data["features"]["mean_shift"]["chart"]["kind"] == "hist"
    assert data["features"]["mix"]["chart"]["kind"] == "bars"
    assert "DriftReport(drifted=" in repr(report)


def test_html_report_is_self_contained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = km.drift(synthetic(2_000, 17, False), synthetic(2_000, 18, True))
    path = tmp_path / "drift.html"
    page = report.to_html(path, title="Tx drift")
    assert path.read_text(encoding="utf-8") == page
    assert page.startswith("<!DOCTYPE html>")
    assert "Tx drift" in page
    assert page.count("<svg") >= 12  # a chart per compared column
    lowered = page.lower()
    for forbidden in ("<script", "<link", "src=", "@import", "url("):
        assert forbidden not in lowered
    # The only URL is the SVG namespace, which browsers never fetch.
    assert lowered.count("http") == lowered.count("http://www.w3.org/2000/svg")


def test_all_inputs_give_the_same_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    ref, cur = synthetic(3_000, 19, False), synthetic(3_000, 20, True)
    base = km.drift(ref, cur)
    pq.write_table(pa.Table.from_pandas(ref), tmp_path / "ref.parquet")
    (tmp_path / "cur").mkdir()
    table = pa.Table.from_pandas(cur)
    pq.write_table(table.slice(0, 1500), tmp_path / "cur" / "a.parquet")
    pq.write_table(table.slice(1500), tmp_path / "cur" / "b.parquet")
    variants = [
        (pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)),
        (pl.from_pandas(ref), pl.from_pandas(cur)),
        (pl.from_pandas(ref).lazy(), pl.from_pandas(cur)),
        (str(tmp_path / "ref.parquet"), tmp_path / "cur"),
        (tmp_path / "ref.parquet", str(tmp_path / "cur" / "*.parquet")),
    ]
    for reference, current in variants:
        report = km.drift(reference, current)
        assert report.drifted_features == base.drifted_features
        for name, f in base.features.items():
            assert report.features[name].score == pytest.approx(f.score), name


def test_parquet_is_read_one_column_at_a_time(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    ref, cur = synthetic(3_000, 21, False), synthetic(3_000, 22, True)
    pq.write_table(pa.Table.from_pandas(ref), tmp_path / "ref.parquet", row_group_size=1000)
    pq.write_table(pa.Table.from_pandas(cur), tmp_path / "cur.parquet")
    in_memory = km.drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur))
    (tmp_path / "cur").mkdir()
    pq.write_table(pa.Table.from_pandas(cur), tmp_path / "cur" / "part-0.parquet")
    asked: list[list[str] | None] = []

    def spy(read):  # type: ignore[no-untyped-def]
        def reading(self, columns=None, **kwargs):  # type: ignore[no-untyped-def]
            asked.append(columns)
            return read(self, columns=columns, **kwargs)

        return reading

    monkeypatch.setattr(pq.ParquetFile, "read", spy(pq.ParquetFile.read))
    monkeypatch.setattr(pq.ParquetDataset, "read", spy(pq.ParquetDataset.read))
    for threads, current in ((1, str(tmp_path / "cur.parquet")), (None, tmp_path / "cur")):
        asked.clear()
        report = km.drift(tmp_path / "ref.parquet", current, threads=threads)
        assert all(columns is not None and len(columns) == 1 for columns in asked)
        # Each column read once on each side (the skipped identifier on the reference only).
        assert sorted(c[0] for c in asked if c) == sorted(
            [*ref.columns, *(c for c in ref.columns if c != "id")]
        )
        assert report.to_dict()["features"] == in_memory.to_dict()["features"]
    assert report.current == "Parquet 'cur' (3,000 rows)"


def test_parquet_folder_reads_like_read_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    ref = synthetic(2_000, 23, False)
    ref["part"] = np.where(np.arange(len(ref)) % 2 == 0, "even", "odd")
    pq.write_to_dataset(pa.Table.from_pandas(ref), tmp_path / "ref", partition_cols=["part"])
    whole = pq.read_table(tmp_path / "ref")
    lazy = km.reference_profile(tmp_path / "ref")
    eager = km.reference_profile(whole)
    assert lazy.names == whole.column_names
    assert {n: c.to_dict() for n, c in lazy.columns.items()} == {
        n: c.to_dict() for n, c in eager.columns.items()
    }
    assert km.drift(tmp_path / "ref", whole, columns=["mean_shift", "part"]).drifted_features == []


def test_arrow_columns_convert_like_to_numpy() -> None:
    import pyarrow as pa

    from keel.monitoring._frames import _arrow_counts, _arrow_numeric

    col = pa.chunked_array(
        [
            pa.array([1.0, None, 3.0, 4.0, None]).slice(1),
            pa.array([7.0, 5.5, None, 2.0]).slice(2),
            pa.array([], pa.float64()),
        ]
    )
    values, invalid = _arrow_numeric(col)
    np.testing.assert_array_equal(values, col.fill_null(np.nan).to_numpy())
    assert invalid == 0
    ints = pa.chunked_array([pa.array([1, None, 3], pa.int32())])
    np.testing.assert_array_equal(_arrow_numeric(ints)[0], [1.0, np.nan, 3.0])
    assert _arrow_numeric(pa.chunked_array([], pa.float64()))[0].shape == (0,)
    labels, counts, nulls = _arrow_counts(pa.chunked_array([pa.array(["a", None, "b", "a"])]))
    assert dict(zip(labels, counts.tolist(), strict=True)) == {"a": 2, "b": 1}
    assert nulls == 1


def test_drift_on_parquet_does_not_load_pandas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, seed in (("ref", 25), ("cur", 26)):
        frame = synthetic(500, seed, name == "cur").drop(columns=["id"])
        pq.write_table(pa.Table.from_pandas(frame), tmp_path / f"{name}.parquet")
    code = (
        "import sys, keel.monitoring as km\n"
        f"r = km.drift({str(tmp_path / 'ref.parquet')!r}, {str(tmp_path / 'cur.parquet')!r})\n"
        "print(len(r.features), 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["12", "False"]


def test_parquet_string_view_columns_are_categories(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(27)
    for name, p in (("ref", [0.5, 0.3, 0.2]), ("cur", [0.2, 0.3, 0.5])):
        letters = rng.choice(np.array(["a", "b", "c"]), size=3_000, p=p).tolist()
        table = pa.table({"letter": pa.array(letters, pa.string_view())})
        pq.write_table(table, tmp_path / f"{name}.parquet")
    report = km.drift(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    assert report.features["letter"].kind == "categorical"
    assert report.drifted_features == ["letter"]
