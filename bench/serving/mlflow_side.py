"""MLflow side: save the benchmark's pickled model as an MLflow model (run in .bench/mlflow).

Usage: python mlflow_side.py MODEL.pkl OUT_DIR
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mlflow.sklearn  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from spec import frame  # noqa: E402


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    with src.open("rb") as fh:
        model = pickle.load(fh)  # the benchmark's own file, written by run.py
    example = frame(5)
    mlflow.sklearn.save_model(
        model,
        str(out),
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
    )
    print("{}")


if __name__ == "__main__":
    main()
