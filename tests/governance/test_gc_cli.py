"""``keel gc``, ``keel retention``, ``keel runs delete/restore``, ``keel data delete --purge``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.tracking import get_client, reset_client

WIDE = {"COLUMNS": "250"}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=WIDE)


def flat(text: str) -> str:
    return " ".join(text.split())


def _age_all_blobs(seconds: float = 7200) -> None:
    root = get_client().artifacts.root
    old = time.time() - seconds
    for path in (root / "sha256").glob("*/*/*"):
        os.utime(path, (old, old))


def test_runs_delete_restore_and_gc_by_kind(keel_home: Path, tmp_path: Path) -> None:
    with keel.start_run("doomed", experiment="cli") as run:
        keel.log_text("weights " * 100, "model/weights.txt")
    get_client().artifacts.put_bytes(b"an orphan blob")
    reset_client()

    result = invoke("runs", "delete", run.id[:8])
    assert result.exit_code == 0, result.output
    assert "Restore it with 'keel runs restore" in flat(result.output)
    assert "within 30d" in flat(result.output)
    result = invoke("runs", "restore", run.id[:8])
    assert result.exit_code == 0, result.output
    assert f"Restored run {run.id}" in result.output
    result = invoke("runs", "restore", run.id)
    assert result.exit_code == 1
    assert "is not deleted" in result.output

    assert invoke("runs", "delete", run.id).exit_code == 0
    result = invoke("retention", "set", "--runs-deleted", "0s", "--prediction-logs", "90d")
    assert result.exit_code == 0, result.output
    assert "prediction-logs" in result.output
    assert "90d" in result.output
    show = flat(invoke("retention", "show").output)
    assert "pipeline-cache" in show
    assert "forever (default)" in show

    _age_all_blobs()
    dry = invoke("gc", "--dry-run")
    assert dry.exit_code == 0, dry.output
    text = flat(dry.output)
    assert "Would free" in text
    assert "run artifact" in text
    assert "unreferenced" in text
    assert "Would purge 1 deleted run(s)" in text
    real = invoke("gc")
    assert real.exit_code == 0, real.output
    assert "Purged 1 deleted run(s)" in flat(real.output)
    assert "freed" in real.output
    assert "0 B freed" in flat(invoke("gc").output)


def test_gc_rejects_a_bad_grace(keel_home: Path) -> None:
    result = invoke("gc", "--grace", "soon")
    assert result.exit_code == 1
    assert "'soon' is not a duration" in flat(result.output)


def test_data_delete_needs_purge_and_names_dependents(keel_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"x": range(20)}).to_parquet(path)
    version = keel.datasets.register("events", str(path))
    store = get_client().store
    store.add_lineage_edge(("dataset_version", version.ref), ("run", "r9"), "input")
    store.add_lineage_edge(("run", "r9"), ("model_version", "fraud/2"), "logged")
    reset_client()

    result = invoke("data", "delete", version.ref)
    assert result.exit_code == 1
    assert "Pass --purge to confirm" in flat(result.output)
    result = invoke("data", "delete", version.ref, "--purge")
    assert result.exit_code == 1
    assert "model_version 'fraud/2'" in flat(result.output)

    path2 = tmp_path / "e.parquet"
    pd.DataFrame({"x": range(30)}).to_parquet(path2)
    other = keel.datasets.register("events", str(path2))
    reset_client()
    result = invoke("data", "delete", other.ref, "--purge", "--grace", "0s")
    assert result.exit_code == 0, result.output
    assert f"Purged {other.ref}" in result.output
    assert not get_client().artifacts.exists(other.digest)
