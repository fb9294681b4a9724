"""Helpers of the tracking suite for running scripts and the ``keel`` CLI as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def keel_cli() -> str:
    """The ``keel`` console script installed beside this interpreter."""
    return str(Path(sys.executable).parent / "keel")


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment (so KEEL_HOME / KEEL_STORE_URI carry over), plus ``extra``."""
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    env.setdefault("COLUMNS", "200")
    env.update(extra)
    return env


def write_script(folder: Path, name: str, code: str) -> Path:
    """Write a dedented Python script and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


def run_cli(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run ``keel ARGS`` as a subprocess and return the finished process."""
    return subprocess.run(
        [keel_cli(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(**extra_env),
        check=False,
    )
