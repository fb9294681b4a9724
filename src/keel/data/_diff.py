"""Comparing two datasets: schema changes, row counts and per-column distribution shift.

Shift is measured with the population stability index (PSI) over ten bins cut at the baseline's
deciles (numbers and times) or over the categories (low-cardinality columns). By the usual rule
of thumb a PSI under 0.1 is no shift, under 0.25 a moderate shift, and above that a large one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from keel.data._engine import connect, quote_ident
from keel.data._profile import ColumnProfile, Profile, compute_profile
from keel.data._types import is_numeric, is_temporal

__all__ = ["ColumnDiff", "DatasetDiff", "diff"]

_DECILES = [i / 10 for i in range(1, 10)]
_EPS = 1e-4


@dataclass(frozen=True)
class ColumnDiff:
    """How one column shared by both datasets changed.

    Attributes:
        name: The column.
        type: Its type in the baseline (``type_after`` in the other, if it changed).
        null_fraction: ``(before, after)``.
        mean: ``(before, after)`` for numeric columns.
        std: ``(before, after)`` for numeric columns.
        distinct: ``(before, after)`` distinct-value estimates.
        psi: The population stability index, or ``None`` if it cannot be computed.
        shift: ``"none"``, ``"moderate"``, ``"large"`` or ``"n/a"``.
        new_values: Categories only in the other dataset (up to ten).
        missing_values: Categories only in the baseline (up to ten).
    """

    name: str
    type: str
    type_after: str
    null_fraction: tuple[float, float]
    mean: tuple[float | None, float | None]
    std: tuple[float | None, float | None]
    distinct: tuple[int | None, int | None]
    psi: float | None
    shift: str
    new_values: list[Any] = field(default_factory=list)
    missing_values: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetDiff:
    """The differences between a baseline (``before``) and another dataset (``after``).

    Attributes:
        before: The baseline's label (``tx@v1``).
        after: The other's label (``tx@v2``).
        rows_before: Rows in the baseline.
        rows_after: Rows in the other.
        added_columns: ``{name: type}`` only in the other.
        removed_columns: ``{name: type}`` only in the baseline.
        type_changes: ``{name: (before, after)}``.
        columns: One entry per shared column.
    """

    before: str
    after: str
    rows_before: int
    rows_after: int
    added_columns: dict[str, str]
    removed_columns: dict[str, str]
    type_changes: dict[str, tuple[str, str]]
    columns: list[ColumnDiff]

    @property
    def schema_changed(self) -> bool:
        """Whether columns were added, removed or retyped."""
        return bool(self.added_columns or self.removed_columns or self.type_changes)

    @property
    def shifted(self) -> list[ColumnDiff]:
        """Columns with a moderate or large shift, largest first."""
        moved = [c for c in self.columns if c.shift in ("moderate", "large")]
        return sorted(moved, key=lambda c: -(c.psi or 0.0))

    def summary(self) -> str:
        """Return a few readable lines."""
        delta = self.rows_after - self.rows_before
        lines = [
            f"{self.before} -> {self.after}: rows {self.rows_before:,} -> {self.rows_after:,} "
            f"({delta:+,})"
        ]
        for name, t in self.added_columns.items():
            lines.append(f"  + column {name} ({t})")
        for name, t in self.removed_columns.items():
            lines.append(f"  - column {name} ({t})")
        for name, (a, b) in self.type_changes.items():
            lines.append(f"  ~ column {name}: {a} -> {b}")
        for c in self.shifted:
            lines.append(f"  ! {c.name}: {c.shift} shift (PSI {c.psi:.3f})")
        if len(lines) == 1:
            lines.append("  same schema, no distribution shift")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the diff as JSON-ready data."""
        return asdict(self)


def _shift(psi: float | None) -> str:
    if psi is None:
        return "n/a"
    return "none" if psi < 0.1 else "moderate" if psi < 0.25 else "large"


def psi(before: list[float], after: list[float]) -> float:
    """Population stability index between two count vectors over the same bins."""
    tb, ta = sum(before), sum(after)
    if tb == 0 or ta == 0:
        return 0.0
    total = 0.0
    for b, a in zip(before, after, strict=True):
        pb, pa = max(b / tb, _EPS), max(a / ta, _EPS)
        total += (pa - pb) * math.log(pa / pb)
    return total


def _profile_of(scan: Any) -> Profile:
    return scan.version.profile if scan.version is not None else compute_profile(scan)


def _value_expr(name: str, t: str) -> str:
    q = quote_ident(name)
    return f"epoch({q})" if is_temporal(t) else f"CAST({q} AS DOUBLE)"


def _binned(
    scan: Any, columns: dict[str, list[float]], types: dict[str, str]
) -> dict[str, list[int]]:
    if not columns:
        return {}
    con = connect()
    try:
        scan.attach(con)
        exprs = []
        for name, edges in columns.items():
            v = _value_expr(name, types[name])
            flt = (
                f" FILTER (WHERE NOT isnan({quote_ident(name)}))"
                if types[name] in ("float32", "float64")
                else ""
            )
            bounds = ", ".join(repr(e) for e in edges)
            exprs.append(f"histogram({v}, [{bounds}]::DOUBLE[]){flt}")
        row = con.execute(f"SELECT {', '.join(exprs)} FROM {scan.relation}").fetchone()
    finally:
        con.close()
    assert row is not None
    out = {}
    for (name, edges), value in zip(columns.items(), row, strict=True):
        counts = dict(value or {})
        ordered = [int(counts.get(e, 0)) for e in edges]
        ordered.append(sum(int(v) for k, v in counts.items() if k not in set(edges)))
        out[name] = ordered
    return out


def _deciles(scan: Any, names: list[str], types: dict[str, str]) -> dict[str, list[float]]:
    if not names:
        return {}
    con = connect()
    try:
        scan.attach(con)
        exprs = []
        for n in names:
            flt = (
                f" FILTER (WHERE NOT isnan({quote_ident(n)}))"
                if types[n] in ("float32", "float64")
                else ""
            )
            exprs.append(f"approx_quantile({_value_expr(n, types[n])}, {_DECILES}){flt}")
        row = con.execute(f"SELECT {', '.join(exprs)} FROM {scan.relation}").fetchone()
    finally:
        con.close()
    assert row is not None
    out = {}
    for n, qs in zip(names, row, strict=True):
        edges = sorted({float(q) for q in (qs or []) if q is not None and math.isfinite(q)})
        if edges:
            out[n] = edges
    return out


def diff(before: Any, after: Any) -> DatasetDiff:
    """Compare two datasets: schema changes, row counts and per-column distribution shift.

    Args:
        before: The baseline: a DatasetVersion, ``"name@v1"``, a path or a data frame.
        after: The dataset to compare with it.

    Returns:
        The differences; ``.summary()`` reads well in a terminal.
    """
    from contextlib import ExitStack

    from keel.data._source import open_scan

    with ExitStack() as stack:
        scan_b = stack.enter_context(open_scan(before))
        scan_a = stack.enter_context(open_scan(after))
        return _diff(scan_b, _profile_of(scan_b), scan_a, _profile_of(scan_a))


def _diff(scan_b: Any, prof_b: Profile, scan_a: Any, prof_a: Profile) -> DatasetDiff:
    tb, ta = scan_b.columns, scan_a.columns
    added = {c: t for c, t in ta.items() if c not in tb}
    removed = {c: t for c, t in tb.items() if c not in ta}
    changed = {c: (tb[c], ta[c]) for c in tb if c in ta and tb[c] != ta[c]}
    shared = [c for c in tb if c in ta]
    binnable = [
        c
        for c in shared
        if c not in changed
        and (
            (is_numeric(tb[c]) and tb[c] != "bool")
            or tb[c] in ("date", "timestamp", "timestamp_tz")
        )
    ]
    edges = _deciles(scan_b, binnable, tb)
    counts_b = _binned(scan_b, edges, tb)
    counts_a = _binned(scan_a, edges, tb)
    columns = []
    for c in shared:
        pb, pa = prof_b[c], prof_a[c]
        value: float | None = None
        new_values: list[Any] = []
        missing: list[Any] = []
        if c in counts_b and c in counts_a:
            value = psi([float(x) for x in counts_b[c]], [float(x) for x in counts_a[c]])
        elif c not in changed:
            value, new_values, missing = _categorical(pb, pa)
        columns.append(
            ColumnDiff(
                name=c,
                type=tb[c],
                type_after=ta[c],
                null_fraction=(pb.null_fraction, pa.null_fraction),
                mean=(pb.mean, pa.mean),
                std=(pb.std, pa.std),
                distinct=(pb.distinct, pa.distinct),
                psi=value,
                shift=_shift(value),
                new_values=new_values,
                missing_values=missing,
            )
        )
    return DatasetDiff(
        before=scan_b.label,
        after=scan_a.label,
        rows_before=prof_b.num_rows,
        rows_after=prof_a.num_rows,
        added_columns=added,
        removed_columns=removed,
        type_changes=changed,
        columns=columns,
    )


def _categorical(pb: ColumnProfile, pa: ColumnProfile) -> tuple[float | None, list[Any], list[Any]]:
    if not (pb.top_values_complete and pa.top_values_complete):
        return None, [], []
    cb = {str(v): n for v, n in pb.top_values}
    ca = {str(v): n for v, n in pa.top_values}
    keys = sorted(set(cb) | set(ca))
    value = psi([float(cb.get(k, 0)) for k in keys], [float(ca.get(k, 0)) for k in keys])
    new_values = sorted(set(ca) - set(cb))[:10]
    missing = sorted(set(cb) - set(ca))[:10]
    return value, new_values, missing
