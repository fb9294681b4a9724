"""Prefect side of the pipelines benchmark: the same chain as Prefect 3 tasks in a flow.

Run with the Prefect venv's python: ``python prefect_side.py HOME REPS``. Prints one JSON line.
Prefect runs against a temporary local server it starts itself (SQLite in HOME), offline.
Besides whole-flow times it reports the time of the task loop inside the flow body.
"""

from __future__ import annotations

import json
import os
import sys
import time

HOME, REPS = sys.argv[1], int(sys.argv[2])
os.environ.update(
    PREFECT_HOME=HOME,
    PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{HOME}/prefect.db",
    PREFECT_SERVER_ANALYTICS_ENABLED="false",
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="900",
    PREFECT_LOGGING_LEVEL="WARNING",
    DO_NOT_TRACK="1",
)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import prefect  # noqa: E402
import spec  # noqa: E402
from prefect import flow, task  # noqa: E402

inner: list[float] = []


@task
def inc(x: int) -> int:
    return x + 1


def chain(n: int):  # noqa: ANN201
    @flow(name=f"chain{n}")
    def run(start: int = 0) -> int:
        t0 = time.perf_counter()
        x = start
        for _ in range(n):
            x = inc(x)
        inner.append(time.perf_counter() - t0)
        return x

    return run


small, large = chain(spec.BASE_STEPS), chain(spec.STEPS)
t0 = time.perf_counter()
small(0)  # starts the local server
startup = time.perf_counter() - t0
large(0)
inner.clear()
times: dict[str, list[float]] = {"base": [], "large": [], "large_inner": []}
for rep in range(REPS):
    for key, fn, n in (("base", small, spec.BASE_STEPS), ("large", large, spec.STEPS)):
        start = (rep + 1) * 10_000
        t = time.perf_counter()
        out = fn(start)
        times[key].append(time.perf_counter() - t)
        if key == "large":
            times["large_inner"].append(inner[-1])
        if out != start + n:
            raise SystemExit(f"bad result {out}")
print(json.dumps({"tool": "prefect", "version": prefect.__version__, "startup": startup, **times}))
