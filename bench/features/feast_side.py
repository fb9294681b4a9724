"""The Feast side of the feature-store benchmark; runs in Feast's own venv (.bench/feast).

One operation per process, printed as one JSON line: ``setup REPO SOURCE STORE TTL``,
``historical REPO ENTITIES``, ``materialize REPO START END``, ``online REPO N_ENTITIES CALLS SEED``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

FEATURES = ["customer_stats:avg_amount_7d", "customer_stats:tx_count_7d", "customer_stats:country"]

REPO = """\
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64, Int64, String

customer = Entity(name="customer", join_keys=["customer_id"])
source = FileSource(path={source!r}, timestamp_field="event_time")
customer_stats = FeatureView(
    name="customer_stats",
    entities=[customer],
    ttl={ttl},
    schema=[
        Field(name="avg_amount_7d", dtype=Float64),
        Field(name="tx_count_7d", dtype=Int64),
        Field(name="country", dtype=String),
    ],
    source=source,
    online=True,
)
"""

CONFIG = """\
project: bench
registry: {repo}/data/registry.db
provider: local
online_store:
  type: sqlite
  path: {repo}/data/online.db
offline_store:
  type: {store}
entity_key_serialization_version: 3
"""


def setup(repo: str, source: str, store: str, ttl_hours: str) -> None:
    path = Path(repo)
    (path / "data").mkdir(parents=True, exist_ok=True)
    ttl = "timedelta(0)" if int(ttl_hours) == 0 else f"timedelta(hours={int(ttl_hours)})"
    (path / "features.py").write_text(REPO.format(source=source, ttl=ttl))
    (path / "feature_store.yaml").write_text(CONFIG.format(repo=path, store=store))


def main() -> None:
    op, repo, *args = sys.argv[1:]
    if op == "setup":
        setup(repo, *args)
        return
    from feast import FeatureStore

    fs = FeatureStore(repo_path=repo)
    if op == "historical":
        import pandas as pd

        entity_df = pd.read_parquet(args[0])
        started = time.perf_counter()
        frame = fs.get_historical_features(entity_df=entity_df, features=FEATURES).to_df()
        seconds = time.perf_counter() - started
        frame = frame.sort_values(["customer_id", "event_timestamp"]).reset_index(drop=True)
        print(
            json.dumps(
                {
                    "seconds": seconds,
                    "rows": len(frame),
                    "non_null": int(frame["avg_amount_7d"].notna().sum()),
                    "checksum": float(frame["avg_amount_7d"].fillna(0).sum()),
                }
            )
        )
    elif op == "materialize":
        from datetime import datetime

        start, end = (datetime.fromisoformat(a) for a in args)
        started = time.perf_counter()
        fs.materialize(start_date=start, end_date=end)
        print(json.dumps({"seconds": time.perf_counter() - started}))
    elif op == "online":
        import random

        n, calls, seed, universe = (int(a) for a in args)
        rng = random.Random(seed)
        rows = [[{"customer_id": rng.randrange(universe)} for _ in range(n)] for _ in range(calls)]
        fs.get_online_features(features=FEATURES, entity_rows=rows[0]).to_dict()  # warm up
        latencies, cpu = [], []
        for batch in rows:
            started, cpu_started = time.perf_counter(), time.process_time()
            out = fs.get_online_features(features=FEATURES, entity_rows=batch).to_dict()
            cpu.append(time.process_time() - cpu_started)
            latencies.append(time.perf_counter() - started)
        print(json.dumps({"latencies": latencies, "cpu": cpu, "sample": out["avg_amount_7d"][:1]}))


if __name__ == "__main__":
    main()
