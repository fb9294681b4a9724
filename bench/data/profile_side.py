"""Profiling: ``keel.data.profile`` against DuckDB's own ``SUMMARIZE`` of the same file.

Usage: python profile_side.py FILE REPEATS -> one JSON line with the median time of each (after
a warm-up run of each; the runs alternate so both see the same load).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import duckdb

import keel.data as kd
from keel.data._engine import connect


def main() -> None:
    path, repeats = sys.argv[1], int(sys.argv[2])
    keel_times, duck_times = [], []
    for i in range(repeats + 1):
        con = connect()  # the same engine settings Keel's profile uses
        t = time.perf_counter()
        con.execute(f"SUMMARIZE SELECT * FROM read_parquet('{path}')").fetchall()
        duck = time.perf_counter() - t
        con.close()
        t = time.perf_counter()
        prof = kd.profile(path)
        keel = time.perf_counter() - t
        if i:  # the first run of each warms the file cache
            keel_times.append(keel)
            duck_times.append(duck)
    assert prof.num_rows > 0
    print(
        json.dumps(
            {
                "keel": statistics.median(keel_times),
                "summarize": statistics.median(duck_times),
                "duckdb": duckdb.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
