"""Great Expectations' side (in .bench/gx, GX 1.x): the same 14 expectations, from the file.

Usage: python gx_side.py FILE REPEATS  ->  one JSON line with the times and bad-row counts.
Each repeat reads the Parquet file with pandas and validates the DataFrame batch against the
suite (an ephemeral context: no project files), the way GX 1.x validates a pandas batch.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import spec  # noqa: E402

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402


def build() -> tuple[object, object]:
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset("tx")
    batch_definition = asset.add_batch_definition_whole_dataframe("all")
    suite = gx.ExpectationSuite(name="bench-14")
    E = gx.expectations
    for col in spec.NOT_NULL:
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col))
    for col, (lo, hi) in spec.RANGES.items():
        suite.add_expectation(
            E.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi)
        )
    for col, values in spec.SETS.items():
        suite.add_expectation(E.ExpectColumnValuesToBeInSet(column=col, value_set=values))
    suite.add_expectation(E.ExpectTableRowCountToBeBetween(min_value=spec.MIN_ROWS))
    suite.add_expectation(E.ExpectColumnValuesToBeUnique(column=spec.UNIQUE))
    suite = context.suites.add(suite)
    return batch_definition, suite


def label(result: object) -> str:
    config = result.expectation_config  # type: ignore[attr-defined]
    kind = config.type
    column = config.kwargs.get("column")
    return {
        "expect_column_values_to_not_be_null": f"not_null:{column}",
        "expect_column_values_to_be_between": f"between:{column}",
        "expect_column_values_to_be_in_set": f"in_set:{column}",
        "expect_table_row_count_to_be_between": "row_count",
        "expect_column_values_to_be_unique": f"unique:{column}",
    }[kind]


def main() -> None:
    path, repeats = sys.argv[1], int(sys.argv[2])
    batch_definition, suite = build()
    times = []
    outcome = None
    for _ in range(repeats):
        t = time.perf_counter()
        df = pd.read_parquet(path)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})  # type: ignore[attr-defined]
        outcome = batch.validate(suite)
        times.append(time.perf_counter() - t)
    assert outcome is not None
    counts = dict.fromkeys(spec.LABELS, 0)
    for r in outcome.results:
        key = label(r)
        if key != "row_count":
            counts[key] = int(r.result.get("unexpected_count") or 0)
    out = {"tool": "gx", "version": gx.__version__, "times": times, "counts": counts}
    print(json.dumps({**out, "passed": bool(outcome.success)}))


if __name__ == "__main__":
    main()
