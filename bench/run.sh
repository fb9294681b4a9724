#!/usr/bin/env bash
# Side-by-side benchmarks (`make bench`). Safe to re-run: each venv is made once.
#   Keel   runs from the repo's .venv (made by `make test` / `make quickstart`, or here).
#   MLflow runs from its own venv, .bench/mlflow; the two never share one.
# Extra arguments go to the tracking driver, e.g. `bash bench/run.sh --quick`;
# BENCH_MLFLOW_ASYNC=1 adds MLflow's async logging as an extra column.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
MLFLOW_SPEC="${BENCH_MLFLOW_SPEC:-mlflow>=2.10}"

if [[ ! -x .venv/bin/python ]]; then
    echo "bench: creating .venv for Keel" >&2
    "$PYTHON" -m venv .venv
    .venv/bin/pip install -q -e .
elif ! .venv/bin/python -c "import keel" 2>/dev/null; then
    echo "bench: installing Keel into .venv" >&2
    .venv/bin/pip install -q -e .
fi

if ! .bench/mlflow/bin/python -c "import mlflow, sqlalchemy" 2>/dev/null; then
    echo "bench: creating .bench/mlflow with '$MLFLOW_SPEC' (takes a minute or two)" >&2
    rm -rf .bench/mlflow
    mkdir -p .bench
    "$PYTHON" -m venv .bench/mlflow
    .bench/mlflow/bin/pip install -q --disable-pip-version-check "$MLFLOW_SPEC"
fi

.venv/bin/python bench/registry/run.py  # registry: log+register and load vs MLflow
.venv/bin/python bench/monitoring/run.py  # drift: vs Evidently DataDriftPreset
.venv/bin/python bench/pipelines/run.py  # pipelines: per-step overhead vs Prefect 3
.venv/bin/python bench/data/run.py  # validation: vs Great Expectations 1.x and pandera
.venv/bin/python bench/features/run.py  # features: point-in-time, online, apply vs Feast
.venv/bin/python bench/serving/run.py  # serving: keel serve vs mlflow models serve vs bare FastAPI
.venv/bin/python bench/ui/run.py  # web UI: the runs table of a 10,000-run experiment
.venv/bin/python bench/server/run.py  # team server: 4 clients at once vs mlflow server
exec .venv/bin/python bench/tracking/run.py "$@"
