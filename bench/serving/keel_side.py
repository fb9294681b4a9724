"""Keel side: register the benchmark's pickled model in a fresh KEEL_HOME, alias ``champion``.

Usage: KEEL_HOME=... python keel_side.py MODEL.pkl
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spec import frame  # noqa: E402

import keel  # noqa: E402


def main() -> None:
    with Path(sys.argv[1]).open("rb") as fh:
        model = pickle.load(fh)  # the benchmark's own file, written by run.py
    with keel.start_run(run_name="serving-bench"):
        info = keel.log_model(model, "model", input_example=frame(5), registered_name="bench")
    keel.models.set_alias("bench", "champion", version=info.version)
    from keel.serving import ServingRuntime

    # Whether `keel serve` will take the matrix fast path for this model (decided at load), and
    # whether it predicts with the model's compiled NumPy form.
    matrix = ServingRuntime("models:/bench@champion").load().primary.matrix
    compiled = keel.load_model("models:/bench@champion").compiled is not None
    print(
        json.dumps(
            {
                "uri": "models:/bench@champion",
                "version": info.version,
                "matrix": matrix,
                "compiled": compiled,
            }
        )
    )


if __name__ == "__main__":
    main()
