"""Each check, passing and failing, with exact counts and short samples (no store involved)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import keel.data as kd
from keel.errors import InvalidArgumentError, ValidationFailedError


def run(df: pd.DataFrame | pa.Table, *checks: kd.Check) -> kd.ValidationResult:
    return kd.Suite("t", checks=list(checks)).validate(df, record=False)


def only(result: kd.ValidationResult) -> kd.CheckResult:
    assert len(result.checks) == 1
    return result.checks[0]


# -- not_null -------------------------------------------------------------------------------


def test_not_null_passes_on_complete_column(transactions: pd.DataFrame) -> None:
    r = run(transactions, kd.not_null("amount"))
    assert r.passed
    c = only(r)
    assert (c.bad_rows, c.total_rows, c.samples, c.sample_rows) == (0, 2000, [], [])


def test_not_null_counts_nulls_and_nans_and_names_rows() -> None:
    df = pd.DataFrame({"a": [1.0, None, 3.0, np.nan, 5.0], "b": ["x", None, "y", "z", None]})
    table = pa.Table.from_pandas(df, preserve_index=False)
    # from_pandas turns NaN into null; put a real NaN back to check NaN handling too.
    a = pa.array([1.0, None, 3.0, float("nan"), 5.0])
    table = table.set_column(0, "a", a)
    r = run(table, kd.not_null(["a", "b"]))
    assert not r.passed
    a_res, b_res = r.checks
    assert (a_res.column, a_res.bad_rows, a_res.total_rows) == ("a", 2, 5)
    assert a_res.sample_rows == [1, 3]
    assert (b_res.column, b_res.bad_rows, b_res.sample_rows) == ("b", 2, [1, 4])
    assert "2 of 5 rows (40.00%) are null" in a_res.message


def test_not_null_mostly_allows_a_share_of_nulls() -> None:
    df = pd.DataFrame({"a": [1.0] * 98 + [None] * 2})
    assert run(df, kd.not_null("a", mostly=0.98)).passed
    r = run(df, kd.not_null("a", mostly=0.99))
    assert not r.passed
    assert "at most 1 allowed (mostly=0.99)" in r.checks[0].message


# -- between --------------------------------------------------------------------------------


def test_between_counts_out_of_range_values_and_ignores_nulls() -> None:
    df = pd.DataFrame({"amount": [5.0, -1.0, 60_000.0, None, 10.0, -2.5]})
    r = run(df, kd.between("amount", 0, 50_000))
    c = only(r)
    assert not c.passed
    assert (c.bad_rows, c.total_rows) == (3, 5)
    assert c.samples == [-1.0, 60000.0, -2.5]
    assert c.sample_rows == [1, 2, 5]


def test_between_nan_is_out_of_range() -> None:
    table = pa.table({"x": pa.array([1.0, float("nan"), 2.0])})
    c = only(run(table, kd.between("x", 0, 10)))
    assert c.bad_rows == 1
    assert c.samples == ["NaN"]


def test_between_passes_and_strict_bounds_exclude_edges() -> None:
    df = pd.DataFrame({"n": [0, 5, 10]})
    assert run(df, kd.between("n", 0, 10)).passed
    c = only(run(df, kd.between("n", 0, 10, strict_min=True, strict_max=True)))
    assert c.bad_rows == 2
    assert c.name == "between(n, (0, 10))"


def test_between_one_sided_and_on_timestamps() -> None:
    df = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-06-01", "2023-12-31"])})
    c = only(run(df, kd.between("t", min="2024-01-01")))
    assert c.bad_rows == 1
    assert c.samples == ["2023-12-31T00:00:00"]


def test_between_with_text_bounds_on_numbers_fails_with_reason() -> None:
    c = only(run(pd.DataFrame({"n": [1, 2]}), kd.between("n", "a", "z")))
    assert not c.passed
    assert c.bad_rows is None
    assert "bounds must be numbers" in c.message


def test_between_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="give min, max or both"):
        kd.between("x")
    with pytest.raises(InvalidArgumentError, match="min 5 is larger than max 1"):
        kd.between("x", 5, 1)


# -- in_set ---------------------------------------------------------------------------------


def test_in_set_counts_values_outside_the_set() -> None:
    df = pd.DataFrame({"country": ["DE", "FR", "XX", None, "IT", "YY", "XX"]})
    c = only(run(df, kd.in_set("country", ["DE", "FR", "IT"])))
    assert (c.bad_rows, c.total_rows) == (3, 6)
    assert c.samples == ["XX", "YY", "XX"]
    assert run(
        df.dropna().query("country != 'XX' and country != 'YY'"),
        kd.in_set("country", ["DE", "FR", "IT"]),
    ).passed


def test_in_set_on_integers_and_type_mismatch() -> None:
    df = pd.DataFrame({"code": [1, 2, 3, 4]})
    assert only(run(df, kd.in_set("code", [1, 2, 3]))).bad_rows == 1
    c = only(run(df, kd.in_set("code", ["a"])))
    assert not c.passed
    assert "not a number" in c.message


def test_in_set_needs_values() -> None:
    with pytest.raises(InvalidArgumentError, match="values must be a list"):
        kd.in_set("c", "DE")
    with pytest.raises(InvalidArgumentError, match="at least one allowed value"):
        kd.in_set("c", [])


# -- unique ---------------------------------------------------------------------------------


def test_unique_passes_on_distinct_keys(transactions: pd.DataFrame) -> None:
    c = only(run(transactions, kd.unique("tx_id")))
    assert c.passed
    assert c.bad_rows == 0


def test_unique_counts_every_row_of_a_duplicated_key() -> None:
    df = pd.DataFrame({"id": [1, 2, 2, 3, 3, 3, 4, None]})
    c = only(run(df, kd.unique("id")))
    assert not c.passed
    assert (c.bad_rows, c.total_rows) == (5, 7)
    assert c.observed == {"duplicated_values": 2}
    assert c.samples == [3.0, 2.0]  # most repeated first
    assert "x3" in c.message


def test_unique_over_several_columns() -> None:
    df = pd.DataFrame({"a": [1, 1, 1, 2], "b": ["x", "y", "x", "x"]})
    c = only(run(df, kd.unique(["a", "b"])))
    assert c.bad_rows == 2
    assert c.samples == [{"a": 1, "b": "x"}]


# -- row_count ------------------------------------------------------------------------------


def test_row_count_bounds() -> None:
    df = pd.DataFrame({"a": range(10)})
    assert run(df, kd.row_count(min=10, max=10)).passed
    c = only(run(df, kd.row_count(min=1_000)))
    assert not c.passed
    assert c.observed == 10
    assert c.message == "10 rows; expected at least 1,000"
    with pytest.raises(InvalidArgumentError, match="whole number of rows"):
        kd.row_count(min=-1)


# -- matches --------------------------------------------------------------------------------


def test_matches_counts_non_matching_text() -> None:
    df = pd.DataFrame({"email": ["a@b.c", "nope", None, "x@y", "also bad"]})
    c = only(run(df, kd.matches("email", r"^[^@]+@[^@]+$")))
    assert (c.bad_rows, c.total_rows) == (2, 4)
    assert c.samples == ["nope", "also bad"]
    assert run(df.iloc[[0, 3]], kd.matches("email", "@")).passed


def test_matches_rejects_invalid_pattern() -> None:
    with pytest.raises(InvalidArgumentError, match="not a valid regular expression"):
        kd.matches("email", "(unclosed")


# -- fresh ----------------------------------------------------------------------------------


def test_fresh_passes_for_recent_data_and_fails_for_stale() -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    recent = pd.DataFrame({"t": [now - dt.timedelta(hours=5), now - dt.timedelta(days=9)]})
    c = only(run(recent, kd.fresh("t", max_age="2d")))
    assert c.passed
    stale = pd.DataFrame({"t": [now - dt.timedelta(days=3), now - dt.timedelta(days=9)]})
    c = only(run(stale, kd.fresh("t", "2d")))
    assert not c.passed
    assert "expected at most 2d" in c.message
    assert c.observed.startswith(str((now - dt.timedelta(days=3)).date()))


def test_fresh_needs_a_time_column_and_a_duration() -> None:
    c = only(run(pd.DataFrame({"t": [1, 2]}), kd.fresh("t", "1h")))
    assert not c.passed
    assert "needs a date or timestamp column" in c.message
    with pytest.raises(InvalidArgumentError, match="duration such as '2d'"):
        kd.fresh("t", "two days")


# -- schema ---------------------------------------------------------------------------------


def test_schema_passes_with_types_aliases_and_families(transactions: pd.DataFrame) -> None:
    r = run(
        transactions,
        kd.schema(
            {
                "amount": "float64",
                "country": "string",
                "tx_id": "integer",
                "event_time": "datetime",
            }
        ),
    )
    assert r.passed


def test_schema_reports_missing_wrong_and_extra_columns(transactions: pd.DataFrame) -> None:
    c = only(
        run(
            transactions,
            kd.schema({"amout": "float64", "country": "int64", "tx_id": "int64"}, exact=True),
        )
    )
    assert not c.passed
    assert "amout: missing Did you mean 'amount'?" in c.message
    assert "country: expected int64, got string" in c.message
    assert "unexpected column" in c.message


def test_schema_rejects_unknown_type_names() -> None:
    with pytest.raises(InvalidArgumentError, match="Unknown column type 'flaot64'"):
        kd.schema({"a": "flaot64"})


# -- mean_between ---------------------------------------------------------------------------


def test_mean_between() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    assert run(df, kd.mean_between("x", 1.5, 2.5)).passed
    c = only(run(df, kd.mean_between("x", min=5)))
    assert not c.passed
    assert c.observed == 2.0


# -- custom checks --------------------------------------------------------------------------


def test_expression_check_counts_false_rows_and_lets_null_pass() -> None:
    df = pd.DataFrame({"fee": [1.0, 5.0, None, 2.0], "amount": [10.0, 4.0, 3.0, 1.0]})
    c = only(run(df, kd.expression("fee <= amount", columns=["fee", "amount"], name="fee ok")))
    assert (c.name, c.bad_rows) == ("fee ok", 2)
    assert c.samples == [{"fee": 5.0, "amount": 4.0}, {"fee": 2.0, "amount": 1.0}]
    assert c.sample_rows == [1, 3]


def test_expression_with_bad_sql_fails_only_that_check() -> None:
    df = pd.DataFrame({"a": [1, 2, 3]})
    r = run(df, kd.expression("no_such_column > 1"), kd.not_null("a"))
    bad, good = r.checks
    assert not bad.passed
    assert "could not be evaluated" in bad.message
    assert "no_such_column" in bad.message
    assert good.passed


def test_expression_rejects_statements() -> None:
    with pytest.raises(InvalidArgumentError, match="contains ';'"):
        kd.expression("1=1; DROP TABLE x")


def test_python_check_is_vectorized_and_counts_bad_rows() -> None:
    calls: list[int] = []

    def positive(x: pd.Series) -> pd.Series:
        calls.append(len(x))
        return x > 0

    df = pd.DataFrame({"x": np.where(np.arange(10_000) % 10 == 0, -1.0, 1.0)})
    c = only(run(df, kd.python(positive, ["x"])))
    assert c.bad_rows == 1_000
    assert c.samples == [-1.0] * 5
    assert c.sample_rows == [0, 10, 20, 30, 40]
    assert len(calls) < 100  # called per batch, not per row


@pytest.mark.parametrize("kind", ["pandas", "arrow", "numpy"])
def test_python_check_inputs(kind: str) -> None:
    import pyarrow.compute as pc

    fns = {
        "pandas": lambda a, b: a < b,
        "arrow": lambda a, b: pc.less(a, b),
        "numpy": lambda a, b: a < b,
    }
    df = pd.DataFrame({"a": [1, 5, 2], "b": [2, 3, 4]})
    c = only(run(df, kd.python(fns[kind], ["a", "b"], input=kind)))
    assert c.bad_rows == 1
    assert c.samples == [{"a": 5, "b": 3}]


def test_python_check_that_raises_is_reported_on_that_check() -> None:
    def broken(x: pd.Series) -> pd.Series:
        raise RuntimeError("boom")

    r = run(pd.DataFrame({"x": [1, 2]}), kd.python(broken, ["x"]), kd.row_count(min=1))
    assert not r.checks[0].passed
    assert "boom" in r.checks[0].message
    assert r.checks[1].passed


def test_python_check_by_import_path_in_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_checks.py").write_text(
        "def plausible_email(email):\n"
        "    return email.str.len().between(5, 40) & email.str.contains('@')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = kd.Suite.from_yaml(
        "name: s\nchecks:\n  - python: {function: 'my_checks:plausible_email', columns: [email]}\n"
    )
    assert suite.checks[0].spec()["python"]["function"] == "my_checks:plausible_email"
    df = pd.DataFrame({"email": ["a@b.co", "nope", "x@y.org"]})
    r = suite.validate(df, record=False)
    assert r.checks[0].bad_rows == 1
    with pytest.raises(InvalidArgumentError, match="cannot import 'nowhere:fn'"):
        kd.python("nowhere:fn", ["a"])


# -- results and suites ---------------------------------------------------------------------


def test_missing_column_fails_the_check_with_near_names(transactions: pd.DataFrame) -> None:
    c = only(run(transactions, kd.between("amout", 0, 1)))
    assert not c.passed
    assert c.message == "column 'amout' does not exist. Did you mean 'amount'?"


def test_warn_severity_reports_without_failing() -> None:
    df = pd.DataFrame({"a": [1, None]})
    r = run(df, kd.not_null("a", severity="warn"))
    assert r.passed
    assert [c.name for c in r.warnings] == ["not_null(a)"]
    with pytest.raises(InvalidArgumentError, match="severity must be 'error'"):
        kd.not_null("a", severity="fatal")


def test_a_million_bad_cells_give_a_short_exact_summary() -> None:
    n = 1_000_000
    table = pa.table(
        {
            "amount": pa.array(np.full(n, -1.0)),
            "id": pa.array(np.zeros(n, dtype=np.int64)),
            "country": pa.array(["XX"] * n),
        }
    )
    r = run(
        table,
        kd.between("amount", 0, 10),
        kd.unique("id"),
        kd.in_set("country", ["DE"]),
    )
    for c in r.checks:
        assert c.bad_rows == n
        assert len(c.samples) <= 5
        assert len(c.message) < 300
    assert len(r.summary()) < 1_000
    assert len(r.to_json()) < 10_000
    with pytest.raises(ValidationFailedError, match="FAIL between"):
        r.raise_for_failures()


def test_suite_yaml_round_trip_keeps_digest(tmp_path: Path) -> None:
    suite = kd.Suite(
        "tx-quality",
        checks=[
            kd.not_null(["amount", "customer_id"]),
            kd.between("amount", 0, 50_000),
            kd.in_set("country", ["DE", "FR", "IT"]),
            kd.unique("tx_id"),
            kd.row_count(min=1_000),
            kd.matches("email", r"^[^@]+@[^@]+$"),
            kd.fresh("event_time", max_age="2d"),
            kd.schema({"amount": "float64", "country": "string"}),
            kd.expression("amount >= 0", severity="warn", mostly=0.9),
        ],
        description="payments",
    )
    path = tmp_path / "suite.yaml"
    suite.to_yaml(path)
    again = kd.Suite.from_yaml(path)
    assert again.to_dict() == suite.to_dict()
    assert again.digest == suite.digest
    assert kd.Suite("tx-quality", checks=suite.checks[:-1]).digest != suite.digest


def test_yaml_shorthand_forms(transactions: pd.DataFrame) -> None:
    suite = kd.Suite.from_yaml(
        "name: s\nchecks:\n  - not_null: amount\n  - unique: tx_id\n"
        "  - expression: amount >= 0\n  - row_count: {min: 1}\n"
    )
    assert [c.kind for c in suite.checks] == ["not_null", "unique", "expression", "row_count"]
    assert suite.validate(transactions, record=False).passed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: s\nchecks:\n  - not_nul: [a]\n",
            "unknown check kind 'not_nul'. Did you mean 'not_null'",
        ),
        ("name: s\nchecks:\n  - between: x\n", "takes named arguments"),
        ("name: s\nchecks:\n  - between: {column: a, low: 1}\n", "bad arguments for between"),
        ("name: s\nchecks: {a: 1}\n", "'checks' must be a list"),
        ("checks: []\n", "the suite has no 'name'"),
        ("name: s\nrules: []\n", "unknown suite keys \\['rules'\\]"),
        ("name: [unclosed\n", "is not valid YAML"),
        ("name: s\nchecks:\n  - {not_null: a, unique: b}\n", "a mapping with one key"),
    ],
)
def test_bad_suite_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        kd.Suite.from_yaml(text)


def test_missing_suite_file(tmp_path: Path) -> None:
    from keel.errors import NotFoundError

    with pytest.raises(NotFoundError, match="No suite file at"):
        kd.Suite.from_yaml(tmp_path / "nope.yaml")


def test_validate_a_parquet_file_and_a_csv_file(tmp_path: Path, transactions: pd.DataFrame) -> None:
    pq_path = tmp_path / "tx.parquet"
    transactions.to_parquet(pq_path, index=False)
    csv_path = tmp_path / "tx.csv"
    transactions.to_csv(csv_path, index=False)
    suite = kd.Suite("s", checks=[kd.unique("tx_id"), kd.between("amount", 0, 100_000)])
    for target in (pq_path, str(csv_path)):
        r = kd.validate(target, suite)
        assert r.passed
        assert r.num_rows == 2000
        assert r.id is None  # files that are not registered are not recorded


def test_validate_a_polars_frame(transactions: pd.DataFrame) -> None:
    pl = pytest.importorskip("polars")
    r = run(pl.from_pandas(transactions), kd.unique("tx_id"), kd.not_null("email"))
    assert r.passed
