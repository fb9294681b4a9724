"""Keel's side: keel.monitoring.drift on the benchmark data (Keel's venv).

Two scenarios: ``SIZE`` alone compares the frames built in this process (the caller's data in
memory); ``SIZE --parquet DIR`` compares the Parquet files ``DIR/SIZE/{ref,cur}.parquet`` by
path, the way a user with data at rest calls Keel (nothing is read before the call).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spec  # noqa: E402
from _measure import caller_rss, emit, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parquet", type=Path, default=None, help="Read DIR/SIZE/*.parquet.")
    args = parser.parse_args()
    if args.parquet is None:
        ref, cur = spec.pair(args.size)
        small_ref, small_cur = spec.frame(2000, 3, False), spec.frame(2000, 4, True)
    else:
        ref, cur = (
            args.parquet / args.size / "ref.parquet",
            args.parquet / args.size / "cur.parquet",
        )
        small_ref, small_cur = (
            args.parquet / "warm" / "ref.parquet",
            args.parquet / "warm" / "cur.parquet",
        )
    caller = caller_rss()
    import keel.monitoring as km

    km.drift(small_ref, small_cur)  # warm-up: lazy imports, as on the other sides

    def run() -> set[str]:
        return set(km.drift(ref, cur, threads=args.threads).drifted_features)

    emit(measure(run, args.reps, caller))


if __name__ == "__main__":
    main()
