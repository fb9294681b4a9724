"""Load acceptance: `keel serve` for 60 s at 32 connections, zero non-2xx, RSS growth < 10%.

Runs ``bench/serving/load.py`` (its own processes: the server and the load generator) at its
full acceptance settings. Slow by design (about 80 s), so marked ``slow``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "serving" / "load.py"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_60s_at_32_connections_has_no_failures_and_flat_memory(
    keel_home: Path, tmp_path: Path
) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--duration",
            "60",
            "--connections",
            "32",
            "--work",
            str(tmp_path / "load"),
        ],
        capture_output=True,
        text=True,
        timeout=380,
        check=False,
    )
    assert out.stdout.strip(), out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["duration_s"] == 60
    assert result["connections"] == 32
    assert result["requests"] > 0
    assert result["non_2xx"] == 0, result
    assert result["connection_errors"] == {}, result
    assert result["rss_growth"] < 0.10, result
    assert result["graceful_stop"], result
    assert result["logged_predictions"] == result["answered_2xx"], result
    assert result["passed"], result
    assert out.returncode == 0
