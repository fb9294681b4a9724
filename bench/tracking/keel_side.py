"""Keel's side of the tracking benchmark. Runs in Keel's venv (.venv).

Usage:
    python keel_side.py setup WORKLOAD STORE_DIR
    python keel_side.py run WORKLOAD STORE_DIR
    python keel_side.py version

``setup`` creates the store (``KEEL_HOME=STORE_DIR``: ``keel.db`` and ``artifacts/``)
and, for the search workloads, the runs to search. ``run`` opens the existing store
(untimed), times the workload and prints one JSON line. Same workloads, same names
and values as ``mlflow_side.py`` (both read ``spec.py``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

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


def _open(store_dir: Path) -> ModuleType:
    os.environ.pop("KEEL_STORE_URI", None)
    os.environ.pop("KEEL_TRACKING_URI", None)
    os.environ.pop("KEEL_ARTIFACT_URI", None)
    os.environ["KEEL_HOME"] = str(store_dir)
    import keel

    keel.set_experiment(spec.EXPERIMENT)
    return keel


def setup(workload: str, store_dir: Path) -> dict[str, object]:
    keel = _open(store_dir)
    if workload == "search":
        for i in range(spec.SEARCH_RUNS):
            with keel.start_run(run_name=f"run-{i}"):
                keel.log_params(spec.search_params(i))
                keel.log_metrics(spec.search_metrics(i))
    return {}


def _metrics(keel: ModuleType) -> tuple[Timer, dict[str, object]]:
    with Timer() as timer, keel.start_run(run_name="metrics") as run:
        for i in range(spec.METRIC_CALLS):
            keel.log_metric("loss", 1.0 / (i + 1), step=i)
        # Leaving the run's block ends it and flushes Keel's metric buffer: inside the timer.
    history = keel.get_metric_history(run.info.id, "loss")
    return timer, {"logged": len(history), "expected": spec.METRIC_CALLS}


def _runs(keel: ModuleType) -> tuple[Timer, dict[str, object]]:
    with Timer() as timer:
        for i in range(spec.RUNS):
            with keel.start_run(run_name=f"run-{i}"):
                keel.log_params(spec.run_params(i))
                keel.log_metrics(spec.run_metrics(i), step=0)
    runs = keel.search_runs(spec.EXPERIMENT)
    full = sum(
        1
        for r in runs
        if len(r.data.params) == spec.PARAMS_PER_RUN and len(r.data.metrics) == spec.METRICS_PER_RUN
    )
    return timer, {"logged": full, "expected": spec.RUNS}


def _search(keel: ModuleType, ordered: bool) -> tuple[Timer, dict[str, object]]:
    kwargs: dict[str, object] = (
        {"order_by": [spec.SEARCH_ORDER]} if ordered else {"filter": spec.SEARCH_FILTER}
    )
    with Timer() as timer:
        runs = keel.search_runs(spec.EXPERIMENT, **kwargs)
    expected = spec.SEARCH_RUNS if ordered else spec.SEARCH_EXPECTED_FILTERED
    info: dict[str, object] = {"logged": len(runs), "expected": expected}
    if ordered and runs and runs[0].data.metrics.get("auc") != spec.SEARCH_TOP_AUC:
        info["error"] = f"first run has auc {runs[0].data.metrics.get('auc')!r}"
    return timer, info


WORKLOADS = {
    "metrics": _metrics,
    "runs": _runs,
    "search_filter": lambda keel: _search(keel, ordered=False),
    "search_order": lambda keel: _search(keel, ordered=True),
}


def run(workload: str, store_dir: Path) -> dict[str, object]:
    if workload not in WORKLOADS:
        raise SystemExit(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS)}")
    keel = _open(store_dir)  # settings, store engine, schema check: untimed
    timer, info = WORKLOADS[workload](keel)
    return {"seconds": timer.wall, "cpu_seconds": timer.cpu, **info}


def main(argv: list[str]) -> int:
    if argv[:1] == ["version"]:
        import keel

        print(json.dumps({"version": keel.__version__}))
        return 0
    if len(argv) < 3 or argv[0] not in ("setup", "run"):
        print(__doc__, file=sys.stderr)
        return 2
    command, workload, store_dir = argv[0], argv[1], Path(argv[2]).resolve()
    os.chdir(store_dir)
    result = setup(workload, store_dir) if command == "setup" else run(workload, store_dir)
    print(json.dumps({"tool": "keel", "workload": workload, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
