"""The cold-start load path: a fresh process loads a model without the store's heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keel
from keel.tracking import TrackingClient

from .conftest import churn_frame

X, Y = churn_frame()

# What a fresh serving or batch process must not pay for when it only loads a model from a
# SQLite store: the URI is resolved with one sqlite3 query (keel.registry._fastload), and a
# pickled estimator needs only what unpickling imports (scikit-learn brings joblib itself).
HEAVY = ("sqlalchemy", "alembic", "skops")


def test_fresh_process_load_imports_no_store_machinery(
    local: TrackingClient, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    with keel.start_run():
        info = keel.log_model(
            LogisticRegression().fit(X, Y), "model", input_example=X[:5], registered_name="cold"
        )
    keel.models.set_alias("cold", "champion", version=info.version or 1)
    script = (
        "import json, sys, keel\n"
        "m = keel.load_model('models:/cold@champion')\n"
        f"print(json.dumps([n for n in {HEAVY!r} if n in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
