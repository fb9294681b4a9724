"""Keel's side: validate the benchmark file with the 14 checks, end to end from the file.

Usage: python keel_side.py FILE REPEATS  ->  one JSON line with the times and bad-row counts.
Each repeat reads the Parquet file and runs every check (DuckDB, one aggregate query).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import spec  # noqa: E402

import keel.data as kd  # noqa: E402


def suite() -> kd.Suite:
    checks = [kd.not_null(spec.NOT_NULL)]
    checks += [kd.between(c, lo, hi) for c, (lo, hi) in spec.RANGES.items()]
    checks += [kd.in_set(c, v) for c, v in spec.SETS.items()]
    checks += [kd.row_count(min=spec.MIN_ROWS), kd.unique(spec.UNIQUE)]
    return kd.Suite("bench-14", checks=checks)


def counts(result: kd.ValidationResult) -> dict[str, int]:
    out = {}
    for label, c in zip(spec.LABELS, result.checks, strict=True):
        out[label] = 0 if c.check == "row_count" else int(c.bad_rows or 0)
    return out


def main() -> None:
    path, repeats = sys.argv[1], int(sys.argv[2])
    s = suite()
    times = []
    result = None
    for _ in range(repeats):
        t = time.perf_counter()
        result = s.validate(path, record=False)
        times.append(time.perf_counter() - t)
    assert result is not None
    assert len(result.checks) == 14
    print(
        json.dumps(
            {
                "tool": "keel",
                "times": times,
                "counts": counts(result),
                "passed": result.passed,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
