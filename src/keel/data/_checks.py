"""Checks: what a validation suite asserts about a dataset, compiled to DuckDB SQL.

Every check becomes part of one aggregate query over the Parquet data, so a suite reads the data
once. A check is one of three shapes:

* a *row check* names the rows that break it with a SQL condition (``not_null``, ``between``,
  ``in_set``, ``matches``, ``expression``, ``python``); the validator counts them exactly and
  fetches a short sample;
* an *aggregate check* judges values computed over the whole table (``row_count``, ``fresh``,
  ``mean_between``, ``unique``);
* a *schema check* judges the column names and types alone (``schema``).

Row checks take ``mostly`` (the fraction of rows that must pass, 1.0 by default, as in Great
Expectations); every check takes ``severity`` (``"error"`` fails the suite, ``"warn"`` only
reports) and ``name``.

Custom checks come in two kinds. A SQL expression that is true for good rows::

    keel.data.expression("fee <= amount", name="fee below amount")

and a vectorized Python function that receives whole columns (a batch at a time) and returns a
boolean array, true for good rows::

    def plausible_email(email: pd.Series) -> pd.Series:
        return email.str.len().between(6, 254)

    keel.data.python(plausible_email, columns=["email"])

Rows where either returns NULL pass, as in a SQL ``CHECK`` constraint.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from keel.data._engine import literal, quote_ident
from keel.data._types import (
    canonical_expected,
    is_numeric,
    is_string,
    is_temporal,
    type_matches,
)
from keel.errors import InvalidArgumentError, near_matches

__all__ = [
    "Check",
    "between",
    "check_from_spec",
    "expression",
    "fresh",
    "in_set",
    "matches",
    "mean_between",
    "not_null",
    "python",
    "row_count",
    "schema",
    "unique",
]

SEVERITIES = ("error", "warn")


# -- plans: what the validator runs for a check ------------------------------------------------


@dataclass(frozen=True)
class PlanContext:
    """What a check may know when it is compiled: the columns and their Keel types."""

    columns: Mapping[str, str]
    now: dt.datetime


@dataclass(frozen=True)
class Verdict:
    """A check's outcome before counts of bad rows are attached."""

    passed: bool
    message: str
    observed: Any = None
    samples: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class StaticPlan:
    """The outcome is known from the schema alone (a schema check, a missing column)."""

    verdict: Verdict


@dataclass(frozen=True)
class RowPlan:
    """Rows for which ``bad`` is TRUE break the check.

    Attributes:
        bad: A SQL condition, never NULL, true for each bad row.
        applicable: A SQL aggregate counting the rows the check looks at.
        sample: A SQL expression for the value shown for a bad row (``None``: row numbers only).
        what: How bad rows are described (``"are null"``).
        udfs: Python functions to register as DuckDB functions first: ``(name, fn, args, ret)``.
        count: A SQL aggregate counting the bad rows, when cheaper than summing ``bad``.
        members: ``(column, allowed values)`` for a value-set check, which the validator may
            judge over the column's distinct values instead of row by row.
    """

    bad: str
    applicable: str
    sample: str | None
    what: str
    udfs: tuple[tuple[str, Callable[..., Any], tuple[str, ...], str], ...] = ()
    count: str | None = None
    members: tuple[str, frozenset[Any]] | None = None


@dataclass(frozen=True)
class AggPlan:
    """Aggregates computed in the main query, judged by ``judge(values, num_rows)``."""

    exprs: tuple[str, ...]
    judge: Callable[[list[Any], int], Verdict]


@dataclass(frozen=True)
class UniquePlan:
    """Rows whose key occurs more than once break the check (NULL keys are ignored).

    Attributes:
        key: The SQL key expression (a column, or a struct of columns).
        not_null: A SQL condition true when no key column is NULL.
        integer_column: The quoted column when the key is one integer column, which lets the
            validator count distinct keys with a bitmap over the column's range.
    """

    key: str
    not_null: str
    integer_column: str | None = None


Plan = StaticPlan | RowPlan | AggPlan | UniquePlan


# -- the check classes ---------------------------------------------------------------------------


def _check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise InvalidArgumentError(
            f"severity must be 'error' (fails the suite) or 'warn' (only reports), "
            f"got {severity!r}."
        )
    return severity


def _check_mostly(mostly: Any) -> float:
    if isinstance(mostly, bool) or not isinstance(mostly, (int, float)) or not 0 <= mostly <= 1:
        raise InvalidArgumentError(
            f"mostly must be a fraction between 0 and 1 (the share of rows that must pass), "
            f"got {mostly!r}."
        )
    return float(mostly)


def _check_column(column: Any, kind: str) -> str:
    if not isinstance(column, str) or not column:
        raise InvalidArgumentError(
            f"{kind}: a column name must be a non-empty string, got {column!r}."
        )
    return column


def _columns_arg(columns: Any, kind: str) -> tuple[str, ...]:
    if isinstance(columns, str):
        columns = [columns]
    if not isinstance(columns, Iterable) or isinstance(columns, Mapping):
        raise InvalidArgumentError(
            f"{kind}: give a column name or a list of column names, got {columns!r}."
        )
    cols = tuple(_check_column(c, kind) for c in columns)
    if not cols:
        raise InvalidArgumentError(f"{kind}: give at least one column.")
    return cols


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


class Check:
    """A rule about a dataset. Build checks with the functions of :mod:`keel.data`.

    Attributes:
        kind: The check's type name, as written in YAML (``"between"``).
        name: A readable label shown in results (a default is derived from the arguments).
        severity: ``"error"`` fails the suite; ``"warn"`` only reports.
    """

    kind: ClassVar[str] = "check"
    #: Name of the argument a YAML scalar or list stands for (``not_null: [a, b]``).
    positional: ClassVar[str | None] = None

    def __init__(self, *, name: str | None = None, severity: str = "error") -> None:
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidArgumentError(f"A check name must be a non-empty string, got {name!r}.")
        self._name = name
        self.severity = _check_severity(severity)

    @property
    def name(self) -> str:
        """The label shown in results."""
        return self._name or self.default_name()

    def default_name(self) -> str:
        """The label used when no ``name`` was given."""
        return self.kind

    @property
    def column(self) -> str | None:
        """The column the check is about, if it is about one."""
        return None

    def expand(self) -> list[Check]:
        """Split a check over several columns into one check per column."""
        return [self]

    def arguments(self) -> dict[str, Any]:
        """The check's own arguments, as they are written in a suite file."""
        return {}

    def spec(self) -> dict[str, Any]:
        """Return the check as ``{kind: arguments}``, the form of a YAML suite entry."""
        args = self.arguments()
        if self._name is not None:
            args["name"] = self._name
        if self.severity != "error":
            args["severity"] = self.severity
        return {self.kind: args}

    def plan(self, ctx: PlanContext) -> Plan:
        """Compile the check against the dataset's columns."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Check) and other.spec() == self.spec()

    def __hash__(self) -> int:
        return hash(repr(self.spec()))


def _missing(ctx: PlanContext, columns: Sequence[str]) -> StaticPlan | None:
    missing = [c for c in columns if c not in ctx.columns]
    if not missing:
        return None
    c = missing[0]
    return StaticPlan(
        Verdict(
            passed=False,
            message=f"column {c!r} does not exist.{near_matches(c, ctx.columns)}",
            observed={"missing_columns": missing},
        )
    )


class _RowCheck(Check):
    """A check that names its bad rows; ``mostly`` sets the share of rows that must pass."""

    def __init__(
        self, *, mostly: float = 1.0, name: str | None = None, severity: str = "error"
    ) -> None:
        super().__init__(name=name, severity=severity)
        self.mostly = _check_mostly(mostly)

    def spec(self) -> dict[str, Any]:
        """Return ``{kind: arguments}`` including ``mostly`` when it is not 1."""
        out = super().spec()
        if self.mostly != 1.0:
            out[self.kind]["mostly"] = self.mostly
        return out


class NotNull(_RowCheck):
    """Rows where the column is NULL (or NaN, in a float column) are bad."""

    kind = "not_null"
    positional = "columns"

    def __init__(self, columns: str | Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = _columns_arg(columns, self.kind)

    @property
    def column(self) -> str | None:
        """The column when the check covers one."""
        return self.columns[0] if len(self.columns) == 1 else None

    def default_name(self) -> str:
        """``not_null(a, b)``."""
        return f"not_null({', '.join(self.columns)})"

    def expand(self) -> list[Check]:
        """One check per column."""
        if len(self.columns) == 1:
            return [self]
        return [
            NotNull(c, mostly=self.mostly, name=self._name, severity=self.severity)
            for c in self.columns
        ]

    def arguments(self) -> dict[str, Any]:
        """``{"columns": [...]}``."""
        return {"columns": list(self.columns)}

    def plan(self, ctx: PlanContext) -> Plan:
        """``col IS NULL`` (``OR isnan(col)`` for floats)."""
        if (miss := _missing(ctx, self.columns)) is not None:
            return miss
        col = self.columns[0]
        q = quote_ident(col)
        bad = f"{q} IS NULL"
        # count(*) - count(col) is answered from Parquet statistics when a column has no nulls.
        count = f"count(*) - count({q})"
        if ctx.columns[col] in ("float32", "float64"):
            bad = f"({q} IS NULL OR isnan({q}))"
            count += f" + sum(CASE WHEN isnan({q}) THEN 1 ELSE 0 END)"
        return RowPlan(bad=bad, applicable="count(*)", sample=None, what="are null", count=count)


def _bound_literal(value: Any, col_type: str, kind: str, column: str) -> str:
    if is_numeric(col_type):
        if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
            raise _BadArgument(
                f"{kind}: column {column!r} is {col_type}, so its bounds must be numbers, "
                f"got {value!r}."
            )
        return literal(value)
    if is_temporal(col_type):
        if isinstance(value, (dt.date, dt.datetime)):
            return f"CAST({literal(value)} AS {_sql_temporal(col_type)})"
        if isinstance(value, str):
            return f"CAST({literal(value)} AS {_sql_temporal(col_type)})"
        raise _BadArgument(
            f"{kind}: column {column!r} is {col_type}, so its bounds must be dates, datetimes "
            f"or ISO strings, got {value!r}."
        )
    if is_string(col_type):
        return literal(str(value))
    raise _BadArgument(f"{kind}: column {column!r} is {col_type}, which has no order to check.")


def _sql_temporal(col_type: str) -> str:
    return {"date": "DATE", "time": "TIME", "timestamp_tz": "TIMESTAMPTZ"}.get(
        col_type, "TIMESTAMP"
    )


class _BadArgument(Exception):
    """A check's arguments do not fit the column's type; the check fails with this message."""


class Between(_RowCheck):
    """Rows whose value lies outside ``[min, max]`` are bad; NULLs are not judged."""

    kind = "between"

    def __init__(
        self,
        column: str,
        min: Any = None,
        max: Any = None,
        *,
        strict_min: bool = False,
        strict_max: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.column_name = _check_column(column, self.kind)
        if min is None and max is None:
            raise InvalidArgumentError(
                f"between({column!r}): give min, max or both (between('amount', 0, 50_000))."
            )
        for bound in (min, max):
            if isinstance(bound, float) and math.isnan(bound):
                raise InvalidArgumentError(f"between({column!r}): a bound may not be NaN.")
        if (
            min is not None
            and max is not None
            and isinstance(min, (int, float))
            and isinstance(max, (int, float))
            and min > max
        ):
            raise InvalidArgumentError(
                f"between({column!r}): min {min!r} is larger than max {max!r}. Swap them."
            )
        self.min, self.max = min, max
        self.strict_min, self.strict_max = bool(strict_min), bool(strict_max)

    @property
    def column(self) -> str | None:
        """The checked column."""
        return self.column_name

    def _range(self) -> str:
        lo = "(" if self.strict_min else "["
        hi = ")" if self.strict_max else "]"
        a = "-inf" if self.min is None else _fmt(self.min)
        b = "inf" if self.max is None else _fmt(self.max)
        return f"{lo}{a}, {b}{hi}"

    def default_name(self) -> str:
        """``between(amount, [0, 50000])``."""
        return f"between({self.column_name}, {self._range()})"

    def arguments(self) -> dict[str, Any]:
        """Column, bounds and strictness."""
        args: dict[str, Any] = {"column": self.column_name}
        if self.min is not None:
            args["min"] = self.min
        if self.max is not None:
            args["max"] = self.max
        if self.strict_min:
            args["strict_min"] = True
        if self.strict_max:
            args["strict_max"] = True
        return args

    def plan(self, ctx: PlanContext) -> Plan:
        """``col IS NOT NULL AND NOT (col >= min AND col <= max)``."""
        if (miss := _missing(ctx, [self.column_name])) is not None:
            return miss
        q = quote_ident(self.column_name)
        col_type = ctx.columns[self.column_name]
        conds = []
        try:
            if self.min is not None:
                op = ">" if self.strict_min else ">="
                lit = _bound_literal(self.min, col_type, self.kind, self.column_name)
                conds.append(f"{q} {op} {lit}")
            if self.max is not None:
                op = "<" if self.strict_max else "<="
                lit = _bound_literal(self.max, col_type, self.kind, self.column_name)
                conds.append(f"{q} {op} {lit}")
        except _BadArgument as exc:
            return StaticPlan(Verdict(False, str(exc)))
        # NULL compares to NULL, which CASE and WHERE treat as false: NULLs are not judged.
        return RowPlan(
            bad=f"(NOT ({' AND '.join(conds)}))",
            applicable=f"count({q})",
            sample=q,
            what=f"are outside {self._range()}",
        )


class InSet(_RowCheck):
    """Rows whose value is not one of ``values`` are bad; NULLs are not judged."""

    kind = "in_set"

    def __init__(self, column: str, values: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.column_name = _check_column(column, self.kind)
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InvalidArgumentError(
                f"in_set({column!r}): values must be a list such as ['DE', 'FR'], got {values!r}."
            )
        self.values = list(dict.fromkeys(values))
        if not self.values:
            raise InvalidArgumentError(f"in_set({column!r}): give at least one allowed value.")

    @property
    def column(self) -> str | None:
        """The checked column."""
        return self.column_name

    def default_name(self) -> str:
        """``in_set(country, {'DE', 'FR'})`` (long sets abbreviated)."""
        shown = ", ".join(_fmt(v) for v in self.values[:5])
        more = f", ... ({len(self.values)} values)" if len(self.values) > 5 else ""
        return f"in_set({self.column_name}, {{{shown}{more}}})"

    def arguments(self) -> dict[str, Any]:
        """Column and allowed values."""
        return {"column": self.column_name, "values": list(self.values)}

    def plan(self, ctx: PlanContext) -> Plan:
        """``col IS NOT NULL AND col NOT IN (...)``."""
        if (miss := _missing(ctx, [self.column_name])) is not None:
            return miss
        q = quote_ident(self.column_name)
        col_type = ctx.columns[self.column_name]
        values: list[Any] = [v for v in self.values if v is not None]
        if is_string(col_type):
            values = [v if isinstance(v, str) else str(v) for v in values]
        elif is_numeric(col_type):
            wrong = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float))]
            if wrong:
                return StaticPlan(
                    Verdict(
                        False,
                        f"in_set: column {self.column_name!r} is {col_type}, but the allowed "
                        f"values include {wrong[0]!r}, which is not a number.",
                    )
                )
        if not values:
            bad = f"{q} IS NOT NULL"
        else:
            try:
                listed = ", ".join(literal(v) for v in values)
            except InvalidArgumentError as exc:
                return StaticPlan(Verdict(False, f"in_set: {exc.message}"))
            bad = f"({q} IS NOT NULL AND {q} NOT IN ({listed}))"
        return RowPlan(
            bad=bad,
            applicable=f"count({q})",
            sample=q,
            what="are not in the allowed set",
            members=(self.column_name, frozenset(values)) if is_string(col_type) else None,
        )


class Matches(_RowCheck):
    """Rows whose text does not match the regular expression (RE2 syntax, search) are bad."""

    kind = "matches"

    def __init__(self, column: str, pattern: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.column_name = _check_column(column, self.kind)
        if not isinstance(pattern, str) or not pattern:
            raise InvalidArgumentError(
                f"matches({column!r}): pattern must be a regular expression string, got "
                f"{pattern!r}."
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidArgumentError(
                f"matches({column!r}): {pattern!r} is not a valid regular expression ({exc})."
            ) from exc
        self.pattern = pattern

    @property
    def column(self) -> str | None:
        """The checked column."""
        return self.column_name

    def default_name(self) -> str:
        """``matches(email, '^...$')``."""
        return f"matches({self.column_name}, {self.pattern!r})"

    def arguments(self) -> dict[str, Any]:
        """Column and pattern."""
        return {"column": self.column_name, "pattern": self.pattern}

    def plan(self, ctx: PlanContext) -> Plan:
        """``col IS NOT NULL AND NOT regexp_matches(col, pattern)``."""
        if (miss := _missing(ctx, [self.column_name])) is not None:
            return miss
        q = quote_ident(self.column_name)
        text = q if is_string(ctx.columns[self.column_name]) else f"CAST({q} AS VARCHAR)"
        return RowPlan(
            bad=f"({q} IS NOT NULL AND NOT regexp_matches({text}, {literal(self.pattern)}))",
            applicable=f"count({q})",
            sample=q,
            what=f"do not match {self.pattern!r}",
        )


class Expression(_RowCheck):
    """Rows where a SQL expression is FALSE are bad (NULL passes, as in a CHECK constraint)."""

    kind = "expression"
    positional = "sql"

    def __init__(self, sql: str, *, columns: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidArgumentError(
                f"expression: give a SQL condition that is true for good rows, such as "
                f"'fee <= amount', got {sql!r}."
            )
        if ";" in sql:
            raise InvalidArgumentError(
                f"expression: {sql!r} contains ';'. Give one condition, not statements."
            )
        self.sql = sql.strip()
        self.columns = None if columns is None else _columns_arg(columns, self.kind)

    def default_name(self) -> str:
        """``expression(fee <= amount)``."""
        return f"expression({self.sql})"

    def arguments(self) -> dict[str, Any]:
        """The SQL and the columns shown for bad rows."""
        args: dict[str, Any] = {"sql": self.sql}
        if self.columns:
            args["columns"] = list(self.columns)
        return args

    def plan(self, ctx: PlanContext) -> Plan:
        """``NOT coalesce((sql), TRUE)``."""
        if self.columns and (miss := _missing(ctx, self.columns)) is not None:
            return miss
        return RowPlan(
            bad=f"(NOT coalesce(({self.sql}), TRUE))",
            applicable="count(*)",
            sample=_sample_of(self.columns),
            what=f"fail {self.sql!r}",
        )


def _sample_of(columns: Sequence[str] | None) -> str | None:
    if not columns:
        return None
    if len(columns) == 1:
        return quote_ident(columns[0])
    return (
        "struct_pack(" + ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns) + ")"
    )


_INPUTS = ("pandas", "arrow", "numpy")


class Python(_RowCheck):
    """Rows where a vectorized Python function returns False are bad.

    The function receives one argument per column, a batch of rows at a time, as pandas Series
    (``input="pandas"``), pyarrow arrays (``"arrow"``) or NumPy arrays (``"numpy"``), and returns
    a boolean array of the same length, true for good rows. DuckDB calls it on its own batches,
    so it never sees the whole table at once and memory stays bounded.
    """

    kind = "python"
    positional = "function"

    def __init__(
        self,
        function: Callable[..., Any] | str,
        columns: str | Sequence[str],
        *,
        input: str = "pandas",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.function = _resolve_function(function)
        self.columns = _columns_arg(columns, self.kind)
        if input not in _INPUTS:
            raise InvalidArgumentError(
                f"python: input must be one of {list(_INPUTS)!r}, got {input!r}."
            )
        self.input = input

    @property
    def function_path(self) -> str:
        """``module:qualname`` of the function (how a YAML suite names it)."""
        fn = self.function
        return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"

    @property
    def column(self) -> str | None:
        """The column when the function reads one."""
        return self.columns[0] if len(self.columns) == 1 else None

    def default_name(self) -> str:
        """``python(func_name)``."""
        return f"python({getattr(self.function, '__name__', 'function')})"

    def arguments(self) -> dict[str, Any]:
        """Function path, columns and input kind."""
        args: dict[str, Any] = {"function": self.function_path, "columns": list(self.columns)}
        if self.input != "pandas":
            args["input"] = self.input
        return args

    def plan(self, ctx: PlanContext) -> Plan:
        """Register the function as a vectorized DuckDB function and call it per row batch."""
        if (miss := _missing(ctx, self.columns)) is not None:
            return miss
        udf_name = f"keel_py_{abs(hash((self.function_path, self.columns, id(self)))):x}"
        # One STRUCT argument whatever the number of columns: DuckDB matches a Python
        # function's declared arity, and the wrapper unpacks the struct's fields.
        packed = (
            "struct_pack("
            + ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in self.columns)
            + ")"
        )
        return RowPlan(
            bad=f"(NOT coalesce({udf_name}({packed}), TRUE))",
            applicable="count(*)",
            sample=_sample_of(self.columns),
            what=f"fail {self.default_name()}",
            udfs=((udf_name, _vectorized(self.function, self.input), self.columns, "BOOLEAN"),),
        )


def _resolve_function(function: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(function):
        return function
    if not isinstance(function, str) or ":" not in function:
        raise InvalidArgumentError(
            f"python: give a function or its import path 'package.module:function', got "
            f"{function!r}."
        )
    module_name, _, qualname = function.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgumentError(
            f"python: cannot import {function!r} ({exc}). Make the module importable (on "
            "PYTHONPATH) and name the function as 'package.module:function'."
        ) from exc
    if not callable(obj):
        raise InvalidArgumentError(f"python: {function!r} is not a function.")
    return obj  # type: ignore[no-any-return]


def _vectorized(function: Callable[..., Any], input: str) -> Callable[..., Any]:
    def call(packed: Any) -> Any:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(packed, pa.ChunkedArray):
            packed = packed.combine_chunks()
        arrays = [packed.field(i) for i in range(packed.type.num_fields)]

        if input == "pandas":
            args = [a.to_pandas() for a in arrays]
        elif input == "numpy":
            args = [a.to_numpy(zero_copy_only=False) for a in arrays]
        else:
            args = list(arrays)
        out = function(*args)
        if isinstance(out, pa.ChunkedArray):
            out = out.combine_chunks()
        if not isinstance(out, pa.Array):
            if hasattr(out, "to_numpy") and hasattr(out, "isna"):  # pandas, nullable booleans
                mask = np.asarray(out.isna())
                values = np.asarray(out.fillna(True), dtype=bool)
                out = pa.array(values, mask=mask if mask.any() else None)
            else:
                out = pa.array(np.asarray(out, dtype=bool))
        if len(out) != len(packed):
            raise ValueError(
                f"the function returned {len(out)} values for a batch of {len(packed)} rows; "
                "it must return one boolean per row"
            )
        return pc.cast(out, pa.bool_())

    return call


class Unique(Check):
    """Rows whose value (or combination of values) occurs more than once are bad.

    Every row of a duplicated value counts, as in pandas ``duplicated(keep=False)``; rows with a
    NULL in the key are not judged.
    """

    kind = "unique"
    positional = "columns"

    def __init__(self, columns: str | Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = _columns_arg(columns, self.kind)

    @property
    def column(self) -> str | None:
        """The column when the key is one column."""
        return self.columns[0] if len(self.columns) == 1 else None

    def default_name(self) -> str:
        """``unique(tx_id)`` or ``unique(a, b)``."""
        return f"unique({', '.join(self.columns)})"

    def arguments(self) -> dict[str, Any]:
        """The key columns."""
        return {"columns": list(self.columns)}

    def plan(self, ctx: PlanContext) -> Plan:
        """Compare the count of keys with the count of distinct keys."""
        if (miss := _missing(ctx, self.columns)) is not None:
            return miss
        quoted = [quote_ident(c) for c in self.columns]
        key = quoted[0] if len(quoted) == 1 else _sample_of(self.columns) or ""
        integer = len(quoted) == 1 and ctx.columns[self.columns[0]].startswith(("int", "uint"))
        return UniquePlan(
            key=key,
            not_null=" AND ".join(f"{q} IS NOT NULL" for q in quoted),
            integer_column=quoted[0] if integer else None,
        )


class RowCount(Check):
    """The number of rows must lie in ``[min, max]``."""

    kind = "row_count"

    def __init__(self, min: int | None = None, max: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for label, v in (("min", min), ("max", max)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise InvalidArgumentError(
                    f"row_count: {label} must be a whole number of rows (0 or more), got {v!r}."
                )
        if min is None and max is None:
            raise InvalidArgumentError("row_count: give min, max or both (row_count(min=1000)).")
        if min is not None and max is not None and min > max:
            raise InvalidArgumentError(
                f"row_count: min {min!r} is larger than max {max!r}. Swap them."
            )
        self.min, self.max = min, max

    def default_name(self) -> str:
        """``row_count(min=1000)``."""
        parts = [f"{k}={v:,}" for k, v in (("min", self.min), ("max", self.max)) if v is not None]
        return f"row_count({', '.join(parts)})"

    def arguments(self) -> dict[str, Any]:
        """The bounds."""
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}

    def plan(self, ctx: PlanContext) -> Plan:
        """Judge the row count the main query computes anyway."""

        def judge(_values: list[Any], num_rows: int) -> Verdict:
            ok = (self.min is None or num_rows >= self.min) and (
                self.max is None or num_rows <= self.max
            )
            want = []
            if self.min is not None:
                want.append(f"at least {self.min:,}")
            if self.max is not None:
                want.append(f"at most {self.max:,}")
            msg = f"{num_rows:,} rows" + ("" if ok else f"; expected {' and '.join(want)}")
            return Verdict(ok, msg, observed=num_rows)

        return AggPlan(exprs=(), judge=judge)


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|s)\s*$", re.I)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_age(value: Any) -> dt.timedelta:
    """Parse ``"2d"``, ``"36h"``, ``"15m"``, ``"30s"``, ``"1w"``, a timedelta or seconds.

    Raises:
        InvalidArgumentError: The value is not an age.
    """
    if isinstance(value, dt.timedelta):
        td = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        td = dt.timedelta(seconds=value)
    elif isinstance(value, str) and (m := _AGE.match(value)):
        td = dt.timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()])
    else:
        raise InvalidArgumentError(
            f"max_age must be a duration such as '2d', '36h', '15m', '30s' or '1w' (or a "
            f"timedelta), got {value!r}."
        )
    if td.total_seconds() <= 0:
        raise InvalidArgumentError(f"max_age must be positive, got {value!r}.")
    return td


def _fmt_age(td: dt.timedelta) -> str:
    seconds = td.total_seconds()
    for unit in ("w", "d", "h", "m"):
        if seconds >= _UNIT_SECONDS[unit] and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{int(seconds // _UNIT_SECONDS[unit])}{unit}"
    return f"{seconds:g}s"


class Fresh(Check):
    """The newest value of a date or timestamp column must be at most ``max_age`` old.

    Naive timestamps are taken as UTC.
    """

    kind = "fresh"

    def __init__(self, column: str, max_age: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.column_name = _check_column(column, self.kind)
        self.max_age = parse_age(max_age)

    @property
    def column(self) -> str | None:
        """The checked column."""
        return self.column_name

    def default_name(self) -> str:
        """``fresh(event_time, 2d)``."""
        return f"fresh({self.column_name}, {_fmt_age(self.max_age)})"

    def arguments(self) -> dict[str, Any]:
        """Column and maximum age."""
        return {"column": self.column_name, "max_age": _fmt_age(self.max_age)}

    def plan(self, ctx: PlanContext) -> Plan:
        """Compute ``max(col)`` and compare it with the time of validation."""
        if (miss := _missing(ctx, [self.column_name])) is not None:
            return miss
        col_type = ctx.columns[self.column_name]
        if col_type not in ("date", "timestamp", "timestamp_tz"):
            return StaticPlan(
                Verdict(
                    False,
                    f"fresh: column {self.column_name!r} is {col_type}; freshness needs a date "
                    "or timestamp column.",
                )
            )

        def judge(values: list[Any], _n: int) -> Verdict:
            newest = values[0]
            if newest is None:
                return Verdict(False, f"{self.column_name!r} has no values", observed=None)
            stamp = _as_utc(newest)
            age = ctx.now - stamp
            ok = age <= self.max_age
            msg = f"newest value {stamp.isoformat()} is {_human_age(age)} old"
            if not ok:
                msg += f"; expected at most {_fmt_age(self.max_age)}"
            return Verdict(ok, msg, observed=stamp.isoformat(), samples=[stamp.isoformat()])

        return AggPlan(exprs=(f"max({quote_ident(self.column_name)})",), judge=judge)


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    raise InvalidArgumentError(f"{value!r} is not a date or datetime.")


def _human_age(td: dt.timedelta) -> str:
    s = td.total_seconds()
    if s < 0:
        return f"{_human_age(-td)} in the future, so 0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.1f}{unit}"
    return f"{s:.0f}s"


class MeanBetween(Check):
    """The mean of a numeric column (NULL and NaN left out) must lie in ``[min, max]``."""

    kind = "mean_between"

    def __init__(
        self, column: str, min: float | None = None, max: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.column_name = _check_column(column, self.kind)
        if min is None and max is None:
            raise InvalidArgumentError(f"mean_between({column!r}): give min, max or both.")
        for v in (min, max):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise InvalidArgumentError(
                    f"mean_between({column!r}): bounds must be numbers, got {v!r}."
                )
        self.min, self.max = min, max

    @property
    def column(self) -> str | None:
        """The checked column."""
        return self.column_name

    def default_name(self) -> str:
        """``mean_between(amount, [10, 200])``."""
        a = "-inf" if self.min is None else _fmt(self.min)
        b = "inf" if self.max is None else _fmt(self.max)
        return f"mean_between({self.column_name}, [{a}, {b}])"

    def arguments(self) -> dict[str, Any]:
        """Column and bounds."""
        args: dict[str, Any] = {"column": self.column_name}
        if self.min is not None:
            args["min"] = self.min
        if self.max is not None:
            args["max"] = self.max
        return args

    def plan(self, ctx: PlanContext) -> Plan:
        """Compute the mean in the main query."""
        if (miss := _missing(ctx, [self.column_name])) is not None:
            return miss
        col_type = ctx.columns[self.column_name]
        if not is_numeric(col_type):
            return StaticPlan(
                Verdict(
                    False, f"mean_between: column {self.column_name!r} is {col_type}, not numeric."
                )
            )
        q = quote_ident(self.column_name)
        expr = f"avg({q})"
        if col_type in ("float32", "float64"):
            expr = f"avg({q}) FILTER (WHERE NOT isnan({q}))"

        def judge(values: list[Any], _n: int) -> Verdict:
            mean = None if values[0] is None else float(values[0])
            if mean is None:
                return Verdict(False, f"{self.column_name!r} has no values to average")
            ok = (self.min is None or mean >= self.min) and (self.max is None or mean <= self.max)
            msg = f"mean is {mean:.6g}" + ("" if ok else f"; expected {self.default_name()[13:]}")
            return Verdict(ok, msg, observed=mean)

        return AggPlan(exprs=(expr,), judge=judge)


class Schema(Check):
    """Columns must exist with the given types; with ``exact=True`` no other columns may exist."""

    kind = "schema"
    positional = "columns"

    def __init__(self, columns: Mapping[str, str], *, exact: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(columns, Mapping) or not columns:
            raise InvalidArgumentError(
                f"schema: give a mapping of column names to types such as "
                f"{{'amount': 'float64', 'country': 'string'}}, got {columns!r}."
            )
        self.columns = {_check_column(k, self.kind): v for k, v in columns.items()}
        for col, t in self.columns.items():
            try:
                canonical_expected(t)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(f"schema: column {col!r}: {exc.message}") from exc
        self.exact = bool(exact)

    def default_name(self) -> str:
        """``schema(3 columns)``."""
        return f"schema({len(self.columns)} columns{', exact' if self.exact else ''})"

    def arguments(self) -> dict[str, Any]:
        """The expected columns and ``exact``."""
        args: dict[str, Any] = {"columns": dict(self.columns)}
        if self.exact:
            args["exact"] = True
        return args

    def plan(self, ctx: PlanContext) -> Plan:
        """Compare the expected types with the dataset's."""
        problems: list[str] = []
        for col, want in self.columns.items():
            if col not in ctx.columns:
                problems.append(f"{col}: missing{near_matches(col, ctx.columns)}")
            elif not type_matches(want, ctx.columns[col]):
                problems.append(f"{col}: expected {want}, got {ctx.columns[col]}")
        if self.exact:
            extra = [c for c in ctx.columns if c not in self.columns]
            problems += [f"{c}: unexpected column ({ctx.columns[c]})" for c in extra]
        observed = {c: ctx.columns.get(c) for c in self.columns}
        if not problems:
            return StaticPlan(Verdict(True, f"{len(self.columns)} columns as expected", observed))
        msg = f"{len(problems)} schema problem{'s' if len(problems) > 1 else ''}: " + "; ".join(
            problems[:5]
        )
        if len(problems) > 5:
            msg += f"; and {len(problems) - 5} more"
        return StaticPlan(Verdict(False, msg, observed, samples=problems[:5]))


# -- the public constructors ---------------------------------------------------------------------


def not_null(
    columns: str | Sequence[str],
    *,
    mostly: float = 1.0,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """Check that columns have no NULLs (and no NaNs in float columns).

    Args:
        columns: A column or a list of columns; each gets its own result.
        mostly: The share of rows that must pass (``0.99``: up to 1% may be null).
        name: A label for the results.
        severity: ``"error"`` fails the suite; ``"warn"`` only reports.

    Examples:
        >>> keel.data.not_null(["amount", "customer_id"])
        <NotNull not_null(amount, customer_id)>
    """
    return NotNull(columns, mostly=mostly, name=name, severity=severity)


def between(
    column: str,
    min: Any = None,
    max: Any = None,
    *,
    strict_min: bool = False,
    strict_max: bool = False,
    mostly: float = 1.0,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """Check that values lie in ``[min, max]`` (NULLs are not judged; NaN is out of range).

    Args:
        column: The column (numeric, date/time, or text compared as text).
        min: The lowest allowed value, or ``None`` for no lower bound.
        max: The highest allowed value, or ``None`` for no upper bound.
        strict_min: Exclude ``min`` itself.
        strict_max: Exclude ``max`` itself.
        mostly: The share of non-null rows that must pass.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.

    Examples:
        >>> keel.data.between("amount", 0, 50_000)
        <Between between(amount, [0, 50000])>
    """
    return Between(
        column,
        min,
        max,
        strict_min=strict_min,
        strict_max=strict_max,
        mostly=mostly,
        name=name,
        severity=severity,
    )


def in_set(
    column: str,
    values: Iterable[Any],
    *,
    mostly: float = 1.0,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """Check that every non-null value is one of ``values``.

    Args:
        column: The column.
        values: The allowed values.
        mostly: The share of non-null rows that must pass.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.
    """
    return InSet(column, values, mostly=mostly, name=name, severity=severity)


def unique(
    columns: str | Sequence[str], *, name: str | None = None, severity: str = "error"
) -> Check:
    """Check that a column (or a combination of columns) has no duplicate values.

    Every row of a duplicated value counts as bad; rows with a NULL key are not judged.

    Args:
        columns: The key: one column or a list of columns.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.
    """
    return Unique(columns, name=name, severity=severity)


def row_count(
    *,
    min: int | None = None,
    max: int | None = None,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """Check that the number of rows lies in ``[min, max]``.

    Args:
        min: The fewest rows allowed.
        max: The most rows allowed.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.
    """
    return RowCount(min, max, name=name, severity=severity)


def matches(
    column: str,
    pattern: str,
    *,
    mostly: float = 1.0,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """Check that text values match a regular expression (searched; anchor with ``^...$``).

    DuckDB evaluates the pattern with RE2, which has no back-references or look-arounds.

    Args:
        column: The column (non-text columns are compared as text).
        pattern: The regular expression.
        mostly: The share of non-null rows that must pass.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.
    """
    return Matches(column, pattern, mostly=mostly, name=name, severity=severity)


def fresh(column: str, max_age: Any, *, name: str | None = None, severity: str = "error") -> Check:
    """Check that the newest value of a date or timestamp column is at most ``max_age`` old.

    Args:
        column: A date or timestamp column (naive timestamps are taken as UTC).
        max_age: ``"2d"``, ``"36h"``, ``"15m"``, ``"30s"``, ``"1w"``, a timedelta or seconds.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.
    """
    return Fresh(column, max_age, name=name, severity=severity)


def schema(
    columns: Mapping[str, str],
    *,
    exact: bool = False,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """Check column names and types (see :mod:`keel.data` for the type names and families).

    Args:
        columns: ``{"amount": "float64", "country": "string"}``.
        exact: Also fail on columns not listed.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.
    """
    return Schema(columns, exact=exact, name=name, severity=severity)


def mean_between(
    column: str,
    min: float | None = None,
    max: float | None = None,
    *,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """Check that the mean of a numeric column lies in ``[min, max]``.

    Args:
        column: A numeric column.
        min: The lowest allowed mean.
        max: The highest allowed mean.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.
    """
    return MeanBetween(column, min, max, name=name, severity=severity)


def expression(
    sql: str,
    *,
    columns: Sequence[str] | None = None,
    mostly: float = 1.0,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """A custom check: a DuckDB SQL condition that is true for good rows.

    Rows where it is FALSE are bad; NULL passes, as in a SQL ``CHECK`` constraint.

    Args:
        sql: The condition, e.g. ``"fee <= amount"`` or ``"length(iban) = 22"``.
        columns: Columns whose values are shown for bad rows.
        mostly: The share of rows that must pass.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.

    Examples:
        >>> keel.data.expression("fee <= amount", name="fee below amount")
        <Expression fee below amount>
    """
    return Expression(sql, columns=columns, mostly=mostly, name=name, severity=severity)


def python(
    function: Callable[..., Any] | str,
    columns: str | Sequence[str],
    *,
    input: str = "pandas",
    mostly: float = 1.0,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """A custom check: a vectorized Python function, true for good rows.

    The function gets one argument per column, a batch of rows at a time, and returns one
    boolean per row. In a YAML suite, name it by import path: ``function: "mypkg.checks:fn"``.

    Args:
        function: The function, or its import path ``"package.module:function"``.
        columns: The columns passed to it, in order.
        input: ``"pandas"`` (Series), ``"arrow"`` (pyarrow arrays) or ``"numpy"`` (arrays).
        mostly: The share of rows that must pass.
        name: A label for the results.
        severity: ``"error"`` or ``"warn"``.

    Examples:
        >>> def positive(x):
        ...     return x > 0
        >>> keel.data.python(positive, ["amount"])
        <Python python(positive)>
    """
    return Python(function, columns, input=input, mostly=mostly, name=name, severity=severity)


_KINDS: dict[str, type[Check]] = {
    cls.kind: cls
    for cls in (
        NotNull,
        Between,
        InSet,
        Unique,
        RowCount,
        Matches,
        Fresh,
        Schema,
        MeanBetween,
        Expression,
        Python,
    )
}


def check_from_spec(spec: Any, where: str = "check") -> Check:
    """Build a check from its suite-file form, ``{kind: arguments}``.

    The arguments are a mapping of keyword arguments, or a scalar or list standing for the
    check's main argument (``not_null: [a, b]``, ``unique: tx_id``, ``expression: "a < b"``).

    Raises:
        InvalidArgumentError: The entry is malformed; the message names where and lists kinds.
    """
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise InvalidArgumentError(
            f"{where}: each check is a mapping with one key, the check's kind (such as "
            f"'not_null: [amount]'), got {spec!r}."
        )
    kind, args = next(iter(spec.items()))
    cls = _KINDS.get(kind)
    if cls is None:
        raise InvalidArgumentError(
            f"{where}: unknown check kind {kind!r}.{near_matches(str(kind), _KINDS)} "
            f"Known kinds: {sorted(_KINDS)!r}."
        )
    if not isinstance(args, Mapping):
        if cls.positional is None:
            raise InvalidArgumentError(
                f"{where}: {kind} takes named arguments (such as '{kind}: {{min: 1}}'), got "
                f"{args!r}."
            )
        args = {cls.positional: args}
    try:
        return cls(**dict(args))
    except TypeError as exc:
        raise InvalidArgumentError(f"{where}: bad arguments for {kind}: {exc}.") from exc
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{where}: {exc.message}") from exc
