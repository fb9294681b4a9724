"""Feature value types, durations and the timestamp rule shared by the offline and online paths.

Feature types are ``bool``, ``int32``, ``int64``, ``float32``, ``float64``, ``string`` and
``timestamp`` (aliases: ``int``, ``float``, ``double``, ``str``, ``boolean``, ``datetime``).
Join keys are integers or strings.

**The timestamp rule.** A naive timestamp means UTC; a timezone-aware timestamp is converted to
UTC. Naive and aware values may not be mixed within one column (an entity frame's timestamp
column, say): Keel raises :class:`~keel.errors.InvalidArgumentError` rather than guess. Sources
and entity frames may differ (a naive source with an aware entity frame is fine: both are UTC).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from keel.errors import InvalidArgumentError, near_matches

__all__ = [
    "DUCKDB_TYPES",
    "FEATURE_TYPES",
    "KEY_TYPES",
    "canonical_type",
    "duration_us",
    "format_duration",
    "from_utc_us",
    "key_type_of",
    "source_type_fits",
    "to_utc_us",
]

#: Feature types and the DuckDB type their values are cast to.
DUCKDB_TYPES: dict[str, str] = {
    "bool": "BOOLEAN",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "string": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
}
FEATURE_TYPES = frozenset(DUCKDB_TYPES)
KEY_TYPES = frozenset({"int64", "string"})

_ALIASES = {
    "int": "int64",
    "integer": "int64",
    "long": "int64",
    "float": "float64",
    "double": "float64",
    "str": "string",
    "text": "string",
    "boolean": "bool",
    "datetime": "timestamp",
    "timestamp_tz": "timestamp",
}

_INTS_32 = {"TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT"}
_INTS_64 = _INTS_32 | {"BIGINT", "UINTEGER"}
_FLOATS = {"FLOAT", "DOUBLE"}
_TIMES = {
    "TIMESTAMP",
    "TIMESTAMP_S",
    "TIMESTAMP_MS",
    "TIMESTAMP_NS",
    "TIMESTAMP WITH TIME ZONE",
    "DATE",
}
_FITS: dict[str, set[str]] = {
    "bool": {"BOOLEAN"},
    "int32": _INTS_32,
    "int64": _INTS_64,
    "float32": _FLOATS | _INTS_64,
    "float64": _FLOATS | _INTS_64,
    "string": {"VARCHAR"},
    "timestamp": _TIMES,
}


def canonical_type(value: Any, what: str) -> str:
    """Return the canonical feature type for ``value`` (a type name or alias).

    Raises:
        InvalidArgumentError: ``value`` names no feature type.
    """
    if isinstance(value, type):
        value = {bool: "bool", int: "int64", float: "float64", str: "string"}.get(value, value)
    if isinstance(value, str):
        name = value.strip().lower()
        name = _ALIASES.get(name, name)
        if name in FEATURE_TYPES:
            return name
    allowed = ", ".join(repr(t) for t in sorted(FEATURE_TYPES))
    hint = near_matches(str(value), [*FEATURE_TYPES, *_ALIASES]) if isinstance(value, str) else ""
    raise InvalidArgumentError(
        f"{what} has the type {value!r}, which is not a feature type.{hint} Use one of {allowed}."
    )


def source_type_fits(feature_type: str, duckdb_type: str) -> bool:
    """Return whether a source column of ``duckdb_type`` can be read as ``feature_type``."""
    base = duckdb_type.upper()
    if base.startswith("DECIMAL"):
        return feature_type in ("float32", "float64")
    if base.startswith("ENUM"):
        return feature_type == "string"
    return base in _FITS[feature_type]


def key_type_of(duckdb_type: str) -> str | None:
    """Return the join-key type (``int64`` or ``string``) of a DuckDB column type, or ``None``."""
    base = duckdb_type.upper()
    if base in _INTS_64 or base in {"UBIGINT", "HUGEINT"}:
        return "int64"
    if base == "VARCHAR" or base.startswith("ENUM"):
        return "string"
    return None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h|d|w)\s*$", re.I)
_UNIT_US = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}


def duration_us(value: Any, what: str) -> int | None:
    """Turn a duration (``"30d"``, ``"12h"``, seconds, a ``timedelta``, ``None``) into µs.

    ``None`` means no limit.

    Raises:
        InvalidArgumentError: The value is not a positive duration.
    """
    if value is None:
        return None
    us: float | None = None
    if isinstance(value, dt.timedelta):
        us = value / dt.timedelta(microseconds=1)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        us = float(value) * 1_000_000
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            us = float(match.group(1)) * _UNIT_US[match.group(2).lower()]
    if us is None or us <= 0 or us != us:
        raise InvalidArgumentError(
            f"{what} must be a positive duration such as '30d', '12h', '15m', '90s', a number "
            f"of seconds or a datetime.timedelta, got {value!r}. Use None for no limit."
        )
    return int(us)


def format_duration(us: int | None) -> str:
    """Format microseconds in the largest unit that divides them (``"30d"``); ``None``: no limit."""
    if us is None:
        return "none"
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = _UNIT_US[unit]
        if us % size == 0:
            return f"{us // size}{unit}"
    return f"{us}us"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_utc_us(value: Any, what: str) -> int:
    """Turn a datetime (naive means UTC), a pandas Timestamp or an ISO string into epoch µs.

    Raises:
        InvalidArgumentError: The value is not a point in time.
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidArgumentError(
                f"{what} must be a datetime or an ISO 8601 string, got {value!r}."
            ) from exc
    if hasattr(value, "to_pydatetime") and not isinstance(value, dt.datetime):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta: dt.timedelta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, dt.date):
        return to_utc_us(dt.datetime(value.year, value.month, value.day), what)
    raise InvalidArgumentError(
        f"{what} must be a datetime (naive means UTC) or an ISO 8601 string, got {value!r}."
    )


def from_utc_us(us: int) -> dt.datetime:
    """Turn epoch microseconds into a timezone-aware UTC datetime."""
    return _EPOCH + dt.timedelta(microseconds=us)
