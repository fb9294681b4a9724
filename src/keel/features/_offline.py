"""Point-in-time correct retrieval: DuckDB ASOF joins over the views' sources.

For each entity row and each feature view, the answer is the source row of the same entity
whose event timestamp is the latest at or before the entity's timestamp, provided it is no
older than the view's ttl (``t - ttl <= event_time <= t``); otherwise the features are null.
Among rows of one entity with that same event timestamp, the greatest created timestamp wins
(when the view has one; a null created timestamp counts as oldest), then the row that comes
last in the source (file order, then row order). A later value is never used.

Each view is two steps. First the matching event time per entity row: an ASOF join of the
entity rows with just the source's keys and times, or, for a view with a ttl that is short
against the data, a hash join of each entity row with its entity's rows in two ttl-wide time
buckets (no sort of the source, a fraction of the memory; one scan of keys and times decides).
Then an equality join fetches the rows at those times. Arrow applies the tie rule to the entity
rows that matched several and puts the features in entity-row order.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, near_matches
from keel.features._duck import arrow_table, describe, quote, ts_literal
from keel.features._frames import ROW_COL, TS_COL, EntityFrame
from keel.features._sources import FILE_COL, POS_COL, ParquetSource, SqlSource, render
from keel.features._types import DUCKDB_TYPES

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from keel.features._definitions import FeatureView

__all__ = ["retrieve", "source_relation"]

_NAIVE = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}


def source_relation(
    con: duckdb.DuckDBPyConnection, view: FeatureView
) -> tuple[str, str, dict[str, str], str | None]:
    """Return a view's source relation, its timestamp expression and type, and its lineage id.

    The timestamp expression is the view's timestamp column, cast to ``TIMESTAMP`` when the
    source stores dates.

    Raises:
        InvalidArgumentError: The timestamp column is missing or not a point in time.
    """
    relation, lineage = render(view.source)
    types = describe(con, relation, f"feature view {view.name!r}")
    ts_type = types.get(view.timestamp)
    if ts_type is None:
        cols = user_columns(types)
        raise InvalidArgumentError(
            f"The source of feature view {view.name!r} has no timestamp column "
            f"{view.timestamp!r}.{near_matches(view.timestamp, cols)} Its columns: "
            f"{', '.join(repr(c) for c in cols)}."
        )
    return relation, ts_type, types, lineage


def user_columns(types: dict[str, str]) -> list[str]:
    """Return a source's own columns (without the position columns Keel adds)."""
    return [c for c in types if c not in (FILE_COL, POS_COL)]


def _ts_expr(column: str, ts_type: str, alias: str = "") -> tuple[str, str]:
    """Return the SQL of a source timestamp column and the type entity times are cast to.

    Dates are cast to ``TIMESTAMP`` (midnight UTC); ``alias`` qualifies the column.
    """
    col = f"{alias}.{quote(column)}" if alias else quote(column)
    if ts_type == "DATE":
        return f"CAST({col} AS TIMESTAMP)", "TIMESTAMP"
    if ts_type in _NAIVE or ts_type == "TIMESTAMP WITH TIME ZONE":
        return col, ts_type
    raise InvalidArgumentError(
        f"The timestamp column {column!r} has the type {ts_type}; it must hold timestamps or dates."
    )


def _check_key_types(frame: EntityFrame, view: FeatureView) -> None:
    import pyarrow as pa

    for key in view.join_keys:
        typ = frame.table.schema.field(key).type
        expected = view.key_types.get(key)
        if pa.types.is_null(typ):
            continue
        is_int = pa.types.is_integer(typ)
        is_str = pa.types.is_string(typ) or pa.types.is_large_string(typ)
        if (expected == "int64" and not is_int) or (expected == "string" and not is_str):
            held = "string" if is_str else "integer" if is_int else str(typ)
            raise InvalidArgumentError(
                f"The entity frame's join key {key!r} holds {held} values, but feature view "
                f"{view.name!r} keys its rows by {expected} {key!r}. Convert the column "
                f"(for example df[{key!r}].astype({'int' if expected == 'int64' else 'str'}))."
            )


#: Forces a matching strategy (``"asof"`` or ``"buckets"``); ``None`` lets Keel choose. Tests
#: set it to check both against the same reference.
STRATEGY: str | None = None


def _use_buckets(
    con: duckdb.DuckDBPyConnection,
    frame: EntityFrame,
    relation: str,
    ts_sql: str,
    keys: list[str],
    bounds: str,
    view: FeatureView,
) -> bool:
    """Whether a ttl window join beats the ASOF join for this view and these entity rows.

    The window join pairs each entity row with the source rows of its entity in two buckets
    of ``ttl`` width: cheap (hash join, little memory) when those are few, ruinous when the
    ttl spans much of the data. One scan of keys and times estimates the pairs.
    """
    if STRATEGY is not None:
        return STRATEGY == "buckets"
    if frame.ts_range is None or frame.num_rows == 0 or view.source.kind == "sql":
        return False
    key_expr = keys[0] if len(keys) == 1 else f"({', '.join(keys)})"
    rows_found = con.execute(
        f"SELECT count(*), approx_count_distinct({key_expr}), "
        f"epoch_us(CAST(min({ts_sql}) AS TIMESTAMPTZ)), "
        f"epoch_us(CAST(max({ts_sql}) AS TIMESTAMPTZ)) "
        f"FROM {relation} WHERE {ts_sql} IS NOT NULL{bounds}"
    ).fetchall()
    row = rows_found[0] if rows_found else None
    if row is None or not row[0] or row[2] is None:
        return True  # nothing to join: either way is instant
    rows, distinct, low, high = int(row[0]), max(int(row[1] or 1), 1), int(row[2]), int(row[3])
    ttl = view.ttl_us or 1
    span = max(high - low, ttl)
    per_key_per_window = rows / distinct * min(1.0, 2 * ttl / span)
    pairs = frame.num_rows * per_key_per_window
    return pairs <= rows


def _bucket_match(
    i: int, keys: list[str], relation: str, ts_sql: str, bounds: str, ttl_us: int
) -> str:
    """Return the CTEs of the ttl window join for view ``i``.

    Entity rows meet the source rows of their entity in their ttl bucket or the one before
    (``[t - ttl, t]`` lies within those two), and keep the latest time in ``[t - ttl, t]``.
    """
    m = f"{ttl_us}::BIGINT"

    def bucket(us: str) -> str:  # floor division that is right for times before 1970 too
        return f"(({us}) - (((({us}) % {m}) + {m}) % {m})) // {m}"

    eu = f"epoch_us(CAST({TS_COL} AS TIMESTAMPTZ))"
    tu = f"epoch_us(CAST({ts_sql} AS TIMESTAMPTZ))"
    on = " AND ".join(f"f.{k} = p.{k}" for k in keys)
    return f"""__keel_p{i} AS (
  SELECT {ROW_COL}, {", ".join(keys)}, {eu} AS __keel_eu, {bucket(eu)} - __keel_d AS __keel_b
  FROM __keel_entity, (VALUES (0), (1)) __keel_v(__keel_d)
),
__keel_f{i} AS (
  SELECT {", ".join(keys)}, {ts_sql} AS __keel_t, {tu} AS __keel_tu, {bucket(tu)} AS __keel_b
  FROM {relation} WHERE {ts_sql} IS NOT NULL{bounds}
),
__keel_m{i} AS (
  SELECT p.{ROW_COL}, {", ".join(f"p.{k}" for k in keys)}, max(f.__keel_t) AS __keel_m
  FROM __keel_p{i} p JOIN __keel_f{i} f ON {on} AND f.__keel_b = p.__keel_b
  WHERE f.__keel_tu <= p.__keel_eu AND f.__keel_tu >= p.__keel_eu - {m}
  GROUP BY ALL
)"""


def retrieve(
    con: duckdb.DuckDBPyConnection,
    frame: EntityFrame,
    views: dict[str, tuple[FeatureView, list[str]]],
) -> pa.Table:
    """Return one column per ``(view, feature)``, named ``view__feature``, in entity-row order.

    One query per view, so the memory of one view's joins is freed before the next view's.
    Each returns its matched rows in any order, with the source position of each (ties of
    event time give several rows for one entity row); Arrow then breaks those ties and puts
    the rows in entity-row order. DuckDB could do both (a window and a join with the entity
    rows, sorted), but would hold every matched row in hash partitions and sort buffers for
    it: about a third of the query's working memory.

    Args:
        con: The DuckDB connection to run on.
        frame: The entity rows.
        views: View name to the view and the features to read from it.
    """
    import pyarrow as pa

    columns: dict[str, pa.ChunkedArray] = {}
    con.register("__keel_entity", frame.table)
    try:
        for view, feats in views.values():
            names = [f"{view.name}__{f}" for f in feats]
            matched = _matched_rows(con, frame, view, feats)
            columns.update(_in_entity_order(matched, frame.num_rows, names))
    finally:
        con.unregister("__keel_entity")
    return pa.table(columns) if columns else pa.table({})


#: The created timestamp among a view's matched rows (a tie key).
_CREATED = "__keel_created"


def _matched_rows(
    con: duckdb.DuckDBPyConnection, frame: EntityFrame, view: FeatureView, feats: list[str]
) -> pa.Table:
    """Run one view's query: its source rows that match entity rows, ties not yet broken.

    Columns: ``__keel_row``, the tie keys (created timestamp, file, position; each only when
    it can differ between rows), then the features, named ``view__feature``.
    """
    _check_key_types(frame, view)
    relation, ts_type, types, _ = source_relation(con, view)
    for feat in feats:
        if feat not in types:
            raise InvalidArgumentError(
                f"The source of feature view {view.name!r} no longer has the feature column "
                f"{feat!r}. Its columns: {', '.join(repr(c) for c in user_columns(types))}. "
                "Fix the source or apply the view again."
            )
    ts_sql, entity_type = _ts_expr(view.timestamp, ts_type)
    keys = [quote(k) for k in view.join_keys]
    bounds = ""
    if frame.ts_range is not None:
        low, high = frame.ts_range
        bounds = f" AND {ts_sql} <= {ts_literal(high, entity_type)}"
        if view.ttl_us is not None:
            bounds += f" AND {ts_sql} >= {ts_literal(low - view.ttl_us, entity_type)}"
    on_keys = " AND ".join(f"e.{k} = f.{k}" for k in keys)
    if view.ttl_us is not None and _use_buckets(con, frame, relation, ts_sql, keys, bounds, view):
        match = _bucket_match(0, keys, relation, ts_sql, bounds, view.ttl_us)
    else:
        ttl = ""
        if view.ttl_us is not None:
            ttl = f"WHERE f.__keel_t >= e.__keel_et - to_microseconds({view.ttl_us}::BIGINT)"
        match = f"""__keel_m0 AS (
  SELECT e.{ROW_COL}, {", ".join(f"e.{k}" for k in keys)}, f.__keel_t AS __keel_m
  FROM (SELECT {ROW_COL}, {", ".join(keys)}, CAST({TS_COL} AS {entity_type}) AS __keel_et
        FROM __keel_entity) e
  ASOF JOIN (SELECT {", ".join(keys)}, {ts_sql} AS __keel_t FROM {relation}
             WHERE {ts_sql} IS NOT NULL{bounds}) f
  ON {on_keys} AND e.__keel_et >= f.__keel_t
  {ttl}
)"""
    ties = []
    if view.created_timestamp:
        ties.append(f"s.{quote(view.created_timestamp)} AS {_CREATED}")
    if _may_span_files(view):
        ties.append(f"s.{FILE_COL}")
    ties.append(f"s.{POS_COL}")
    cols = ", ".join(
        f"CAST(s.{quote(f)} AS {DUCKDB_TYPES[view.features[f]]}) AS {quote(view.name + '__' + f)}"
        for f in feats
    )
    match_keys = " AND ".join(f"s.{k} = m.{k}" for k in keys)
    s_ts = _ts_expr(view.timestamp, ts_type, "s")[0]
    sql = f"""WITH {match}
SELECT m.{ROW_COL}, {", ".join(ties)}, {cols}
FROM __keel_m0 m JOIN {relation} s ON {match_keys} AND {s_ts} = m.__keel_m"""
    try:
        table: pa.Table = arrow_table(con, sql)
    except Exception as exc:
        import duckdb

        if isinstance(exc, duckdb.Error):
            raise InvalidArgumentError(
                f"Historical retrieval failed in DuckDB: {str(exc).splitlines()[0]}"
            ) from exc
        raise
    return table


def _may_span_files(view: FeatureView) -> bool:
    """Whether a view's rows can come from more than one file (so the file breaks ties).

    A query's rows have no file; one Parquet file named without a wildcard has one.
    """
    source = view.source
    if isinstance(source, SqlSource):
        return False
    if isinstance(source, ParquetSource):
        path = source.path
        local_dir = "://" not in path and os.path.isdir(path)
        return local_dir or any(ch in path for ch in "*?[{")
    return True


def _in_entity_order(matched: pa.Table, num_rows: int, names: list[str]) -> dict[str, Any]:
    """Break ties among a view's matched rows and put its features in entity-row order.

    Of the rows matched to one entity row (same event time), the one with the greatest
    created timestamp wins (null counts as oldest), then the one that comes last in the
    source (file, then position). Entity rows without a match get nulls.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = matched.column(ROW_COL).to_numpy()
    if len(rows) > 1 and np.bincount(rows, minlength=num_rows).max() > 1:
        tie_keys = [c for c in (_CREATED, FILE_COL, POS_COL) if c in matched.column_names]
        # Arrow puts nulls last in either direction: DESC NULLS LAST, as the rule wants.
        order = pc.sort_indices(
            matched,
            sort_keys=[(ROW_COL, "ascending"), *((c, "descending") for c in tie_keys)],
        )
        matched = matched.take(order)
        rows = matched.column(ROW_COL).to_numpy()
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        matched = matched.filter(pa.array(first))
        rows = rows[first]
    where = np.full(num_rows, -1, dtype=np.int64)
    where[rows] = np.arange(len(rows), dtype=np.int64)
    indices = pa.array(where, mask=where < 0)
    return {name: matched.column(name).take(indices) for name in names}
