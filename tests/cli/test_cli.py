"""The ``keel`` command line: the real console script for exit codes and error output, and
Typer's CliRunner (same process, same ``app``) for the commands' content.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import keel
from keel import __version__
from keel.artifacts import blob_key
from keel.cli import app
from keel.store import schema_heads
from keel.tracking import get_client, reset_client

KEEL = str(Path(sys.executable).parent / "keel")
WIDE = {"COLUMNS": "250"}  # tables are not truncated at 80 columns


@pytest.fixture
def runs(keel_home: Path) -> dict[str, str]:
    """Experiment 'churn' with three finished runs, and 'empty-exp' with none."""
    ids = {}
    keel.set_experiment("churn")
    for name, lr, acc in [("slow", 0.01, 0.71), ("fast", 0.3, 0.93), ("medium", 0.1, 0.82)]:
        with keel.start_run(run_name=name, tags={"team": "risk"}) as run:
            keel.log_params({"lr": lr, "model": "sgd"})
            keel.log_metric("acc", acc)
            keel.log_metric("loss", 1 - acc)
            keel.log_text(f"weights of {name}", "model/weights.txt")
        ids[name] = run.id
    keel.set_experiment("empty-exp")
    reset_client()  # the CLI opens its own client, as a new process would
    return ids


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=WIDE)


def flat(text: str) -> str:
    return " ".join(text.split())


def _keel(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return subprocess.run(
        [KEEL, *args],
        capture_output=True,
        text=True,
        env={**clean, "KEEL_HOME": str(home), **env},
        timeout=120,
    )


# -- the real console script ---------------------------------------------------------------------


def test_console_script_version(tmp_path: Path) -> None:
    out = _keel("--version", home=tmp_path / "home")
    assert (out.returncode, out.stdout, out.stderr) == (0, f"keel {__version__}\n", "")


def test_console_script_error_is_one_red_line(runs: dict[str, str], keel_home: Path) -> None:
    out = _keel("runs", "show", "deadbeef", home=keel_home, FORCE_COLOR="1")
    assert out.returncode == 1
    assert out.stdout == ""
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("\x1b[1;31mError:\x1b[0m ")  # bold red
    plain = re.sub(r"\x1b\[[0-9;]*m", "", lines[0])
    assert plain == "Error: No run has an id starting with 'deadbeef'."


def test_console_script_exit_codes_and_usage_errors(runs: dict[str, str], keel_home: Path) -> None:
    # Regression: main() ran Click in non-standalone mode, where ``typer.Exit(1)`` is returned
    # rather than raised, so 'keel doctor' exited 0 with problems; and usage errors (Typer
    # vendors Click, so they were not click.ClickException) escaped as tracebacks.
    (entry,) = [e for e in keel.list_artifacts(runs["fast"]) if e.path == "model/weights.txt"]
    blob = keel_home / "artifacts" / blob_key(entry.digest)
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    damaged = _keel("doctor", home=keel_home)
    assert damaged.returncode == 1, damaged.stdout
    assert "corrupt" in damaged.stdout
    usage = _keel("runs", "show", home=keel_home)
    assert usage.returncode == 2
    assert "Missing argument" in usage.stderr
    assert "Traceback" not in usage.stderr


# -- commands, through CliRunner -----------------------------------------------------------------


def test_version_option() -> None:
    result = invoke("--version")
    assert (result.exit_code, result.stdout) == (0, f"keel {__version__}\n")


def test_experiments_ls(runs: dict[str, str]) -> None:
    result = invoke("experiments", "ls")
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line.split() for line in result.stdout.splitlines() if "│" in line}
    assert rows["churn"][5] == "3"
    assert rows["empty-exp"][5] == "0"


def test_runs_ls(runs: dict[str, str]) -> None:
    result = invoke("runs", "ls", "--experiment", "churn")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name, run_id in runs.items():
        assert re.search(rf"{run_id[:8]} +│ {name} +│ FINISHED", out), out
    assert "acc" in out
    assert "loss" in out
    assert "0.93" in out
    # Newest first.
    assert out.index("medium") < out.index("fast") < out.index("slow")


def test_runs_ls_by_experiment_id(runs: dict[str, str]) -> None:
    exp_id = get_client().store.get_experiment_by_name("churn").id
    result = invoke("runs", "ls", "-e", exp_id)
    assert result.exit_code == 0, result.output
    assert all(name in result.stdout for name in runs)


def test_runs_ls_filter_and_order_by(runs: dict[str, str]) -> None:
    result = invoke(
        "runs", "ls", "-e", "churn", "--filter", "metrics.acc > 0.75", "--order-by", "metrics.acc"
    )
    assert result.exit_code == 0, result.output
    assert "slow" not in result.stdout
    assert result.stdout.index("medium") < result.stdout.index("fast")
    desc = invoke("runs", "ls", "-e", "churn", "-o", "metrics.acc DESC")
    assert desc.stdout.index("fast") < desc.stdout.index("medium") < desc.stdout.index("slow")
    by_param = invoke("runs", "ls", "-e", "churn", "-f", "params.lr = '0.1'")
    assert "medium" in by_param.stdout
    assert "fast" not in by_param.stdout


def test_runs_ls_limit_says_more_exist(runs: dict[str, str]) -> None:
    result = invoke("runs", "ls", "-e", "churn", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert "More runs exist; raise --limit (now 1)." in result.stdout


def test_runs_ls_errors(runs: dict[str, str]) -> None:
    unknown = invoke("runs", "ls", "-e", "chrun")
    assert unknown.exit_code == 1
    assert flat(unknown.stderr).startswith("Error: ")
    assert "'chrun'" in unknown.stderr
    assert "churn" in unknown.stderr  # the near match
    bad_filter = invoke("runs", "ls", "-e", "churn", "--filter", "metrics.acc >>> 1")
    assert bad_filter.exit_code == 1
    assert flat(bad_filter.stderr).startswith("Error: ")
    missing_option = invoke("runs", "ls")
    assert missing_option.exit_code == 2
    assert "--experiment" in missing_option.output


def test_runs_show_by_id_and_by_prefix(runs: dict[str, str]) -> None:
    run_id = runs["fast"]
    full = invoke("runs", "show", run_id)
    assert full.exit_code == 0, full.output
    out = full.stdout
    assert f"Run {run_id}" in out
    for expected in ("fast", "FINISHED", "lr", "0.3", "model", "sgd", "acc", "0.93", "team"):
        assert expected in out, expected
    assert re.search(r"model/weights.txt +│ +15 B", out), out
    prefixed = invoke("runs", "show", run_id[:6])
    assert prefixed.exit_code == 0, prefixed.output
    assert prefixed.stdout == out


def test_runs_show_unknown_and_ambiguous_ids(runs: dict[str, str]) -> None:
    unknown = invoke("runs", "show", "deadbeef")
    assert unknown.exit_code == 1
    assert unknown.stderr == "Error: No run has an id starting with 'deadbeef'.\n"
    assert unknown.stdout == ""
    missing_full_id = invoke("runs", "show", "0" * 32)
    assert missing_full_id.exit_code == 1
    assert flat(missing_full_id.stderr).startswith("Error: ")
    empty = invoke("runs", "show", "")
    assert empty.exit_code == 1
    assert "'' is not a run id" in empty.stderr
    wildcard = invoke("runs", "show", "_")  # regression: '_' was a LIKE wildcard
    assert wildcard.exit_code == 1
    assert "'_' is not a run id" in wildcard.stderr
    ids = sorted(runs.values())
    shared = ""
    for a, b in zip(ids[0], ids[1], strict=True):
        if a != b:
            break
        shared += a
    if shared:  # two runs share a prefix: it must be reported as ambiguous
        ambiguous = invoke("runs", "show", shared)
        assert ambiguous.exit_code == 1
        assert "is ambiguous" in ambiguous.stderr


def test_runs_compare_shows_differences(runs: dict[str, str]) -> None:
    result = invoke("runs", "compare", runs["slow"], runs["fast"][:8])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"params\.lr +│ +0\.01 +│ +0\.3 ", out), out
    assert re.search(r"params\.model +│ +sgd +│ +sgd ", out), out
    assert re.search(r"metrics\.acc +│ +0\.71 +│ +0\.93 ", out), out
    assert "slow" in out
    assert "fast" in out
    assert "Rows in yellow differ between runs." in out


def test_runs_compare_needs_two_runs(runs: dict[str, str]) -> None:
    result = invoke("runs", "compare", runs["slow"])
    assert result.exit_code == 1
    assert "Give at least two run ids to compare" in result.stderr


def test_values_that_look_like_markup_are_printed_as_they_are(keel_home: Path) -> None:
    # Regression: values went through Rich markup, so a param such as "[/data]" crashed
    # 'keel runs show' with a MarkupError and "[bold]x" lost its brackets.
    with keel.start_run(run_name="[bold]x") as a:
        keel.log_param("path", "[/data]")
        keel.set_tag("note", "[red]hi")
    with keel.start_run(run_name="plain") as b:
        keel.log_param("path", "[/other]")
    reset_client()
    shown = invoke("runs", "show", a.id)
    assert shown.exit_code == 0, shown.output
    for text in ("[bold]x", "[/data]", "[red]hi"):
        assert text in shown.stdout
    compared = invoke("runs", "compare", a.id, b.id)
    assert compared.exit_code == 0, compared.output
    assert "[/data]" in compared.stdout
    assert "[/other]" in compared.stdout
    listed = invoke("runs", "ls", "-e", "Default")
    assert listed.exit_code == 0, listed.output
    assert "[bold]x" in listed.stdout
    error = invoke("runs", "show", "[/x]")
    assert error.exit_code == 1
    assert error.stderr == (
        "Error: '[/x]' is not a run id: run ids are 32 lowercase hexadecimal characters. "
        "Give the id or a unique prefix of it, as 'keel runs ls' shows.\n"
    )


def test_db_upgrade(keel_home: Path) -> None:
    for _ in range(2):
        result = invoke("db", "upgrade")
        assert result.exit_code == 0, result.output
        heads = ", ".join(sorted(schema_heads()))
        assert flat(result.stdout) == f"Metadata store is at schema {heads}."
    assert (keel_home / "keel.db").is_file()
