"""Queries of the pipelines capability: pipeline runs, step runs, the step cache, schedules.

:class:`PipelineRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the plain
records defined here; no SQLAlchemy row leaves this module. Every change is written in one
transaction with its audit event; step records, cache entries and lineage edges of many steps
can be written together in one transaction (:meth:`PipelineRepository.apply`), which is how the
pipeline runner keeps the per-step cost of recording low.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, desc, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms
from keel.errors import AlreadyExistsError, NotFoundError, near_matches
from keel.store._engine import write_connection
from keel.store._repo import Repository, to_record
from keel.store._schema import LineageEdgeRow, RunRow
from keel.store._schema_pipelines import (
    PipelineCacheRow,
    PipelineRunRow,
    PipelineScheduleRow,
    PipelineStepRunRow,
)

__all__ = [
    "CacheEntry",
    "CacheReader",
    "Edge",
    "NewPipelineRun",
    "NewSchedule",
    "NewStepRun",
    "PipelineRepository",
    "PipelineRunRecord",
    "RecordBatch",
    "ScheduleRecord",
    "StepRunRecord",
]

_runs = cast(Table, PipelineRunRow.__table__)
_steps = cast(Table, PipelineStepRunRow.__table__)
_cache = cast(Table, PipelineCacheRow.__table__)
_schedules = cast(Table, PipelineScheduleRow.__table__)
_edges = cast(Table, LineageEdgeRow.__table__)
_tracked = cast(Table, RunRow.__table__)

#: ``(source, target, relation, properties)`` of a lineage edge; nodes are ``(kind, id)``.
Edge = tuple[tuple[str, str], tuple[str, str], str, dict[str, Any]]

_STEP_FIELDS = frozenset(c.name for c in _steps.columns) - {"id", "pipeline_run_id"}
_RUN_FIELDS = frozenset({"status", "end_time", "error", "failed_step", "outputs"})


@dataclass(frozen=True)
class StepRunRecord:
    """One step of a pipeline run as recorded."""

    id: str
    pipeline_run_id: str
    name: str
    function: str
    position: int
    status: str
    code_hash: str | None
    cache_key: str | None
    cache_hit: bool
    cached_from: str | None
    attempts: int
    start_time: int | None
    end_time: int | None
    wall_time_s: float | None
    cpu_time_s: float | None
    peak_rss_bytes: int | None
    hostname: str | None
    pid: int | None
    tracked_run_id: str | None
    error: str | None
    traceback: str | None
    inputs: dict[str, Any]
    outputs: list[dict[str, Any]]


@dataclass(frozen=True)
class PipelineRunRecord:
    """A pipeline run as recorded, with its steps in DAG order.

    ``run_status`` is the status of the tracked run behind it, which ``keel doctor`` corrects
    when the process that ran the pipeline died.
    """

    run_id: str
    pipeline: str
    target: str | None
    executor: str
    status: str
    start_time: int
    end_time: int | None
    params: dict[str, Any]
    dag: list[dict[str, Any]]
    cache_enabled: bool
    error: str | None
    failed_step: str | None
    schedule_id: str | None
    outputs: Any
    run_status: str | None = None
    steps: tuple[StepRunRecord, ...] = ()


@dataclass(frozen=True)
class CacheEntry:
    """The outputs one step produced for one cache key."""

    cache_key: str
    step: str
    code_hash: str
    outputs: list[dict[str, Any]]
    step_run_id: str
    created_at: int


@dataclass(frozen=True)
class NewStepRun:
    """A step row created, PENDING, when its pipeline run starts."""

    id: str
    name: str
    function: str
    position: int


@dataclass(frozen=True)
class NewPipelineRun:
    """What is known about a pipeline run when it starts (its tracked run exists already)."""

    run_id: str
    pipeline: str
    target: str | None
    executor: str
    params: dict[str, Any]
    dag: list[dict[str, Any]]
    cache_enabled: bool
    steps: Sequence[NewStepRun]
    schedule_id: str | None = None
    start_time: int | None = None


@dataclass
class RecordBatch:
    """Changes to one pipeline run, written in one transaction with one audit event.

    Attributes:
        pipeline_run_id: The run the changes belong to.
        step_updates: Step row id -> the columns to set.
        cache_entries: Cache entries to insert or replace.
        edges: Lineage edges to add (existing edges are kept).
        run_update: Columns of the pipeline run to set (``status``, ``end_time``, ...).
    """

    pipeline_run_id: str
    step_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache_entries: list[CacheEntry] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    run_update: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: RecordBatch) -> None:
        """Fold ``other`` (a later batch of the same run) into this one."""
        for step_id, values in other.step_updates.items():
            self.step_updates.setdefault(step_id, {}).update(values)
        self.cache_entries.extend(other.cache_entries)
        self.edges.extend(other.edges)
        self.run_update.update(other.run_update)


@dataclass(frozen=True)
class NewSchedule:
    """A schedule to create."""

    name: str
    pipeline: str
    target: str
    cron: str
    timezone: str
    params: dict[str, Any]
    executor: str
    next_run_at: int
    working_dir: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleRecord:
    """A stored schedule."""

    id: str
    name: str
    pipeline: str
    target: str
    working_dir: str | None
    cron: str
    timezone: str
    params: dict[str, Any]
    executor: str
    enabled: bool
    created_at: int
    next_run_at: int
    last_run_at: int | None
    last_run_id: str | None
    last_status: str | None


class PipelineRepository(Repository):
    """Reads and writes pipeline runs, step runs, cache entries and schedules.

    Args:
        store: The metadata store to read and write.
    """

    # -- pipeline runs ----------------------------------------------------------------------

    def create_run(self, new: NewPipelineRun) -> None:
        """Record a started pipeline run and its steps (all PENDING) in one transaction.

        Raises:
            NotFoundError: The tracked run ``new.run_id`` does not exist.
        """
        start = new.start_time or now_ms()
        with write_connection(self.store.engine) as conn:
            if (
                conn.execute(select(_tracked.c.id).where(_tracked.c.id == new.run_id)).first()
                is None
            ):
                raise NotFoundError(
                    f"No run has id {new.run_id!r}; a pipeline run must be a tracked run.",
                    details={"run_id": new.run_id},
                )
            conn.execute(
                _runs.insert().values(
                    run_id=new.run_id,
                    pipeline=new.pipeline,
                    target=new.target,
                    executor=new.executor,
                    status="RUNNING",
                    start_time=start,
                    end_time=None,
                    params=new.params,
                    dag=new.dag,
                    cache_enabled=new.cache_enabled,
                    error=None,
                    failed_step=None,
                    schedule_id=new.schedule_id,
                    outputs=None,
                )
            )
            if new.steps:
                conn.execute(
                    _steps.insert(),
                    [
                        {
                            "id": s.id,
                            "pipeline_run_id": new.run_id,
                            "name": s.name,
                            "function": s.function,
                            "position": s.position,
                            "status": "PENDING",
                            "cache_hit": False,
                            "attempts": 0,
                            "inputs": {},
                            "outputs": [],
                        }
                        for s in new.steps
                    ],
                )
            self.store.audit_event(
                conn,
                "pipeline_run.create",
                "pipeline_run",
                new.run_id,
                {
                    "pipeline": new.pipeline,
                    "executor": new.executor,
                    "steps": len(new.steps),
                    "schedule_id": new.schedule_id,
                },
            )

    def apply(self, batches: Iterable[RecordBatch]) -> None:
        """Write several batches in one transaction, one audit event per pipeline run.

        Batches of the same run are merged in order, so a later status wins.
        """
        merged: dict[str, RecordBatch] = {}
        for batch in batches:
            if batch.pipeline_run_id in merged:
                merged[batch.pipeline_run_id].merge(batch)
            else:
                merged[batch.pipeline_run_id] = RecordBatch(batch.pipeline_run_id)
                merged[batch.pipeline_run_id].merge(batch)
        if not merged:
            return
        now = now_ms()
        with write_connection(self.store.engine) as conn:
            for run_id, batch in merged.items():
                self._apply_one(conn, run_id, batch, now)

    def _apply_one(self, conn: Connection, run_id: str, batch: RecordBatch, now: int) -> None:
        # Rows of many steps go in a few executemany statements: one per set of columns.
        statuses: dict[str, str] = {}
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for step_id, values in batch.step_updates.items():
            unknown = set(values) - _STEP_FIELDS
            if unknown:
                raise ValueError(f"unknown step columns {sorted(unknown)!r}")
            groups[tuple(sorted(values))].append({"_id": step_id, **values})
            if "status" in values:
                statuses[step_id] = values["status"]
        for columns, rows in groups.items():
            conn.execute(
                update(_steps)
                .where(_steps.c.id == bindparam("_id"))
                .values({c: bindparam(c) for c in columns}),
                rows,
            )
        if batch.cache_entries:
            latest = {e.cache_key: e for e in batch.cache_entries}
            stmt = self._insert(_cache)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["cache_key"],
                    set_={
                        "step": stmt.excluded.step,
                        "code_hash": stmt.excluded.code_hash,
                        "outputs": stmt.excluded.outputs,
                        "step_run_id": stmt.excluded.step_run_id,
                        "created_at": stmt.excluded.created_at,
                    },
                ),
                [
                    {
                        "cache_key": e.cache_key,
                        "step": e.step,
                        "code_hash": e.code_hash,
                        "outputs": e.outputs,
                        "step_run_id": e.step_run_id,
                        "created_at": e.created_at,
                    }
                    for e in latest.values()
                ],
            )
        edge_rows: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        for source, target, relation, props in batch.edges:
            ident = (source[0], source[1], target[0], target[1], relation)
            edge_rows.setdefault(
                ident,
                {
                    "source_kind": source[0],
                    "source_id": source[1],
                    "target_kind": target[0],
                    "target_id": target[1],
                    "relation": relation,
                    "created_at": now,
                    "properties": props,
                },
            )
        if edge_rows:
            conn.execute(self._insert(_edges).on_conflict_do_nothing(), list(edge_rows.values()))
        added = len(edge_rows)
        if batch.run_update:
            unknown = set(batch.run_update) - _RUN_FIELDS
            if unknown:
                raise ValueError(f"unknown pipeline run columns {sorted(unknown)!r}")
            conn.execute(update(_runs).where(_runs.c.run_id == run_id).values(**batch.run_update))
        details: dict[str, Any] = {}
        if statuses:
            counts: dict[str, int] = defaultdict(int)
            for status in statuses.values():
                counts[status] += 1
            details["step_statuses"] = dict(counts)
        if batch.cache_entries:
            details["cache_entries"] = [e.cache_key for e in batch.cache_entries[:20]]
        if added:
            details["lineage_edges_offered"] = added
        if "status" in batch.run_update:
            details["status"] = batch.run_update["status"]
        if details:
            self.store.audit_event(conn, "pipeline_run.record", "pipeline_run", run_id, details)

    def get_run(self, run_id: str) -> PipelineRunRecord:
        """Return a pipeline run with its steps.

        Raises:
            NotFoundError: No pipeline run has that id.
        """
        runs = self._load([run_id], with_steps=True)
        if not runs:
            raise NotFoundError(
                f"No pipeline run has id {run_id!r}. List pipeline runs with 'keel pipeline ls'.",
                details={"run_id": run_id},
            )
        return runs[0]

    def find_runs(self, prefix: str) -> list[str]:
        """Return the ids of pipeline runs whose id starts with ``prefix``."""
        with self.store.engine.connect() as conn:
            return list(
                conn.execute(
                    select(_runs.c.run_id)
                    .where(_runs.c.run_id.like(prefix.replace("%", "") + "%"))
                    .limit(10)
                ).scalars()
            )

    def list_runs(
        self, pipeline: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[PipelineRunRecord]:
        """Return pipeline runs, newest first, each with its steps."""
        query = select(_runs.c.run_id).order_by(desc(_runs.c.start_time)).limit(limit)
        if pipeline is not None:
            query = query.where(_runs.c.pipeline == pipeline)
        if status is not None:
            query = query.where(_runs.c.status == status)
        with self.store.engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        return self._load(ids, with_steps=True)

    def list_pipelines(self) -> list[str]:
        """Return the names of every pipeline that has run."""
        with self.store.engine.connect() as conn:
            return sorted(conn.execute(select(_runs.c.pipeline).distinct()).scalars())

    def _load(self, ids: Sequence[str], *, with_steps: bool) -> list[PipelineRunRecord]:
        if not ids:
            return []
        steps: dict[str, list[StepRunRecord]] = defaultdict(list)
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(_runs, _tracked.c.status.label("run_status"))
                .join(_tracked, _tracked.c.id == _runs.c.run_id)
                .where(_runs.c.run_id.in_(list(ids)))
            ).all()
            if with_steps:
                for row in conn.execute(
                    select(_steps)
                    .where(_steps.c.pipeline_run_id.in_(list(ids)))
                    .order_by(_steps.c.position)
                ):
                    steps[row.pipeline_run_id].append(_to_step(row))
        by_id = {
            row.run_id: PipelineRunRecord(
                run_id=row.run_id,
                pipeline=row.pipeline,
                target=row.target,
                executor=row.executor,
                status=row.status,
                start_time=row.start_time,
                end_time=row.end_time,
                params=dict(row.params or {}),
                dag=list(row.dag or []),
                cache_enabled=bool(row.cache_enabled),
                error=row.error,
                failed_step=row.failed_step,
                schedule_id=row.schedule_id,
                outputs=row.outputs,
                run_status=row.run_status,
                steps=tuple(steps.get(row.run_id, ())),
            )
            for row in rows
        }
        return [by_id[i] for i in ids if i in by_id]

    # -- cache ------------------------------------------------------------------------------

    def get_cache_entry(self, cache_key: str) -> CacheEntry | None:
        """Return the cache entry for ``cache_key``, or ``None``."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(_cache).where(_cache.c.cache_key == cache_key)).first()
        if row is None:
            return None
        return CacheEntry(
            cache_key=row.cache_key,
            step=row.step,
            code_hash=row.code_hash,
            outputs=list(row.outputs or []),
            step_run_id=row.step_run_id,
            created_at=row.created_at,
        )

    def cache_reader(self) -> CacheReader:
        """Return a reader for many cache look-ups in a row (one connection, no transactions).

        Close it when done.
        """
        return CacheReader(self)

    def delete_cache_entries(self, step: str | None = None) -> int:
        """Forget cache entries (of one step, or all); return how many were removed."""
        query = delete(_cache)
        if step is not None:
            query = query.where(_cache.c.step == step)
        with write_connection(self.store.engine) as conn:
            removed = int(conn.execute(query).rowcount or 0)
            self.store.audit_event(
                conn, "pipeline_cache.clear", "pipeline_cache", step or "*", {"removed": removed}
            )
        return removed

    # -- schedules --------------------------------------------------------------------------

    def create_schedule(self, new: NewSchedule) -> ScheduleRecord:
        """Store a schedule.

        Raises:
            AlreadyExistsError: A schedule of that name exists.
        """
        schedule_id = new_id()
        now = now_ms()
        try:
            with write_connection(self.store.engine) as conn:
                conn.execute(
                    _schedules.insert().values(
                        id=schedule_id,
                        name=new.name,
                        pipeline=new.pipeline,
                        target=new.target,
                        working_dir=new.working_dir,
                        cron=new.cron,
                        timezone=new.timezone,
                        params=new.params,
                        executor=new.executor,
                        enabled=new.enabled,
                        created_at=now,
                        next_run_at=new.next_run_at,
                        last_run_at=None,
                        last_run_id=None,
                        last_status=None,
                    )
                )
                self.store.audit_event(
                    conn,
                    "schedule.create",
                    "schedule",
                    schedule_id,
                    {"name": new.name, "target": new.target, "cron": new.cron},
                )
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"A schedule named {new.name!r} exists already. Delete it first "
                f"(keel.pipelines.delete_schedule({new.name!r})) or choose another name.",
                details={"name": new.name},
            ) from exc
        return self.get_schedule(schedule_id)

    def get_schedule(self, name_or_id: str) -> ScheduleRecord:
        """Return a schedule by name or id.

        Raises:
            NotFoundError: No schedule has that name or id; the message lists near names.
        """
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(_schedules).where(
                    (_schedules.c.name == name_or_id) | (_schedules.c.id == name_or_id)
                )
            ).first()
            if row is None:
                names = list(conn.execute(select(_schedules.c.name)).scalars())
        if row is None:
            raise NotFoundError(
                f"No schedule is named {name_or_id!r}.{near_matches(name_or_id, names)} "
                "List schedules with 'keel pipeline schedules'.",
                details={"name": name_or_id},
            )
        return _to_schedule(row)

    def list_schedules(self) -> list[ScheduleRecord]:
        """Return every schedule, by name."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(_schedules).order_by(_schedules.c.name)).all()
        return [_to_schedule(r) for r in rows]

    def delete_schedule(self, name_or_id: str) -> None:
        """Delete a schedule.

        Raises:
            NotFoundError: No schedule has that name or id.
        """
        record = self.get_schedule(name_or_id)
        with write_connection(self.store.engine) as conn:
            conn.execute(delete(_schedules).where(_schedules.c.id == record.id))
            self.store.audit_event(
                conn, "schedule.delete", "schedule", record.id, {"name": record.name}
            )

    def update_schedule(self, name_or_id: str, **values: Any) -> ScheduleRecord:
        """Set ``enabled`` or ``next_run_at`` of a schedule and return it.

        Raises:
            NotFoundError: No schedule has that name or id.
        """
        allowed = {"enabled", "next_run_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown schedule columns {sorted(unknown)!r}")
        record = self.get_schedule(name_or_id)
        with write_connection(self.store.engine) as conn:
            conn.execute(update(_schedules).where(_schedules.c.id == record.id).values(**values))
            self.store.audit_event(conn, "schedule.update", "schedule", record.id, values)
        return self.get_schedule(record.id)

    def claim_due_schedules(
        self,
        now: int,
        next_time: Callable[[ScheduleRecord, int], int],
        limit: int | None = None,
    ) -> list[ScheduleRecord]:
        """Claim the enabled schedules due at ``now`` and move each to its next fire time.

        The move is a compare-and-set on ``next_run_at``, so when several agents poll the same
        store each due firing is claimed by exactly one of them.

        Args:
            now: The current time in milliseconds.
            next_time: Computes a schedule's next fire time after a given time.
            limit: Claim at most this many (the rest stay due for the next poll).

        Returns:
            The claimed schedules as they were before the move (``next_run_at`` is the firing).
        """
        with self.store.engine.connect() as conn:
            due = [
                _to_schedule(r)
                for r in conn.execute(
                    select(_schedules)
                    .where(_schedules.c.enabled.is_(True), _schedules.c.next_run_at <= now)
                    .order_by(_schedules.c.next_run_at)
                )
            ]
        if limit is not None:
            due = due[: max(limit, 0)]
        claimed: list[ScheduleRecord] = []
        for record in due:
            following = next_time(record, now)
            with write_connection(self.store.engine) as conn:
                result = conn.execute(
                    update(_schedules)
                    .where(
                        _schedules.c.id == record.id,
                        _schedules.c.next_run_at == record.next_run_at,
                    )
                    .values(next_run_at=following, last_run_at=now)
                )
                if result.rowcount == 1:
                    self.store.audit_event(
                        conn,
                        "schedule.fire",
                        "schedule",
                        record.id,
                        {"due": record.next_run_at, "next": following},
                    )
                    claimed.append(record)
        return claimed

    def record_schedule_result(self, schedule_id: str, run_id: str | None, status: str) -> None:
        """Record the run a firing started and how it ended."""
        with write_connection(self.store.engine) as conn:
            conn.execute(
                update(_schedules)
                .where(_schedules.c.id == schedule_id)
                .values(last_run_id=run_id, last_status=status)
            )
            self.store.audit_event(
                conn,
                "schedule.result",
                "schedule",
                schedule_id,
                {"run_id": run_id, "status": status},
            )


class CacheReader:
    """Cache look-ups on one held connection: the pipeline runner's hot path.

    On SQLite the look-up runs on the driver connection in autocommit mode: a single
    ``SELECT`` with no ``BEGIN``/``ROLLBACK`` around it, so it always sees the latest commit.

    Args:
        repo: The repository whose store to read.
    """

    _SQL = (
        "SELECT cache_key, step, code_hash, outputs, step_run_id, created_at "
        "FROM pipeline_cache WHERE cache_key = ?"
    )

    def __init__(self, repo: PipelineRepository) -> None:
        self.repo = repo
        self._raw: Any = None
        if repo.store.dialect == "sqlite":
            self._raw = repo.store.engine.raw_connection()

    def get(self, cache_key: str) -> CacheEntry | None:
        """Return the entry for ``cache_key``, or ``None``."""
        if self._raw is None:
            return self.repo.get_cache_entry(cache_key)
        cursor = self._raw.cursor()
        try:
            row = cursor.execute(self._SQL, (cache_key,)).fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        outputs = json.loads(row[3]) if isinstance(row[3], str) else row[3]
        return CacheEntry(row[0], row[1], row[2], list(outputs or []), row[4], row[5])

    def close(self) -> None:
        """Return the connection to the pool."""
        if self._raw is not None:
            self._raw.close()
            self._raw = None


def _to_step(row: Any) -> StepRunRecord:
    return to_record(
        StepRunRecord,
        row,
        cache_hit=bool(row.cache_hit),
        inputs=dict(row.inputs or {}),
        outputs=list(row.outputs or []),
    )


def _to_schedule(row: Any) -> ScheduleRecord:
    return to_record(ScheduleRecord, row, params=dict(row.params or {}), enabled=bool(row.enabled))
