"""Shared by the sides: time a call, and its peak memory (Linux VmHWM, reset before the call).

Every side counts memory the same way, at two levels:

* ``peak_rss``: the whole process at its peak during the call: the interpreter, NumPy and
  pandas, the two input frames, the tool's libraries and its working memory.
* ``tool_peak``: that peak minus the process's resident set just before the tool was imported,
  when it held only the interpreter, NumPy, pandas and the input frames (``caller_rss``, taken
  by :func:`caller_rss` after the frames were built). This is what the drift tool adds to the
  caller's process: its libraries, its warm-up and its working memory. The input frames are the
  caller's and are the same data on every side, but each side's venv has its own pandas, which
  stores them differently (pandas 3 holds strings in Arrow), so they are left out here.
"""

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


def caller_rss() -> int:
    """Return the resident set now, after a full collection (call it before importing the tool)."""
    gc.collect()
    return _status("VmRSS")


def measure(run: Callable[[], set[str]], reps: int, caller: int = 0) -> dict[str, Any]:
    """Run ``run`` ``reps`` times; the first run's peak memory, every run's wall time.

    ``caller`` is :func:`caller_rss` from before the tool was imported (0: not known).
    """
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
        "caller_rss": caller,
        "tool_peak": peak - caller if caller else None,
        "drifted": sorted(drifted),
        "pid": os.getpid(),
    }


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
