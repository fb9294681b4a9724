"""Read-only queries of the governance reports: audit search, run resource use, served models.

:class:`GovernanceReads` takes a :class:`~keel.store.SqlMetadataStore` and returns plain
records; it writes nothing. The lineage walk itself uses
:meth:`SqlMetadataStore.list_lineage_edges`; these queries cover what the audit log, the cost
report and the compliance report need across several capabilities' tables at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select

from keel.store import _audit
from keel.store._schema import AuditEventRow, ExperimentRow, RunRow, TagRow
from keel.store._schema_pipelines import PipelineStepRunRow
from keel.store._schema_predictions import PredictionSegmentRow
from keel.store._schema_registry import ModelVersionRow, RegisteredModelRow
from keel.store._sql import SqlMetadataStore
from keel.store.entities import AuditEvent

__all__ = ["GovernanceReads", "ResourceRecord", "SegmentRef", "ServedDeployment"]

_audit_log = cast(Table, AuditEventRow.__table__)
_runs = cast(Table, RunRow.__table__)
_experiments = cast(Table, ExperimentRow.__table__)
_tags = cast(Table, TagRow.__table__)
_steps = cast(Table, PipelineStepRunRow.__table__)
_segments = cast(Table, PredictionSegmentRow.__table__)
_versions = cast(Table, ModelVersionRow.__table__)
_models = cast(Table, RegisteredModelRow.__table__)

#: Run tags the cost report reads: the pipeline a run belongs to, GPU seconds if measured.
COST_TAGS = ("keel.pipeline", "keel.pipeline_run", "keel.gpu_seconds")
_IN_CHUNK = 500


@dataclass(frozen=True)
class ResourceRecord:
    """What one tracked run (or one untracked pipeline step) used.

    ``kind`` is ``"run"`` or ``"step"``; a step's ``parent_run_id`` is its pipeline's run.
    """

    kind: str
    id: str
    parent_run_id: str | None
    experiment: str
    user: str
    start_time: int
    wall_time_s: float | None
    cpu_time_s: float | None
    peak_rss_bytes: int | None
    tags: dict[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServedDeployment:
    """A deployment whose prediction log names a model version, and over what time."""

    deployment: str
    segments: int
    rows: int
    first_time: int
    last_time: int


@dataclass(frozen=True)
class SegmentRef:
    """A prediction-log segment: where its Parquet blob is and which model wrote it."""

    id: str
    deployment: str
    digest: str
    model_name: str | None
    model_version: str | None
    start_time: int
    end_time: int
    num_rows: int


def _segment(r: Any) -> SegmentRef:
    return SegmentRef(
        r.id,
        r.deployment,
        r.digest,
        r.model_name,
        r.model_version,
        int(r.start_time),
        int(r.end_time),
        int(r.num_rows),
    )


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + _IN_CHUNK] for i in range(0, len(items), _IN_CHUNK)]


class GovernanceReads:
    """Read-only cross-capability queries for lineage, audit, compliance and cost reports.

    Args:
        store: The metadata store to read.
    """

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store

    # -- audit ------------------------------------------------------------------------------

    def search_audit_events(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        resource_kind: str | None = None,
        resource_id: str | None = None,
        resources: Sequence[tuple[str, str]] = (),
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Return the newest ``limit`` matching events, oldest first.

        ``action`` matches the action exactly or as a prefix ending at a dot (``model_version``
        matches ``model_version.create``). ``resources`` matches any of the ``(kind, id)`` pairs.
        """
        conds: list[Any] = []
        if since is not None:
            conds.append(_audit_log.c.timestamp >= since)
        if until is not None:
            conds.append(_audit_log.c.timestamp < until)
        if actor is not None:
            conds.append(_audit_log.c.actor == actor)
        if action is not None:
            prefix = action.rstrip(".*")
            conds.append(
                or_(_audit_log.c.action == action, _audit_log.c.action.startswith(prefix + "."))
            )
        if resource_kind is not None:
            conds.append(_audit_log.c.resource_kind == resource_kind)
        if resource_id is not None:
            conds.append(_audit_log.c.resource_id == resource_id)
        if resources:
            conds.append(
                or_(
                    *[
                        and_(_audit_log.c.resource_kind == k, _audit_log.c.resource_id == i)
                        for k, i in resources
                    ]
                )
            )
        query = select(_audit_log).where(*conds).order_by(_audit_log.c.id.desc()).limit(limit)
        with self.store._read() as conn:
            events = [_audit.row_to_event(r) for r in conn.execute(query)]
        return events[::-1]

    # -- cost -------------------------------------------------------------------------------

    def list_resource_records(
        self, since: int | None = None, until: int | None = None
    ) -> list[ResourceRecord]:
        """Return the runs started in ``[since, until)`` and their pipelines' untracked steps.

        Each run carries the tags of :data:`COST_TAGS` it has and the names of the registered
        models it logged versions of.
        """
        query = select(
            _runs.c.id,
            _runs.c.parent_run_id,
            _experiments.c.name.label("experiment"),
            _runs.c.user,
            _runs.c.start_time,
            _runs.c.wall_time_s,
            _runs.c.cpu_time_s,
            _runs.c.peak_rss_bytes,
        ).join(_experiments, _experiments.c.id == _runs.c.experiment_id)
        if since is not None:
            query = query.where(_runs.c.start_time >= since)
        if until is not None:
            query = query.where(_runs.c.start_time < until)
        with self.store._read() as conn:
            rows = conn.execute(query.order_by(_runs.c.start_time)).all()
            ids = [r.id for r in rows]
            tags: dict[str, dict[str, str]] = {}
            models: dict[str, list[str]] = {}
            steps: list[Any] = []
            for chunk in _chunks(ids):
                for t in conn.execute(
                    select(_tags.c.run_id, _tags.c.key, _tags.c.value).where(
                        _tags.c.run_id.in_(chunk), _tags.c.key.in_(COST_TAGS)
                    )
                ):
                    tags.setdefault(t.run_id, {})[t.key] = t.value
                for m in conn.execute(
                    select(_versions.c.run_id, _models.c.name)
                    .join(_models, _models.c.id == _versions.c.model_id)
                    .where(_versions.c.run_id.in_(chunk))
                ):
                    models.setdefault(m.run_id, []).append(m.name)
                steps += conn.execute(
                    select(_steps).where(
                        _steps.c.pipeline_run_id.in_(chunk),
                        _steps.c.tracked_run_id.is_(None),
                        _steps.c.cpu_time_s.is_not(None),
                    )
                ).all()
        records = [
            ResourceRecord(
                kind="run",
                id=r.id,
                parent_run_id=r.parent_run_id,
                experiment=r.experiment,
                user=r.user,
                start_time=r.start_time,
                wall_time_s=r.wall_time_s,
                cpu_time_s=r.cpu_time_s,
                peak_rss_bytes=r.peak_rss_bytes,
                tags=tags.get(r.id, {}),
                models=tuple(sorted(set(models.get(r.id, [])))),
            )
            for r in rows
        ]
        by_id = {r.id: r for r in records}
        for s in steps:
            parent = by_id[s.pipeline_run_id]
            records.append(
                ResourceRecord(
                    kind="step",
                    id=s.id,
                    parent_run_id=s.pipeline_run_id,
                    experiment=parent.experiment,
                    user=parent.user,
                    start_time=s.start_time or parent.start_time,
                    wall_time_s=s.wall_time_s,
                    cpu_time_s=s.cpu_time_s,
                    peak_rss_bytes=s.peak_rss_bytes,
                )
            )
        return records

    # -- serving ----------------------------------------------------------------------------

    def deployments_serving(self, model_name: str, version: int) -> list[ServedDeployment]:
        """Return the deployments whose prediction log names ``model_name`` version ``version``."""
        query = (
            select(
                _segments.c.deployment,
                func.count(),
                func.sum(_segments.c.num_rows),
                func.min(_segments.c.start_time),
                func.max(_segments.c.end_time),
            )
            .where(
                _segments.c.model_name == model_name,
                _segments.c.model_version.in_([str(version), f"v{version}"]),
            )
            .group_by(_segments.c.deployment)
            .order_by(_segments.c.deployment)
        )
        with self.store._read() as conn:
            rows = conn.execute(query).all()
        return [ServedDeployment(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    def list_segments(
        self, *, segment_id: str | None = None, deployment: str | None = None
    ) -> list[SegmentRef]:
        """Return prediction segments (one by id, one deployment's, or all), newest first."""
        query = select(_segments)
        if segment_id is not None:
            query = query.where(_segments.c.id == segment_id)
        if deployment is not None:
            query = query.where(_segments.c.deployment == deployment)
        with self.store._read() as conn:
            rows = conn.execute(query.order_by(_segments.c.end_time.desc())).all()
        return [_segment(r) for r in rows]

    def models_served_by(self, deployment: str) -> list[tuple[str, str]]:
        """Return the distinct ``(model name, version)`` pairs in a deployment's prediction log."""
        query = (
            select(_segments.c.model_name, _segments.c.model_version)
            .where(
                _segments.c.deployment == deployment,
                _segments.c.model_name.is_not(None),
                _segments.c.model_version.is_not(None),
            )
            .distinct()
        )
        with self.store._read() as conn:
            return sorted((r[0], r[1]) for r in conn.execute(query))

    def list_deployment_names(self) -> list[str]:
        """Return every deployment named by a prediction segment."""
        with self.store._read() as conn:
            return sorted(r[0] for r in conn.execute(select(_segments.c.deployment).distinct()))

    def child_run_ids(self, run_id: str) -> list[str]:
        """Return the ids of the runs started inside ``run_id`` (its direct children)."""
        with self.store._read() as conn:
            return list(
                conn.execute(
                    select(_runs.c.id)
                    .where(_runs.c.parent_run_id == run_id)
                    .order_by(_runs.c.start_time, _runs.c.id)
                ).scalars()
            )
