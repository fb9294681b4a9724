"""The lower bound: the statistics Keel computes, hand-written in NumPy/SciPy, one thread.

Each numeric column is sorted once per side; the KS statistic and the normalized Wasserstein
distance come from the 2,048-point quantile summaries of the sorted columns, as in Keel.
Categorical columns are counted with pandas' hash table; Jensen-Shannon and chi-square follow.
No type inference, no null handling, no report: the floor under what Keel does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spec  # noqa: E402
from _measure import caller_rss, emit, measure  # noqa: E402

special: Any = None  # scipy.special, imported after caller_rss() like every side's tool

GRID = 2048


def summary(values: np.ndarray) -> tuple[np.ndarray, float, int]:
    s = np.sort(values)
    n = len(s)
    idx = np.minimum(((np.arange(GRID) + 0.5) * (n / GRID)).astype(np.int64), n - 1)
    return s[idx], float(s.std()), n


def numeric(a: np.ndarray, b: np.ndarray) -> bool:
    qa, std, n = summary(a)
    qb, _, m = summary(b)
    merged = np.sort(np.concatenate([qa, qb]))
    gap = np.abs(
        np.searchsorted(qa, merged, "right") / GRID - np.searchsorted(qb, merged, "right") / GRID
    )
    ks = gap.max()
    w = float(np.sum(gap[:-1] * np.diff(merged))) / std
    en = n * m / (n + m)
    p = special.kolmogorov((np.sqrt(en) + 0.12 + 0.11 / np.sqrt(en)) * ks)
    return w >= 0.1 and p < 0.01


def categorical(a, b) -> bool:  # type: ignore[no-untyped-def]
    ca, cb = a.value_counts(), b.value_counts()
    keys = ca.index.union(cb.index)
    r = ca.reindex(keys, fill_value=0).to_numpy(float)
    c = cb.reindex(keys, fill_value=0).to_numpy(float)
    p, q = r / r.sum(), c / c.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        js = np.sqrt(0.5 * np.nansum(p * np.log2(p / m)) + 0.5 * np.nansum(q * np.log2(q / m)))
    col = r + c
    er, ec = col * r.sum() / col.sum(), col * c.sum() / col.sum()
    chi2 = np.sum((r - er) ** 2 / er) + np.sum((c - ec) ** 2 / ec)
    return js >= 0.1 and special.chdtrc(len(keys) - 1, chi2) < 0.01


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    ref, cur = spec.pair(args.size)
    caller = caller_rss()
    global special
    from scipy import special

    def run() -> set[str]:
        out = {c for c in spec.NUMERIC if numeric(ref[c].to_numpy(), cur[c].to_numpy())}
        return out | {c for c in spec.CATEGORICAL if categorical(ref[c], cur[c])}

    run()  # warm-up, as on the other sides
    emit(measure(run, args.reps, caller))


if __name__ == "__main__":
    main()
