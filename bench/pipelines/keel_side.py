"""Keel side of the pipelines benchmark: a chain of trivial steps, run in-process.

Run with Keel's venv python: ``python keel_side.py HOME REPS``. Prints one JSON line.
Each run gets a different start value, so no step is a cache hit: every output is hashed,
stored as a blob and recorded, as in any first run.
"""

from __future__ import annotations

import json
import os
import sys
import time

HOME, REPS = sys.argv[1], int(sys.argv[2])
os.environ["KEEL_HOME"] = HOME
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import spec  # noqa: E402

import keel  # noqa: E402


@keel.step
def inc(x: int) -> int:
    return x + 1


def chain(n: int) -> keel.pipelines.Pipeline:
    @keel.pipeline(name=f"chain{n}")
    def flow(start: int = 0):
        x = start
        for _ in range(n):
            x = inc(x)
        return x

    return flow


small, large = chain(spec.BASE_STEPS), chain(spec.STEPS)
seed = int(time.time()) * 1000  # distinct inputs on every invocation: no cache hits
small.run(start=seed - 5000)
large.run(start=seed)
times: dict[str, list[float]] = {"base": [], "large": []}
for rep in range(REPS):
    for key, flow in (("base", small), ("large", large)):
        start = seed + (rep + 1) * 10_000 + (5000 if key == "base" else 0)
        t0 = time.perf_counter()
        run = flow.run(start=start)
        times[key].append(time.perf_counter() - t0)
        n = spec.STEPS if key == "large" else spec.BASE_STEPS
        if run.status != "FINISHED" or run.outputs != start + n or run.cache_hits:
            raise SystemExit(f"bad run: {run!r} {run.error}")
print(json.dumps({"tool": "keel", "version": keel.__version__, **times}))
