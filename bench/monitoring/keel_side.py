"""Keel's side: keel.monitoring.drift on the benchmark frames (Keel's venv)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spec  # noqa: E402
from _measure import emit, measure  # noqa: E402

import keel.monitoring as km  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    ref, cur = spec.pair(args.size)
    small_ref, small_cur = spec.frame(2000, 3, False), spec.frame(2000, 4, True)
    km.drift(small_ref, small_cur)  # warm-up: lazy imports, as on the other sides

    def run() -> set[str]:
        return set(km.drift(ref, cur, threads=args.threads).drifted_features)

    emit(measure(run, args.reps))


if __name__ == "__main__":
    main()
