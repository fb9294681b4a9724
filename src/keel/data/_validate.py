"""Running checks: one aggregate DuckDB query for every check, then short samples of failures.

The main query computes, in a single scan, the row count, the exact number of bad rows of every
row check, every aggregate a table-level check needs, and the key and distinct-key counts of
every uniqueness check. Only failed checks cost more: one ``LIMIT 5`` query each for a sample of
bad rows, and one grouped query per failed uniqueness check to count the duplicated rows
exactly. If the main query fails (a custom check's SQL or Python raised), each check is run on
its own so the failure is pinned to the check that caused it.

Two choices keep the scan fast. Bad rows are counted with ``sum(CASE WHEN bad THEN 1 ELSE 0
END)``, which DuckDB evaluates in one vectorized pass, where ``count(*) FILTER (WHERE bad)``
costs about twice as much. Distinct values of an integer key are counted exactly with a bitmap
over the column's range (``bitstring_agg``), read from the Parquet statistics, when that range
is at most :data:`BITMAP_MAX_RANGE`; other keys use a hash ``count(DISTINCT ...)``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from keel.data._checks import (
    AggPlan,
    Check,
    Plan,
    PlanContext,
    RowPlan,
    StaticPlan,
    UniquePlan,
    Verdict,
)
from keel.data._engine import connect, quote_ident
from keel.data._results import SAMPLE_SIZE, CheckResult, json_safe

if TYPE_CHECKING:
    import duckdb

    from keel.data._source import Scan

__all__ = ["BITMAP_MAX_RANGE", "run_checks"]

#: Widest integer key range counted with a bitmap (2**26 bits: 8 MiB).
BITMAP_MAX_RANGE = 2**26
#: Widest key range grouped with DuckDB's perfect hash table (2**22 slots) to count duplicates.
_PERFECT_HASH_BITS = 22


@dataclass
class _Compiled:
    check: Check
    plan: Plan
    aliases: list[str] = field(default_factory=list)
    key_range: tuple[int, int] | None = None
    #: For a value-set check judged over distinct values: ``{value: rows}`` of its column.
    groups: dict[Any, int] | None = None


class _Query:
    """Collects aggregate expressions, reusing one alias for an expression asked twice."""

    def __init__(self) -> None:
        self.exprs: dict[str, str] = {"count(*)": "n"}

    def add(self, expr: str) -> str:
        if expr not in self.exprs:
            self.exprs[expr] = f"a{len(self.exprs)}"
        return self.exprs[expr]

    def sql(self, relation: str) -> str:
        cols = ",\n  ".join(f"{e} AS {a}" for e, a in self.exprs.items())
        return f"SELECT\n  {cols}\nFROM {relation}"


def run_checks(
    checks: Sequence[Check],
    scan: Scan,
    *,
    now: dt.datetime | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[int, list[CheckResult]]:
    """Evaluate checks on the scan.

    Returns:
        The number of rows and one result per (expanded) check, in order.
    """
    own = con is None
    con = con or connect()
    try:
        scan.attach(con)
        ctx = PlanContext(columns=scan.columns, now=now or dt.datetime.now(dt.UTC))
        atomic = [c for check in checks for c in check.expand()]
        compiled = [_compile(c, ctx, scan, con) for c in atomic]
        try:
            _key_ranges(con, scan, compiled)
            _group_categories(con, scan, compiled)
            num_rows, values = _main_query(con, scan, compiled)
        except _engine_errors():
            return _isolate(con, scan, compiled)
        return num_rows, [_judge(con, scan, c, values, num_rows) for c in compiled]
    finally:
        if own:
            con.close()


def _engine_errors() -> tuple[type[BaseException], ...]:
    import duckdb

    return (duckdb.Error,)


def _compile(
    check: Check, ctx: PlanContext, scan: Scan, con: duckdb.DuckDBPyConnection
) -> _Compiled:
    plan = check.plan(ctx)
    if isinstance(plan, RowPlan):
        for name, fn, args, ret in plan.udfs:
            # cast: DuckDB's stubs differ between 1.x and 2.x in how they type these options.
            cast(Any, con).create_function(
                name,
                fn,
                [con.type(_struct_type(scan, args))],
                con.type(ret),
                type="arrow",
                null_handling="special",
            )
    return _Compiled(check, plan)


def _struct_type(scan: Scan, columns: Sequence[str]) -> str:
    fields = ", ".join(f"{quote_ident(c)} {scan.sql_types[c]}" for c in columns)
    return f"STRUCT({fields})"


def _key_ranges(con: duckdb.DuckDBPyConnection, scan: Scan, compiled: list[_Compiled]) -> None:
    """Read min and max of integer keys (from Parquet statistics: no scan) for bitmaps."""
    keyed = [
        c for c in compiled if isinstance(c.plan, UniquePlan) and c.plan.integer_column is not None
    ]
    if not keyed:
        return
    cols = sorted({cast(UniquePlan, c.plan).integer_column or "" for c in keyed})
    exprs = ", ".join(f"min({c}), max({c})" for c in cols)
    row = con.execute(f"SELECT {exprs} FROM {scan.relation}").fetchone()
    assert row is not None
    ranges = {c: (row[2 * i], row[2 * i + 1]) for i, c in enumerate(cols)}
    for c in keyed:
        lo, hi = ranges[cast(UniquePlan, c.plan).integer_column or ""]
        if lo is not None and hi is not None and int(hi) - int(lo) < BITMAP_MAX_RANGE:
            c.key_range = (int(lo), int(hi))


def _group_categories(
    con: duckdb.DuckDBPyConnection, scan: Scan, compiled: list[_Compiled]
) -> None:
    """Count the rows of each distinct value of categorical columns, all in one grouped scan.

    A value-set check on such a column is then judged over a handful of distinct values, not
    a million string comparisons: the counts are exact either way.
    """
    wanted = [
        c
        for c in compiled
        if isinstance(c.plan, RowPlan)
        and c.plan.members is not None
        and c.plan.members[0] in scan.categorical
    ]
    if not wanted:
        return
    from keel.data._engine import quote_ident as qi

    cols = sorted({cast(RowPlan, c.plan).members[0] for c in wanted})  # type: ignore[index]
    if len(cols) == 1:
        sql = f"SELECT 0, {qi(cols[0])}, count(*) FROM {scan.relation} GROUP BY ALL"
    else:
        sets = ", ".join(f"({qi(c)})" for c in cols)
        flags = " + ".join(f"grouping({qi(c)}) * {1 << i}" for i, c in enumerate(cols))
        sql = (
            f"SELECT {flags}, {', '.join(qi(c) for c in cols)}, count(*) "
            f"FROM {scan.relation} GROUP BY GROUPING SETS ({sets})"
        )
    counts: dict[str, dict[Any, int]] = {c: {} for c in cols}
    full = (1 << len(cols)) - 1
    for row in con.execute(sql).fetchall():
        flags_value, values, n = row[0], row[1:-1], int(row[-1])
        for i, col in enumerate(cols):
            # grouping(c) is 1 for each column a row is not grouped by: a row of the set (c_i)
            # has every flag but bit i.
            if len(cols) == 1 or int(flags_value) == full ^ (1 << i):
                counts[col][values[i]] = n
    for c in wanted:
        c.groups = counts[cast(RowPlan, c.plan).members[0]]  # type: ignore[index]


def _plan_exprs(c: _Compiled, q: _Query) -> list[str]:
    plan = c.plan
    if isinstance(plan, RowPlan):
        if c.groups is not None:
            return []
        bad = plan.count or f"sum(CASE WHEN {plan.bad} THEN 1 ELSE 0 END)"
        return [q.add(bad), q.add(plan.applicable)]
    if isinstance(plan, AggPlan):
        return [q.add(e) for e in plan.exprs]
    if isinstance(plan, UniquePlan):
        keyed = q.add(f"sum(CASE WHEN {plan.not_null} THEN 1 ELSE 0 END)")
        if c.key_range is not None:
            lo, hi = c.key_range
            distinct = f"bit_count(bitstring_agg({plan.integer_column}, {lo}, {hi}))"
        else:
            distinct = f"count(DISTINCT {plan.key}) FILTER (WHERE {plan.not_null})"
        return [keyed, q.add(distinct)]
    return []


def _main_query(
    con: duckdb.DuckDBPyConnection, scan: Scan, compiled: list[_Compiled]
) -> tuple[int, dict[str, Any]]:
    q = _Query()
    for c in compiled:
        c.aliases = _plan_exprs(c, q)
    cursor = con.execute(q.sql(scan.relation))
    row = cursor.fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    names = [d[0] for d in cursor.description or []]
    values = dict(zip(names, row, strict=True))
    return int(values["n"]), values


def _isolate(
    con: duckdb.DuckDBPyConnection, scan: Scan, compiled: list[_Compiled]
) -> tuple[int, list[CheckResult]]:
    row = con.execute(f"SELECT count(*) FROM {scan.relation}").fetchone()
    num_rows = int(row[0]) if row else 0
    results = []
    for c in compiled:
        try:
            _, values = _main_query(con, scan, [c])
        except _engine_errors() as exc:
            results.append(_errored(c.check, exc))
            continue
        results.append(_judge(con, scan, c, values, num_rows))
    return num_rows, results


def _errored(check: Check, exc: BaseException) -> CheckResult:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CheckResult(
        check=check.kind,
        name=check.name,
        column=check.column,
        passed=False,
        severity=check.severity,
        bad_rows=None,
        total_rows=None,
        observed=None,
        samples=[],
        sample_rows=[],
        message=f"could not be evaluated: {text[:300]}",
    )


def _from_verdict(check: Check, v: Verdict, total: int | None = None) -> CheckResult:
    return CheckResult(
        check=check.kind,
        name=check.name,
        column=check.column,
        passed=v.passed,
        severity=check.severity,
        bad_rows=None,
        total_rows=total,
        observed=json_safe(v.observed),
        samples=[json_safe(s) for s in v.samples[:SAMPLE_SIZE]],
        sample_rows=[],
        message=v.message,
    )


def _judge(
    con: duckdb.DuckDBPyConnection,
    scan: Scan,
    c: _Compiled,
    values: dict[str, Any],
    num_rows: int,
) -> CheckResult:
    plan, check = c.plan, c.check
    if isinstance(plan, StaticPlan):
        return _from_verdict(check, plan.verdict)
    if isinstance(plan, AggPlan):
        return _from_verdict(check, plan.judge([values[a] for a in c.aliases], num_rows), num_rows)
    if isinstance(plan, UniquePlan):
        return _judge_unique(con, scan, c, values[c.aliases[0]], values[c.aliases[1]])
    assert isinstance(plan, RowPlan)
    top: list[tuple[Any, int]] = []
    if c.groups is not None and plan.members is not None:
        members = plan.members[1]
        wrong = [(v, n) for v, n in c.groups.items() if v is not None and v not in members]
        bad = sum(n for _, n in wrong)
        total = sum(n for v, n in c.groups.items() if v is not None)
        top = sorted(wrong, key=lambda vn: (-vn[1], str(vn[0])))[:SAMPLE_SIZE]
    else:
        bad, total = int(values[c.aliases[0]] or 0), int(values[c.aliases[1]] or 0)
    mostly = getattr(check, "mostly", 1.0)
    allowed = math.floor((1.0 - mostly) * total + 1e-9)
    passed = bad <= allowed
    samples: list[Any] = []
    rows: list[int] = []
    if bad:
        samples, rows = _sample(con, scan, plan)
    pct = f" ({bad / total:.2%})" if total else ""
    if bad == 0:
        message = f"all {total:,} rows pass"
    else:
        message = f"{bad:,} of {total:,} rows{pct} {plan.what}"
        if mostly < 1.0:
            message += f"; at most {allowed:,} allowed (mostly={mostly:g})"
        if top:
            message += "; e.g. " + ", ".join(f"{_show(v)} (x{n:,})" for v, n in top)
        elif samples:
            message += "; e.g. " + ", ".join(_show(s) for s in samples)
        elif rows:
            message += "; e.g. rows " + ", ".join(f"{r:,}" for r in rows)
    return CheckResult(
        check=check.kind,
        name=check.name,
        column=check.column,
        passed=passed,
        severity=check.severity,
        bad_rows=bad,
        total_rows=total,
        observed=None,
        samples=samples,
        sample_rows=rows,
        message=message,
    )


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


def _sample(
    con: duckdb.DuckDBPyConnection, scan: Scan, plan: RowPlan
) -> tuple[list[Any], list[int]]:
    """Fetch the first five bad rows' numbers and values (stops reading once it has them)."""
    value = plan.sample or "NULL"
    if scan.row_relation and scan.row_expr:
        sql = (
            f"SELECT {scan.row_expr} AS r, {value} AS v FROM {scan.row_relation} "
            f"WHERE {plan.bad} LIMIT {SAMPLE_SIZE}"
        )
    else:
        sql = (
            f"SELECT NULL AS r, {value} AS v FROM {scan.relation} "
            f"WHERE {plan.bad} LIMIT {SAMPLE_SIZE}"
        )
    try:
        rows = con.execute(sql).fetchall()
    except _engine_errors():
        return [], []
    sample_rows = [int(r[0]) for r in rows if r[0] is not None]
    samples = [json_safe(r[1]) for r in rows] if plan.sample is not None else []
    return samples, sample_rows


def _judge_unique(
    con: duckdb.DuckDBPyConnection,
    scan: Scan,
    c: _Compiled,
    keyed: Any,
    distinct: Any,
) -> CheckResult:
    check, plan = c.check, cast(UniquePlan, c.plan)
    keyed, distinct = int(keyed or 0), int(distinct or 0)
    if keyed == distinct:
        return CheckResult(
            check=check.kind,
            name=check.name,
            column=check.column,
            passed=True,
            severity=check.severity,
            bad_rows=0,
            total_rows=keyed,
            observed={"duplicated_values": 0},
            samples=[],
            sample_rows=[],
            message=f"all {keyed:,} keys are unique",
        )
    # Count every row of every duplicated key exactly, and name the most repeated keys. A key
    # of a narrow integer range groups into DuckDB's perfect hash table: no hashing at all.
    bits = None
    if c.key_range is not None:
        span = c.key_range[1] - c.key_range[0] + 1
        bits = max(12, math.ceil(math.log2(span + 1)))
    if bits is not None and bits <= _PERFECT_HASH_BITS:
        con.execute(f"SET perfect_ht_threshold = {bits}")
    try:
        row = con.execute(
            f"SELECT sum(c) FILTER (WHERE c > 1), count(*) FILTER (WHERE c > 1), "
            f"max_by(struct_pack(k := k, c := c), c, {SAMPLE_SIZE}) FILTER (WHERE c > 1) "
            f"FROM (SELECT {plan.key} AS k, count(*) AS c FROM {scan.relation} "
            f"WHERE {plan.not_null} GROUP BY ALL)"
        ).fetchone()
    finally:
        if bits is not None and bits <= _PERFECT_HASH_BITS:
            con.execute("RESET perfect_ht_threshold")
    assert row is not None
    bad, groups, top = int(row[0] or 0), int(row[1] or 0), row[2] or []
    samples = [json_safe(t["k"]) for t in top]
    shown = ", ".join(f"{_show(json_safe(t['k']))} (x{int(t['c'])})" for t in top)
    message = (
        f"{bad:,} of {keyed:,} rows ({bad / keyed:.2%}) share a key with another row; "
        f"{groups:,} key{'s are' if groups != 1 else ' is'} duplicated"
        + (f"; e.g. {shown}" if shown else "")
    )
    return CheckResult(
        check=check.kind,
        name=check.name,
        column=check.column,
        passed=False,
        severity=check.severity,
        bad_rows=bad,
        total_rows=keyed,
        observed={"duplicated_values": groups},
        samples=samples,
        sample_rows=[],
        message=message,
    )
