"""Evidently's side: Report([DataDriftPreset()]) on the benchmark data (.bench/evidently).

Two scenarios: ``SIZE`` alone compares the frames built in this process (the caller's data in
memory); ``SIZE --parquet DIR`` starts from the Parquet files ``DIR/SIZE/{ref,cur}.parquet``
the way an Evidently user must, reading them with ``pandas.read_parquet`` (Evidently takes
pandas frames only), inside the measured call.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spec  # noqa: E402
from _measure import caller_rss, emit, measure  # noqa: E402


def drifted(ref, cur) -> set[str]:  # type: ignore[no-untyped-def]
    # Imported here, so that caller_rss() is taken before Evidently is loaded.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=spec.NUMERIC, categorical_columns=spec.CATEGORICAL
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    out = set()
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        value, threshold = metric["value"], config["threshold"]
        p_value = "p_value" in config["method"].lower() or "test" in config["method"].lower()
        if (value < threshold) if p_value else (value >= threshold):
            out.add(config["column"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--parquet", type=Path, default=None, help="Read DIR/SIZE/*.parquet.")
    args = parser.parse_args()
    if args.parquet is not None:
        caller = caller_rss()  # nothing read, pandas not imported yet

        def from_files(folder: Path) -> set[str]:
            import pandas as pd

            ref = pd.read_parquet(folder / "ref.parquet")
            cur = pd.read_parquet(folder / "cur.parquet")
            return drifted(ref, cur)

        from_files(args.parquet / "warm")  # warm-up: imports pandas, pyarrow and Evidently
        emit(measure(lambda: from_files(args.parquet / args.size), args.reps, caller))
        return
    ref, cur = spec.pair(args.size)
    small_ref, small_cur = spec.frame(2000, 3, False), spec.frame(2000, 4, True)
    caller = caller_rss()
    drifted(small_ref, small_cur)  # warm-up: imports Evidently
    emit(measure(lambda: drifted(ref, cur), args.reps, caller))


if __name__ == "__main__":
    main()
