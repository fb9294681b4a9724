"""Queries of the model registry: models, versions, metrics, aliases, gates and promotions.

:class:`RegistryRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the
plain records defined here; no SQLAlchemy row leaves this module. Every change is written in
one transaction together with its audit event (and, for a new version, its lineage edge).

Concurrency: a version number comes from ``registered_models.latest_version``, incremented by
an ``UPDATE`` that takes the model's row lock (PostgreSQL) inside a ``BEGIN IMMEDIATE``
transaction (SQLite), so two writers never get the same number. Every alias move locks the
model row the same way, compares the alias's current version with the caller's expectation
and writes the move with the next revision number under a unique index, so a concurrent move
is either serialized after this one or refused, never lost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms
from keel.errors import (
    AlreadyExistsError,
    InvalidStateError,
    NotFoundError,
    near_matches,
)
from keel.store._engine import store_error, write_connection
from keel.store._repo import Repository, to_record
from keel.store._schema import RunRow
from keel.store._schema_registry import (
    ModelAliasEventRow,
    ModelAliasRow,
    ModelApprovalRow,
    ModelGateResultRow,
    ModelGateRow,
    ModelPromotionRow,
    ModelVersionMetricRow,
    ModelVersionRow,
    RegisteredModelRow,
)

__all__ = [
    "ANY_VERSION",
    "AliasMoveRecord",
    "ApprovalRecord",
    "GateRecord",
    "GateResultRecord",
    "ModelVersionRecord",
    "NewGateResult",
    "NewModelVersion",
    "PromotionRecord",
    "RegisteredModelRecord",
    "RegistryRepository",
]

_models = cast(Table, RegisteredModelRow.__table__)
_versions = cast(Table, ModelVersionRow.__table__)
_metrics = cast(Table, ModelVersionMetricRow.__table__)
_aliases = cast(Table, ModelAliasRow.__table__)
_alias_events = cast(Table, ModelAliasEventRow.__table__)
_gates = cast(Table, ModelGateRow.__table__)
_results = cast(Table, ModelGateResultRow.__table__)
_approvals = cast(Table, ModelApprovalRow.__table__)
_promotions = cast(Table, ModelPromotionRow.__table__)
_runs = cast(Table, RunRow.__table__)


class _AnyVersion:
    def __repr__(self) -> str:
        return "ANY_VERSION"


#: ``expected`` value of :meth:`RegistryRepository.move_alias` that accepts any current state.
ANY_VERSION: Final[Any] = _AnyVersion()


@dataclass(frozen=True)
class RegisteredModelRecord:
    """A registered model, its aliases and a summary of its versions."""

    id: str
    name: str
    description: str
    intended_use: str
    latest_version: int
    created_at: int
    created_by: str
    updated_at: int
    aliases: dict[str, int] = field(default_factory=dict)
    holdout: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelVersionRecord:
    """One immutable model version."""

    id: str
    model_id: str
    model_name: str
    version: int
    run_id: str
    artifact_path: str
    flavor: str
    serialization: str
    manifest_digest: str
    signature: dict[str, Any] | None
    description: str
    created_at: int
    created_by: str
    metrics: dict[str, float] = field(default_factory=dict)
    metric_sources: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """The version's reference and lineage id, ``name/N`` (as in ``models:/name/N``)."""
        return f"{self.model_name}/{self.version}"

    @property
    def uri(self) -> str:
        """The URI that loads this version: ``models:/name/N``."""
        return f"models:/{self.ref}"

    def lineage_node(self) -> tuple[str, str]:
        """The version's node in the lineage graph, ``("model_version", "name/N")``."""
        return "model_version", self.ref


@dataclass(frozen=True)
class NewModelVersion:
    """What is known about a version before it is stored."""

    model_name: str
    run_id: str
    artifact_path: str
    flavor: str
    serialization: str
    manifest_digest: str
    signature: dict[str, Any] | None
    created_by: str
    description: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    metric_source: str = "run"


@dataclass(frozen=True)
class AliasMoveRecord:
    """One move of an alias (``new_version`` is ``None`` when the alias was deleted)."""

    model_name: str
    alias: str
    revision: int
    old_version: int | None
    new_version: int | None
    action: str
    reason: str
    actor: str
    created_at: int


@dataclass(frozen=True)
class GateRecord:
    """A stored gate: its name, kind and JSON spec; ``alias`` ``""`` applies to every alias."""

    id: str
    model_name: str
    alias: str
    name: str
    kind: str
    spec: dict[str, Any]
    created_at: int
    created_by: str


@dataclass(frozen=True)
class NewGateResult:
    """The outcome of one gate, as the registry computed it."""

    gate_name: str
    kind: str
    passed: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResultRecord(NewGateResult):
    """A stored gate outcome."""

    id: str = ""
    model_name: str = ""
    version: int = 0
    alias: str = ""
    promotion_id: str | None = None
    evaluated_at: int = 0
    evaluated_by: str = ""


@dataclass(frozen=True)
class ApprovalRecord:
    """An approval of a version by a principal in a role."""

    model_name: str
    version: int
    role: str
    approver: str
    comment: str
    created_at: int


@dataclass(frozen=True)
class PromotionRecord:
    """A promotion attempt and its outcome."""

    id: str
    model_name: str
    version: int
    alias: str
    previous_version: int | None
    outcome: str
    reason: str
    failed_gates: list[str]
    actor: str
    created_at: int


def _metric_value(value: float | None) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


class RegistryRepository(Repository):
    """Registered models, versions, aliases, gates, approvals and promotions in the store.

    Args:
        store: The metadata store to read and write.
    """

    # -- registered models ------------------------------------------------------------------

    def create_model(
        self, name: str, *, description: str = "", intended_use: str = "", actor: str
    ) -> RegisteredModelRecord:
        """Create a registered model with no versions.

        Raises:
            AlreadyExistsError: A model of that name exists.
        """
        try:
            with write_connection(self.store.engine) as conn:
                self._insert_model(conn, name, description, intended_use, actor)
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"A registered model named {name!r} exists already. Log new versions into it "
                "with keel.log_model(..., registered_name=...), or choose another name.",
                details={"name": name},
            ) from exc
        return self.get_model(name)

    def _insert_model(
        self, conn: Connection, name: str, description: str, intended_use: str, actor: str
    ) -> str:
        now = now_ms()
        model_id = new_id()
        conn.execute(
            _models.insert().values(
                id=model_id,
                name=name,
                description=description,
                intended_use=intended_use,
                latest_version=0,
                holdout=None,
                created_at=now,
                created_by=actor,
                updated_at=now,
            )
        )
        self.store.audit_event(
            conn, "registered_model.create", "registered_model", name, {"description": description}
        )
        return model_id

    def get_model(self, name: str) -> RegisteredModelRecord:
        """Return a registered model with its aliases.

        Raises:
            NotFoundError: No model has that name; the message lists near names.
        """
        with self.store._read() as conn:
            row = conn.execute(select(_models).where(_models.c.name == name)).first()
            if row is None:
                raise self._model_not_found(conn, name)
            aliases = {
                a.alias: a.version
                for a in conn.execute(
                    select(_aliases.c.alias, _aliases.c.version).where(
                        _aliases.c.model_id == row.id
                    )
                )
            }
        return _to_model(row, aliases)

    def _model_not_found(self, conn: Connection, name: str) -> NotFoundError:
        names = conn.execute(select(_models.c.name)).scalars().all()
        return NotFoundError(
            f"No registered model is named {name!r}.{near_matches(name, names)} "
            "List models with 'keel models ls'.",
            details={"name": name},
        )

    def _model_id(self, conn: Connection, name: str, *, lock: bool = False) -> str:
        query = select(_models.c.id).where(_models.c.name == name)
        if lock:
            query = query.with_for_update()  # PostgreSQL row lock; SQLite is serialized already
        model_id = conn.execute(query).scalar_one_or_none()
        if model_id is None:
            raise self._model_not_found(conn, name)
        return str(model_id)

    def list_models(self, name_like: str | None = None) -> list[RegisteredModelRecord]:
        """Return every registered model (whose name contains ``name_like``), by name."""
        query = select(_models).order_by(_models.c.name)
        if name_like:
            escaped = name_like.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(_models.c.name.like(f"%{escaped}%", escape="\\"))
        with self.store._read() as conn:
            rows = conn.execute(query).all()
            aliases: dict[str, dict[str, int]] = {r.id: {} for r in rows}
            for a in conn.execute(
                select(_aliases.c.model_id, _aliases.c.alias, _aliases.c.version)
            ):
                if a.model_id in aliases:
                    aliases[a.model_id][a.alias] = a.version
        return [_to_model(r, aliases[r.id]) for r in rows]

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        intended_use: str | None = None,
        holdout: dict[str, Any] | None = None,
    ) -> RegisteredModelRecord:
        """Change a model's description, intended use or recorded holdout data.

        Raises:
            NotFoundError: No model has that name.
        """
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = description
        if intended_use is not None:
            values["intended_use"] = intended_use
        if holdout is not None:
            values["holdout"] = holdout
        if not values:
            return self.get_model(name)
        with write_connection(self.store.engine) as conn:
            model_id = self._model_id(conn, name, lock=True)
            conn.execute(
                update(_models)
                .where(_models.c.id == model_id)
                .values(updated_at=now_ms(), **values)
            )
            self.store.audit_event(
                conn,
                "registered_model.update",
                "registered_model",
                name,
                {"fields": sorted(values)},
            )
        return self.get_model(name)

    # -- versions ---------------------------------------------------------------------------

    def create_version(self, new: NewModelVersion) -> ModelVersionRecord:
        """Register a new version, creating the model on first use.

        In one transaction: the model row is created if missing, its version counter is
        incremented under the row lock, the version and its copied metrics are inserted, and
        the lineage edge ``run -> model_version`` and the audit events are written.

        Raises:
            NotFoundError: The run does not exist.
        """
        for _ in range(5):
            try:
                return self._create_version(new)
            except SAIntegrityError:
                # Only two concurrent first registrations of a new model name get here
                # (both inserted the model row): the loser retries and finds the row.
                continue
            except DBAPIError as exc:
                raise store_error(self.store.uri, exc) from exc
        raise InvalidStateError(
            f"Could not register a version of {new.model_name!r}: too much contention. Retry."
        )

    def _create_version(self, new: NewModelVersion) -> ModelVersionRecord:
        now = now_ms()
        with write_connection(self.store.engine) as conn:
            if conn.execute(select(_runs.c.id).where(_runs.c.id == new.run_id)).first() is None:
                raise NotFoundError(
                    f"No run has id {new.run_id!r}; a model version must come from a run.",
                    details={"run_id": new.run_id},
                )
            model_id = conn.execute(
                select(_models.c.id).where(_models.c.name == new.model_name)
            ).scalar_one_or_none()
            if model_id is None:
                model_id = self._insert_model(conn, new.model_name, "", "", new.created_by)
            # The UPDATE takes the row lock; the number read after it is ours alone.
            conn.execute(
                update(_models)
                .where(_models.c.id == model_id)
                .values(latest_version=_models.c.latest_version + 1, updated_at=now)
            )
            number = int(
                conn.execute(
                    select(_models.c.latest_version).where(_models.c.id == model_id)
                ).scalar_one()
            )
            version_id = new_id()
            conn.execute(
                _versions.insert().values(
                    id=version_id,
                    model_id=model_id,
                    version=number,
                    run_id=new.run_id,
                    artifact_path=new.artifact_path,
                    flavor=new.flavor,
                    serialization=new.serialization,
                    manifest_digest=new.manifest_digest,
                    signature=new.signature,
                    description=new.description,
                    created_at=now,
                    created_by=new.created_by,
                )
            )
            if new.metrics:
                conn.execute(
                    _metrics.insert(),
                    [
                        {
                            "version_id": version_id,
                            "key": k,
                            "value": _metric_value(v),
                            "source": new.metric_source,
                            "recorded_at": now,
                        }
                        for k, v in new.metrics.items()
                    ],
                )
            ref = f"{new.model_name}/{number}"
            self._insert_edge(
                conn,
                ("run", new.run_id),
                ("model_version", ref),
                "output",
                {"role": "model", "artifact_path": new.artifact_path},
                now,
            )
            self.store.audit_event(
                conn,
                "lineage.add_edge",
                "model_version",
                ref,
                {"source": f"run:{new.run_id}", "relation": "output"},
            )
            self.store.audit_event(
                conn,
                "model_version.create",
                "model_version",
                ref,
                {
                    "run_id": new.run_id,
                    "artifact_path": new.artifact_path,
                    "flavor": new.flavor,
                    "manifest_digest": new.manifest_digest,
                },
            )
        return self.get_version(new.model_name, number)

    def _version_query(self) -> Any:
        return select(_versions, _models.c.name.label("model_name")).join(
            _models, _models.c.id == _versions.c.model_id
        )

    def _load_versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersionRecord]:
        ids = [r.id for r in rows]
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        sources: dict[str, dict[str, str]] = {i: {} for i in ids}
        aliases: dict[tuple[str, int], list[str]] = {}
        if ids:
            for m in conn.execute(select(_metrics).where(_metrics.c.version_id.in_(ids))):
                metrics[m.version_id][m.key] = math.nan if m.value is None else float(m.value)
                sources[m.version_id][m.key] = m.source
            model_ids = {r.model_id for r in rows}
            for a in conn.execute(
                select(_aliases)
                .where(_aliases.c.model_id.in_(model_ids))
                .order_by(_aliases.c.alias)
            ):
                aliases.setdefault((a.model_id, a.version), []).append(a.alias)
        return [
            _to_version(r, metrics[r.id], sources[r.id], aliases.get((r.model_id, r.version), []))
            for r in rows
        ]

    def get_version(self, name: str, version: int) -> ModelVersionRecord:
        """Return version ``version`` of model ``name``.

        Raises:
            NotFoundError: The model or the version does not exist.
        """
        with self.store._read() as conn:
            row = conn.execute(
                self._version_query().where(_models.c.name == name, _versions.c.version == version)
            ).first()
            if row is None:
                model_id = self._model_id(conn, name)
                numbers = list(
                    conn.execute(
                        select(_versions.c.version)
                        .where(_versions.c.model_id == model_id)
                        .order_by(_versions.c.version)
                    ).scalars()
                )
                raise NotFoundError(
                    f"Model {name!r} has no version {version!r}. "
                    + (
                        f"Its versions are {_ranges(numbers)}."
                        if numbers
                        else "It has no versions yet."
                    ),
                    details={"name": name, "version": version},
                )
            return self._load_versions(conn, [row])[0]

    def get_latest_version(self, name: str) -> ModelVersionRecord:
        """Return the newest version of ``name``.

        Raises:
            NotFoundError: The model does not exist or has no versions.
        """
        with self.store._read() as conn:
            model_id = self._model_id(conn, name)
            row = conn.execute(
                self._version_query()
                .where(_versions.c.model_id == model_id)
                .order_by(_versions.c.version.desc())
                .limit(1)
            ).first()
            if row is None:
                raise NotFoundError(
                    f"Model {name!r} has no versions yet. Log one with "
                    f"keel.log_model(model, 'model', registered_name={name!r}).",
                    details={"name": name},
                )
            return self._load_versions(conn, [row])[0]

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersionRecord:
        """Return the version ``alias`` points at.

        Raises:
            NotFoundError: The model or the alias does not exist (near aliases are listed).
        """
        with self.store._read() as conn:
            model_id = self._model_id(conn, name)
            number = conn.execute(
                select(_aliases.c.version).where(
                    _aliases.c.model_id == model_id, _aliases.c.alias == alias
                )
            ).scalar_one_or_none()
            if number is None:
                known = list(
                    conn.execute(
                        select(_aliases.c.alias).where(_aliases.c.model_id == model_id)
                    ).scalars()
                )
                raise NotFoundError(
                    f"Model {name!r} has no alias {alias!r}.{near_matches(alias, known)} "
                    + (f"Its aliases are {sorted(known)!r}." if known else "It has no aliases.")
                    + " Set one with keel.models.set_alias or keel.models.promote.",
                    details={"name": name, "alias": alias},
                )
            row = conn.execute(
                self._version_query().where(
                    _versions.c.model_id == model_id, _versions.c.version == number
                )
            ).one()
            return self._load_versions(conn, [row])[0]

    def list_versions(self, name: str) -> list[ModelVersionRecord]:
        """Return every version of ``name``, newest first.

        Raises:
            NotFoundError: The model does not exist.
        """
        with self.store._read() as conn:
            model_id = self._model_id(conn, name)
            rows = conn.execute(
                self._version_query()
                .where(_versions.c.model_id == model_id)
                .order_by(_versions.c.version.desc())
            ).all()
            return self._load_versions(conn, rows)

    def find_versions_by_run(self, run_id: str) -> list[ModelVersionRecord]:
        """Return the versions logged by run ``run_id``."""
        with self.store._read() as conn:
            rows = conn.execute(
                self._version_query()
                .where(_versions.c.run_id == run_id)
                .order_by(_models.c.name, _versions.c.version)
            ).all()
            return self._load_versions(conn, rows)

    def add_version_metrics(
        self, name: str, version: int, metrics: Mapping[str, float], source: str
    ) -> dict[str, float]:
        """Record metrics on a version that it does not have yet; return those added.

        Metrics already on the version keep their value: what a version was registered or
        promoted with never changes underneath it.
        """
        if not metrics:
            return {}
        now = now_ms()
        added: dict[str, float] = {}
        with write_connection(self.store.engine) as conn:
            version_id = self._version_id(conn, name, version)
            have = set(
                conn.execute(
                    select(_metrics.c.key).where(_metrics.c.version_id == version_id)
                ).scalars()
            )
            rows = []
            for k, v in metrics.items():
                if k in have:
                    continue
                rows.append(
                    {
                        "version_id": version_id,
                        "key": k,
                        "value": _metric_value(v),
                        "source": source,
                        "recorded_at": now,
                    }
                )
                added[k] = float(v)
            if rows:
                conn.execute(self._insert(_metrics).on_conflict_do_nothing(), rows)
                self.store.audit_event(
                    conn,
                    "model_version.add_metrics",
                    "model_version",
                    f"{name}/{version}",
                    {"metrics": sorted(added), "source": source},
                )
        return added

    def _version_id(self, conn: Connection, name: str, version: int) -> str:
        vid = conn.execute(
            select(_versions.c.id)
            .join(_models, _models.c.id == _versions.c.model_id)
            .where(_models.c.name == name, _versions.c.version == version)
        ).scalar_one_or_none()
        if vid is None:
            self._model_id(conn, name)  # raises for an unknown model
            raise NotFoundError(
                f"Model {name!r} has no version {version!r}. List its versions with "
                f"'keel models show {name}'.",
                details={"name": name, "version": version},
            )
        return str(vid)

    # -- aliases ----------------------------------------------------------------------------

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        expected: int | None | Any = ANY_VERSION,
        action: str,
        reason: str,
        actor: str,
        conn: Connection | None = None,
    ) -> AliasMoveRecord:
        """Point ``alias`` at ``version`` (``None`` deletes it), atomically.

        Args:
            name: The registered model.
            alias: The alias to move.
            version: The version to point at, or ``None`` to delete the alias.
            expected: Compare-and-set: the version the alias must point at now (``None``: the
                alias must not exist); :data:`ANY_VERSION` moves it whatever it points at.
            action: What moved it (``set``, ``promote``, ``delete``), recorded in its history.
            reason: Why, recorded in its history and the audit log.
            actor: Who.
            conn: An open write transaction to run in (the caller commits); a new one if
                ``None``.

        Raises:
            NotFoundError: The model or the version does not exist, or the alias to delete.
            InvalidStateError: ``expected`` does not match where the alias points now.
        """
        if conn is None:
            try:
                with write_connection(self.store.engine) as new_conn:
                    return self.move_alias(
                        name,
                        alias,
                        version,
                        expected=expected,
                        action=action,
                        reason=reason,
                        actor=actor,
                        conn=new_conn,
                    )
            except SAIntegrityError as exc:  # the unique revision index caught a racing move
                raise _alias_conflict(name, alias, expected, None) from exc
        now = now_ms()
        model_id = self._model_id(conn, name, lock=True)
        if version is not None:
            self._version_id(conn, name, version)
        current = conn.execute(
            select(_aliases.c.version, _aliases.c.revision).where(
                _aliases.c.model_id == model_id, _aliases.c.alias == alias
            )
        ).first()
        old_version = None if current is None else int(current.version)
        if expected is not ANY_VERSION and expected != old_version:
            raise _alias_conflict(name, alias, expected, old_version)
        last_revision = conn.execute(
            select(func.max(_alias_events.c.revision)).where(
                _alias_events.c.model_id == model_id, _alias_events.c.alias == alias
            )
        ).scalar_one_or_none()
        revision = int(last_revision or 0) + 1
        if version is None:
            if current is None:
                raise NotFoundError(
                    f"Model {name!r} has no alias {alias!r} to delete.",
                    details={"name": name, "alias": alias},
                )
            conn.execute(
                delete(_aliases).where(_aliases.c.model_id == model_id, _aliases.c.alias == alias)
            )
        elif current is None:
            conn.execute(
                _aliases.insert().values(
                    model_id=model_id,
                    alias=alias,
                    version=version,
                    revision=revision,
                    updated_at=now,
                    updated_by=actor,
                )
            )
        else:
            result = conn.execute(
                update(_aliases)
                .where(
                    _aliases.c.model_id == model_id,
                    _aliases.c.alias == alias,
                    _aliases.c.revision == current.revision,
                )
                .values(version=version, revision=revision, updated_at=now, updated_by=actor)
            )
            if result.rowcount != 1:  # defensive: the lock above makes this unreachable
                raise _alias_conflict(name, alias, expected, old_version)
        conn.execute(
            _alias_events.insert().values(
                model_id=model_id,
                alias=alias,
                revision=revision,
                old_version=old_version,
                new_version=version,
                action=action,
                reason=reason,
                actor=actor,
                created_at=now,
            )
        )
        conn.execute(update(_models).where(_models.c.id == model_id).values(updated_at=now))
        self.store.audit_event(
            conn,
            "registered_model.alias_delete" if version is None else "registered_model.alias_set",
            "registered_model",
            name,
            {
                "alias": alias,
                "from_version": old_version,
                "to_version": version,
                "action": action,
                "reason": reason,
                "revision": revision,
            },
        )
        return AliasMoveRecord(
            name, alias, revision, old_version, version, action, reason, actor, now
        )

    def list_alias_history(self, name: str, alias: str | None = None) -> list[AliasMoveRecord]:
        """Return the moves of a model's aliases (of one alias if given), oldest first.

        Raises:
            NotFoundError: The model does not exist.
        """
        with self.store._read() as conn:
            model_id = self._model_id(conn, name)
            query = select(_alias_events).where(_alias_events.c.model_id == model_id)
            if alias is not None:
                query = query.where(_alias_events.c.alias == alias)
            rows = conn.execute(query.order_by(_alias_events.c.id)).all()
        return [
            AliasMoveRecord(
                name,
                r.alias,
                r.revision,
                r.old_version,
                r.new_version,
                r.action,
                r.reason,
                r.actor,
                r.created_at,
            )
            for r in rows
        ]

    # -- gates ------------------------------------------------------------------------------

    def add_gate(
        self, name: str, gate_name: str, kind: str, spec: dict[str, Any], alias: str, actor: str
    ) -> tuple[GateRecord, bool]:
        """Add a gate; adding one with the same name and alias again changes nothing.

        Returns:
            The gate and whether it was created.

        Raises:
            NotFoundError: The model does not exist.
        """
        now = now_ms()
        try:
            with write_connection(self.store.engine) as conn:
                model_id = self._model_id(conn, name, lock=True)
                existing = conn.execute(
                    select(_gates).where(
                        _gates.c.model_id == model_id,
                        _gates.c.alias == alias,
                        _gates.c.name == gate_name,
                    )
                ).first()
                if existing is not None:
                    return _to_gate(existing, name), False
                gate_id = new_id()
                conn.execute(
                    _gates.insert().values(
                        id=gate_id,
                        model_id=model_id,
                        alias=alias,
                        name=gate_name,
                        kind=kind,
                        spec=spec,
                        created_at=now,
                        created_by=actor,
                    )
                )
                self.store.audit_event(
                    conn,
                    "registered_model.add_gate",
                    "registered_model",
                    name,
                    {"gate": gate_name, "kind": kind, "alias": alias, "spec": spec},
                )
        except SAIntegrityError:  # a concurrent add of the same gate won
            return self.add_gate(name, gate_name, kind, spec, alias, actor)
        return GateRecord(gate_id, name, alias, gate_name, kind, spec, now, actor), True

    def remove_gate(self, name: str, gate_name: str, alias: str) -> None:
        """Remove a gate.

        Raises:
            NotFoundError: The model or the gate does not exist (near gate names listed).
        """
        with write_connection(self.store.engine) as conn:
            model_id = self._model_id(conn, name, lock=True)
            result = conn.execute(
                delete(_gates).where(
                    _gates.c.model_id == model_id,
                    _gates.c.alias == alias,
                    _gates.c.name == gate_name,
                )
            )
            if result.rowcount == 0:
                known = list(
                    conn.execute(select(_gates.c.name).where(_gates.c.model_id == model_id))
                    .scalars()
                    .all()
                )
                raise NotFoundError(
                    f"Model {name!r} has no gate {gate_name!r}"
                    + (f" on alias {alias!r}" if alias else "")
                    + f".{near_matches(gate_name, known)} Its gates are {sorted(known)!r}.",
                    details={"name": name, "gate": gate_name},
                )
            self.store.audit_event(
                conn,
                "registered_model.remove_gate",
                "registered_model",
                name,
                {"gate": gate_name, "alias": alias},
            )

    def list_gates(self, name: str, alias: str | None = None) -> list[GateRecord]:
        """Return a model's gates, in the order they were added.

        Args:
            name: The registered model.
            alias: Only the gates that apply to promotions to this alias (the alias's own and
                those on every alias); all gates if ``None``.
        """
        with self.store._read() as conn:
            model_id = self._model_id(conn, name)
            query = select(_gates).where(_gates.c.model_id == model_id)
            if alias is not None:
                query = query.where(or_(_gates.c.alias == "", _gates.c.alias == alias))
            rows = conn.execute(query.order_by(_gates.c.created_at, _gates.c.name)).all()
        return [_to_gate(r, name) for r in rows]

    def list_gate_results(
        self, name: str, version: int, *, promotion_id: str | None = None
    ) -> list[GateResultRecord]:
        """Return the gate outcomes recorded for a version, newest first."""
        with self.store._read() as conn:
            version_id = self._version_id(conn, name, version)
            query = select(_results).where(_results.c.version_id == version_id)
            if promotion_id is not None:
                query = query.where(_results.c.promotion_id == promotion_id)
            rows = conn.execute(
                query.order_by(_results.c.evaluated_at.desc(), _results.c.gate_name)
            ).all()
        return [_to_result(r, name, version) for r in rows]

    def record_gate_results(
        self,
        name: str,
        version: int,
        alias: str,
        results: Iterable[NewGateResult],
        actor: str,
        *,
        promotion_id: str | None = None,
        conn: Connection | None = None,
    ) -> list[GateResultRecord]:
        """Store gate outcomes (of a promotion, or of a dry run when ``promotion_id`` is None)."""
        if conn is None:
            with write_connection(self.store.engine) as new_conn:
                return self.record_gate_results(
                    name, version, alias, results, actor, promotion_id=promotion_id, conn=new_conn
                )
        now = now_ms()
        version_id = self._version_id(conn, name, version)
        stored = []
        for r in results:
            rid = new_id()
            conn.execute(
                _results.insert().values(
                    id=rid,
                    version_id=version_id,
                    promotion_id=promotion_id,
                    alias=alias,
                    gate_name=r.gate_name,
                    kind=r.kind,
                    passed=r.passed,
                    reason=r.reason,
                    details=r.details,
                    evaluated_at=now,
                    evaluated_by=actor,
                )
            )
            stored.append(
                GateResultRecord(
                    r.gate_name,
                    r.kind,
                    r.passed,
                    r.reason,
                    r.details,
                    id=rid,
                    model_name=name,
                    version=version,
                    alias=alias,
                    promotion_id=promotion_id,
                    evaluated_at=now,
                    evaluated_by=actor,
                )
            )
        if stored:
            self.store.audit_event(
                conn,
                "model_version.evaluate_gates",
                "model_version",
                f"{name}/{version}",
                {
                    "alias": alias,
                    "promotion_id": promotion_id,
                    "passed": [r.gate_name for r in stored if r.passed],
                    "failed": [r.gate_name for r in stored if not r.passed],
                },
            )
        return stored

    # -- approvals --------------------------------------------------------------------------

    def add_approval(
        self, name: str, version: int, role: str, approver: str, comment: str
    ) -> tuple[ApprovalRecord, bool]:
        """Record an approval; approving again in the same role changes nothing.

        Returns:
            The approval and whether it was created.
        """
        now = now_ms()
        try:
            with write_connection(self.store.engine) as conn:
                version_id = self._version_id(conn, name, version)
                existing = conn.execute(
                    select(_approvals).where(
                        _approvals.c.version_id == version_id,
                        _approvals.c.role == role,
                        _approvals.c.approver == approver,
                    )
                ).first()
                if existing is not None:
                    return _to_approval(existing, name, version), False
                conn.execute(
                    _approvals.insert().values(
                        id=new_id(),
                        version_id=version_id,
                        role=role,
                        approver=approver,
                        comment=comment,
                        created_at=now,
                    )
                )
                self.store.audit_event(
                    conn,
                    "model_version.approve",
                    "model_version",
                    f"{name}/{version}",
                    {"role": role, "approver": approver, "comment": comment},
                )
        except SAIntegrityError:
            return self.add_approval(name, version, role, approver, comment)
        return ApprovalRecord(name, version, role, approver, comment, now), True

    def list_approvals(self, name: str, version: int) -> list[ApprovalRecord]:
        """Return the approvals of a version, oldest first."""
        with self.store._read() as conn:
            version_id = self._version_id(conn, name, version)
            rows = conn.execute(
                select(_approvals)
                .where(_approvals.c.version_id == version_id)
                .order_by(_approvals.c.created_at)
            ).all()
        return [_to_approval(r, name, version) for r in rows]

    # -- promotions -------------------------------------------------------------------------

    def record_promotion(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        results: Sequence[NewGateResult],
        expected: int | None | Any,
        reason: str,
        actor: str,
    ) -> tuple[PromotionRecord, list[GateResultRecord]]:
        """Record a promotion attempt with its gate results, moving the alias if all passed.

        The alias moves with compare-and-set against ``expected`` (the version it pointed at
        when the gates ran) in the same transaction as the record, so a promotion decided on
        stale facts is refused instead of overwriting a concurrent move.

        Raises:
            InvalidStateError: The alias moved since the gates were evaluated.
        """
        failed = [r.gate_name for r in results if not r.passed]
        outcome = "refused" if failed else "promoted"
        promotion_id = new_id()
        now = now_ms()
        try:
            with write_connection(self.store.engine) as conn:
                version_id = self._version_id(conn, name, version)
                previous: int | None
                if outcome == "promoted":
                    move = self.move_alias(
                        name,
                        alias,
                        version,
                        expected=expected,
                        action="promote",
                        reason=reason,
                        actor=actor,
                        conn=conn,
                    )
                    previous = move.old_version
                else:
                    previous = None if expected is ANY_VERSION else expected
                conn.execute(
                    _promotions.insert().values(
                        id=promotion_id,
                        version_id=version_id,
                        alias=alias,
                        previous_version=previous,
                        outcome=outcome,
                        reason=reason,
                        failed_gates=failed,
                        actor=actor,
                        created_at=now,
                    )
                )
                stored = self.record_gate_results(
                    name, version, alias, results, actor, promotion_id=promotion_id, conn=conn
                )
                self.store.audit_event(
                    conn,
                    f"model_version.promotion_{outcome}",
                    "model_version",
                    f"{name}/{version}",
                    {
                        "alias": alias,
                        "previous_version": previous,
                        "reason": reason,
                        "failed_gates": failed,
                        "promotion_id": promotion_id,
                    },
                )
        except SAIntegrityError as exc:
            raise _alias_conflict(name, alias, expected, None) from exc
        record = PromotionRecord(
            promotion_id, name, version, alias, previous, outcome, reason, failed, actor, now
        )
        return record, stored

    def list_promotions(self, name: str, version: int | None = None) -> list[PromotionRecord]:
        """Return the promotion attempts of a model (of one version if given), newest first."""
        with self.store._read() as conn:
            model_id = self._model_id(conn, name)
            query = (
                select(_promotions, _versions.c.version.label("number"))
                .join(_versions, _versions.c.id == _promotions.c.version_id)
                .where(_versions.c.model_id == model_id)
            )
            if version is not None:
                query = query.where(_versions.c.version == version)
            rows = conn.execute(
                query.order_by(_promotions.c.created_at.desc(), _promotions.c.id)
            ).all()
        return [
            PromotionRecord(
                r.id,
                name,
                r.number,
                r.alias,
                r.previous_version,
                r.outcome,
                r.reason,
                list(r.failed_gates or []),
                r.actor,
                r.created_at,
            )
            for r in rows
        ]

    # -- cold-start lookup ------------------------------------------------------------------

    def resolve_manifest(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> ModelVersionRecord:
        """Return the version a ``models:/`` reference names (a number, an alias or latest)."""
        if alias is not None:
            return self.get_version_by_alias(name, alias)
        if version is not None:
            return self.get_version(name, version)
        return self.get_latest_version(name)


def _alias_conflict(name: str, alias: str, expected: Any, actual: int | None) -> InvalidStateError:
    now = "does not exist" if actual is None else f"points at version {actual}"
    want = "not to exist" if expected is None else f"to point at version {expected!r}"
    return InvalidStateError(
        f"Alias {alias!r} of model {name!r} moved concurrently: it {now}, but the move "
        f"expected it {want}. Re-read the alias and retry.",
        details={"name": name, "alias": alias, "expected": expected, "actual": actual},
    )


def _ranges(numbers: Sequence[int]) -> str:
    if len(numbers) <= 6:
        return ", ".join(str(n) for n in numbers)
    return f"{numbers[0]} to {numbers[-1]} ({len(numbers)} versions)"


def _to_model(row: Any, aliases: dict[str, int]) -> RegisteredModelRecord:
    return RegisteredModelRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        intended_use=row.intended_use,
        latest_version=row.latest_version,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        aliases=dict(sorted(aliases.items())),
        holdout=dict(row.holdout) if row.holdout else None,
    )


def _to_version(
    row: Any, metrics: dict[str, float], sources: dict[str, str], aliases: list[str]
) -> ModelVersionRecord:
    return to_record(
        ModelVersionRecord,
        row,
        signature=dict(row.signature) if row.signature else None,
        metrics=metrics,
        metric_sources=sources,
        aliases=aliases,
    )


def _to_gate(row: Any, name: str) -> GateRecord:
    return to_record(GateRecord, row, model_name=name, spec=dict(row.spec or {}))


def _to_result(row: Any, name: str, version: int) -> GateResultRecord:
    return GateResultRecord(
        row.gate_name,
        row.kind,
        bool(row.passed),
        row.reason,
        dict(row.details or {}),
        id=row.id,
        model_name=name,
        version=version,
        alias=row.alias,
        promotion_id=row.promotion_id,
        evaluated_at=row.evaluated_at,
        evaluated_by=row.evaluated_by,
    )


def _to_approval(row: Any, name: str, version: int) -> ApprovalRecord:
    return ApprovalRecord(name, version, row.role, row.approver, row.comment, row.created_at)
