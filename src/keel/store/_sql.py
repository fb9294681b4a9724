"""``SqlMetadataStore``: the one metadata store, on SQLite or PostgreSQL through SQLAlchemy."""

from __future__ import annotations

import base64
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms, validate_key
from keel.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    near_matches,
)
from keel.store import _audit, _hot, _search
from keel.store._engine import (
    create_store_engine,
    ensure_schema,
    store_error,
    translate_errors,
    write_connection,
)
from keel.store._schema import (
    AuditEventRow,
    ExperimentRow,
    LatestMetricRow,
    LineageEdgeRow,
    MetricRow,
    ParamRow,
    RunArtifactRow,
    RunRow,
    TagRow,
)
from keel.store.entities import (
    ArtifactEntry,
    AuditEvent,
    ChainVerification,
    Experiment,
    LineageEdge,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunStatus,
)

__all__ = ["MAX_PARAM_LENGTH", "MetricPoint", "NewRun", "SqlMetadataStore"]

#: Longest param or tag value accepted, in characters.
MAX_PARAM_LENGTH = 64 * 1024
_MAX_NAME_LENGTH = 256  # the runs.name column
_IN_CHUNK = 500

_experiments = cast(Table, ExperimentRow.__table__)
_runs = cast(Table, RunRow.__table__)
_params = cast(Table, ParamRow.__table__)
_tags = cast(Table, TagRow.__table__)
_metrics = cast(Table, MetricRow.__table__)
_latest = cast(Table, LatestMetricRow.__table__)
_artifacts = cast(Table, RunArtifactRow.__table__)
_edges = cast(Table, LineageEdgeRow.__table__)
_audit_log = cast(Table, AuditEventRow.__table__)

# Statements built once: SQLAlchemy then reuses their compiled form on every call.

_HEX_PREFIX = re.compile(r"^[0-9a-f]{1,32}$")

#: A buffered metric point: ``(run_id, key, value, step, timestamp_ms)``.
MetricPoint = tuple[str, str, float, int, int]


@dataclass(frozen=True)
class NewRun:
    """What is known about a run when it starts."""

    experiment_id: str
    name: str | None = None
    tags: dict[str, str] | None = None
    parent_run_id: str | None = None
    user: str = "local"
    source: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    python_version: str | None = None
    environment_digest: str | None = None
    hostname: str | None = None
    pid: int | None = None
    process_start: float | None = None
    start_time: int | None = None


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _check_value(kind: str, key: str, value: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"The value of {kind} {key!r} must be a string, got {value!r}.")
    if len(value) > MAX_PARAM_LENGTH:
        raise InvalidArgumentError(
            f"The value of {kind} {key!r} is {len(value):,} characters long; the limit is "
            f"{MAX_PARAM_LENGTH:,}. Log large values as an artifact instead "
            "(keel.log_dict or keel.log_text)."
        )
    return value


def _check_run_name(name: object) -> None:
    if name is None or name == "":  # the run gets the start of its id as its name
        return
    if not isinstance(name, str) or len(name) > _MAX_NAME_LENGTH:
        shown = repr(name) if not isinstance(name, str) or len(name) <= 60 else repr(name[:60])
        size = f"... ({len(name):,} characters)" if isinstance(name, str) else ""
        raise InvalidArgumentError(
            f"A run name must be a string of at most {_MAX_NAME_LENGTH} characters, got "
            f"{shown}{size}. Shorten it, or leave it out to use the start of the run id."
        )


def dialect_insert(dialect: str, table: Any) -> Any:
    """Return the dialect's ``INSERT`` for ``table`` (it has ``on_conflict_do_nothing``).

    Each dialect's module is imported on first use: a SQLite process never loads PostgreSQL's.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


class SqlMetadataStore:
    """The metadata store on a SQLAlchemy engine (SQLite or PostgreSQL).

    Every mutating call runs in one transaction together with the audit event that records it.
    The schema is migrated on first use.

    Args:
        uri: The SQLAlchemy URI (``sqlite:////path/keel.db``, ``postgresql+psycopg://...``).
        actor: The name recorded as the actor of audit events.
    """

    def __init__(self, uri: str, *, actor: str = "local") -> None:
        self.uri = uri
        self.actor = actor
        self.engine = create_store_engine(uri)
        ensure_schema(self.engine, uri)
        self.dialect = self.engine.dialect.name

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the store's database connections."""
        self.engine.dispose()

    def _read(self) -> Connection:
        try:
            return self.engine.connect()
        except DBAPIError as exc:
            raise store_error(self.uri, exc) from exc

    def audit_event(
        self,
        conn: Connection,
        action: str,
        kind: str,
        resource_id: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append an audit event inside ``conn``'s transaction, so change and event commit together.

        Capability repositories call this in the same ``write_connection`` as their change.
        """
        _audit.append_event(
            conn,
            timestamp=now_ms(),
            actor=self.actor,
            action=action,
            resource_kind=kind,
            resource_id=resource_id,
            details=details,
        )

    def _insert(self, table: Any) -> Any:
        return dialect_insert(self.dialect, table)

    # -- experiments ------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "") -> Experiment:
        """Create an experiment.

        Raises:
            AlreadyExistsError: An experiment of that name exists.
        """
        validate_key("experiment", name)
        exp = Experiment(id=new_id(), name=name, description=description, created_at=now_ms())
        try:
            with write_connection(self.engine) as conn:
                conn.execute(
                    _experiments.insert().values(
                        id=exp.id,
                        name=name,
                        description=description,
                        lifecycle_stage="active",
                        created_at=exp.created_at,
                    )
                )
                self.audit_event(conn, "experiment.create", "experiment", exp.id, {"name": name})
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"An experiment named {name!r} exists already. Use keel.set_experiment({name!r}) "
                "to log into it, or choose another name.",
                details={"name": name},
            ) from exc
        except DBAPIError as exc:
            raise store_error(self.uri, exc) from exc
        return exp

    def get_or_create_experiment(self, name: str) -> Experiment:
        """Return the experiment called ``name``, creating it if needed (safe under races)."""
        try:
            return self.get_experiment_by_name(name)
        except NotFoundError:
            pass
        try:
            return self.create_experiment(name)
        except AlreadyExistsError:  # another process created it between our two calls
            return self.get_experiment_by_name(name)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment by id.

        Raises:
            NotFoundError: No experiment has that id.
        """
        with self._read() as conn:
            row = conn.execute(
                select(_experiments).where(_experiments.c.id == experiment_id)
            ).first()
        if row is None:
            raise NotFoundError(
                f"No experiment has id {experiment_id!r}. List experiments with "
                "'keel experiments ls'.",
                details={"experiment_id": experiment_id},
            )
        return _to_experiment(row)

    def get_experiment_by_name(self, name: str) -> Experiment:
        """Return an experiment by name.

        Raises:
            NotFoundError: No experiment has that name; the message lists near names.
        """
        with self._read() as conn:
            row = conn.execute(select(_experiments).where(_experiments.c.name == name)).first()
            if row is None:
                names = conn.execute(select(_experiments.c.name)).scalars().all()
        if row is None:
            raise NotFoundError(
                f"No experiment is named {name!r}.{near_matches(name, names)} "
                "List experiments with 'keel experiments ls'.",
                details={"name": name},
            )
        return _to_experiment(row)

    def list_experiments(self) -> list[Experiment]:
        """Return every active experiment, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(_experiments)
                .where(_experiments.c.lifecycle_stage == "active")
                .order_by(_experiments.c.created_at, _experiments.c.name)
            ).all()
        return [_to_experiment(r) for r in rows]

    def count_runs(self, experiment_ids: list[str]) -> dict[str, int]:
        """Return the number of active runs in each experiment."""
        with self._read() as conn:
            rows = conn.execute(
                select(_runs.c.experiment_id, func.count())
                .where(
                    _runs.c.experiment_id.in_(experiment_ids), _runs.c.lifecycle_stage == "active"
                )
                .group_by(_runs.c.experiment_id)
            ).all()
        return {r[0]: int(r[1]) for r in rows}

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> RunInfo:
        """Create a run in state RUNNING.

        Raises:
            NotFoundError: The experiment or the parent run does not exist.
            InvalidArgumentError: The run name is not a string of at most 256 characters.
        """
        _check_run_name(new.name)
        run_id = new_id()
        start = new.start_time or now_ms()
        tags = {
            validate_key("tag", k): _check_value("tag", k, v) for k, v in (new.tags or {}).items()
        }
        values = {
            "id": run_id,
            "experiment_id": new.experiment_id,
            "name": new.name or run_id[:8],
            "status": RunStatus.RUNNING.value,
            "start_time": start,
            "end_time": None,
            "parent_run_id": new.parent_run_id,
            "user": new.user,
            "source": new.source,
            "git_commit": new.git_commit,
            "git_dirty": new.git_dirty,
            "python_version": new.python_version,
            "environment_digest": new.environment_digest,
            "hostname": new.hostname,
            "pid": new.pid,
            "process_start": new.process_start,
            "wall_time_s": None,
            "cpu_time_s": None,
            "peak_rss_bytes": None,
            "lifecycle_stage": "active",
        }
        try:
            with write_connection(self.engine) as conn:
                if _hot.run(conn, "experiment_exists", (new.experiment_id,)).first() is None:
                    raise NotFoundError(
                        f"No experiment has id {new.experiment_id!r}; cannot start a run in it.",
                        details={"experiment_id": new.experiment_id},
                    )
                if new.parent_run_id is not None:
                    self._require_run(conn, new.parent_run_id)
                _hot.run(conn, "insert_run", [values[c] for c in _hot.RUN_COLUMNS])
                _hot.run_many(conn, "insert_tag", [(run_id, k, v) for k, v in tags.items()])
                self.audit_event(
                    conn,
                    "run.create",
                    "run",
                    run_id,
                    {"experiment_id": new.experiment_id, "name": values["name"]},
                )
        except DBAPIError as exc:
            raise store_error(self.uri, exc) from exc
        return _to_run_info(_Row(values))

    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        end_time: int | None = None,
        wall_time_s: float | None = None,
        cpu_time_s: float | None = None,
        peak_rss_bytes: int | None = None,
        metrics: Sequence[MetricPoint] = (),
    ) -> None:
        """Mark a run ended with ``status`` and record its resource use.

        ``metrics`` (buffered points of any run) are written in the same transaction.

        Raises:
            NotFoundError: No run has that id.
        """
        status_text = RunStatus(status).value
        params = (
            status_text,
            end_time or now_ms(),
            wall_time_s,
            cpu_time_s,
            peak_rss_bytes,
            run_id,
        )
        with write_connection(self.engine) as conn:
            self._write_metrics(conn, metrics)
            if _hot.run(conn, "end_run", params).rowcount == 0:
                raise _run_not_found(run_id)
            self.audit_event(conn, "run.end", "run", run_id, {"status": status_text})

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if _hot.run(conn, "run_exists", (run_id,)).first() is None:
            raise _run_not_found(run_id)

    def get_run_info(self, run_id: str) -> RunInfo:
        """Return a run's info without its data.

        Raises:
            NotFoundError: No run has that id.
        """
        with self._read() as conn:
            row = conn.execute(select(_runs).where(_runs.c.id == run_id)).first()
        if row is None:
            raise _run_not_found(run_id)
        return _to_run_info(row)

    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params and tags.

        Raises:
            NotFoundError: No run has that id.
        """
        with self._read() as conn:
            runs = self._load_runs(conn, [run_id])
        if not runs:
            raise _run_not_found(run_id)
        return runs[0]

    def find_runs(self, prefix: str) -> list[str]:
        """Return the ids of runs whose id starts with ``prefix`` (for short ids in the CLI).

        Run ids are lowercase hexadecimal, so any other prefix (or an empty one) matches none.
        """
        if not _HEX_PREFIX.match(prefix):
            return []
        with self._read() as conn:
            return list(
                conn.execute(
                    select(_runs.c.id).where(_runs.c.id.like(prefix + "%")).limit(10)
                ).scalars()
            )

    def list_runs_by_status(self, status: RunStatus) -> list[RunInfo]:
        """Return every run in ``status`` (``keel doctor`` looks for RUNNING ones)."""
        with self._read() as conn:
            rows = conn.execute(select(_runs).where(_runs.c.status == status.value)).all()
        return [_to_run_info(r) for r in rows]

    def _load_runs(self, conn: Connection, ids: Sequence[str]) -> list[Run]:
        # Search returns thousands of rows: fetch plain tuples through the driver in a few
        # queries per chunk of ids, skipping SQLAlchemy's per-row processing.
        infos: dict[str, RunInfo] = {}
        metrics: dict[str, dict[str, float]] = defaultdict(dict)
        params: dict[str, dict[str, str]] = defaultdict(dict)
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        nan = math.nan
        for chunk in _chunks(ids):
            args = tuple(chunk)
            for row in _hot.fetch_in(conn, "load_runs", args):
                infos[row[0]] = _run_info_from_tuple(row)
            for rid, key, value in _hot.fetch_in(conn, "load_latest", args):
                metrics[rid][key] = nan if value is None else value
            for rid, key, value in _hot.fetch_in(conn, "load_params", args):
                params[rid][key] = value
            for rid, key, value in _hot.fetch_in(conn, "load_tags", args):
                tags[rid][key] = value
        empty: dict[str, Any] = {}
        return [
            Run(
                info=infos[i],
                data=RunData(
                    metrics=metrics.get(i, empty) or {},
                    params=params.get(i, empty) or {},
                    tags=tags.get(i, empty) or {},
                ),
            )
            for i in ids
            if i in infos
        ]

    # -- params, tags, metrics --------------------------------------------------------------

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        """Record params; a param keeps the first value logged for it.

        Raises:
            NotFoundError: No run has that id.
            InvalidArgumentError: A key has another value already, or a value is too long.
        """
        checked = {validate_key("param", k): _check_value("param", k, v) for k, v in params.items()}
        if not checked:
            return
        with write_connection(self.engine) as conn:
            self._require_run(conn, run_id)
            existing: dict[str, str] = {
                key: value
                for key, value in _hot.run(conn, "run_params", (run_id,))
                if key in checked
            }
            for key, old in existing.items():
                if old != checked[key]:
                    raise InvalidArgumentError(
                        f"Param {key!r} of run {run_id!r} is already {old!r}; params are "
                        f"immutable, so {checked[key]!r} cannot replace it. Start a new run, or "
                        "use a tag or a metric for values that change.",
                        details={"run_id": run_id, "key": key},
                    )
            new = [(run_id, k, v) for k, v in checked.items() if k not in existing]
            if new:
                _hot.run_many(conn, "insert_param", new)
                self.audit_event(
                    conn, "run.log_params", "run", run_id, {"keys": sorted(checked)[:50]}
                )

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags, replacing the values of existing keys.

        Raises:
            NotFoundError: No run has that id.
        """
        checked = {validate_key("tag", k): _check_value("tag", k, v) for k, v in tags.items()}
        if not checked:
            return
        with write_connection(self.engine) as conn:
            self._require_run(conn, run_id)
            stmt = self._insert(_tags)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
                ),
                [{"run_id": run_id, "key": k, "value": v} for k, v in checked.items()],
            )
            self.audit_event(conn, "run.set_tags", "run", run_id, {"tags": checked})

    def log_metrics(self, points: Sequence[MetricPoint]) -> None:
        """Append metric points (one transaction for the whole batch) and update latest values.

        NaN is stored as NULL and read back as NaN; infinities are kept.

        Raises:
            NotFoundError: A point names a run that does not exist.
        """
        if not points:
            return
        with write_connection(self.engine) as conn:
            self._write_metrics(conn, points)

    def _write_metrics(self, conn: Connection, points: Sequence[MetricPoint]) -> None:
        if not points:
            return
        latest: dict[tuple[str, str], MetricPoint] = {}
        counts: dict[str, int] = defaultdict(int)
        for point in points:
            run_id, key, _v, step, ts = point
            counts[run_id] += 1
            cur = latest.get((run_id, key))
            if cur is None or (step, ts) >= (cur[3], cur[4]):
                latest[(run_id, key)] = point
        for run_id in counts:
            self._require_run(conn, run_id)
        # The hottest write in Keel: straight to the driver's executemany, no per-row
        # SQLAlchemy parameter processing. NaN != NaN: NaN is stored as NULL (SQLite has no NaN).
        _hot.run_many(
            conn,
            "insert_metric",
            [(r, k, None if v != v else v, s, t) for r, k, v, s, t in points],
        )
        _hot.run_many(
            conn,
            "upsert_latest",
            [(r, k, None if v != v else v, s, t) for r, k, v, s, t in latest.values()],
        )
        _audit.append_events(
            conn,
            [
                (now_ms(), self.actor, "run.log_metrics", "run", run_id, {"points": n})
                for run_id, n in counts.items()
            ],
        )

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Return every point of one metric of a run, by step then time.

        Raises:
            NotFoundError: No run has that id, or the run has no metric ``key`` (the message
                lists the metrics it has).
        """
        with self._read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(
                select(_metrics.c.key, _metrics.c.value, _metrics.c.step, _metrics.c.timestamp)
                .where(_metrics.c.run_id == run_id, _metrics.c.key == key)
                .order_by(_metrics.c.step, _metrics.c.timestamp, _metrics.c.id)
            ).all()
            if not rows:
                keys = (
                    conn.execute(
                        select(_latest.c.key)
                        .where(_latest.c.run_id == run_id)
                        .order_by(_latest.c.key)
                    )
                    .scalars()
                    .all()
                )
        if not rows:
            logged = ", ".join(repr(k) for k in keys) or "none"
            raise NotFoundError(
                f"Run {run_id!r} has no metric {key!r}.{near_matches(key, keys)} "
                f"Logged metrics: {logged}.",
                details={"run_id": run_id, "key": key},
            )
        nan = math.nan
        return [Metric(k, nan if v is None else v, s, t) for k, v, s, t in rows]

    # -- search -----------------------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: list[str],
        filter_text: str | None = None,
        order_by: list[str] | None = None,
        max_results: int = 100_000,
        page_token: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """Search runs with the filter language of :mod:`keel.store._search`.

        Returns:
            The page of runs and the token of the next page (``None`` on the last page).

        Raises:
            InvalidArgumentError: The filter, ordering, page size or page token is invalid.
        """
        if max_results < 1:
            raise InvalidArgumentError(f"max_results must be at least 1, got {max_results!r}.")
        offset = _decode_token(page_token)
        query = _search.build_query(experiment_ids, filter_text, order_by)
        with self._read() as conn:
            ids = list(conn.execute(query.limit(max_results + 1).offset(offset)).scalars())
            more = len(ids) > max_results
            ids = ids[:max_results]
            runs = self._load_runs(conn, ids)
        token = _encode_token(offset + max_results) if more else None
        return runs, token

    # -- artifacts --------------------------------------------------------------------------

    def add_artifacts(self, run_id: str, entries: Iterable[ArtifactEntry]) -> None:
        """Record files in a run's namespace (a path logged again points at the new content).

        Raises:
            NotFoundError: No run has that id.
        """
        rows = [
            {"run_id": run_id, "path": e.path, "digest": e.digest, "size": e.size} for e in entries
        ]
        if not rows:
            return
        with write_connection(self.engine) as conn:
            self._require_run(conn, run_id)
            stmt = self._insert(_artifacts)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "path"],
                    set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size},
                ),
                rows,
            )
            self.audit_event(
                conn,
                "run.log_artifacts",
                "run",
                run_id,
                {"files": len(rows), "paths": [r["path"] for r in rows[:20]]},
            )

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        """Return the files of a run whose path is ``prefix`` or lies under it, by path.

        Raises:
            NotFoundError: No run has that id.
        """
        with self._read() as conn:
            self._require_run(conn, run_id)
            query = select(_artifacts.c.path, _artifacts.c.digest, _artifacts.c.size).where(
                _artifacts.c.run_id == run_id
            )
            if prefix:
                escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                query = query.where(
                    or_(
                        _artifacts.c.path == prefix,
                        _artifacts.c.path.like(escaped + "/%", escape="\\"),
                    )
                )
            rows = conn.execute(query.order_by(_artifacts.c.path)).all()
        return [ArtifactEntry(p, d, s) for p, d, s in rows]

    def iter_artifact_references(self) -> Iterator[tuple[str, str, str]]:
        """Yield ``(digest, run_id, path)`` for every recorded artifact file."""
        with self._read() as conn:
            yield from conn.execute(
                select(_artifacts.c.digest, _artifacts.c.run_id, _artifacts.c.path).order_by(
                    _artifacts.c.digest
                )
            )
        with self._read() as conn:
            yield from (
                (d, rid, "<environment>")
                for rid, d in conn.execute(
                    select(_runs.c.id, _runs.c.environment_digest).where(
                        _runs.c.environment_digest.is_not(None)
                    )
                )
            )

    # -- lineage ----------------------------------------------------------------------------

    def add_lineage_edge(
        self,
        source: tuple[str, str],
        target: tuple[str, str],
        relation: str,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """Add ``source -> target`` to the lineage graph (adding an existing edge does nothing)."""
        with write_connection(self.engine) as conn:
            result = conn.execute(
                self._insert(_edges)
                .values(
                    source_kind=source[0],
                    source_id=source[1],
                    target_kind=target[0],
                    target_id=target[1],
                    relation=relation,
                    created_at=now_ms(),
                    properties=properties or {},
                )
                .on_conflict_do_nothing()
            )
            # PostgreSQL gets RETURNING id (so rowcount is -1): an id comes back iff inserted.
            if self.dialect == "postgresql":
                added = result.inserted_primary_key is not None
            else:
                added = result.rowcount > 0
            if added:
                self.audit_event(
                    conn,
                    "lineage.add_edge",
                    target[0],
                    target[1],
                    {"source": f"{source[0]}:{source[1]}", "relation": relation},
                )

    def list_lineage_edges(
        self, node: tuple[str, str], direction: str = "both"
    ) -> list[LineageEdge]:
        """Return the edges into (``upstream``), out of (``downstream``) or around a node."""
        if direction not in ("upstream", "downstream", "both"):
            raise InvalidArgumentError(
                f"direction must be 'upstream', 'downstream' or 'both', got {direction!r}."
            )
        conds = []
        if direction in ("upstream", "both"):
            conds.append(and_(_edges.c.target_kind == node[0], _edges.c.target_id == node[1]))
        if direction in ("downstream", "both"):
            conds.append(and_(_edges.c.source_kind == node[0], _edges.c.source_id == node[1]))
        with self._read() as conn:
            rows = conn.execute(select(_edges).where(or_(*conds)).order_by(_edges.c.id)).all()
        return [
            LineageEdge(
                r.source_kind,
                r.source_id,
                r.target_kind,
                r.target_id,
                r.relation,
                r.created_at,
                dict(r.properties or {}),
            )
            for r in rows
        ]

    # -- audit ------------------------------------------------------------------------------

    def record_event(
        self, action: str, kind: str, resource_id: str, details: dict[str, Any] | None = None
    ) -> None:
        """Append an audit event for an action that changed nothing else in the store."""
        with write_connection(self.engine) as conn:
            self.audit_event(conn, action, kind, resource_id, details)

    def list_audit_events(self, since: int | None = None, limit: int = 1000) -> list[AuditEvent]:
        """Return audit events, oldest first, from ``since`` (milliseconds) on."""
        query = select(_audit_log).order_by(_audit_log.c.id).limit(limit)
        if since is not None:
            query = query.where(_audit_log.c.timestamp >= since)
        with self._read() as conn:
            return [_audit.row_to_event(r) for r in conn.execute(query)]

    def verify_audit_chain(self) -> ChainVerification:
        """Recompute the audit hash chain and name the first event that does not match."""
        with self._read() as conn:
            return _audit.verify_chain(conn)

    # -- maintenance ------------------------------------------------------------------------

    def mark_runs(self, run_ids: list[str], status: RunStatus, reason: str) -> int:
        """Set the status of RUNNING runs (``keel doctor --fix``); return how many changed."""
        changed = 0
        with write_connection(self.engine) as conn:
            for run_id in run_ids:
                result = conn.execute(
                    update(_runs)
                    .where(_runs.c.id == run_id, _runs.c.status == RunStatus.RUNNING.value)
                    .values(status=status.value, end_time=now_ms())
                )
                if result.rowcount:
                    changed += 1
                    self.audit_event(
                        conn, "run.mark", "run", run_id, {"status": status.value, "reason": reason}
                    )
        return changed

    def remove_artifact_references(self, digest: str) -> int:
        """Forget every run file that points at ``digest``; return how many were removed."""
        with write_connection(self.engine) as conn:
            result = conn.execute(delete(_artifacts).where(_artifacts.c.digest == digest))
            self.audit_event(conn, "artifact.forget", "blob", digest, {"files": result.rowcount})
            return int(result.rowcount)

    def check(self) -> None:
        """Run the database's own integrity check (SQLite), raising if it fails."""

        def run() -> None:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    result = conn.exec_driver_sql("PRAGMA quick_check").scalar()
                    if result != "ok":
                        raise InvalidArgumentError(f"SQLite quick_check reported: {result}")
                else:
                    conn.exec_driver_sql("SELECT 1")

        translate_errors(self.uri, run)


class _Row:
    """Attribute access over a dict of column values (a row we just wrote)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(
        f"No run has id {run_id!r}. List runs with 'keel runs ls --experiment NAME'.",
        details={"run_id": run_id},
    )


def _to_experiment(row: Any) -> Experiment:
    return Experiment(
        id=row.id,
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        lifecycle_stage=row.lifecycle_stage,
    )


def _run_info_from_tuple(row: Sequence[Any]) -> RunInfo:
    # Columns arrive in _hot.RUN_COLUMNS order, which is RunInfo's field order.
    values = list(row)
    values[3] = RunStatus(values[3])
    if values[10] is not None:
        values[10] = bool(values[10])
    return RunInfo(*values)


def _to_run_info(row: Any) -> RunInfo:
    return RunInfo(
        id=row.id,
        experiment_id=row.experiment_id,
        name=row.name,
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        parent_run_id=row.parent_run_id,
        user=row.user,
        source=row.source,
        git_commit=row.git_commit,
        git_dirty=row.git_dirty,
        python_version=row.python_version,
        environment_digest=row.environment_digest,
        hostname=row.hostname,
        pid=row.pid,
        process_start=row.process_start,
        wall_time_s=row.wall_time_s,
        cpu_time_s=row.cpu_time_s,
        peak_rss_bytes=row.peak_rss_bytes,
        lifecycle_stage=row.lifecycle_stage,
    )


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(offset)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgumentError(
            f"Page token {token!r} is not one Keel issued. Pass the next_page_token of the "
            "previous page, or none for the first page."
        ) from exc
    return offset
