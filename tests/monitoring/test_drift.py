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
