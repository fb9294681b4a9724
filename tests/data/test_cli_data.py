"""``keel data``: register, ls, show, validate (exit codes), suggest, diff and report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()

SUITE = """\
name: tx-quality
checks:
  - not_null: [amount, customer_id]
  - between: {column: amount, min: 0, max: 50000}
  - in_set: {column: country, values: [DE, FR, IT]}
  - unique: tx_id
  - row_count: {min: 1000}
  - matches: {column: email, pattern: "^[^@]+@[^@]+$"}
  - schema: {columns: {amount: float64, country: string}}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "160"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return path


def test_register_ls_and_show(keel_home: Path, tx_parquet: Path) -> None:
    code, out = invoke("data", "register", "transactions", str(tx_parquet), "-d", "first")
    assert code == 0
    assert "Registered transactions@v1: 2,000 rows x 6 columns" in out
    code, out = invoke("data", "register", "transactions", str(tx_parquet))
    assert "already registered as transactions@v1" in out
    code, out = invoke("data", "ls")
    assert "transactions" in out
    assert "v1" in out
    code, out = invoke("data", "ls", "transactions")
    assert "2,000" in out
    code, out = invoke("data", "show", "transactions@v1")
    assert code == 0
    for text in ("Schema and profile of transactions@v1", "amount", "float64", "Not validated yet"):
        assert text in out


def test_validate_exit_codes_and_failure_table(
    keel_home: Path, tmp_path: Path, transactions: pd.DataFrame, suite_file: Path
) -> None:
    good = tmp_path / "good.parquet"
    transactions.to_parquet(good, index=False)
    invoke("data", "register", "tx", str(good))
    code, out = invoke("data", "validate", "tx@v1", "--suite", str(suite_file))
    assert code == 0, out
    assert "Passed: 8 checks" in out
    assert "Recorded as validation" in out

    bad = transactions.copy()
    bad.loc[list(range(0, 2000, 100)), "amount"] = -7.5
    bad.loc[3, "country"] = "XX"
    bad_path = tmp_path / "bad.parquet"
    bad.to_parquet(bad_path, index=False)
    invoke("data", "register", "tx", str(bad_path))
    code, out = invoke("data", "validate", "tx@latest", "--suite", str(suite_file))
    assert code == 1
    assert "FAIL" in out
    assert "between(amount, [0, 50000])" in out
    assert "20" in out
    assert "1.00%" in out
    assert "-7.5" in out
    assert "Failed: 2 of 8 checks." in out
    code, out = invoke("data", "show", "tx@v2")
    assert "FAILED" in out

    # A plain file validates too (not recorded), and --json prints the result.
    code, out = invoke("data", "validate", str(bad_path), "--suite", str(suite_file), "--json")
    assert code == 1
    assert '"passed": false' in out


def test_validate_writes_a_report(
    keel_home: Path, tx_parquet: Path, suite_file: Path, tmp_path: Path
) -> None:
    report = tmp_path / "out.html"
    code, _ = invoke(
        "data", "validate", str(tx_parquet), "--suite", str(suite_file), "--report", str(report)
    )
    assert code == 0
    assert report.read_text().count("<svg") == 6


def test_suggest_prints_a_suite_that_passes(
    keel_home: Path, tx_parquet: Path, tmp_path: Path
) -> None:
    invoke("data", "register", "tx", str(tx_parquet))
    code, out = invoke("data", "suggest", "tx@v1")
    assert code == 0
    assert out.startswith("# Starter suite suggested by Keel from tx@v1.")
    path = tmp_path / "suggested.yaml"
    code, _ = invoke("data", "suggest", "tx@v1", "-o", str(path), "--name", "starter")
    assert "name: starter" in path.read_text()
    code, out = invoke("data", "validate", "tx@v1", "--suite", str(path))
    assert code == 0, out


def test_diff_shows_schema_changes(
    keel_home: Path, tmp_path: Path, transactions: pd.DataFrame
) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    transactions.to_parquet(a, index=False)
    transactions.drop(columns=["email"]).assign(channel="web").to_parquet(b, index=False)
    invoke("data", "register", "tx", str(a))
    invoke("data", "register", "tx", str(b))
    code, out = invoke("data", "diff", "tx@v1", "tx@v2")
    assert code == 0
    assert "Schema changes" in out
    assert "channel" in out
    assert "added" in out
    assert "email" in out
    assert "removed" in out
    code, out = invoke("data", "diff", "tx@v1", "tx@v2", "--json")
    assert '"added_columns"' in out


def test_report_of_latest_validation(
    keel_home: Path, tx_parquet: Path, suite_file: Path, tmp_path: Path
) -> None:
    invoke("data", "register", "tx", str(tx_parquet))
    out_file = tmp_path / "r.html"
    code, out = invoke("data", "report", "tx@v1", "-o", str(out_file))
    assert code == 1
    assert "tx@v1 has no recorded validation to report on" in out
    invoke("data", "validate", "tx@v1", "--suite", str(suite_file))
    code, out = invoke("data", "report", "tx@v1", "-o", str(out_file))
    assert code == 0
    assert "passed" in out
    assert "<svg" in out_file.read_text()
    code, _ = invoke("data", "report", "tx@v1", "-o", str(out_file), "--suite", str(suite_file))
    assert code == 0


def test_errors_are_one_readable_line_from_the_real_command(
    keel_home: Path, tx_parquet: Path
) -> None:
    env = {**os.environ, "KEEL_HOME": str(keel_home), "COLUMNS": "200"}
    keel_bin = Path(sys.executable).with_name("keel")
    subprocess.run(
        [str(keel_bin), "data", "register", "transactions", str(tx_parquet)],
        check=True,
        env=env,
        capture_output=True,
    )
    proc = subprocess.run(
        [str(keel_bin), "data", "show", "transaction@v1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "Error: No dataset is named 'transaction'. Did you mean 'transactions'?" in proc.stderr
    assert "Traceback" not in proc.stderr
