"""The base of the capability repositories: their store, ``INSERT`` and lineage edges.

What ``DataRepository``, ``RegistryRepository`` and the others share: the store they write
to, the dialect's ``INSERT`` (with ``ON CONFLICT DO NOTHING``), the one way of adding a
lineage edge inside a transaction, and :func:`to_record`, which turns a row into the plain
record of the same field names. Their queries stay in their own modules.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypeVar, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from keel.store._schema import LineageEdgeRow
from keel.store._sql import SqlMetadataStore, dialect_insert

__all__ = ["Repository", "to_record"]

_edges = cast(Table, LineageEdgeRow.__table__)

R = TypeVar("R")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_record(cls: type[R], row: Any, **values: Any) -> R:
    """Build the dataclass ``cls`` from ``row``: each field from the row's value of that name.

    Args:
        cls: The record's dataclass.
        row: A result row (or any object) with an attribute per field not in ``values``.
        **values: Fields given directly: those the row lacks or that need converting
            (``inputs=dict(row.inputs or {})``, ``cache_hit=bool(row.cache_hit)``).
    """
    for name in _field_names(cast(Any, cls)):
        if name not in values:
            values[name] = getattr(row, name)
    return cls(**values)


class Repository:
    """The base of the capability repositories.

    Args:
        store: The metadata store to read and write.
    """

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store

    def _insert(self, table: Table) -> Any:
        """Return the dialect's ``INSERT`` for ``table`` (it has ``on_conflict_do_nothing``)."""
        return dialect_insert(self.store.dialect, table)

    def _insert_edge(
        self,
        conn: Connection,
        source: tuple[str, str],
        target: tuple[str, str],
        relation: str,
        properties: dict[str, Any] | None,
        created_at: int,
    ) -> None:
        """Add ``source -> target`` to the lineage graph in ``conn``'s transaction.

        Adding an edge that exists does nothing. Auditing it is the caller's business.
        """
        conn.execute(
            self._insert(_edges)
            .values(
                source_kind=source[0],
                source_id=source[1],
                target_kind=target[0],
                target_id=target[1],
                relation=relation,
                created_at=created_at,
                properties=properties or {},
            )
            .on_conflict_do_nothing()
        )
