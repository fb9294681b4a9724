"""pandera's side (in .bench/pandera): the same 14 checks on a pandas DataFrame read from the file.

Usage: python pandera_side.py FILE REPEATS  ->  one JSON line with the times and bad-row counts.
Each repeat reads the Parquet file with pandas and validates it lazily (every check runs and
all failure cases are collected), as pandera users validate a batch.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import pandas as pd  # noqa: E402
import spec  # noqa: E402

try:
    import pandera.pandas as pa  # pandera >= 0.24
except ImportError:  # older pandera
    import pandera as pa  # type: ignore[no-redef]
from pandera.errors import SchemaErrors  # noqa: E402


def schema() -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    for col in {*spec.NOT_NULL, *spec.RANGES, *spec.SETS}:
        checks = []
        if col in spec.RANGES:
            lo, hi = spec.RANGES[col]
            checks.append(pa.Check.in_range(lo, hi))
        if col in spec.SETS:
            checks.append(pa.Check.isin(spec.SETS[col]))
        columns[col] = pa.Column(
            checks=checks,
            nullable=col not in spec.NOT_NULL,
            unique=col == spec.UNIQUE,
            coerce=False,
        )
    return pa.DataFrameSchema(
        columns,
        checks=[pa.Check(lambda df: len(df) >= spec.MIN_ROWS, name="row_count")],
        strict=False,
    )


def counts(errors: SchemaErrors | None) -> dict[str, int]:
    out = dict.fromkeys(spec.LABELS, 0)
    if errors is None:
        return out
    fc = errors.failure_cases
    for (column, check), n in fc.groupby(["column", "check"], dropna=False).size().items():
        check = str(check)
        if check == "not_nullable":
            out[f"not_null:{column}"] += int(n)
        elif check.startswith("in_range"):
            out[f"between:{column}"] += int(n)
        elif check.startswith("isin"):
            out[f"in_set:{column}"] += int(n)
        elif check == "field_uniqueness":
            out[f"unique:{column}"] += int(n)
    return out


def main() -> None:
    path, repeats = sys.argv[1], int(sys.argv[2])
    s = schema()
    times = []
    errors: SchemaErrors | None = None
    for _ in range(repeats):
        t = time.perf_counter()
        df = pd.read_parquet(path)
        try:
            s.validate(df, lazy=True)
            errors = None
        except SchemaErrors as exc:
            errors = exc
        times.append(time.perf_counter() - t)
    out = {"tool": "pandera", "times": times, "counts": counts(errors)}
    print(json.dumps({**out, "passed": errors is None}))


if __name__ == "__main__":
    main()
