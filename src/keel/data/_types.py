"""Column types: DuckDB's names mapped to one neutral vocabulary, and what a schema check accepts.

Keel names types the way pandas and Arrow users write them: ``int8`` ... ``int64``, ``uint8``
... ``uint64``, ``float32``, ``float64``, ``decimal(p,s)``, ``bool``, ``string``, ``binary``,
``date``, ``time``, ``timestamp``, ``timestamp_tz``, ``interval``, ``uuid``, ``list``,
``struct``, ``map``. A schema check also accepts aliases (``double``, ``str``, ``datetime``...)
and families: ``integer`` (any int), ``floating`` (any float), ``numeric`` (any number),
``temporal`` (date, time, timestamps).
"""

from __future__ import annotations

from keel.errors import InvalidArgumentError, near_matches

__all__ = [
    "NEUTRAL_TYPES",
    "is_numeric",
    "is_string",
    "is_temporal",
    "neutral_type",
    "type_matches",
]

_SIMPLE = {
    "BOOLEAN": "bool",
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "HUGEINT": "int128",
    "UTINYINT": "uint8",
    "USMALLINT": "uint16",
    "UINTEGER": "uint32",
    "UBIGINT": "uint64",
    "UHUGEINT": "uint128",
    "FLOAT": "float32",
    "DOUBLE": "float64",
    "VARCHAR": "string",
    "BLOB": "binary",
    "BIT": "binary",
    "DATE": "date",
    "TIME": "time",
    "TIME WITH TIME ZONE": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp_tz",
    "INTERVAL": "interval",
    "UUID": "uuid",
}

NEUTRAL_TYPES = frozenset(
    {*_SIMPLE.values(), "decimal", "list", "struct", "map", "union", "array", "other"}
)

_INTEGERS = {"int8", "int16", "int32", "int64", "int128"} | {
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "uint128",
}
_FLOATS = {"float32", "float64"}
_TEMPORAL = {"date", "time", "timestamp", "timestamp_tz"}

_ALIASES = {
    "double": "float64",
    "float8": "float64",
    "f8": "float64",
    "real": "float32",
    "float4": "float32",
    "f4": "float32",
    "bigint": "int64",
    "long": "int64",
    "i8": "int64",
    "int4": "int32",
    "i4": "int32",
    "smallint": "int16",
    "tinyint": "int8",
    "boolean": "bool",
    "str": "string",
    "varchar": "string",
    "text": "string",
    "utf8": "string",
    "large_string": "string",
    "object": "string",
    "bytes": "binary",
    "blob": "binary",
    "datetime": "timestamp",
    "datetime64": "timestamp",
    "datetime64[ns]": "timestamp",
    "datetime64[us]": "timestamp",
    "datetime64[ms]": "timestamp",
    "timestamptz": "timestamp_tz",
    "int": "integer",
    "float": "floating",
    "number": "numeric",
}
_FAMILIES = {
    "integer": _INTEGERS,
    "floating": _FLOATS,
    "numeric": _INTEGERS | _FLOATS | {"decimal"},
    "temporal": _TEMPORAL,
}


def neutral_type(duckdb_type: str) -> str:
    """Map a DuckDB type name (``DOUBLE``, ``DECIMAL(10,2)``, ``VARCHAR[]``) to Keel's name."""
    t = duckdb_type.strip().upper()
    if t in _SIMPLE:
        return _SIMPLE[t]
    if t.startswith("DECIMAL"):
        return t.lower().replace(" ", "")
    if t.endswith("]"):
        return "list" if t.endswith("[]") else "array"
    for prefix, name in (("STRUCT", "struct"), ("MAP", "map"), ("UNION", "union")):
        if t.startswith(prefix):
            return name
    if t.startswith("ENUM"):
        return "string"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return "other"


def _base(neutral: str) -> str:
    return "decimal" if neutral.startswith("decimal") else neutral


def is_numeric(neutral: str) -> bool:
    """Whether a Keel type holds numbers (ints, floats, decimals)."""
    return _base(neutral) in _FAMILIES["numeric"]


def is_temporal(neutral: str) -> bool:
    """Whether a Keel type holds dates or times."""
    return neutral in _TEMPORAL


def is_string(neutral: str) -> bool:
    """Whether a Keel type holds text."""
    return neutral == "string"


def canonical_expected(expected: str) -> str:
    """Normalize a type a user expects (aliases resolved, lower case).

    Raises:
        InvalidArgumentError: The name is not a Keel type, alias or family.
    """
    if not isinstance(expected, str) or not expected.strip():
        raise InvalidArgumentError(
            f"A column type must be a type name such as 'float64' or 'string', got {expected!r}."
        )
    name = expected.strip().lower().replace(" ", "")
    name = _ALIASES.get(name, name)
    if name in NEUTRAL_TYPES or name in _FAMILIES or name.startswith("decimal"):
        return name
    known = sorted(NEUTRAL_TYPES | set(_FAMILIES) | set(_ALIASES))
    raise InvalidArgumentError(
        f"Unknown column type {expected!r}.{near_matches(name, known)} Use one of "
        f"{sorted(NEUTRAL_TYPES | set(_FAMILIES))!r} (or an alias such as 'double', 'str', "
        "'datetime')."
    )


def type_matches(expected: str, actual: str) -> bool:
    """Whether a column of Keel type ``actual`` satisfies the ``expected`` type or family."""
    want = canonical_expected(expected)
    if want in _FAMILIES:
        return _base(actual) in _FAMILIES[want]
    if want == "decimal":
        return _base(actual) == "decimal"
    return want == actual
