"""MLflow's side of the tracking benchmark. Runs in MLflow's own venv (.bench/mlflow).

Usage:
    python mlflow_side.py setup WORKLOAD STORE_DIR
    python mlflow_side.py run WORKLOAD STORE_DIR [--async]
    python mlflow_side.py version

``setup`` creates the SQLite store (MLflow's schema migrations happen here, untimed)
and, for the search workloads, the runs to search. The driver may then switch the
file to WAL with ``PRAGMA journal_mode=WAL``. ``run`` opens the existing store
(untimed), times the workload and prints one JSON line. The tracking store is
``sqlite:///STORE_DIR/mlflow.db`` through MLflow's fluent API, as users call it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spec  # noqa: E402


class Timer:
    """Wall time and CPU time (all threads) of a block. CPU time is less sensitive than
    wall time to other processes on a busy machine; the driver shows it beside wall time."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = -time.perf_counter(), -time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()


# What a default install does, made explicit: synchronous logging, no system
# metrics, and no telemetry thread (this machine has no route out).
os.environ.pop("MLFLOW_ENABLE_ASYNC_LOGGING", None)
os.environ["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] = "false"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"


def _open(store_dir: Path):  # type: ignore[no-untyped-def]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store_dir / 'mlflow.db'}")
    mlflow.set_experiment(spec.EXPERIMENT)
    return mlflow


def setup(workload: str, store_dir: Path) -> dict[str, object]:
    mlflow = _open(store_dir)
    if workload == "search":
        _populate(mlflow, store_dir)
    return {}


def _populate(mlflow, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Create the runs to search. Untimed, so it takes the quickest path: WAL on
    and one batch per run (the driver sets each copy's journal mode afterwards)."""
    import sqlite3

    from mlflow.entities import Metric, Param

    with sqlite3.connect(store_dir / "mlflow.db") as db:
        db.execute("PRAGMA journal_mode=WAL")
    client = mlflow.MlflowClient()
    experiment_id = mlflow.get_experiment_by_name(spec.EXPERIMENT).experiment_id
    for i in range(spec.SEARCH_RUNS):
        run = client.create_run(experiment_id, run_name=f"run-{i}")
        now = int(time.time() * 1000)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, now, 0) for k, v in spec.search_metrics(i).items()],
            params=[Param(k, v) for k, v in spec.search_params(i).items()],
        )
        client.set_terminated(run.info.run_id)


def _metrics(mlflow) -> tuple[Timer, dict[str, object]]:  # type: ignore[no-untyped-def]
    with Timer() as timer:
        with mlflow.start_run(run_name="metrics", log_system_metrics=False) as run:
            for i in range(spec.METRIC_CALLS):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        # With async logging on, end_run only hands the queue over; wait until written.
        mlflow.flush_async_logging()
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    return timer, {"logged": len(history), "expected": spec.METRIC_CALLS}


def _runs(mlflow) -> tuple[Timer, dict[str, object]]:  # type: ignore[no-untyped-def]
    with Timer() as timer:
        for i in range(spec.RUNS):
            with mlflow.start_run(run_name=f"run-{i}", log_system_metrics=False):
                mlflow.log_params(spec.run_params(i))
                mlflow.log_metrics(spec.run_metrics(i), step=0)
        mlflow.flush_async_logging()
    runs = mlflow.search_runs(experiment_names=[spec.EXPERIMENT], output_format="list")
    full = sum(
        1
        for r in runs
        if len(r.data.params) == spec.PARAMS_PER_RUN and len(r.data.metrics) == spec.METRICS_PER_RUN
    )
    return timer, {"logged": full, "expected": spec.RUNS}


def _search(mlflow, ordered: bool) -> tuple[Timer, dict[str, object]]:  # type: ignore[no-untyped-def]
    kwargs: dict[str, object] = (
        {"order_by": [spec.SEARCH_ORDER]} if ordered else {"filter_string": spec.SEARCH_FILTER}
    )
    with Timer() as timer:
        runs = mlflow.search_runs(
            experiment_names=[spec.EXPERIMENT], output_format="list", **kwargs
        )
    expected = spec.SEARCH_RUNS if ordered else spec.SEARCH_EXPECTED_FILTERED
    info: dict[str, object] = {"logged": len(runs), "expected": expected}
    if ordered and runs and runs[0].data.metrics.get("auc") != spec.SEARCH_TOP_AUC:
        info["error"] = f"first run has auc {runs[0].data.metrics.get('auc')!r}"
    return timer, info


WORKLOADS = {
    "metrics": _metrics,
    "runs": _runs,
    "search_filter": lambda mlflow: _search(mlflow, ordered=False),
    "search_order": lambda mlflow: _search(mlflow, ordered=True),
}


def run(workload: str, store_dir: Path, use_async: bool) -> dict[str, object]:
    if workload not in WORKLOADS:
        raise SystemExit(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS)}")
    mlflow = _open(store_dir)  # store init and schema check: untimed
    if use_async:
        mlflow.config.enable_async_logging(True)
    timer, info = WORKLOADS[workload](mlflow)
    return {"seconds": timer.wall, "cpu_seconds": timer.cpu, **info}


def main(argv: list[str]) -> int:
    if argv[:1] == ["version"]:
        import mlflow

        print(json.dumps({"version": mlflow.__version__}))
        return 0
    if len(argv) < 3 or argv[0] not in ("setup", "run"):
        print(__doc__, file=sys.stderr)
        return 2
    command, workload, store_dir = argv[0], argv[1], Path(argv[2]).resolve()
    os.chdir(store_dir)  # keep any stray ./mlruns out of the repo
    if command == "setup":
        result = setup(workload, store_dir)
    else:
        result = run(workload, store_dir, use_async="--async" in argv[3:])
    print(json.dumps({"tool": "mlflow", "workload": workload, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
