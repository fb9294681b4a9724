"""Keel's side: ``log`` (log + register, timed inside an active run) or ``load`` (fresh process).

Prints one JSON line of timings in seconds.
Usage: keel_side.py log SERIALIZATION | load VERSION [warm] [estimator] | sklearn 1
(``estimator``: load the estimator itself, ``compiled=False``, not the compiled NumPy form).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spec  # noqa: E402


def log(serialization: str) -> dict[str, float]:
    import keel

    X, y = spec.data()
    model = spec.model(X, y)
    with keel.start_run():
        keel.log_metric("accuracy", float(model.score(X, y)))
        t = time.perf_counter()
        info = keel.log_model(
            model,
            "model",
            input_example=X[:5],
            registered_name=spec.MODEL_NAME,
            serialization=serialization,
        )
        elapsed = time.perf_counter() - t
    return {"log_register_s": elapsed, "version": info.version or 0}


def load(version: str, warm: bool, compiled: bool) -> dict[str, float]:
    import keel

    if warm:  # the library the model needs is imported already: time the registry's own work
        import sklearn.linear_model  # noqa: F401
    t_import = time.perf_counter()
    m = keel.load_model(f"models:/{spec.MODEL_NAME}/{version}", compiled=compiled)
    t_load = time.perf_counter()
    m.predict(spec.rows())
    t_pred = time.perf_counter()
    return {
        "import_s": t_import - T0,
        "load_s": t_load - t_import,
        "predict_s": t_pred - t_load,
        "in_process_s": t_pred - T0,
        "sqlalchemy_imported": float("sqlalchemy" in sys.modules),
        "sklearn_imported": float("sklearn" in sys.modules),
        "compiled": float(m.compiled is not None),
    }


def sklearn_import() -> dict[str, float]:
    """Time importing what unpickling the model needs, and nothing else, in a fresh process."""
    t = time.perf_counter()
    import sklearn.linear_model  # noqa: F401

    return {"import_sklearn_s": time.perf_counter() - t}


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    warm = "warm" in sys.argv[3:]
    compiled = "estimator" not in sys.argv[3:]
    if mode == "sklearn":
        print(json.dumps(sklearn_import()))
        raise SystemExit(0)
    print(json.dumps(log(arg) if mode == "log" else load(arg, warm, compiled)))
