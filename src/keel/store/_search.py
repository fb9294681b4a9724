"""The run filter language, compiled to SQL (never evaluated in Python).

Grammar (keywords are case-insensitive)::

    filter  := clause ("and" clause)*
    clause  := field op value
    field   := entity "." (name | `quoted name` | "quoted name")
    entity  := metrics | params | tags | attributes   (singular forms and "attr" also accepted)
    op      := "=" | "!=" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
    value   := number | 'string' | "string"

Metrics compare numerically against the latest value of the metric; params and tags compare as
text (``=``, ``!=``, ``like``, ``ilike``); attributes are ``run_id``, ``run_name``, ``status``,
``user``, ``parent_run_id`` (text) and ``start_time``, ``end_time`` (milliseconds).
A clause on a metric, param or tag a run does not have is false for that run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, exists, func, select
from sqlalchemy.sql.elements import UnaryExpression

from keel.errors import InvalidArgumentError
from keel.store._schema import LatestMetricRow, ParamRow, RunRow, TagRow

_runs = cast(Table, RunRow.__table__)
_latest = cast(Table, LatestMetricRow.__table__)
_params = cast(Table, ParamRow.__table__)
_tags = cast(Table, TagRow.__table__)

_ENTITIES = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
}
_TEXT_ATTRS = {
    "run_id": "id",
    "id": "id",
    "run_name": "name",
    "name": "name",
    "status": "status",
    "user": "user",
    "parent_run_id": "parent_run_id",
}
_NUM_ATTRS = {"start_time": "start_time", "end_time": "end_time"}
_ORDER_KEY = re.compile(r"`[^`]+`|\"[^\"]+\"|[A-Za-z0-9_\-./:]+")
_TEXT_OPS = {"=", "!=", "like", "ilike"}
_NUM_OPS = {"=", "!=", "<", "<=", ">", ">="}

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<field>[A-Za-z_]+\.(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_\-./:]+))
    | (?P<op><=|>=|!=|<>|=|<|>|\blike\b|\bilike\b)
    | (?P<and>\band\b)
    | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan))
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    )""",
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True)
class Clause:
    """One parsed comparison."""

    entity: str
    key: str
    op: str
    value: str | float


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "`\"'":
        return name[1:-1]
    return name


def _split_field(raw: str, where: str) -> tuple[str, str]:
    entity, _, key = raw.partition(".")
    canonical = _ENTITIES.get(entity.lower())
    if canonical is None:
        raise InvalidArgumentError(
            f"Unknown field {entity!r} in {where}. Use metrics.<name>, params.<name>, "
            "tags.<name> or attributes.<name>."
        )
    return canonical, _unquote(key)


def parse_filter(text: str) -> list[Clause]:
    """Parse a filter string into clauses.

    Raises:
        InvalidArgumentError: The filter does not follow the grammar; the message gives the
            position and what was expected there.
    """
    clauses: list[Clause] = []
    pos = 0
    text = text.strip()
    expect = "field"
    field: tuple[str, str] | None = None
    op = ""
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            at = len(text) - len(text[pos:].lstrip())  # point at the text, not the space
            raise InvalidArgumentError(
                f"Cannot parse filter {text!r} at position {at} ({text[at : at + 20]!r}): "
                f"expected {_EXPECT[expect]}."
            )
        kind = m.lastgroup
        token = m.group(kind or "")
        if expect == "field" and kind == "field":
            field = _split_field(token, f"filter {text!r}")
            expect = "op"
        elif expect == "op" and kind == "op":
            op = {"<>": "!="}.get(token, token.lower())
            expect = "value"
        elif expect == "value" and kind in ("number", "string") and field is not None:
            value: str | float = float(token) if kind == "number" else _unescape(token[1:-1])
            clauses.append(_check_clause(Clause(field[0], field[1], op, value), text))
            expect = "and"
        elif expect == "and" and kind == "and":
            expect = "field"
        else:
            raise InvalidArgumentError(
                f"Cannot parse filter {text!r} at position {m.start(kind or 0)} "
                f"({token!r}): expected {_EXPECT[expect]}."
            )
        pos = m.end()
    if expect not in ("and", "field") or (expect == "field" and clauses):
        raise InvalidArgumentError(
            f"Filter {text!r} ends early at position {len(text)}: expected {_EXPECT[expect]}."
        )
    return clauses


_EXPECT = {
    "field": "a field such as metrics.auc, params.depth, tags.team or attributes.status",
    "op": "a comparison: =, !=, <, <=, >, >=, like or ilike",
    "value": "a number or a quoted string",
    "and": "'and' followed by another comparison",
}


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _check_clause(c: Clause, text: str) -> Clause:
    if c.entity == "metrics":
        if c.op not in _NUM_OPS:
            raise InvalidArgumentError(
                f"Filter {text!r}: metrics compare with {sorted(_NUM_OPS)}, not {c.op!r}."
            )
        if not isinstance(c.value, float):
            raise InvalidArgumentError(
                f"Filter {text!r}: metrics.{c.key} compares with a number, not {c.value!r}."
            )
    elif c.entity in ("params", "tags") or c.key in _TEXT_ATTRS:
        if c.entity == "attributes" and c.key not in _TEXT_ATTRS:
            raise _unknown_attr(c.key, text)
        if c.op not in _TEXT_OPS:
            raise InvalidArgumentError(
                f"Filter {text!r}: {c.entity}.{c.key} is text and compares with "
                f"{sorted(_TEXT_OPS)}, not {c.op!r}. Params are stored as text: write "
                f"{c.entity}.{c.key} = '6'."
            )
        if not isinstance(c.value, str):
            raise InvalidArgumentError(
                f"Filter {text!r}: {c.entity}.{c.key} is text; quote the value: "
                f"{c.entity}.{c.key} {c.op} '{_number_text(c.value)}'."
            )
    else:
        if c.key not in _NUM_ATTRS:
            raise _unknown_attr(c.key, text)
        if c.op not in _NUM_OPS or not isinstance(c.value, float):
            raise InvalidArgumentError(
                f"Filter {text!r}: attributes.{c.key} is a time in milliseconds; compare it "
                f"with a number using {sorted(_NUM_OPS)}."
            )
    return c


def _number_text(v: float) -> str:
    return str(int(v)) if v.is_integer() else str(v)


def _unknown_attr(key: str, text: str) -> InvalidArgumentError:
    known = sorted({*_TEXT_ATTRS, *_NUM_ATTRS})
    return InvalidArgumentError(
        f"Filter {text!r}: unknown attribute {key!r}. Attributes: {known!r}."
    )


def _compare(col: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return col == value  # type: ignore[no-any-return]
    if op == "!=":
        return col != value  # type: ignore[no-any-return]
    if op == "<":
        return col < value  # type: ignore[no-any-return]
    if op == "<=":
        return col <= value  # type: ignore[no-any-return]
    if op == ">":
        return col > value  # type: ignore[no-any-return]
    if op == ">=":
        return col >= value  # type: ignore[no-any-return]
    if op == "like":
        return col.like(value)  # type: ignore[no-any-return]
    return col.ilike(value)  # type: ignore[no-any-return]


def clause_sql(c: Clause) -> ColumnElement[bool]:
    """Compile one clause into a SQL condition on ``runs``."""
    if c.entity == "attributes":
        column = _runs.c[_TEXT_ATTRS.get(c.key) or _NUM_ATTRS[c.key]]
        return _compare(column, c.op, c.value)
    table = {"metrics": _latest, "params": _params, "tags": _tags}[c.entity]
    return exists().where(
        table.c.run_id == _runs.c.id,
        table.c.key == c.key,
        _compare(table.c.value, c.op, c.value),
    )


def parse_order_by(items: list[str] | None) -> list[tuple[str, str, bool]]:
    """Parse ``["metrics.auc DESC", "params.lr"]`` into ``(entity, key, descending)``."""
    parsed = []
    for item in items or []:
        parts = item.strip().rsplit(None, 1)
        direction = "ASC"
        if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
            field_text, direction = parts[0], parts[1].upper()
        else:
            field_text = item.strip()
        entity, key = _split_field(field_text, f"order_by {item!r}")
        if not _ORDER_KEY.fullmatch(field_text.partition(".")[2]):
            raise InvalidArgumentError(
                f"Cannot parse order_by {item!r}: write a field optionally followed by ASC or "
                "DESC, such as 'metrics.auc DESC'; quote names with spaces: 'metrics.`val loss`'."
            )
        if entity == "attributes" and key not in _TEXT_ATTRS and key not in _NUM_ATTRS:
            raise _unknown_attr(key, item)
        parsed.append((entity, key, direction == "DESC"))
    return parsed


def build_query(
    experiment_ids: list[str],
    filter_text: str | None,
    order_by: list[str] | None,
    include_deleted: bool = False,
) -> Select[Any]:
    """Build ``SELECT runs.id ...`` with the filter and ordering applied."""
    conditions: list[ColumnElement[bool]] = [_runs.c.experiment_id.in_(experiment_ids)]
    if not include_deleted:
        conditions.append(_runs.c.lifecycle_stage == "active")
    if filter_text and filter_text.strip():
        conditions.extend(clause_sql(c) for c in parse_filter(filter_text))
    query = select(_runs.c.id).where(and_(*conditions))
    orderings: list[UnaryExpression[Any]] = []
    for i, (entity, key, desc) in enumerate(parse_order_by(order_by)):
        if entity == "attributes":
            col: Any = _runs.c[_TEXT_ATTRS.get(key) or _NUM_ATTRS[key]]
        else:
            table = {"metrics": _latest, "params": _params, "tags": _tags}[entity].alias(f"o{i}")
            query = query.outerjoin(table, and_(table.c.run_id == _runs.c.id, table.c.key == key))
            col = table.c.value
        # Runs without the value (NULL) sort last in either direction, as users expect.
        orderings.append(col.desc().nulls_last() if desc else col.asc().nulls_last())
    orderings.append(_runs.c.start_time.desc())
    orderings.append(_runs.c.id.asc())
    return query.order_by(*orderings)


def count_query(query: Select[Any]) -> Select[Any]:
    """Wrap a run query into a count of its rows."""
    return select(func.count()).select_from(query.order_by(None).subquery())
