"""Online lookup: read the latest rows, apply the ttl, compute on-demand features.

The hot path of serving: one online-store read per feature view, plain Python lists, no
DataFrame unless an on-demand view needs one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, near_matches
from keel.features._types import from_utc_us

if TYPE_CHECKING:
    from keel.features._catalog import Catalog, Plan
    from keel.features._definitions import FeatureView
    from keel.features._store import FeatureStore
    from keel.features.online import OnlineTable

__all__ = ["lookup"]


def _columns(
    entities: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
) -> tuple[dict[str, list[Any]], int]:
    if isinstance(entities, Mapping):
        cols = {
            str(k): list(v) if not isinstance(v, (str, bytes)) else [v] for k, v in entities.items()
        }
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise InvalidArgumentError(
                f"The entity columns have different lengths {sorted(lengths)!r}; give one value "
                "per entity in every column."
            )
        return cols, lengths.pop() if lengths else 0
    if isinstance(entities, (str, bytes)) or not isinstance(entities, Sequence):
        raise InvalidArgumentError(
            f"entities must be a list of dicts ([{{'customer_id': 42}}]) or a dict of columns, "
            f"got {entities!r}."
        )
    n = len(entities)
    first = entities[0] if n else None
    if type(first) is dict and len(first) == 1:
        # The common call: one key per entity, plain dicts. One list, no per-row ABC checks;
        # any row that differs takes the general loop below.
        (name,) = first
        only: list[Any] = []
        append = only.append
        for row in entities:
            if type(row) is not dict or len(row) != 1 or name not in row:
                break
            append(row[name])
        else:
            return {name: only}, n
    rows_cols: dict[str, list[Any]] = {}
    for i, row in enumerate(entities):
        if not isinstance(row, Mapping):
            raise InvalidArgumentError(
                f"Entity {i} is {row!r}; each entity is a dict such as {{'customer_id': 42}}."
            )
        for k, v in row.items():
            col = rows_cols.get(k)
            if col is None:
                col = rows_cols[k] = [None] * n
            col[i] = v
    return rows_cols, n


def _coerce_keys(name: str, values: list[Any], typ: str) -> list[Any]:
    out = values
    if typ == "int64":
        for i, v in enumerate(values):
            if type(v) is not int:
                if v is None:
                    continue
                if isinstance(v, bool) or not hasattr(v, "__index__"):
                    raise InvalidArgumentError(
                        f"Join key {name!r} is an int64, but entity {i} has {v!r}. Pass integers."
                    )
                if out is values:
                    out = list(values)
                out[i] = int(v)
    else:
        for i, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                raise InvalidArgumentError(
                    f"Join key {name!r} is a string, but entity {i} has {v!r}. Pass strings."
                )
    return out


class _Table:
    """An online table with the positions of its features in a row, cached per catalog."""

    __slots__ = ("positions", "table", "view")

    def __init__(self, table: OnlineTable, view: FeatureView) -> None:
        self.table = table
        self.view = view
        self.positions = {f: i + 2 for i, f in enumerate(table.feature_names)}


def lookup(
    fs: FeatureStore,
    catalog: Catalog,
    plan: Plan,
    entities: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    request_data: Mapping[str, Any] | None,
) -> dict[str, list[Any]]:
    """Return the plan's features for the entities as columns (see ``FeatureStore.online``)."""
    from keel.features._store import online_table

    cols, n = _columns(entities)
    out: dict[str, list[Any]] = {}
    for key in plan.keys:
        if key not in cols:
            raise InvalidArgumentError(
                f"The entities have no join key {key!r}, which the requested features need."
                f"{near_matches(key, cols)} Give it for every entity: [{{{key!r}: ...}}]."
            )
    now_us = time.time_ns() // 1000
    values: dict[tuple[str, str], list[Any]] = {}
    key_cols: dict[str, list[Any]] = {}
    for view_name, feats in plan.views.items():
        view = catalog.views[view_name]
        table = fs._tables.get(view_name)
        if table is None or table.view is not view:
            table = fs._tables[view_name] = _Table(online_table(view), view)
        key_values = []
        for k, typ in table.table.keys:
            if k not in key_cols:
                key_cols[k] = _coerce_keys(k, cols[k], typ)
            key_values.append(key_cols[k])
        keys = (
            list(zip(*key_values, strict=True))
            if len(key_values) > 1
            else [(v,) for v in key_values[0]]
        )
        rows = fs.online_store.read(table.table, keys)
        positions = table.positions
        if view.ttl_us is not None:
            oldest = now_us - view.ttl_us
            rows = [None if row is None or row[0] < oldest else row for row in rows]
        for feat in feats:
            pos = positions[feat]
            col = [None if row is None else row[pos] for row in rows]
            if view.features[feat] == "timestamp":
                col = [None if v is None else from_utc_us(v) for v in col]
            values[(view_name, feat)] = col
    for key in plan.keys:
        out[key] = key_cols.get(key, cols[key])
    if plan.on_demand:
        _on_demand(catalog, plan, cols, n, request_data, values)
    for view_name, feat, column in plan.outputs:
        out[column] = values[(view_name, feat)]
    return out


def _on_demand(
    catalog: Catalog,
    plan: Plan,
    cols: dict[str, list[Any]],
    n: int,
    request_data: Mapping[str, Any] | None,
    values: dict[tuple[str, str], list[Any]],
) -> None:
    from keel.features._ondemand import run_on_demand, typed_array

    request: dict[str, list[Any]] = {}
    for field in plan.request:
        if request_data is not None and field in request_data:
            raw = request_data[field]
            seq = list(raw) if isinstance(raw, (list, tuple)) else [raw] * n
        elif field in cols:
            seq = cols[field]
        else:
            raise InvalidArgumentError(
                f"The request field {field!r} of the requested on-demand features is missing. "
                "Give it in each entity dict or in request_data."
            )
        if len(seq) != n:
            raise InvalidArgumentError(
                f"Request field {field!r} has {len(seq)} values for {n} entities."
            )
        request[field] = seq
    for name in plan.on_demand:
        odfv = catalog.on_demand[name]
        inputs: dict[str, Any] = {}
        for field, typ in odfv.request_schema.items():
            inputs[field] = typed_array(request[field], typ, f"Request field {field!r}")
        for src, feats in odfv.inputs:
            view = catalog.views[src]
            for feat in feats or []:
                inputs[feat] = typed_array(
                    values[(src, feat)], view.features[feat], f"Feature {src}:{feat}"
                )
        result = run_on_demand(odfv, inputs, n)
        for feat, arr in result.items():
            values[(name, feat)] = arr.to_pylist()
