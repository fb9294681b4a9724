"""The example projects of ``examples/`` run on small data, each in a fresh ``KEEL_HOME``.

Each example's ``main`` runs in its own process (as ``python run.py`` would), with smaller
sizes than its defaults; what it returns is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _main(example: str, tmp_path: Path, call: str) -> Any:
    code = (
        "import json, runpy, sys\n"
        "from pathlib import Path\n"
        f"sys.path.insert(0, {str(ROOT / 'examples' / example)!r})\n"
        f"m = runpy.run_path({str(ROOT / 'examples' / example / 'run.py')!r})\n"
        f"print('RESULT=' + json.dumps(m['main']({call}), default=str))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["KEEL_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT="))
    return json.loads(line[len("RESULT=") :])


def test_churn_features_retrains_on_drift(tmp_path: Path) -> None:
    result = _main("churn_features", tmp_path, f"Path({str(tmp_path)!r}), customers=400")
    assert result["first_version"] == 1
    assert result["first_auc"] > 0.6
    assert result["online"]["customer_id"] == [1, 2]
    assert result["drifted"] == ["avg_amount_7d"]
    assert result["retrained_version"] == 2
    assert result["champion"] == 2


@pytest.mark.ray
def test_xgboost_tuned_on_ray(tmp_path: Path) -> None:
    result = _main("xgboost_ray", tmp_path, "'ray', trials=3, rows=600")
    assert result["flavor"] == "xgboost"
    assert result["version"] == 1
    assert set(result["params"]) == {"max_depth", "learning_rate", "n_estimators"}


def test_torch_model_monitored(tmp_path: Path) -> None:
    result = _main("torch_monitoring", tmp_path, f"Path({str(tmp_path)!r}), rows=1000, epochs=100")
    assert result["train_accuracy"] > 0.8
    assert result["statuses"] == ["ok", "breach"]
    assert Path(result["report"]).is_file()
