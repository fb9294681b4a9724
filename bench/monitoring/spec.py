"""The drift benchmark's data: 25 columns (20 numeric, 5 categorical), six of them shifted.

Imported by every side (Keel, Evidently, the NumPy/SciPy lower bound), each in its own venv, so
it needs only NumPy and pandas (imported when a frame is built, so that a side reading Parquet
does not load pandas unless its tool does). Reference and current frames are generated the same
way everywhere from fixed seeds.

``python spec.py --write DIR SIZE...`` writes the data-at-rest scenario's files: for each size,
``DIR/SIZE/ref.parquet`` and ``DIR/SIZE/cur.parquet`` (plain Arrow types: float64 and string,
no pandas metadata, so every pandas version reads them alike), plus a 2,000-row ``warm`` pair.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
#: Columns whose distribution the current frame changes, and how.
SHIFTS = {
    "n00": "mean +0.5 sd",
    "n01": "sd x1.6",
    "n02": "new mode (20% at +4 sd)",
    "n07": "log-normal sigma 0.5 -> 0.8",
    "c0": "category mix",
    "c1": "new category (15%)",
}
SIZES = {"100k": 100_000, "1M": 1_000_000}


def frame(n: int, seed: int, shifted: bool) -> pd.DataFrame:
    """Return ``n`` rows; with ``shifted``, the columns of :data:`SHIFTS` change."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 4
        if name == "n00":
            cols[name] = rng.normal(0.5 if shifted else 0.0, 1.0, n)
        elif name == "n01":
            cols[name] = rng.normal(10.0, 1.6 if shifted else 1.0, n)
        elif name == "n02":
            base = rng.normal(0.0, 1.0, n)
            if shifted:
                mode = rng.random(n) < 0.2
                base[mode] = rng.normal(4.0, 0.5, int(mode.sum()))
            cols[name] = base
        elif name == "n07":
            cols[name] = rng.lognormal(3.0, 0.8 if shifted else 0.5, n)
        elif kind == 0:
            cols[name] = rng.normal(i, 1.0 + i / 10, n)
        elif kind == 1:
            cols[name] = rng.lognormal(1.0, 0.5, n)
        elif kind == 2:
            cols[name] = rng.uniform(0.0, 100.0, n)
        else:
            cols[name] = rng.gamma(2.0, 3.0, n)
    letters = np.array([f"k{j:02d}" for j in range(40)], dtype=object)
    for i, name in enumerate(CATEGORICAL):
        k = (5, 8, 12, 20, 40)[i]
        weights = np.linspace(1.0, 3.0, k)
        if name == "c0" and shifted:
            weights = weights[::-1]
        p = weights / weights.sum()
        values = letters[:k][np.searchsorted(np.cumsum(p)[:-1], rng.random(n))]
        if name == "c1" and shifted:
            values = values.copy()
            values[rng.random(n) < 0.15] = "brand-new"
        cols[name] = values
    return pd.DataFrame(cols)


def pair(size: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the reference and current frames of a size."""
    n = SIZES[size]
    return frame(n, 1, shifted=False), frame(n, 2, shifted=True)


def write_parquet(folder: Path, n: int, ref_seed: int, cur_seed: int) -> None:
    """Write a reference and a current Parquet file of ``n`` rows into ``folder``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for name, seed, shifted in (("ref", ref_seed, False), ("cur", cur_seed, True)):
        table = pa.Table.from_pandas(frame(n, seed, shifted), preserve_index=False)
        schema = pa.schema(
            [
                pa.field(f.name, pa.string() if f.name in CATEGORICAL else pa.float64())
                for f in table.schema
            ]
        )
        pq.write_table(table.cast(schema).replace_schema_metadata(None), folder / f"{name}.parquet")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", type=Path, required=True)
    parser.add_argument("sizes", nargs="+")
    args = parser.parse_args()
    write_parquet(args.write / "warm", 2000, 3, 4)
    for size in args.sizes:
        write_parquet(args.write / size, SIZES[size], 1, 2)


if __name__ == "__main__":
    main()
