"""Shared by the sides: time a call, and its peak memory (Linux VmHWM, reset before the call)."""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def measure(run: Callable[[], set[str]], reps: int) -> dict[str, Any]:
    """Run ``run`` ``reps`` times; the first run's peak memory, every run's wall time."""
    gc.collect()
    base = _status("VmRSS")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # reset the peak RSS to the current RSS
    times = []
    drifted: set[str] = set()
    peak = 0
    for i in range(reps):
        start = time.perf_counter()
        drifted = run()
        times.append(time.perf_counter() - start)
        if i == 0:
            peak = _status("VmHWM")
        gc.collect()
    return {
        "times": times,
        "best": min(times),
        "peak_rss": peak,
        "data_rss": base,
        "peak_above_data": peak - base,
        "drifted": sorted(drifted),
        "pid": os.getpid(),
    }


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
