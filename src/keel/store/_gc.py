"""Queries of retention and garbage collection: soft-deleted runs, purges, retention policies.

:class:`GcRepository` takes a :class:`~keel.store.SqlMetadataStore`. Every change writes its
audit event in the same transaction; a purge also leaves a tombstone row and a lineage edge
``("tombstone", "<kind>:<id>") -> object`` with relation ``purged``. It points *into* the purged
object, so a walk upstream from anything built on it reaches the tombstone: the history of a model
still shows that its data existed and was purged, when and by whom.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import now_ms
from keel.errors import InvalidStateError, NotFoundError
from keel.store._engine import write_connection
from keel.store._references import FoundReference, iter_references
from keel.store._schema import LineageEdgeRow, RunArtifactRow, RunRow, all_metadata
from keel.store._schema_gc import DeletedRunRow, RetentionPolicyRow, TombstoneRow
from keel.store._sql import SqlMetadataStore

__all__ = ["DeletedRun", "GcRepository", "PurgeResult", "Tombstone"]

_runs = cast(Table, RunRow.__table__)
_run_artifacts = cast(Table, RunArtifactRow.__table__)
_edges = cast(Table, LineageEdgeRow.__table__)
_deleted = cast(Table, DeletedRunRow.__table__)
_retention = cast(Table, RetentionPolicyRow.__table__)
_tombstones = cast(Table, TombstoneRow.__table__)

#: Tables whose rows belong to a run (``table -> column holding the run id``), deleted with it,
#: children before parents.
_RUN_CHILDREN: tuple[tuple[str, str], ...] = (
    ("metrics", "run_id"),
    ("latest_metrics", "run_id"),
    ("params", "run_id"),
    ("tags", "run_id"),
    ("run_artifacts", "run_id"),
    ("pipeline_step_runs", "pipeline_run_id"),
    ("pipeline_runs", "run_id"),
    ("deleted_runs", "run_id"),
)

#: Node kinds whose existence downstream of a dataset version blocks its purge.
BLOCKING_KINDS = frozenset({"model_version", "deployment"})


@dataclass(frozen=True)
class DeletedRun:
    """A soft-deleted run."""

    run_id: str
    name: str
    deleted_at: int
    deleted_by: str


@dataclass(frozen=True)
class Tombstone:
    """What remains of a purged object."""

    kind: str
    object_id: str
    name: str
    purged_at: int
    purged_by: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PurgeResult:
    """What a purge removed and what it left, with reasons."""

    purged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


class GcRepository:
    """Soft deletion, purges, retention policies and the reference mark over one store.

    Args:
        store: The metadata store.
    """

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store

    def _table(self, name: str) -> Table | None:
        table = all_metadata().tables.get(name)
        return table

    # -- references -------------------------------------------------------------------------

    def references(
        self, exclude: Mapping[str, Collection[str]] | None = None
    ) -> list[FoundReference]:
        """Return every blob reference, read in one transaction (a consistent view)."""
        with self.store.engine.connect() as raw:
            # One snapshot for every table: under READ COMMITTED a row moving from a table not
            # read yet to one read already would be missed. SQLite's read transaction is one.
            conn = (
                raw.execution_options(isolation_level="REPEATABLE READ")
                if self.store.dialect == "postgresql"
                else raw
            )
            with conn.begin():
                return list(iter_references(conn, exclude))

    # -- runs -------------------------------------------------------------------------------

    def _run_row(self, conn: Connection, run_id: str) -> Any:
        row = conn.execute(
            select(_runs.c.id, _runs.c.name, _runs.c.lifecycle_stage, _runs.c.status).where(
                _runs.c.id == run_id
            )
        ).first()
        if row is not None:
            return row
        tomb = conn.execute(
            select(_tombstones).where(
                _tombstones.c.kind == "run", _tombstones.c.object_id == run_id
            )
        ).first()
        if tomb is not None:
            raise NotFoundError(
                f"Run {run_id!r} was purged by {tomb.purged_by!r} at {tomb.purged_at} (ms since "
                "the epoch) and cannot be restored."
            )
        raise NotFoundError(f"Run {run_id!r} does not exist. List runs with 'keel runs ls'.")

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run: hidden from searches, restorable until it is purged.

        Raises:
            NotFoundError: No such run.
            InvalidStateError: The run is deleted already, or still running.
        """
        with write_connection(self.store.engine) as conn:
            row = self._run_row(conn, run_id)
            if row.lifecycle_stage == "deleted":
                raise InvalidStateError(
                    f"Run {run_id!r} is deleted already. Restore it with 'keel runs restore "
                    f"{run_id}'."
                )
            if row.status == "RUNNING":
                raise InvalidStateError(
                    f"Run {run_id!r} is still running; end it first (or, if its process is "
                    "gone, mark it with 'keel doctor --fix'), then delete it."
                )
            now = now_ms()
            conn.execute(
                update(_runs).where(_runs.c.id == run_id).values(lifecycle_stage="deleted")
            )
            conn.execute(
                _deleted.insert().values(run_id=run_id, deleted_at=now, deleted_by=self.store.actor)
            )
            self.store.audit_event(conn, "run.delete", "run", run_id, {"name": row.name})

    def restore_run(self, run_id: str) -> None:
        """Restore a soft-deleted run.

        Raises:
            NotFoundError: No such run, or it was purged.
            InvalidStateError: The run is not deleted.
        """
        with write_connection(self.store.engine) as conn:
            # Claim first (as a purge does), so a restore and a purge never both succeed.
            claimed = conn.execute(delete(_deleted).where(_deleted.c.run_id == run_id)).rowcount
            row = self._run_row(conn, run_id)
            if not claimed or row.lifecycle_stage != "deleted":
                raise InvalidStateError(
                    f"Run {run_id!r} is not deleted; there is nothing to restore."
                )
            conn.execute(update(_runs).where(_runs.c.id == run_id).values(lifecycle_stage="active"))
            self.store.audit_event(conn, "run.restore", "run", run_id, {"name": row.name})

    def list_deleted_runs(self, deleted_before: int | None = None) -> list[DeletedRun]:
        """Return soft-deleted runs (deleted before ``deleted_before`` ms), oldest first."""
        query = (
            select(_deleted, _runs.c.name)
            .join(_runs, _runs.c.id == _deleted.c.run_id)
            .order_by(_deleted.c.deleted_at)
        )
        if deleted_before is not None:
            query = query.where(_deleted.c.deleted_at < deleted_before)
        with self.store.engine.connect() as conn:
            return [
                DeletedRun(r.run_id, r.name, r.deleted_at, r.deleted_by)
                for r in conn.execute(query)
            ]

    def run_blockers(self, run_ids: Iterable[str]) -> dict[str, str]:
        """Return ``{run id: reason}`` of runs that cannot be purged (a model names them)."""
        table = self._table("model_versions")
        models = self._table("registered_models")
        ids = list(run_ids)
        if table is None or models is None or not ids:
            return {}
        blockers: dict[str, str] = {}
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(table.c.run_id, models.c.name, table.c.version)
                .join(models, models.c.id == table.c.model_id)
                .where(table.c.run_id.in_(ids))
            )
            for run_id, name, version in rows:
                blockers[run_id] = f"model version {name}/{version} was logged by it"
        return blockers

    def purge_runs(self, run_ids: Iterable[str]) -> PurgeResult:
        """Remove soft-deleted runs and everything they own, leaving tombstones.

        Runs a registered model version was logged from are kept (their reason is returned).
        """
        result = PurgeResult()
        ids = list(run_ids)
        blockers = self.run_blockers(ids)
        tables = all_metadata().tables
        for run_id in ids:
            if run_id in blockers:
                result.skipped[run_id] = blockers[run_id]
                continue
            try:
                purged = self._purge_run(run_id, tables)
            except SAIntegrityError:  # a row naming the run (a model version) arrived meanwhile
                result.skipped[run_id] = "something started referring to it while it was purged"
                continue
            if purged:
                result.purged.append(run_id)
            else:
                result.skipped[run_id] = "it is not a deleted run (restored or purged meanwhile)"
        return result

    def _purge_run(self, run_id: str, tables: Mapping[str, Table]) -> bool:
        with write_connection(self.store.engine) as conn:
            # Claim the run by deleting its soft-delete record: of two collectors (or a collector
            # and a restore) exactly one deletes the row; PostgreSQL makes the other wait for
            # the first to commit, then it finds no row and leaves the run alone.
            claimed = conn.execute(delete(_deleted).where(_deleted.c.run_id == run_id)).rowcount
            row = conn.execute(
                select(_runs.c.name, _runs.c.lifecycle_stage).where(_runs.c.id == run_id)
            ).first()
            if not claimed or row is None or row.lifecycle_stage != "deleted":
                return False
            files = conn.execute(
                select(_run_artifacts.c.path).where(_run_artifacts.c.run_id == run_id)
            ).all()
            for name, column in _RUN_CHILDREN:
                table = tables.get(name)
                if table is not None:
                    conn.execute(delete(table).where(table.c[column] == run_id))
            conn.execute(delete(_runs).where(_runs.c.id == run_id))
            self._tombstone(conn, "run", run_id, row.name, {"files": len(files)})
            self.store.audit_event(
                conn, "run.purge", "run", run_id, {"name": row.name, "files": len(files)}
            )
        return True

    # -- tombstones -------------------------------------------------------------------------

    def _tombstone(
        self, conn: Connection, kind: str, object_id: str, name: str, details: dict[str, Any]
    ) -> None:
        now = now_ms()
        conn.execute(
            _tombstones.insert().values(
                kind=kind,
                object_id=object_id,
                name=name,
                purged_at=now,
                purged_by=self.store.actor,
                details=details,
            )
        )
        node = name if kind == "dataset_version" else object_id
        conn.execute(
            _edges.insert().values(
                source_kind="tombstone",
                source_id=f"{kind}:{object_id}",
                target_kind=kind,
                target_id=node,
                relation="purged",
                created_at=now,
                properties={"purged_at": now, "purged_by": self.store.actor, **details},
            )
        )

    def list_tombstones(self, kind: str | None = None) -> list[Tombstone]:
        """Return tombstones of purged objects, oldest first."""
        query = select(_tombstones).order_by(_tombstones.c.purged_at)
        if kind is not None:
            query = query.where(_tombstones.c.kind == kind)
        with self.store.engine.connect() as conn:
            return [
                Tombstone(r.kind, r.object_id, r.name, r.purged_at, r.purged_by, dict(r.details))
                for r in conn.execute(query)
            ]

    # -- retention --------------------------------------------------------------------------

    def get_retention(self) -> dict[str, int]:
        """Return ``{policy name: milliseconds kept}`` of every policy set."""
        with self.store.engine.connect() as conn:
            return {r.name: int(r.keep_ms) for r in conn.execute(select(_retention))}

    def set_retention(self, policies: Mapping[str, int | None]) -> None:
        """Set (or, with ``None``, clear) retention policies, in milliseconds."""
        now = now_ms()
        with write_connection(self.store.engine) as conn:
            for name, keep in policies.items():
                conn.execute(delete(_retention).where(_retention.c.name == name))
                if keep is not None:
                    conn.execute(
                        _retention.insert().values(
                            name=name, keep_ms=keep, updated_at=now, updated_by=self.store.actor
                        )
                    )
            self.store.audit_event(conn, "retention.set", "retention", "policies", dict(policies))

    def expired_segments(self, before: int) -> dict[str, list[str]]:
        """Return ids of prediction, label and trace segments that ended before ``before`` ms.

        Keyed by owner kind: ``prediction_segment``, ``label_segment``, ``trace_segment``.
        """
        found: dict[str, list[str]] = {}
        with self.store.engine.connect() as conn:
            for kind, name, column in _SEGMENTS:
                table = self._table(name)
                if table is not None:
                    found[kind] = [
                        r[0]
                        for r in conn.execute(select(table.c.id).where(table.c[column] < before))
                    ]
        return found

    def delete_segments(self, ids: Mapping[str, Collection[str]]) -> int:
        """Delete expired log segments by owner kind; return how many rows went."""
        removed = 0
        with write_connection(self.store.engine) as conn:
            for kind, name, _column in _SEGMENTS:
                table = self._table(name)
                chosen = list(ids.get(kind, ()))
                if table is None or not chosen:
                    continue
                for start in range(0, len(chosen), 500):
                    part = chosen[start : start + 500]
                    removed += int(conn.execute(delete(table).where(table.c.id.in_(part))).rowcount)
            self.store.audit_event(
                conn,
                "retention.expire_logs",
                "retention",
                "prediction-logs",
                {k: len(v) for k, v in ids.items()},
            )
        return removed

    def expired_cache_entries(self, before: int) -> list[str]:
        """Return keys of pipeline cache entries created before ``before`` ms."""
        table = self._table("pipeline_cache")
        if table is None:
            return []
        with self.store.engine.connect() as conn:
            return [
                r[0]
                for r in conn.execute(select(table.c.cache_key).where(table.c.created_at < before))
            ]

    def delete_cache_entries(self, keys: Collection[str]) -> int:
        """Delete pipeline cache entries; return how many went."""
        table = self._table("pipeline_cache")
        if table is None or not keys:
            return 0
        chosen = list(keys)
        removed = 0
        with write_connection(self.store.engine) as conn:
            for start in range(0, len(chosen), 500):
                part = chosen[start : start + 500]
                removed += int(
                    conn.execute(delete(table).where(table.c.cache_key.in_(part))).rowcount
                )
            self.store.audit_event(
                conn, "retention.expire_cache", "pipeline_cache", "*", {"removed": removed}
            )
        return removed

    # -- dataset versions -------------------------------------------------------------------

    def dependents(
        self, node: tuple[str, str], kinds: Collection[str] = BLOCKING_KINDS
    ) -> list[tuple[str, str]]:
        """Return the nodes of ``kinds`` downstream of ``node`` in the lineage graph.

        Purged objects (those with a tombstone edge) do not count.
        """
        seen = {node}
        found: list[tuple[str, str]] = []
        queue = deque([node])
        with self.store.engine.connect() as conn:
            while queue and len(seen) < 100_000:
                kind, ident = queue.popleft()
                rows = conn.execute(
                    select(_edges.c.target_kind, _edges.c.target_id).where(
                        _edges.c.source_kind == kind,
                        _edges.c.source_id == ident,
                        _edges.c.target_kind != "tombstone",
                    )
                ).all()
                for target in rows:
                    nxt = (str(target[0]), str(target[1]))
                    if nxt in seen:
                        continue
                    seen.add(nxt)
                    queue.append(nxt)
                    if nxt[0] in kinds and not self._purged(conn, nxt):
                        found.append(nxt)
        return sorted(found)

    def _purged(self, conn: Connection, node: tuple[str, str]) -> bool:
        return (
            conn.execute(
                select(_edges.c.id).where(
                    _edges.c.target_kind == node[0],
                    _edges.c.target_id == node[1],
                    _edges.c.relation == "purged",
                )
            ).first()
            is not None
        )

    def purge_dataset_version(self, ref: str, version_id: str) -> list[str]:
        """Purge one dataset version: forget its blobs, keep its number, leave a tombstone.

        The row stays (so its version number is never handed out again and lineage keeps its
        node) with ``storage = 'purged'`` and a digest that names no blob; its validations go.

        Args:
            ref: ``name@vN``, the version's lineage node id.
            version_id: The version's row id.

        Returns:
            The digests the version named (its content and profile).

        Raises:
            InvalidStateError: It is purged already.
        """
        versions = all_metadata().tables["dataset_versions"]
        validations = self._table("data_validations")
        results = self._table("data_check_results")
        with write_connection(self.store.engine) as conn:
            row = conn.execute(select(versions).where(versions.c.id == version_id)).first()
            if row is None:
                raise NotFoundError(f"Dataset version {ref!r} does not exist.")
            if row.storage == "purged":
                raise InvalidStateError(f"Dataset version {ref!r} is purged already.")
            released = [d for d in (row.digest, row.profile_digest) if d]
            if validations is not None and results is not None:
                ids = [
                    r[0]
                    for r in conn.execute(
                        select(validations.c.id).where(
                            validations.c.dataset_version_id == version_id
                        )
                    )
                ]
                if ids:
                    conn.execute(delete(results).where(results.c.validation_id.in_(ids)))
                    conn.execute(delete(validations).where(validations.c.id.in_(ids)))
            marker = hashlib.sha256(f"keel-purged:{version_id}".encode()).hexdigest()
            claimed = conn.execute(
                update(versions)
                .where(versions.c.id == version_id, versions.c.storage != "purged")
                .values(storage="purged", digest=marker, profile_digest=None)
            ).rowcount
            if not claimed:  # purged by a concurrent call that committed first
                raise InvalidStateError(f"Dataset version {ref!r} is purged already.")
            details = {"digest": row.digest, "size_bytes": int(row.size_bytes)}
            self._tombstone(conn, "dataset_version", version_id, ref, details)
            self.store.audit_event(conn, "dataset_version.purge", "dataset_version", ref, details)
        return released


#: ``(owner kind, table, column compared with the cut-off)`` of the log segments retention expires.
_SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("prediction_segment", "prediction_segments", "end_time"),
    ("label_segment", "prediction_label_segments", "created_at"),
    ("trace_segment", "trace_segments", "end_time"),
)
