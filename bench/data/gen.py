"""Generate the benchmark's Parquet files: 25 columns, clean or with 1% bad values per check.

Run with Keel's venv (NumPy and pyarrow). Files are written in 1,000,000-row row groups so the
10x file never has to fit in memory here either. ``<file>.expected.json`` holds the exact number
of bad rows per check, counted from the written values, so each side's counts can be compared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import spec  # noqa: E402

CHUNK = 1_000_000
NOW = np.datetime64("2026-01-01T00:00:00", "us")


def _pick(rng: np.random.Generator, values: list[str], n: int) -> np.ndarray:
    return rng.choice(np.array(values, dtype=object), n)


def _chunk(start: int, n: int, rng: np.random.Generator, bad: float) -> pa.Table:
    ids = start + rng.permutation(n).astype(np.int64)
    cols: dict[str, np.ndarray] = {
        "tx_id": ids,
        "customer_id": rng.integers(1, 200_000, n),
        "merchant_id": rng.integers(1, 5_000, n),
        "amount": np.round(rng.gamma(2.0, 80.0, n).clip(0, 50_000), 2),
        "fee": np.round(rng.uniform(0, 500, n), 2),
        "quantity": rng.integers(1, 101, n),
        "discount": np.round(rng.uniform(0, 1, n), 3),
        "age": rng.integers(18, 101, n),
        "score": rng.normal(600, 80, n),
    }
    country = rng.choice(np.array(spec.SETS["country"], dtype=object), n)
    channel = rng.choice(np.array(spec.SETS["channel"], dtype=object), n)
    masks: dict[str, np.ndarray] = {}
    if bad:
        k = int(n * bad)

        def pick() -> np.ndarray:
            return rng.choice(n, k, replace=False)

        for col, (lo, hi) in spec.RANGES.items():
            rows = pick()
            cols[col] = cols[col].astype(np.float64) if col in ("quantity", "age") else cols[col]
            below, above = lo - 1 - rng.random(k), hi + 1 + rng.random(k)
            cols[col][rows] = np.where(rng.random(k) < 0.5, below, above)
            if col in ("quantity", "age"):
                cols[col] = np.round(cols[col]).astype(np.int64)
        country[pick()] = "XX"
        channel[pick()] = "fax"
        dup_rows = pick()
        cols["tx_id"][dup_rows] = cols["tx_id"][rng.choice(n, k)]
        for col in spec.NOT_NULL:
            mask = np.zeros(n, dtype=bool)
            mask[pick()] = True
            masks[col] = mask
    seconds = rng.integers(0, 30 * 86_400, n)
    event_time = NOW - seconds.astype("timedelta64[s]")
    arrays: dict[str, pa.Array] = {}
    for name, values in cols.items():
        arrays[name] = pa.array(values, mask=masks.get(name))
    arrays["country"] = pa.array(country, pa.string(), mask=masks.get("country"))
    arrays["channel"] = pa.array(channel, pa.string())
    arrays["currency"] = pa.array(_pick(rng, ["EUR", "USD", "GBP"], n), pa.string())
    ids_text = pc.cast(pa.array(ids), pa.string())
    arrays["email"] = pc.binary_join_element_wise("user", ids_text, "@example.com", "")
    arrays["device"] = pa.array(_pick(rng, ["ios", "android", "desktop"], n), pa.string())
    arrays["event_time"] = pa.array(event_time, pa.timestamp("us"), mask=masks.get("event_time"))
    arrays["created_date"] = pc.cast(pc.cast(arrays["event_time"], pa.timestamp("s")), pa.date32())
    arrays["is_fraud"] = pa.array(rng.random(n) < 0.01)
    for i in range(1, 9):
        arrays[f"f{i}"] = pa.array(rng.normal(size=n))
    order = [
        "tx_id",
        "customer_id",
        "merchant_id",
        "amount",
        "fee",
        "quantity",
        "discount",
        "age",
        "score",
        "country",
        "channel",
        "currency",
        "email",
        "device",
        "event_time",
        "created_date",
        "is_fraud",
        *[f"f{i}" for i in range(1, 9)],
    ]
    table = pa.table({name: arrays[name] for name in order})
    assert table.num_columns == 25
    return table


def _count(table: pa.Table, counts: dict[str, int], dup_ids: list[np.ndarray]) -> None:
    for col in spec.NOT_NULL:
        counts[f"not_null:{col}"] += table.column(col).null_count
    for col, (lo, hi) in spec.RANGES.items():
        v = table.column(col).to_numpy(zero_copy_only=False).astype(np.float64)
        counts[f"between:{col}"] += int(np.sum(~np.isnan(v) & ((v < lo) | (v > hi))))
    for col, values in spec.SETS.items():
        arr = table.column(col)
        ok = pc.is_in(arr, value_set=pa.array(values))
        wrong = pc.and_(pc.invert(ok), pc.is_valid(arr))
        counts[f"in_set:{col}"] += int(pc.sum(wrong).as_py() or 0)
    ids = table.column(spec.UNIQUE)
    dup_ids.append(ids.drop_null().to_numpy())


def generate(path: Path, rows: int, bad: float, seed: int = 1) -> dict[str, int]:
    """Write the file and its ``.expected.json``; return the expected bad-row counts."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(spec.LABELS, 0)
    id_chunks: list[np.ndarray] = []
    writer = None
    try:
        for start in range(0, rows, CHUNK):
            table = _chunk(start, min(CHUNK, rows - start), rng, bad)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=CHUNK)
            _count(table, counts, id_chunks)
    finally:
        if writer is not None:
            writer.close()
    # Duplicates never cross chunks (each chunk draws ids from its own range).
    dups = 0
    for ids in id_chunks:
        _, inverse, n = np.unique(ids, return_inverse=True, return_counts=True)
        dups += int(np.sum(n[inverse] > 1))
    counts[f"unique:{spec.UNIQUE}"] = dups
    counts["row_count"] = 0
    Path(str(path) + ".expected.json").write_text(json.dumps(counts, indent=1))
    return counts


if __name__ == "__main__":
    out, rows, bad = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(generate(out, rows, bad)))
