"""Queries of the import record: what was imported from another tool's store, and as what.

:class:`InteropRepository` takes a :class:`~keel.store.SqlMetadataStore`; every recorded
import is written in one transaction with its audit event (``interop.record``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select

from keel._utils import now_ms
from keel.errors import InvalidArgumentError
from keel.store._engine import write_connection
from keel.store._schema_interop import InteropImportRow
from keel.store._sql import SqlMetadataStore, dialect_insert

__all__ = ["IMPORT_KINDS", "ImportRecord", "InteropRepository"]

_imports = cast(Table, InteropImportRow.__table__)

#: The kinds of imported objects.
IMPORT_KINDS = ("experiment", "run", "registered_model", "model_version")


@dataclass(frozen=True)
class ImportRecord:
    """One imported object: where it came from and the Keel object it became."""

    source: str
    kind: str
    source_id: str
    keel_id: str
    state: str
    imported_at: int
    imported_by: str


class InteropRepository:
    """Reads and writes the import record of one metadata store.

    Args:
        store: The metadata store.
    """

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store

    def list_imports(
        self, source: str, kind: str | None = None
    ) -> dict[tuple[str, str], ImportRecord]:
        """Return the records of ``source`` (of one ``kind`` if given), by ``(kind, source_id)``."""
        query = select(_imports).where(_imports.c.source == source)
        if kind is not None:
            query = query.where(_imports.c.kind == kind)
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        records = [ImportRecord(**r._mapping) for r in rows]
        return {(r.kind, r.source_id): r for r in records}

    def record(
        self, source: str, kind: str, source_id: str, keel_id: str, state: str = "done"
    ) -> ImportRecord:
        """Record (or update) that ``source_id`` of ``source`` became ``keel_id``.

        Raises:
            InvalidArgumentError: ``kind`` is not one of :data:`IMPORT_KINDS`.
        """
        if kind not in IMPORT_KINDS:
            raise InvalidArgumentError(
                f"Unknown import kind {kind!r}; kinds are {list(IMPORT_KINDS)!r}."
            )
        rec = ImportRecord(source, kind, source_id, keel_id, state, now_ms(), self.store.actor)
        values = rec.__dict__.copy()
        dialect = self.store.dialect
        stmt = dialect_insert(dialect, _imports)
        with write_connection(self.store.engine) as conn:
            conn.execute(
                stmt.values(**values).on_conflict_do_update(
                    index_elements=["source", "kind", "source_id"],
                    set_={"keel_id": keel_id, "state": state, "imported_at": rec.imported_at},
                )
            )
            self.store.audit_event(
                conn,
                "interop.record",
                kind,
                keel_id,
                {"source": source, "source_id": source_id, "state": state},
            )
        return rec
