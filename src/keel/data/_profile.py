"""Profiles: per-column statistics computed by DuckDB in two aggregate passes.

The first pass computes, for every column at once, the counts, NULLs, an estimate of distinct
values (HyperLogLog), min/max/mean/std, approximate quantiles (t-digest, all seven from one
digest per column) and string lengths, much like DuckDB's own ``SUMMARIZE``. The second pass,
which needs the first one's min/max and distinct estimates, computes 20-bin histograms of
numeric and time columns (of lengths, for text with many distinct values) and the exact top
values of low-cardinality columns. NaN is counted apart and left out of the numeric statistics.
A registered version's profile is stored as a JSON blob, so it is computed once.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from keel._utils import now_ms
from keel.data._engine import connect, quote_ident
from keel.data._results import json_safe
from keel.data._types import is_numeric, is_string, is_temporal

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from keel.data._source import Scan
    from keel.data._versions import DatasetVersion

__all__ = ["ColumnProfile", "Profile", "profile"]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
BINS = 20
#: Columns with at most this many distinct values (estimated) get exact top-value counts.
TOP_CARDINALITY = 1000
TOP_K = 20
PROFILE_FORMAT = "keel.profile/1"


@dataclass(frozen=True)
class ColumnProfile:
    """Statistics of one column.

    Attributes:
        name: The column.
        type: Its Keel type (``float64``, ``string``, ...).
        count: Non-null values.
        nulls: NULL values.
        null_fraction: ``nulls / rows``.
        nans: NaN values (float columns).
        distinct: Distinct non-null values, estimated (HyperLogLog, a few percent off).
        min: Smallest value (numbers, times, text).
        max: Largest value.
        mean: Mean (numbers).
        std: Sample standard deviation (numbers).
        quantiles: Approximate quantiles ``{"p01": ..., "p50": ..., "p99": ...}`` (numbers).
        histogram: ``{"edges": [21 numbers], "counts": [20 counts]}`` (numbers and times; time
            edges are seconds since the epoch; for text with many distinct values, of lengths).
        histogram_of: ``"value"``, or ``"length"`` for a histogram of text lengths.
        top_values: ``[[value, count], ...]``, most frequent first (low-cardinality columns).
        top_values_complete: Whether ``top_values`` lists every distinct value.
        true_count: True values (boolean columns).
        min_length: Shortest text (strings).
        max_length: Longest text (strings).
        mean_length: Mean text length (strings).
    """

    name: str
    type: str
    count: int
    nulls: int
    null_fraction: float
    nans: int = 0
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    histogram: dict[str, list[float]] | None = None
    histogram_of: str = "value"
    top_values: list[list[Any]] = field(default_factory=list)
    top_values_complete: bool = False
    true_count: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    mean_length: float | None = None

    @property
    def categories(self) -> list[Any] | None:
        """Every distinct value, when the column has few enough to list them all."""
        if not self.top_values_complete:
            return None
        return [v for v, _ in self.top_values]


@dataclass(frozen=True)
class Profile:
    """Statistics of every column of a dataset.

    Attributes:
        dataset: What was profiled (``name@vN`` or a path).
        num_rows: Rows.
        columns: One profile per column, in order.
        created_at: When it was computed (milliseconds since the epoch).
        duration_s: How long it took.
    """

    dataset: str
    num_rows: int
    columns: list[ColumnProfile]
    created_at: int
    duration_s: float

    def __getitem__(self, column: str) -> ColumnProfile:
        """Return the profile of one column."""
        for c in self.columns:
            if c.name == column:
                return c
        from keel.errors import NotFoundError, near_matches

        names = [c.name for c in self.columns]
        raise NotFoundError(
            f"The profile of {self.dataset} has no column {column!r}.{near_matches(column, names)}"
        )

    def __iter__(self) -> Iterator[ColumnProfile]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return f"<Profile of {self.dataset}: {self.num_rows:,} rows, {len(self.columns)} columns>"

    def to_dict(self) -> dict[str, Any]:
        """Return the profile as JSON-ready data."""
        return {
            "format": PROFILE_FORMAT,
            "dataset": self.dataset,
            "num_rows": self.num_rows,
            "created_at": self.created_at,
            "duration_s": self.duration_s,
            "columns": [asdict(c) for c in self.columns],
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Rebuild a profile from :meth:`to_dict`'s output."""
        return cls(
            dataset=data["dataset"],
            num_rows=int(data["num_rows"]),
            columns=[ColumnProfile(**c) for c in data["columns"]],
            created_at=int(data["created_at"]),
            duration_s=float(data["duration_s"]),
        )

    def to_pandas(self) -> pd.DataFrame:
        """Return one row per column with the scalar statistics."""
        import pandas as pd

        rows = []
        for c in self.columns:
            row = {
                k: v
                for k, v in asdict(c).items()
                if k not in ("histogram", "top_values", "quantiles")
            }
            row.update(c.quantiles)
            rows.append(row)
        return pd.DataFrame(rows).set_index("name")


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _is_float(t: str) -> bool:
    return t in ("float32", "float64")


def _projection(scan: Scan) -> str:
    """The scan with NaN turned into NULL in float columns (``v<i>``) and raw columns (``r<i>``).

    Aggregates then skip NaN the way they skip NULL, with no per-aggregate ``FILTER`` clause,
    which DuckDB evaluates separately for each aggregate.
    """
    cols = []
    for i, (name, t) in enumerate(scan.columns.items()):
        q = quote_ident(name)
        cols.append(f"{q} AS r{i}")
        if _is_float(t):
            cols.append(f"CASE WHEN isnan({q}) THEN NULL ELSE {q} END AS v{i}")
        elif t.startswith("decimal"):
            cols.append(f"CAST({q} AS DOUBLE) AS v{i}")
        else:
            cols.append(f"{q} AS v{i}")
    return f"(SELECT {', '.join(cols)} FROM {scan.relation})"


def _first_pass(scan: Scan, con: duckdb.DuckDBPyConnection) -> tuple[int, dict[str, Any]]:
    exprs = ["count(*)"]
    quantiles = ", ".join(repr(p) for p in QUANTILES)
    for i, t in enumerate(scan.columns.values()):
        r, v = f"r{i}", f"v{i}"
        exprs += [f"count({r})", f"approx_count_distinct({r})"]
        if t == "bool":
            exprs.append(f"sum(CASE WHEN {r} THEN 1 ELSE 0 END)")
        elif is_numeric(t):
            # A t-digest, as SUMMARIZE uses: DuckDB's cheaper reservoir_quantile merges its
            # per-thread samples with a bias (p01 of 0..999,999 comes out near 2,200).
            exprs += [
                f"min({v})",
                f"max({v})",
                f"avg({v})",
                f"stddev_samp({v})",
                f"approx_quantile({v}, [{quantiles}])",
            ]
            if _is_float(t):
                exprs.append(f"count({v})")
        elif is_temporal(t):
            exprs += [f"min({r})", f"max({r})"]
        elif is_string(t):
            exprs += [f"min(length({r}))", f"max(length({r}))", f"avg(length({r}))"]
    cursor = con.execute(f"SELECT {', '.join(exprs)} FROM {_projection(scan)}")
    row = cursor.fetchone()
    assert row is not None
    values = iter(row)
    num_rows = int(next(values))
    stats: dict[str, Any] = {}
    for t in scan.columns.values():
        s: dict[str, Any] = {"count": int(next(values)), "distinct": int(next(values) or 0)}
        if t == "bool":
            s["true_count"] = int(next(values) or 0)
        elif is_numeric(t):
            s["min"], s["max"], s["mean"], s["std"] = (next(values) for _ in range(4))
            qs = next(values)
            s["quantiles"] = (
                {
                    f"p{int(round(p * 100)):02d}": _finite(x)
                    for p, x in zip(QUANTILES, qs, strict=True)
                }
                if qs
                else {}
            )
            if _is_float(t):
                s["nans"] = s["count"] - int(next(values))
        elif is_temporal(t):
            s["min"], s["max"] = next(values), next(values)
        elif is_string(t):
            s["min_length"], s["max_length"], s["mean_length"] = (next(values) for _ in range(3))
        stats[list(scan.columns)[len(stats)]] = s
    return num_rows, stats


def _edges(lo: float, hi: float) -> list[float]:
    if lo == hi:
        return [lo, hi]
    step = (hi - lo) / BINS
    return [lo + i * step for i in range(BINS)] + [hi]


def _epoch(value: Any) -> float | None:
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    return None


def _second_pass(
    scan: Scan, con: duckdb.DuckDBPyConnection, stats: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    exprs: list[str] = []
    plan: list[tuple[str, str, Any]] = []
    for i, (name, t) in enumerate(scan.columns.items()):
        s = stats[name]
        r, v = f"r{i}", f"v{i}"
        if s["count"] == 0:
            continue
        if (is_numeric(t) and t != "bool") or t in ("date", "timestamp", "timestamp_tz"):
            if is_numeric(t):
                lo, hi = _finite(s.get("min")), _finite(s.get("max"))
                value = f"CAST({v} AS DOUBLE)"
            else:
                lo, hi = _epoch(s.get("min")), _epoch(s.get("max"))
                value = f"epoch({r})"
            if lo is not None and hi is not None:
                edges = _edges(lo, hi)
                bounds = ", ".join(repr(float(e)) for e in edges[1:])
                exprs.append(f"histogram({value}, [{bounds}]::DOUBLE[])")
                plan.append((name, "histogram", edges))
        if s["distinct"] <= TOP_CARDINALITY and t not in ("float32", "float64"):
            exprs.append(f"histogram({r})")
            plan.append((name, "top", None))
        elif is_string(t) and s.get("min_length") is not None:
            # Too many values to count each: chart the distribution of their lengths instead.
            edges = _edges(float(s["min_length"]), float(s["max_length"]))
            bounds = ", ".join(repr(e) for e in edges[1:])
            exprs.append(f"histogram(CAST(length({r}) AS DOUBLE), [{bounds}]::DOUBLE[])")
            plan.append((name, "length", edges))
    if not exprs:
        return {}
    row = con.execute(f"SELECT {', '.join(exprs)} FROM {_projection(scan)}").fetchone()
    assert row is not None
    out: dict[str, dict[str, Any]] = {}
    for (name, kind, edges), value in zip(plan, row, strict=True):
        extra = out.setdefault(name, {})
        counts = dict(value or {})
        if kind in ("histogram", "length"):
            # DuckDB buckets are (previous bound, bound]; the first holds everything <= bound.
            ordered = [int(counts.get(e, 0)) for e in [float(x) for x in edges[1:]]]
            overflow = sum(int(v) for k, v in counts.items() if k not in set(edges[1:]))
            if ordered:
                ordered[-1] += overflow
            extra["histogram"] = {"edges": [float(e) for e in edges], "counts": ordered}
            extra["histogram_of"] = "value" if kind == "histogram" else "length"
        else:
            top = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
            extra["top_values"] = [[json_safe(k), int(v)] for k, v in top[:TOP_K]]
            extra["top_values_complete"] = len(top) <= TOP_K
            extra["exact_distinct"] = len(top)
    return out


def _stat(value: Any, t: str) -> Any:
    if value is None:
        return None
    if t.startswith(("int", "uint")):
        return int(value)
    if is_numeric(t):
        return _finite(value)
    return json_safe(value)


def compute_profile(scan: Scan, con: duckdb.DuckDBPyConnection | None = None) -> Profile:
    """Profile the data a scan names."""
    started = time.perf_counter()
    own = con is None
    con = con or connect()
    try:
        scan.attach(con)
        num_rows, stats = _first_pass(scan, con)
        extra = _second_pass(scan, con, stats)
    finally:
        if own:
            con.close()
    columns = []
    for name, t in scan.columns.items():
        s, e = stats[name], extra.get(name, {})
        nulls = num_rows - s["count"]
        # HyperLogLog can overshoot; there cannot be more distinct values than values.
        distinct = e.get("exact_distinct", min(s["distinct"], s["count"]))
        is_numeric(t) and t != "bool"
        columns.append(
            ColumnProfile(
                name=name,
                type=t,
                count=s["count"],
                nulls=nulls,
                null_fraction=nulls / num_rows if num_rows else 0.0,
                nans=int(s.get("nans", 0)),
                distinct=int(distinct),
                min=_stat(s.get("min"), t),
                max=_stat(s.get("max"), t),
                mean=_finite(s.get("mean")),
                std=_finite(s.get("std")),
                quantiles=s.get("quantiles", {}),
                histogram=e.get("histogram"),
                histogram_of=e.get("histogram_of", "value"),
                top_values=e.get("top_values", []),
                top_values_complete=bool(e.get("top_values_complete", False)),
                true_count=s.get("true_count"),
                min_length=s.get("min_length"),
                max_length=s.get("max_length"),
                mean_length=_finite(s.get("mean_length")),
            )
        )
    return Profile(
        dataset=scan.label,
        num_rows=num_rows,
        columns=columns,
        created_at=now_ms(),
        duration_s=time.perf_counter() - started,
    )


def profile(target: Any) -> Profile:
    """Profile a dataset's columns.

    Per column: type, nulls, distinct values (estimate), min/max/mean/std, quantiles, a
    histogram and the top values. A registered version's profile is computed once and stored
    with it.

    Args:
        target: A DatasetVersion, ``"name@v3"``, a Parquet/CSV path or folder, or a data frame.
    """
    from keel.data._source import open_scan
    from keel.data._versions import DatasetVersion

    if isinstance(target, DatasetVersion):
        return target.profile
    with open_scan(target) as scan:
        if scan.version is not None:
            return scan.version.profile
        return compute_profile(scan)


def load_or_compute_profile(version: DatasetVersion) -> Profile:
    """Return a version's stored profile, computing and storing it the first time."""
    client = version.client
    digest = version._record.profile_digest
    if digest is not None:
        data = json.loads(client.artifacts.get_bytes(digest))
        if data.get("format") == PROFILE_FORMAT:
            return Profile.from_dict(data)
    result = compute_profile(version.scan())
    blob = client.artifacts.put_bytes(result.to_json().encode())
    client.repo.set_profile(version.id, blob)
    return result
