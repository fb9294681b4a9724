"""What the feature-store benchmark measures, and the data it runs on.

Stdlib only at import (the driver runs under any Python); :func:`generate` needs numpy,
pandas and pyarrow and runs in Keel's venv. Both tools read the same files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

FEATURES = ("avg_amount_7d", "tx_count_7d", "country")
TTL_HOURS = 24
START = "2025-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class Size:
    name: str
    entities: int
    hours: int
    entity_rows: int
    online_calls: int

    @property
    def source_rows(self) -> int:
        return self.entities * self.hours


FULL = Size("full", entities=10_000, hours=720, entity_rows=100_000, online_calls=1_000)
QUICK = Size("quick", entities=1_000, hours=240, entity_rows=10_000, online_calls=200)


def generate(size: Size, folder: Path, seed: int = 0) -> dict[str, str]:
    """Write the source (hourly rows per customer, time-ordered) and the entity rows."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "customer_stats.parquet"
    entities = folder / "entities.parquet"
    meta = folder / "meta.json"
    if meta.exists() and json.loads(meta.read_text()) == asdict(size):
        return {"source": str(source), "entities": str(entities)}
    rng = np.random.default_rng(seed)
    start = np.datetime64(START[:19], "us")
    n = size.source_rows
    hour_us = np.int64(3_600_000_000)
    times = start + (
        np.repeat(np.arange(size.hours, dtype=np.int64), size.entities) * hour_us
    ).astype("timedelta64[us]")
    countries = np.array(["DE", "FR", "US", "GB", "JP", "BR", "IN", "NL"])
    table = pa.table(
        {
            "customer_id": np.tile(np.arange(size.entities, dtype=np.int64), size.hours),
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "avg_amount_7d": np.round(rng.normal(50, 10, n), 4),
            "tx_count_7d": rng.integers(0, 100, n),
            "country": pa.array(countries[rng.integers(0, len(countries), n)]),
        }
    )
    pq.write_table(table, source, row_group_size=1_000_000)
    # 1% of entity rows name customers with no rows; times anywhere in the range
    ids = rng.integers(0, int(size.entities * 1.01), size.entity_rows)
    seconds = rng.integers(0, size.hours * 3600, size.entity_rows)
    stamps = pd.to_datetime(start + (seconds * 1_000_000).astype("timedelta64[us]")).tz_localize(
        "UTC"
    )
    pd.DataFrame({"customer_id": ids.astype(np.int64), "event_timestamp": stamps}).to_parquet(
        entities
    )
    meta.write_text(json.dumps(asdict(size)))
    return {"source": str(source), "entities": str(entities)}
