"""Profiles, starter suites, diffs between versions, and the HTML report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import keel
import keel.data as kd
from keel.data._profile import BINS


def test_profile_matches_pandas(keel_home: Path, transactions: pd.DataFrame) -> None:
    df = transactions.copy()
    df.loc[[1, 2, 3], "amount"] = None
    ds = keel.datasets.register("tx", df)
    prof = ds.profile
    assert prof.num_rows == 2000
    assert [c.name for c in prof] == list(df.columns)
    amount = prof["amount"]
    assert (amount.type, amount.nulls, amount.count) == ("float64", 3, 1997)
    assert amount.null_fraction == pytest.approx(3 / 2000)
    assert amount.min == pytest.approx(df.amount.min())
    assert amount.max == pytest.approx(df.amount.max())
    assert amount.mean == pytest.approx(df.amount.mean())
    assert amount.std == pytest.approx(df.amount.std())
    assert amount.quantiles["p50"] == pytest.approx(df.amount.median(), rel=0.05)
    assert set(amount.quantiles) == {"p01", "p05", "p25", "p50", "p75", "p95", "p99"}
    assert amount.histogram is not None
    assert len(amount.histogram["counts"]) == BINS
    assert len(amount.histogram["edges"]) == BINS + 1
    assert sum(amount.histogram["counts"]) == 1997
    country = prof["country"]
    assert country.top_values_complete
    assert dict(country.top_values) == df.country.value_counts().to_dict()
    assert country.categories is not None
    assert sorted(country.categories) == ["DE", "FR", "IT"]
    assert country.distinct == 3
    assert (country.min_length, country.max_length) == (2, 2)
    tx_id = prof["tx_id"]
    assert (tx_id.min, tx_id.max) == (1, 2000)
    assert isinstance(tx_id.min, int)
    assert tx_id.distinct is not None
    assert 1800 <= tx_id.distinct <= 2000
    event = prof["event_time"]
    assert event.histogram is not None
    assert sum(event.histogram["counts"]) == 2000
    with pytest.raises(keel.NotFoundError, match="Did you mean 'amount'"):
        prof["amout"]
    assert prof.to_pandas().loc["amount", "nulls"] == 3


def test_profile_is_stored_once(keel_home: Path, transactions: pd.DataFrame) -> None:
    ds = keel.datasets.register("tx", transactions)
    first = ds.profile
    again = keel.datasets.get("tx@v1").profile
    assert again.created_at == first.created_at
    assert again == first


def test_profile_of_nan_bool_and_empty_columns(keel_home: Path) -> None:
    table = pa.table(
        {
            "x": pa.array([1.0, float("nan"), 3.0, None]),
            "flag": pa.array([True, False, True, None]),
            "empty": pa.array([None, None, None, None], pa.float64()),
        }
    )
    prof = kd.profile(table)
    x = prof["x"]
    assert (x.nans, x.nulls, x.min, x.max, x.mean) == (1, 1, 1.0, 3.0, 2.0)
    assert prof["flag"].true_count == 2
    empty = prof["empty"]
    assert (empty.count, empty.nulls, empty.histogram, empty.min) == (0, 4, None, None)


def test_profile_of_a_file(tmp_path: Path, transactions: pd.DataFrame, keel_home: Path) -> None:
    path = tmp_path / "tx.parquet"
    transactions.to_parquet(path, index=False)
    prof = kd.profile(path)
    assert prof.dataset == str(path)
    assert prof["customer_id"].max == transactions.customer_id.max()


def test_suggested_suite_passes_on_its_data_and_catches_bad_data(
    keel_home: Path, transactions: pd.DataFrame
) -> None:
    ds = keel.datasets.register("tx", transactions)
    suite = kd.suggest(ds)
    kinds = [c.kind for c in suite.checks]
    assert kinds[:2] == ["schema", "not_null"]
    assert {"row_count", "between", "in_set", "unique"} <= set(kinds)
    names = [c.name for c in suite.checks]
    assert "unique(tx_id)" in names
    assert "unique(email)" in names
    assert "in_set(country, {'DE', 'FR', 'IT'})" in names
    assert suite.validate(ds).passed
    bad = transactions.copy()
    bad.loc[0, "country"] = "ES"
    bad.loc[1, "amount"] = -1.0
    bad.loc[2, "tx_id"] = 2
    failed = {c.name for c in suite.validate(bad, record=False).failures}
    assert "in_set(country, {'DE', 'FR', 'IT'})" in failed
    assert "unique(tx_id)" in failed
    assert any(n.startswith("between(amount") for n in failed)


def test_suggested_yaml_is_a_valid_suite_with_comments(
    keel_home: Path, transactions: pd.DataFrame
) -> None:
    ds = keel.datasets.register("tx", transactions)
    text = kd.suggest_yaml(ds)
    assert text.startswith("# Starter suite suggested by Keel from tx@v1.")
    assert "  # country: 3 distinct values seen" in text
    suite = kd.Suite.from_yaml(text)
    assert suite.name == "tx-suggested"
    assert suite.digest == kd.suggest(ds).digest


def test_null_rates_are_suggested_with_mostly(keel_home: Path) -> None:
    df = pd.DataFrame({"a": [1.0] * 90 + [None] * 10, "b": range(100)})
    suite = kd.suggest(df, name="s")
    specs = [c.spec() for c in suite.checks]
    assert {"not_null": {"columns": ["a"], "mostly": 0.9}} in specs
    assert suite.validate(df, record=False).passed


def test_diff_reports_schema_changes_rows_and_shift(
    keel_home: Path, transactions: pd.DataFrame
) -> None:
    v1 = keel.datasets.register("tx", transactions)
    changed = transactions.drop(columns=["email"]).assign(
        amount=transactions.amount * 3,
        channel="web",
        customer_id=transactions.customer_id.astype("float64"),
    )
    changed.loc[:99, "country"] = "ES"
    v2 = keel.datasets.register("tx", changed.iloc[:1500])
    d = kd.diff("tx@v1", v2)
    assert (d.before, d.after, d.rows_before, d.rows_after) == ("tx@v1", "tx@v2", 2000, 1500)
    assert d.schema_changed
    assert d.added_columns == {"channel": "string"}
    assert d.removed_columns == {"email": "string"}
    assert d.type_changes == {"customer_id": ("int64", "float64")}
    cols = {c.name: c for c in d.columns}
    assert cols["amount"].shift == "large"
    assert cols["tx_id"].psi is not None
    assert cols["country"].new_values == ["ES"]
    assert cols["country"].psi is not None
    assert cols["country"].psi > 0.1
    assert cols["customer_id"].shift == "n/a"
    text = d.summary()
    assert "+ column channel (string)" in text
    assert "- column email (string)" in text
    assert "~ column customer_id: int64 -> float64" in text
    assert "amount: large shift" in text
    same = v1.diff(v1)
    assert not same.schema_changed
    assert not same.shifted
    assert "same schema, no distribution shift" in same.summary()


def test_html_report_is_self_contained_with_a_chart_per_column(
    keel_home: Path, transactions: pd.DataFrame, tmp_path: Path
) -> None:
    bad = transactions.copy()
    bad.loc[5, "amount"] = -1.0
    bad.loc[6, "country"] = "<script>alert(1)</script>"
    ds = keel.datasets.register("tx", bad)
    suite = kd.Suite(
        "tx-quality",
        checks=[kd.between("amount", 0, 10_000), kd.in_set("country", ["DE", "FR", "IT"])],
    )
    result = suite.validate(ds)
    out = tmp_path / "report.html"
    html = result.to_html(out)
    assert out.read_text() == html
    assert html.startswith("<!DOCTYPE html>")
    assert "FAILED" in html
    assert html.count("<svg") == len(ds.columns)  # one chart per column
    # Offline: no scripts, stylesheets or images loaded from anywhere.
    assert "<script" not in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "<link" not in html
    assert "&lt;script&gt;" in html  # data is escaped
    assert "between(amount, [0, 10000])" in html


def test_report_without_profile_for_a_frame(transactions: pd.DataFrame) -> None:
    result = kd.Suite("s", checks=[kd.unique("tx_id")]).validate(transactions, record=False)
    html = kd.render_report(result)
    assert "No profile was given" in html
    with_profile = kd.render_report(result, profile=kd.profile(transactions))
    assert with_profile.count("<svg") == 6


def test_psi_is_zero_for_identical_and_large_for_disjoint() -> None:
    from keel.data._diff import psi

    assert psi([10, 20, 30], [10, 20, 30]) == pytest.approx(0.0)
    assert psi([100, 0], [0, 100]) > 1


def test_all_public_names_exist_and_are_documented() -> None:
    import keel.datasets

    for module in (kd, keel.datasets):
        for name in module.__all__:
            obj: Any = getattr(module, name)
            assert (obj.__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"


def test_quantiles_of_sorted_data_are_accurate(keel_home: Path) -> None:
    prof = kd.profile(pd.DataFrame({"x": np.arange(100_000, dtype=np.int64)}))
    q = prof["x"].quantiles
    assert q["p01"] == pytest.approx(1_000, abs=300)
    assert q["p50"] == pytest.approx(50_000, abs=1_000)
    assert q["p99"] == pytest.approx(99_000, abs=300)
