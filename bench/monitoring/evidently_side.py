"""Evidently's side: Report([DataDriftPreset()]) on the benchmark frames (.bench/evidently)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spec  # noqa: E402
from _measure import emit, measure  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

DEFINITION = DataDefinition(numerical_columns=spec.NUMERIC, categorical_columns=spec.CATEGORICAL)


def drifted(ref, cur) -> set[str]:  # type: ignore[no-untyped-def]
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=DEFINITION),
        Dataset.from_pandas(ref, data_definition=DEFINITION),
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
    args = parser.parse_args()
    ref, cur = spec.pair(args.size)
    drifted(spec.frame(2000, 3, False), spec.frame(2000, 4, True))  # warm-up
    emit(measure(lambda: drifted(ref, cur), args.reps))


if __name__ == "__main__":
    main()
