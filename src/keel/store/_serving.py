"""Queries of the serving capability: deployments, their change history and the change marker.

:class:`DeploymentRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the plain
records defined here. Creating or changing a deployment writes the row, its history event, its
audit event and its lineage edges ``model_version -> deployment`` in one transaction.
:meth:`DeploymentRepository.change_marker` is what running servers poll: one statement of
indexed ``max()`` reads that changes whenever a deployment changes or an alias moves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms
from keel.errors import AlreadyExistsError, InvalidStateError, NotFoundError, near_matches
from keel.store._engine import write_connection
from keel.store._repo import Repository
from keel.store._schema_registry import ModelAliasEventRow, RegisteredModelRow
from keel.store._schema_serving import DeploymentEventRow, DeploymentRow

__all__ = [
    "DeploymentEventRecord",
    "DeploymentRecord",
    "DeploymentRepository",
    "DeploymentSpec",
]

_deployments = cast(Table, DeploymentRow.__table__)
_events = cast(Table, DeploymentEventRow.__table__)
_alias_events = cast(Table, ModelAliasEventRow.__table__)
_models = cast(Table, RegisteredModelRow.__table__)

_SPEC_FIELDS = (
    "model_name",
    "alias",
    "version",
    "canary_version",
    "canary_percent",
    "shadow_version",
    "feature_service",
    "config",
)


@dataclass(frozen=True)
class DeploymentSpec:
    """What a deployment serves: the settings every revision records.

    Attributes:
        model_name: The registered model.
        alias: The alias followed (``champion``); ``None`` when a version is pinned.
        version: The pinned version; ``None`` when an alias is followed.
        canary_version: A version that gets ``canary_percent`` percent of the requests.
        canary_percent: The canary's share of requests, in percent (0 to 100).
        shadow_version: A version run on every request whose answer is logged, not returned.
        feature_service: The feature service entity lookups read (``None``: the model's own).
        config: Free-form serving settings.
    """

    model_name: str
    alias: str | None = None
    version: int | None = None
    canary_version: int | None = None
    canary_percent: float | None = None
    shadow_version: int | None = None
    feature_service: str | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form stored with each revision."""
        return {name: getattr(self, name) for name in _SPEC_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        return cls(
            model_name=str(data["model_name"]),
            alias=data.get("alias"),
            version=data.get("version"),
            canary_version=data.get("canary_version"),
            canary_percent=data.get("canary_percent"),
            shadow_version=data.get("shadow_version"),
            feature_service=data.get("feature_service"),
            config=dict(data.get("config") or {}),
        )

    @property
    def versions(self) -> list[int]:
        """The versions the spec names explicitly (pinned, canary, shadow)."""
        found = [self.version, self.canary_version, self.shadow_version]
        return sorted({v for v in found if v is not None})


@dataclass(frozen=True)
class DeploymentRecord:
    """A stored deployment."""

    id: str
    name: str
    spec: DeploymentSpec
    description: str
    revision: int
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str

    def lineage_node(self) -> tuple[str, str]:
        """The deployment's node in the lineage graph, ``("deployment", name)``."""
        return "deployment", self.name


@dataclass(frozen=True)
class DeploymentEventRecord:
    """One change of a deployment."""

    id: int
    deployment: str
    revision: int
    action: str
    spec: DeploymentSpec
    reason: str
    actor: str
    created_at: int


class DeploymentRepository(Repository):
    """Deployments in the one metadata store.

    Args:
        store: The metadata store to read and write.
    """

    def _edges(self, conn: Connection, name: str, model: str, versions: Iterable[int]) -> None:
        now = now_ms()
        for version in sorted(set(versions)):
            self._insert_edge(
                conn,
                ("model_version", f"{model}/{version}"),
                ("deployment", name),
                "deployed",
                None,
                now,
            )

    def create_deployment(
        self,
        name: str,
        spec: DeploymentSpec,
        *,
        description: str = "",
        reason: str = "",
        served_versions: Iterable[int] = (),
    ) -> DeploymentRecord:
        """Record a new deployment, its first revision, audit event and lineage edges.

        Args:
            name: The deployment's unique name.
            spec: What it serves.
            description: What it is for.
            reason: Why it was created (kept in its history).
            served_versions: Versions to link ``model_version -> deployment`` besides the
                spec's pinned ones (the version an alias points at now).

        Raises:
            AlreadyExistsError: A deployment of that name exists.
        """
        now, actor = now_ms(), self.store.actor
        record = DeploymentRecord(new_id(), name, spec, description, 1, now, actor, now, actor)
        try:
            with write_connection(self.store.engine) as conn:
                conn.execute(
                    _deployments.insert().values(
                        id=record.id,
                        name=name,
                        **spec.to_dict(),
                        description=description,
                        revision=1,
                        created_at=now,
                        created_by=actor,
                        updated_at=now,
                        updated_by=actor,
                    )
                )
                self._event(conn, record, "create", reason)
                self._edges(conn, name, spec.model_name, [*spec.versions, *served_versions])
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"A deployment named {name!r} exists already. Change it with "
                f"'keel deploy {name} --canary VERSION:PERCENT' or pick another name.",
                details={"deployment": name},
            ) from exc
        return record

    def _event(self, conn: Connection, record: DeploymentRecord, action: str, reason: str) -> None:
        conn.execute(
            _events.insert().values(
                deployment_id=record.id,
                revision=record.revision,
                action=action,
                spec=record.spec.to_dict(),
                reason=reason,
                actor=record.updated_by,
                created_at=record.updated_at,
            )
        )
        self.store.audit_event(
            conn,
            f"deployment.{action}",
            "deployment",
            record.name,
            {"revision": record.revision, "reason": reason, **record.spec.to_dict()},
        )

    def update_deployment(
        self,
        name: str,
        spec: DeploymentSpec,
        *,
        action: str,
        reason: str = "",
        expected_revision: int | None = None,
        served_versions: Iterable[int] = (),
    ) -> DeploymentRecord:
        """Replace a deployment's settings as a new revision (with history, audit, lineage).

        Raises:
            NotFoundError: No deployment has that name.
            InvalidStateError: ``expected_revision`` is not the current revision.
        """
        try:
            with write_connection(self.store.engine) as conn:
                row = conn.execute(select(_deployments).where(_deployments.c.name == name)).first()
                if row is None:
                    raise self._not_found(conn, name)
                current = _to_record(row)
                if expected_revision is not None and current.revision != expected_revision:
                    raise _conflict(name, expected_revision, current.revision)
                record = dataclasses.replace(
                    current,
                    spec=spec,
                    revision=current.revision + 1,
                    updated_at=now_ms(),
                    updated_by=self.store.actor,
                )
                result = conn.execute(
                    update(_deployments)
                    .where(
                        _deployments.c.id == current.id,
                        _deployments.c.revision == current.revision,
                    )
                    .values(
                        **spec.to_dict(),
                        revision=record.revision,
                        updated_at=record.updated_at,
                        updated_by=record.updated_by,
                    )
                )
                if result.rowcount != 1:
                    raise _conflict(name, current.revision, None)
                self._event(conn, record, action, reason)
                self._edges(conn, name, spec.model_name, [*spec.versions, *served_versions])
        except SAIntegrityError as exc:  # a racing change took the same revision number
            raise _conflict(name, expected_revision, None) from exc
        return record

    def _not_found(self, conn: Connection, name: str) -> NotFoundError:
        names = [r[0] for r in conn.execute(select(_deployments.c.name))]
        return NotFoundError(
            f"No deployment named {name!r}.{near_matches(name, names)} Create one with "
            "'keel deploy MODEL --alias champion --name NAME'.",
            details={"deployment": name},
        )

    def get_deployment(self, name: str) -> DeploymentRecord:
        """Return a deployment by name.

        Raises:
            NotFoundError: No deployment has that name; the message lists near names.
        """
        with self.store._read() as conn:
            row = conn.execute(select(_deployments).where(_deployments.c.name == name)).first()
            if row is None:
                raise self._not_found(conn, name)
        return _to_record(row)

    def find_deployment(self, name: str) -> DeploymentRecord | None:
        """Return a deployment by name, or ``None``."""
        with self.store._read() as conn:
            row = conn.execute(select(_deployments).where(_deployments.c.name == name)).first()
        return None if row is None else _to_record(row)

    def list_deployments(self, model_name: str | None = None) -> list[DeploymentRecord]:
        """Return every deployment (of one model if given), by name."""
        query = select(_deployments).order_by(_deployments.c.name)
        if model_name is not None:
            query = query.where(_deployments.c.model_name == model_name)
        with self.store._read() as conn:
            return [_to_record(r) for r in conn.execute(query)]

    def list_events(self, name: str) -> list[DeploymentEventRecord]:
        """Return a deployment's changes, oldest first.

        Raises:
            NotFoundError: No deployment has that name.
        """
        record = self.get_deployment(name)
        with self.store._read() as conn:
            rows = conn.execute(
                select(_events)
                .where(_events.c.deployment_id == record.id)
                .order_by(_events.c.revision)
            ).all()
        return [
            DeploymentEventRecord(
                id=int(r.id),
                deployment=name,
                revision=int(r.revision),
                action=r.action,
                spec=DeploymentSpec.from_dict(dict(r.spec or {})),
                reason=r.reason,
                actor=r.actor,
                created_at=int(r.created_at),
            )
            for r in rows
        ]

    def change_marker(self) -> tuple[int, int, int]:
        """Return a value that changes whenever a deployment changes or any alias moves.

        ``(newest deployment event id, newest alias move id, sum of models' latest versions)``:
        one statement of indexed aggregate reads, cheap enough to poll every second.
        """
        query = select(
            select(func.coalesce(func.max(_events.c.id), 0)).scalar_subquery(),
            select(func.coalesce(func.max(_alias_events.c.id), 0)).scalar_subquery(),
            select(func.coalesce(func.sum(_models.c.latest_version), 0)).scalar_subquery(),
        )
        with self.store._read() as conn:
            row = conn.execute(query).one()
        return int(row[0]), int(row[1]), int(row[2])


def _conflict(name: str, expected: int | None, actual: int | None) -> InvalidStateError:
    return InvalidStateError(
        f"Deployment {name!r} changed while this change was made (expected revision "
        f"{expected!r}, found {actual!r}). Look at 'keel deploy show {name}' and try again.",
        details={"deployment": name, "expected": expected, "actual": actual},
    )


def _to_record(r: Any) -> DeploymentRecord:
    spec = DeploymentSpec(
        model_name=r.model_name,
        alias=r.alias,
        version=r.version,
        canary_version=r.canary_version,
        canary_percent=r.canary_percent,
        shadow_version=r.shadow_version,
        feature_service=r.feature_service,
        config=dict(r.config or {}),
    )
    return DeploymentRecord(
        id=r.id,
        name=r.name,
        spec=spec,
        description=r.description,
        revision=int(r.revision),
        created_at=int(r.created_at),
        created_by=r.created_by,
        updated_at=int(r.updated_at),
        updated_by=r.updated_by,
    )
