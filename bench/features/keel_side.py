"""The Keel side of the feature-store benchmark (and the hand-written DuckDB baseline).

Runs in Keel's venv with ``KEEL_HOME`` set by the driver. One operation per process, printed as
one JSON line: ``setup REPO SOURCE TTL_HOURS``, ``historical ENTITIES``,
``baseline SOURCE ENTITIES TTL_HOURS``, ``materialize START END``,
``online N_ENTITIES CALLS SEED UNIVERSE``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

FEATURES = ["customer_stats:avg_amount_7d", "customer_stats:tx_count_7d", "customer_stats:country"]

DEFS = """\
import keel.features as kf

customer = kf.Entity("customer", join_keys=["customer_id"])
customer_stats = kf.FeatureView(
    name="customer_stats",
    entities=[customer],
    source={source!r},
    timestamp="event_time",
    ttl={ttl},
    features={{"avg_amount_7d": "float64", "tx_count_7d": "int64", "country": "string"}},
)
"""


def _summary(frame: object, seconds: float) -> dict[str, object]:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    frame = frame.sort_values(["customer_id", "event_timestamp"]).reset_index(drop=True)
    return {
        "seconds": seconds,
        "rows": len(frame),
        "non_null": int(frame["avg_amount_7d"].notna().sum()),
        "checksum": float(frame["avg_amount_7d"].fillna(0).sum()),
    }


def main() -> None:
    op, *args = sys.argv[1:]
    if op == "setup":
        repo, source, ttl_hours = args
        ttl = "None" if int(ttl_hours) == 0 else repr(f"{int(ttl_hours)}h")
        Path(repo).mkdir(parents=True, exist_ok=True)
        (Path(repo) / "defs.py").write_text(DEFS.format(source=source, ttl=ttl))
        return
    if op == "baseline":
        import duckdb
        import pandas as pd

        source, entities, ttl_hours = args
        entity_df = pd.read_parquet(entities)
        started = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.register("entity_df", entity_df)
        if int(ttl_hours):
            fresh = f"f.event_time >= e.event_timestamp - INTERVAL {int(ttl_hours)} HOUR"
            cols = ", ".join(
                f"CASE WHEN {fresh} THEN f.{c} END AS {c}"
                for c in ("avg_amount_7d", "tx_count_7d", "country")
            )
        else:
            cols = "f.avg_amount_7d, f.tx_count_7d, f.country"
        frame = con.sql(
            f"SELECT e.*, {cols} FROM entity_df e ASOF LEFT JOIN read_parquet('{source}') f "
            "ON e.customer_id = f.customer_id AND e.event_timestamp >= f.event_time"
        ).df()
        print(json.dumps(_summary(frame, time.perf_counter() - started)))
        return
    import keel.features as kf

    fs = kf.store()
    if op == "historical":
        import pandas as pd

        entity_df = pd.read_parquet(args[0])
        started = time.perf_counter()
        frame = fs.historical(entity_df, FEATURES)
        print(json.dumps(_summary(frame, time.perf_counter() - started)))
    elif op == "materialize":
        started = time.perf_counter()
        (record,) = fs.materialize(["customer_stats"], start=args[0], end=args[1])
        print(
            json.dumps(
                {
                    "seconds": time.perf_counter() - started,
                    "rows_read": record.rows_read,
                    "rows_written": record.rows_written,
                }
            )
        )
    elif op == "online":
        import random

        n, calls, seed, universe = (int(a) for a in args)
        rng = random.Random(seed)
        rows = [[{"customer_id": rng.randrange(universe)} for _ in range(n)] for _ in range(calls)]
        fs.online(FEATURES, rows[0])  # warm up
        latencies, cpu = [], []
        for batch in rows:
            started, cpu_started = time.perf_counter(), time.process_time()
            out = fs.online(FEATURES, batch)
            cpu.append(time.process_time() - cpu_started)
            latencies.append(time.perf_counter() - started)
        print(json.dumps({"latencies": latencies, "cpu": cpu, "sample": out["avg_amount_7d"][:1]}))


if __name__ == "__main__":
    main()
