"""``keel features``: apply a definitions file (diff first), list, materialize."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli import app

runner = CliRunner()

DEFS = """\
import keel.features as kf

customer = kf.Entity("customer", join_keys=["customer_id"])
stats = kf.FeatureView(
    name="customer_stats", entities=[customer], source="data/customer_stats/*.parquet",
    timestamp="event_time", ttl="{ttl}",
    features={{"avg_amount_7d": "float64", "tx_count_7d": "{count_type}", "country": "string"}},
)
service = kf.FeatureService("churn", [stats[["avg_amount_7d", "country"]]])
"""


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def write_defs(folder: Path, ttl: str = "30d", count_type: str = "int64") -> Path:
    path = folder / "defs.py"
    path.write_text(DEFS.format(ttl=ttl, count_type=count_type))
    return path


def test_apply_ls_materialize(keel_home: Path, stats_path: Path) -> None:
    defs = write_defs(stats_path.parents[2])
    code, out = invoke("features", "apply", str(defs))
    assert code == 0, out
    assert "+ feature view customer_stats (new, v1)" in out
    assert "Applied 3 change(s)." in out
    code, out = invoke(
        "features", "apply", str(write_defs(defs.parent, count_type="float64")), "--dry-run"
    )
    assert "~ feature view customer_stats v1 -> v2" in out
    assert "'int64' -> 'float64'" in out
    assert "Dry run: nothing was written." in out
    code, out = invoke("features", "ls")
    assert code == 0
    assert "customer_stats" in out
    assert "v1" in out
    assert "ttl 30d" in out
    code, out = invoke("features", "materialize", "--end", "2025-01-02T00:00:00Z")
    assert code == 0, out
    assert "customer_stats@v1" in out
    assert "480" in out
    assert "20" in out
    code, out = invoke("features", "materialize", "--end", "2025-01-02T00:00:00Z")
    assert "Nothing to materialize" in out


def test_bad_input(keel_home: Path, tmp_path: Path) -> None:
    code, out = invoke("features", "apply", str(tmp_path / "missing.py"))
    assert code == 1
    assert "does not exist" in out
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    code, out = invoke("features", "apply", str(empty))
    assert code == 1
    assert "defines no entities" in out
    code, out = invoke("features", "materialize", "nope")
    assert code == 1
    assert "No feature view is named 'nope'" in out
    code, out = invoke("features", "materialize", "--end", "yesterday")
    assert code == 1
    assert "ISO 8601" in out


@pytest.mark.slow
def test_real_command_line(keel_home: Path, stats_path: Path) -> None:
    defs = write_defs(stats_path.parents[2])
    env = {**os.environ, "KEEL_HOME": str(keel_home)}
    keel = Path(sys.executable).parent / "keel"
    done = subprocess.run(
        [str(keel), "features", "apply", str(defs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "+ entity customer (new, v1)" in done.stdout


def test_unchanged_apply_opens_no_metadata_store(keel_home: Path, stats_path: Path) -> None:
    """Only writing needs SQLAlchemy: a fresh process that finds nothing to change skips it."""
    defs = write_defs(stats_path.parents[2])
    assert invoke("features", "apply", str(defs))[0] == 0
    code = (
        "import sys\n"
        "from keel.cli import main\n"
        f"sys.argv = ['keel', 'features', 'apply', {str(defs)!r}]\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print('sqlalchemy' in sys.modules)\n"
    )
    env = {**os.environ, "KEEL_HOME": str(keel_home), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "= feature view customer_stats v1 (unchanged)" in done.stdout
    assert "No changes." in done.stdout
    assert done.stdout.splitlines()[-1] == "False"


def test_root_builds_only_the_command_it_runs() -> None:
    import typer.main

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="keel")
    names = root.list_commands(ctx)  # type: ignore[attr-defined]
    assert names[:2] == ["agent", "doctor"]
    assert {"features", "runs", "models", "projects"} <= set(names)
    assert root.commands._built == {}  # type: ignore[attr-defined]
    features = root.get_command(ctx, "features")  # type: ignore[attr-defined]
    assert features is not None
    assert "apply" in features.list_commands(ctx)
    assert list(root.commands._built) == ["features"]  # type: ignore[attr-defined]
