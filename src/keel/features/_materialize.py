"""Materialization: the latest row of each entity in a time window, written to the online store.

The same tie rule as historical retrieval picks the row (latest event time, then latest
created time, then last in the source), so an online lookup returns what a point-in-time
query at the window's end returns. DuckDB finds each entity's latest time with a hash
aggregation, then fetches those rows; they stream out in Arrow batches and each batch is one
online-store write.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from keel.features._duck import arrow_reader, connect, quote, ts_literal
from keel.features._offline import _ts_expr, source_relation
from keel.features._sources import FILE_COL, POS_COL, reads_remote
from keel.features._types import DUCKDB_TYPES

if TYPE_CHECKING:
    from keel.features._definitions import FeatureView
    from keel.features._store import FeatureStore
    from keel.store._features import MaterializationRecord

__all__ = ["materialize_view"]


def materialize_view(
    fs: FeatureStore, view: FeatureView, start_us: int | None, end_us: int, batch_size: int
) -> MaterializationRecord | None:
    """Materialize one view over ``[start, end)``; return the record, or ``None`` if empty.

    ``start_us`` ``None`` means: from the watermark, else ``end - ttl``, else all history.
    """
    from keel.features._store import online_table
    from keel.store._features import NewMaterialization

    started = time.perf_counter()
    table = online_table(view)
    online_uri = fs.online_store.display_uri
    if start_us is None:
        start_us = fs.repo.watermark(view.name, view.data_digest, online_uri)
        if start_us is None and view.ttl_us is not None:
            start_us = end_us - view.ttl_us
    if start_us is not None and start_us >= end_us:
        return None
    con = connect(remote=reads_remote(view.source))
    try:
        relation, ts_type, _, lineage_ref = source_relation(con, view)
        ts_sql, cast_type = _ts_expr(view.timestamp, ts_type)
        keys = [quote(k) for k in view.join_keys]
        where = [f"{ts_sql} IS NOT NULL", f"{ts_sql} < {ts_literal(end_us, cast_type)}"]
        where += [f"{k} IS NOT NULL" for k in keys]
        if start_us is not None:
            where.append(f"{ts_sql} >= {ts_literal(start_us, cast_type)}")
        s_ts = _ts_expr(view.timestamp, ts_type, "s")[0]
        created = (
            f"epoch_us(CAST(s.{quote(view.created_timestamp)} AS TIMESTAMPTZ))"
            if view.created_timestamp
            else "NULL::BIGINT"
        )
        values = []
        for feat, typ in view.features.items():
            expr = f"CAST(s.{quote(feat)} AS {DUCKDB_TYPES[typ]})"
            if typ == "timestamp":
                expr = f"epoch_us({expr})"
            values.append(f"{expr} AS {quote(feat)}")
        order = [f"s.{FILE_COL} DESC NULLS LAST", f"s.{POS_COL} DESC"]
        if view.created_timestamp:
            order.insert(0, f"s.{quote(view.created_timestamp)} DESC NULLS LAST")
        # Two phases, as for historical retrieval: the latest time per entity by a hash
        # aggregation over keys and times only, then an equality join fetches those rows and
        # breaks ties; ~9x faster than one arg_max over every column.
        sql = f"""
WITH g AS (
  SELECT {", ".join(keys)}, max({ts_sql}) AS __keel_m, count(*) AS __keel_n
  FROM {relation} WHERE {" AND ".join(where)} GROUP BY ALL
)
SELECT {", ".join(f"s.{k}" for k in keys)}, epoch_us(CAST({s_ts} AS TIMESTAMPTZ)) AS __keel_t,
       {created} AS __keel_c, {", ".join(values)}, g.__keel_n
FROM g JOIN {relation} s ON {" AND ".join(f"s.{k} = g.{k}" for k in keys)} AND {s_ts} = g.__keel_m
QUALIFY row_number() OVER (PARTITION BY {", ".join(f"s.{k}" for k in keys)}
                           ORDER BY {", ".join(order)}) = 1"""
        reader = arrow_reader(con, sql, batch_size)
        rows_read = rows_written = batches = 0
        pending: list[tuple[object, ...]] = []
        for batch in reader:  # DuckDB's chunks vary in size; write exactly batch_size rows
            cols = [c.to_pylist() for c in batch.columns]
            rows_read += sum(cols[-1])
            pending.extend(zip(*cols[:-1], strict=True))
            while len(pending) >= batch_size:
                rows_written += fs.online_store.write(table, pending[:batch_size])
                del pending[:batch_size]
                batches += 1
        if pending:
            rows_written += fs.online_store.write(table, pending)
            batches += 1
    finally:
        con.close()
    for namespace in fs.online_store.namespaces(view.name):
        if namespace != table.namespace:  # rows of an older data definition of the view
            fs.online_store.drop_namespace(namespace)
    view_node = ("feature_view", f"{view.name}@v{view.version}")
    lineage = [(view_node, "materialized")]
    if lineage_ref is not None:
        lineage.append((("dataset_version", lineage_ref), "source"))
    return fs.repo.record_materialization(
        NewMaterialization(
            view_name=view.name,
            view_version=view.version or 0,
            data_digest=view.data_digest,
            online_store=online_uri,
            start_us=start_us,
            end_us=end_us,
            rows_read=rows_read,
            rows_written=rows_written,
            batches=batches,
            duration_s=time.perf_counter() - started,
            created_by=fs.metadata.actor,
            lineage=lineage,
        )
    )
