"""Queries of the feature store: versioned definitions and materialization runs.

:class:`FeatureRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the plain
records defined here; no SQLAlchemy row leaves this module. Every change is written in one
transaction with its audit event and its lineage edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, and_, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms
from keel.errors import InvalidStateError, NotFoundError, near_matches
from keel.store._engine import store_error, write_connection
from keel.store._repo import Repository, to_record
from keel.store._schema_features import FeatureDefinitionRow, FeatureMaterializationRow

__all__ = [
    "DefinitionRecord",
    "FeatureRepository",
    "MaterializationRecord",
    "NewDefinition",
    "NewMaterialization",
]

_defs = cast(Table, FeatureDefinitionRow.__table__)
_mats = cast(Table, FeatureMaterializationRow.__table__)

#: Lineage node kind of each definition kind.
_NODE_KIND = {
    "entity": "entity",
    "feature_view": "feature_view",
    "on_demand_feature_view": "feature_view",
    "feature_service": "feature_service",
}


@dataclass(frozen=True)
class DefinitionRecord:
    """One stored version of a feature-store definition."""

    id: str
    kind: str
    name: str
    version: int
    digest: str
    spec: dict[str, Any]
    created_at: int
    created_by: str

    @property
    def ref(self) -> str:
        """The version's reference, ``name@vN``."""
        return f"{self.name}@v{self.version}"


@dataclass(frozen=True)
class NewDefinition:
    """A definition to store as the next version of ``(kind, name)``.

    Attributes:
        kind: ``entity``, ``feature_view``, ``on_demand_feature_view`` or ``feature_service``.
        name: The definition's name.
        digest: sha256 of the canonical spec; equal digests mean equal definitions.
        spec: The canonical JSON spec.
        expected_version: The latest version the caller saw (0 for none); a different latest
            version at write time means another writer got there first.
        lineage: ``(source_node, relation)`` edges into this version's lineage node.
    """

    kind: str
    name: str
    digest: str
    spec: dict[str, Any]
    expected_version: int
    lineage: Sequence[tuple[tuple[str, str], str]] = ()


@dataclass(frozen=True)
class NewMaterialization:
    """What one materialization did."""

    view_name: str
    view_version: int
    data_digest: str
    online_store: str
    start_us: int | None
    end_us: int
    rows_read: int
    rows_written: int
    batches: int
    duration_s: float
    created_by: str
    lineage: Sequence[tuple[tuple[str, str], str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class MaterializationRecord(NewMaterialization):
    """A stored materialization."""

    id: str = ""
    created_at: int = 0


class FeatureRepository(Repository):
    """Feature definitions and materializations in the one metadata store.

    Args:
        store: The metadata store to read and write.
    """

    def _read(self) -> Connection:
        try:
            return self.store.engine.connect()
        except DBAPIError as exc:
            raise store_error(self.store.uri, exc) from exc

    # -- definitions ------------------------------------------------------------------------

    def latest_definitions(self, kind: str | None = None) -> list[DefinitionRecord]:
        """Return the latest version of every definition (of one ``kind``), by kind and name."""
        latest = (
            select(_defs.c.kind, _defs.c.name, func.max(_defs.c.version).label("v"))
            .group_by(_defs.c.kind, _defs.c.name)
            .subquery()
        )
        query = select(_defs).join(
            latest,
            and_(
                _defs.c.kind == latest.c.kind,
                _defs.c.name == latest.c.name,
                _defs.c.version == latest.c.v,
            ),
        )
        if kind is not None:
            query = query.where(_defs.c.kind == kind)
        with self._read() as conn:
            rows = conn.execute(query.order_by(_defs.c.kind, _defs.c.name)).all()
        return [_to_definition(r) for r in rows]

    def get_definition(self, kind: str, name: str, version: int | None = None) -> DefinitionRecord:
        """Return one version (the latest by default) of a definition.

        Raises:
            NotFoundError: No such definition or version; the message lists near names.
        """
        query = select(_defs).where(_defs.c.kind == kind, _defs.c.name == name)
        if version is None:
            query = query.order_by(_defs.c.version.desc()).limit(1)
        else:
            query = query.where(_defs.c.version == version)
        with self._read() as conn:
            row = conn.execute(query).first()
            if row is None:
                names = list(
                    conn.execute(select(_defs.c.name).where(_defs.c.kind == kind).distinct())
                    .scalars()
                    .all()
                )
        if row is None:
            label = kind.replace("_", " ")
            if version is not None and name in names:
                raise NotFoundError(
                    f"The {label} {name!r} has no version {version!r}. List its versions with "
                    f"'keel features ls --all'.",
                    details={"kind": kind, "name": name, "version": version},
                )
            known = ", ".join(repr(n) for n in sorted(names)) or "none"
            raise NotFoundError(
                f"No {label} is named {name!r}.{near_matches(name, names)} Applied {label}s: "
                f"{known}. Apply definitions with keel.features.store().apply([...]) or "
                "'keel features apply defs.py'.",
                details={"kind": kind, "name": name},
            )
        return _to_definition(row)

    def list_versions(self, kind: str, name: str) -> list[DefinitionRecord]:
        """Return every version of a definition, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(_defs)
                .where(_defs.c.kind == kind, _defs.c.name == name)
                .order_by(_defs.c.version)
            ).all()
        return [_to_definition(r) for r in rows]

    def create_versions(self, new: Sequence[NewDefinition]) -> list[DefinitionRecord]:
        """Store each definition as its next version, all in one transaction.

        Raises:
            InvalidStateError: Another writer stored a version of one of them since the caller
                read it (nothing is written; apply again to see the new difference).
        """
        if not new:
            return []
        now = now_ms()
        out: list[DefinitionRecord] = []
        try:
            with write_connection(self.store.engine) as conn:
                for item in new:
                    latest = conn.execute(
                        select(func.max(_defs.c.version)).where(
                            _defs.c.kind == item.kind, _defs.c.name == item.name
                        )
                    ).scalar_one_or_none()
                    if (latest or 0) != item.expected_version:
                        raise _concurrent(item, latest or 0)
                    record = DefinitionRecord(
                        id=new_id(),
                        kind=item.kind,
                        name=item.name,
                        version=item.expected_version + 1,
                        digest=item.digest,
                        spec=item.spec,
                        created_at=now,
                        created_by=self.store.actor,
                    )
                    conn.execute(
                        _defs.insert().values(
                            id=record.id,
                            kind=record.kind,
                            name=record.name,
                            version=record.version,
                            digest=record.digest,
                            spec=record.spec,
                            created_at=now,
                            created_by=record.created_by,
                        )
                    )
                    node = (_NODE_KIND.get(item.kind, item.kind), record.ref)
                    self._add_edges(conn, [(src, node, rel, {}) for src, rel in item.lineage], now)
                    self.store.audit_event(
                        conn,
                        f"{item.kind}.apply",
                        item.kind,
                        record.ref,
                        {"version": record.version, "digest": record.digest},
                    )
                    out.append(record)
        except SAIntegrityError as exc:
            raise _concurrent(new[0], -1) from exc
        except DBAPIError as exc:
            raise store_error(self.store.uri, exc) from exc
        return out

    def _add_edges(
        self,
        conn: Connection,
        edges: Sequence[tuple[tuple[str, str], tuple[str, str], str, dict[str, Any]]],
        now: int,
    ) -> None:
        for source, target, relation, props in edges:
            self._insert_edge(conn, source, target, relation, props, now)

    # -- materializations -------------------------------------------------------------------

    def record_materialization(self, new: NewMaterialization) -> MaterializationRecord:
        """Store a finished materialization with its lineage edges and audit event."""
        now = now_ms()
        mat_id = new_id()
        values = {k: getattr(new, k) for k in _MAT_FIELDS}
        with write_connection(self.store.engine) as conn:
            conn.execute(_mats.insert().values(id=mat_id, created_at=now, **values))
            node = ("feature_materialization", mat_id)
            props = {"start_us": new.start_us, "end_us": new.end_us, "rows": new.rows_written}
            self._add_edges(conn, [(src, node, rel, props) for src, rel in new.lineage], now)
            self.store.audit_event(
                conn,
                "feature_view.materialize",
                "feature_view",
                f"{new.view_name}@v{new.view_version}",
                {
                    "materialization_id": mat_id,
                    "start_us": new.start_us,
                    "end_us": new.end_us,
                    "rows_written": new.rows_written,
                    "online_store": new.online_store,
                },
            )
        return MaterializationRecord(
            **values, lineage=tuple(new.lineage), id=mat_id, created_at=now
        )

    def watermark(self, view_name: str, data_digest: str, online_store: str) -> int | None:
        """Return the end (microseconds) of the last materialization of this view's data, if any."""
        with self._read() as conn:
            value = conn.execute(
                select(func.max(_mats.c.end_us)).where(
                    _mats.c.view_name == view_name,
                    _mats.c.data_digest == data_digest,
                    _mats.c.online_store == online_store,
                )
            ).scalar_one_or_none()
        return None if value is None else int(value)

    def list_materializations(
        self, view_name: str | None = None, limit: int = 100
    ) -> list[MaterializationRecord]:
        """Return materializations, newest first."""
        query = select(_mats).order_by(_mats.c.created_at.desc(), _mats.c.id).limit(limit)
        if view_name is not None:
            query = query.where(_mats.c.view_name == view_name)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            MaterializationRecord(
                **{k: getattr(r, k) for k in _MAT_FIELDS}, id=r.id, created_at=r.created_at
            )
            for r in rows
        ]


_MAT_FIELDS = (
    "view_name",
    "view_version",
    "data_digest",
    "online_store",
    "start_us",
    "end_us",
    "rows_read",
    "rows_written",
    "batches",
    "duration_s",
    "created_by",
)


def _concurrent(item: NewDefinition, latest: int) -> InvalidStateError:
    label = item.kind.replace("_", " ")
    seen = f"version {latest}" if latest >= 0 else "a new version"
    return InvalidStateError(
        f"The {label} {item.name!r} changed while this apply ran (the store now has {seen}, "
        f"the apply expected version {item.expected_version}). Nothing was written; apply "
        "again to see and write the difference.",
        details={"kind": item.kind, "name": item.name},
    )


def _to_definition(row: Any) -> DefinitionRecord:
    return to_record(
        DefinitionRecord,
        row,
        spec=dict(row.spec or {}),
    )
