"""Queries of LLM operations: prompts, versions, aliases, evaluations, the call cache, traces.

:class:`LlmRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the plain
records defined here. Every change (a new version, an alias move, an evaluation, a trace
segment) is written in one transaction with its audit event and its lineage edges. The call
cache is the exception: its rows are derived, re-computable data (the output of a call that
could be made again), so filling it is not audited, as a CPU cache is not a change of record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.engine import Connection

from keel._utils import new_id, now_ms
from keel.errors import InvalidStateError, NotFoundError, near_matches
from keel.store._engine import write_connection
from keel.store._repo import Repository, to_record
from keel.store._schema_llm import (
    LlmCallCacheRow,
    LlmEvaluationRow,
    PromptAliasMoveRow,
    PromptAliasRow,
    PromptRow,
    PromptVersionRow,
    TraceSegmentRow,
)

__all__ = [
    "CachedCall",
    "EvaluationRecord",
    "LlmRepository",
    "NewEvaluation",
    "NewTraceSegment",
    "PromptAliasMoveRecord",
    "PromptRecord",
    "PromptVersionRecord",
    "TraceSegmentRecord",
]

_prompts = cast(Table, PromptRow.__table__)
_versions = cast(Table, PromptVersionRow.__table__)
_aliases = cast(Table, PromptAliasRow.__table__)
_moves = cast(Table, PromptAliasMoveRow.__table__)
_evals = cast(Table, LlmEvaluationRow.__table__)
_cache = cast(Table, LlmCallCacheRow.__table__)
_segments = cast(Table, TraceSegmentRow.__table__)


@dataclass(frozen=True)
class PromptRecord:
    """A named prompt with its aliases (``{alias: version}``)."""

    id: str
    name: str
    description: str
    latest_version: int
    created_at: int
    created_by: str
    updated_at: int
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptVersionRecord:
    """One immutable version of a prompt."""

    id: str
    name: str
    version: int
    template: str
    model_params: dict[str, Any]
    variables: list[str]
    digest: str
    description: str
    created_at: int
    created_by: str
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """``name/3``: the version's lineage id."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class PromptAliasMoveRecord:
    """One move of a prompt alias."""

    id: str
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    action: str
    reason: str
    evaluation_id: str | None
    details: dict[str, Any]
    created_at: int
    created_by: str


@dataclass(frozen=True)
class NewEvaluation:
    """An evaluation to record; its rows are already in the artifact store."""

    prompt_name: str | None
    prompt_version: int | None
    target: str
    data_ref: str
    data_digest: str
    run_id: str | None
    num_rows: int
    num_errors: int
    summary: dict[str, Any]
    scorers: list[dict[str, Any]]
    rows_digest: str


@dataclass(frozen=True)
class EvaluationRecord(NewEvaluation):
    """A stored evaluation."""

    id: str = ""
    created_at: int = 0
    created_by: str = ""


@dataclass(frozen=True)
class CachedCall:
    """A cached model call."""

    output: str
    usage: dict[str, Any]
    latency_ms: float


@dataclass(frozen=True)
class NewTraceSegment:
    """A Parquet segment of spans, already stored in the artifact store."""

    deployment: str
    start_time: int
    end_time: int
    num_traces: int
    num_spans: int
    num_errors: int
    digest: str
    size_bytes: int
    prompts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TraceSegmentRecord(NewTraceSegment):
    """A stored trace segment."""

    id: str = ""
    created_at: int = 0
    created_by: str = ""


class LlmRepository(Repository):
    """Prompts, evaluations, cached calls and trace segments in the one metadata store.

    Args:
        store: The metadata store to read and write.
    """

    def _edge(
        self,
        conn: Connection,
        source: tuple[str, str],
        target: tuple[str, str],
        relation: str,
        properties: dict[str, Any] | None = None,
    ) -> None:
        self._insert_edge(conn, source, target, relation, properties, now_ms())

    # -- prompts --------------------------------------------------------------------------

    def _prompt_row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(select(_prompts).where(_prompts.c.name == name)).first()
        if row is None:
            names = [r[0] for r in conn.execute(select(_prompts.c.name)).all()]
            raise NotFoundError(
                f"No prompt is named {name!r}.{near_matches(name, names)} Register one with "
                "keel.prompts.register(name, template=...).",
                details={"prompt": name},
            )
        return row

    def _aliases_of(self, conn: Connection, prompt_id: str) -> dict[str, int]:
        rows = conn.execute(
            select(_aliases.c.alias, _aliases.c.version)
            .where(_aliases.c.prompt_id == prompt_id)
            .order_by(_aliases.c.alias)
        ).all()
        return {r[0]: int(r[1]) for r in rows}

    def register_version(
        self,
        name: str,
        *,
        template: str,
        model_params: dict[str, Any],
        variables: list[str],
        digest: str,
        description: str = "",
    ) -> tuple[PromptVersionRecord, bool]:
        """Add a version of ``name`` (creating the prompt), unless the latest has ``digest``.

        Returns:
            The version, and whether it was created (``False``: the latest already matched).
        """
        now = now_ms()
        with write_connection(self.store.engine) as conn:
            row = conn.execute(select(_prompts).where(_prompts.c.name == name)).first()
            if row is None:
                prompt_id = new_id()
                conn.execute(
                    _prompts.insert().values(
                        id=prompt_id,
                        name=name,
                        description=description,
                        latest_version=0,
                        created_at=now,
                        created_by=self.store.actor,
                        updated_at=now,
                    )
                )
                latest = 0
            else:
                prompt_id, latest = row.id, int(row.latest_version)
                last = conn.execute(
                    select(_versions).where(
                        _versions.c.prompt_id == prompt_id, _versions.c.version == latest
                    )
                ).first()
                if last is not None and last.digest == digest:
                    return self._to_version(conn, name, last), False
            number = latest + 1
            conn.execute(
                update(_prompts)
                .where(_prompts.c.id == prompt_id)
                .values(latest_version=number, updated_at=now)
            )
            version_id = new_id()
            conn.execute(
                _versions.insert().values(
                    id=version_id,
                    prompt_id=prompt_id,
                    version=number,
                    template=template,
                    model_params=model_params,
                    variables=variables,
                    digest=digest,
                    description=description,
                    created_at=now,
                    created_by=self.store.actor,
                )
            )
            self.store.audit_event(
                conn,
                "prompt.register",
                "prompt_version",
                f"{name}/{number}",
                {"digest": digest, "variables": variables, "model_params": model_params},
            )
            record = conn.execute(select(_versions).where(_versions.c.id == version_id)).one()
            return self._to_version(conn, name, record), True

    def get_prompt(self, name: str) -> PromptRecord:
        """Return a prompt with its aliases.

        Raises:
            NotFoundError: No prompt has that name (near names are suggested).
        """
        with self.store._read() as conn:
            row = self._prompt_row(conn, name)
            return self._to_prompt(conn, row)

    def list_prompts(self) -> list[PromptRecord]:
        """Return every prompt, by name."""
        with self.store._read() as conn:
            rows = conn.execute(select(_prompts).order_by(_prompts.c.name)).all()
            return [self._to_prompt(conn, r) for r in rows]

    def get_version(self, name: str, version: int) -> PromptVersionRecord:
        """Return version ``version`` of ``name``.

        Raises:
            NotFoundError: The prompt or the version does not exist.
        """
        with self.store._read() as conn:
            prompt = self._prompt_row(conn, name)
            row = conn.execute(
                select(_versions).where(
                    _versions.c.prompt_id == prompt.id, _versions.c.version == version
                )
            ).first()
            if row is None:
                raise NotFoundError(
                    f"Prompt {name!r} has no version {version!r}; its versions are 1 to "
                    f"{prompt.latest_version}.",
                    details={"prompt": name, "version": version},
                )
            return self._to_version(conn, name, row)

    def get_version_by_alias(self, name: str, alias: str) -> PromptVersionRecord:
        """Return the version ``alias`` points at.

        Raises:
            NotFoundError: The prompt or the alias does not exist (near aliases are suggested).
        """
        with self.store._read() as conn:
            prompt = self._prompt_row(conn, name)
            aliases = self._aliases_of(conn, prompt.id)
        if alias == "latest":
            return self.get_version(name, int(prompt.latest_version))
        if alias not in aliases:
            known = ", ".join(repr(a) for a in aliases) or "none"
            raise NotFoundError(
                f"Prompt {name!r} has no alias {alias!r}.{near_matches(alias, aliases)} "
                f"Its aliases: {known}; set one with keel.prompts.set_alias().",
                details={"prompt": name, "alias": alias},
            )
        return self.get_version(name, aliases[alias])

    def list_versions(self, name: str) -> list[PromptVersionRecord]:
        """Return every version of ``name``, oldest first."""
        with self.store._read() as conn:
            prompt = self._prompt_row(conn, name)
            rows = conn.execute(
                select(_versions)
                .where(_versions.c.prompt_id == prompt.id)
                .order_by(_versions.c.version)
            ).all()
            return [self._to_version(conn, name, r) for r in rows]

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        action: str,
        reason: str = "",
        evaluation_id: str | None = None,
        details: dict[str, Any] | None = None,
        expected: int | None | str = "any",
    ) -> PromptAliasMoveRecord:
        """Point ``alias`` at ``version`` (``None``: delete it), audited, with its history.

        Args:
            name: The prompt.
            alias: The alias.
            version: The new version, or ``None`` to delete the alias.
            action: ``set``, ``promote`` or ``delete``.
            reason: Why, kept in the history and the audit log.
            evaluation_id: The evaluation that justified the move (a lineage edge
                ``llm_evaluation -> prompt_version``).
            details: More to keep with the move (the gate's comparison).
            expected: Compare-and-set: move only if the alias points at this version now
                (``None``: only if it does not exist); ``"any"`` moves it whatever it points at.

        Raises:
            NotFoundError: The prompt, version or (for a delete) alias does not exist.
            InvalidStateError: ``expected`` does not match.
        """
        if version is not None:
            self.get_version(name, version)
        now = now_ms()
        with write_connection(self.store.engine) as conn:
            prompt = self._prompt_row(conn, name)
            current = self._aliases_of(conn, prompt.id).get(alias)
            if expected != "any" and expected != current:
                raise InvalidStateError(
                    f"Alias {alias!r} of prompt {name!r} points at {current!r}, not "
                    f"{expected!r}; someone moved it meanwhile. Read it again and retry.",
                    details={"prompt": name, "alias": alias, "current": current},
                )
            if version is None:
                if current is None:
                    raise NotFoundError(
                        f"Prompt {name!r} has no alias {alias!r} to delete.",
                        details={"prompt": name, "alias": alias},
                    )
                conn.execute(
                    _aliases.delete().where(
                        _aliases.c.prompt_id == prompt.id, _aliases.c.alias == alias
                    )
                )
            elif current is None:
                conn.execute(
                    _aliases.insert().values(
                        prompt_id=prompt.id, alias=alias, version=version, updated_at=now
                    )
                )
            else:
                conn.execute(
                    update(_aliases)
                    .where(_aliases.c.prompt_id == prompt.id, _aliases.c.alias == alias)
                    .values(version=version, updated_at=now)
                )
            record = PromptAliasMoveRecord(
                id=new_id(),
                name=name,
                alias=alias,
                from_version=current,
                to_version=version,
                action=action,
                reason=reason,
                evaluation_id=evaluation_id,
                details=details or {},
                created_at=now,
                created_by=self.store.actor,
            )
            values = {k: v for k, v in record.__dict__.items() if k != "name"}
            conn.execute(_moves.insert().values(prompt_id=prompt.id, **values))
            if evaluation_id is not None and version is not None:
                self._edge(
                    conn,
                    ("llm_evaluation", evaluation_id),
                    ("prompt_version", f"{name}/{version}"),
                    "justified",
                    {"alias": alias, "action": action},
                )
            self.store.audit_event(
                conn,
                f"prompt.alias.{action}",
                "prompt",
                name,
                {
                    "alias": alias,
                    "from_version": current,
                    "to_version": version,
                    "reason": reason,
                    "evaluation_id": evaluation_id,
                    **(details or {}),
                },
            )
        return record

    def alias_history(self, name: str, alias: str | None = None) -> list[PromptAliasMoveRecord]:
        """Return every move of ``name``'s aliases (or of one alias), oldest first."""
        with self.store._read() as conn:
            prompt = self._prompt_row(conn, name)
            query = select(_moves).where(_moves.c.prompt_id == prompt.id)
            if alias is not None:
                query = query.where(_moves.c.alias == alias)
            rows = conn.execute(query.order_by(_moves.c.created_at, _moves.c.id)).all()
        return [
            PromptAliasMoveRecord(
                id=r.id,
                name=name,
                alias=r.alias,
                from_version=r.from_version,
                to_version=r.to_version,
                action=r.action,
                reason=r.reason,
                evaluation_id=r.evaluation_id,
                details=dict(r.details or {}),
                created_at=r.created_at,
                created_by=r.created_by,
            )
            for r in rows
        ]

    def _to_prompt(self, conn: Connection, r: Any) -> PromptRecord:
        return PromptRecord(
            id=r.id,
            name=r.name,
            description=r.description,
            latest_version=int(r.latest_version),
            created_at=r.created_at,
            created_by=r.created_by,
            updated_at=r.updated_at,
            aliases=self._aliases_of(conn, r.id),
        )

    def _to_version(self, conn: Connection, name: str, r: Any) -> PromptVersionRecord:
        aliases = self._aliases_of(conn, r.prompt_id)
        return PromptVersionRecord(
            id=r.id,
            name=name,
            version=int(r.version),
            template=r.template,
            model_params=dict(r.model_params or {}),
            variables=list(r.variables or []),
            digest=r.digest,
            description=r.description,
            created_at=r.created_at,
            created_by=r.created_by,
            aliases=sorted(a for a, v in aliases.items() if v == r.version),
        )

    # -- evaluations ----------------------------------------------------------------------

    def add_evaluation(self, new: NewEvaluation) -> EvaluationRecord:
        """Record an evaluation with its audit event and lineage edges, in one commit."""
        record = EvaluationRecord(
            **new.__dict__, id=new_id(), created_at=now_ms(), created_by=self.store.actor
        )
        node = ("llm_evaluation", record.id)
        with write_connection(self.store.engine) as conn:
            conn.execute(_evals.insert().values(**record.__dict__))
            if new.prompt_name is not None and new.prompt_version is not None:
                source = ("prompt_version", f"{new.prompt_name}/{new.prompt_version}")
                self._edge(conn, source, node, "evaluated")
            if new.run_id is not None:
                self._edge(conn, ("run", new.run_id), node, "output")
            if "@v" in new.data_ref:
                self._edge(conn, ("dataset_version", new.data_ref), node, "input")
            self.store.audit_event(
                conn,
                "llm.evaluation.create",
                "llm_evaluation",
                record.id,
                {
                    "prompt": f"{new.prompt_name}/{new.prompt_version}"
                    if new.prompt_name
                    else None,
                    "data": new.data_ref,
                    "num_rows": new.num_rows,
                    "num_errors": new.num_errors,
                },
            )
        return record

    def get_evaluation(self, ident: str) -> EvaluationRecord:
        """Return the evaluation with this id (or unique id prefix).

        Raises:
            NotFoundError: No evaluation (or more than one) matches.
        """
        with self.store._read() as conn:
            rows = conn.execute(select(_evals).where(_evals.c.id.like(f"{ident}%"))).all()
        if len(rows) != 1:
            what = "No evaluation" if not rows else f"{len(rows)} evaluations"
            raise NotFoundError(
                f"{what} with id {ident!r}. List them with keel.llm.list_evaluations().",
                details={"evaluation": ident},
            )
        return _to_evaluation(rows[0])

    def list_evaluations(
        self,
        *,
        prompt_name: str | None = None,
        prompt_version: int | None = None,
        data_digest: str | None = None,
        limit: int | None = None,
    ) -> list[EvaluationRecord]:
        """Return evaluations, newest first, optionally of one prompt (version) or data set."""
        query = select(_evals)
        if prompt_name is not None:
            query = query.where(_evals.c.prompt_name == prompt_name)
        if prompt_version is not None:
            query = query.where(_evals.c.prompt_version == prompt_version)
        if data_digest is not None:
            query = query.where(_evals.c.data_digest == data_digest)
        query = query.order_by(_evals.c.created_at.desc(), _evals.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.store._read() as conn:
            return [_to_evaluation(r) for r in conn.execute(query).all()]

    # -- call cache -----------------------------------------------------------------------

    def cache_get(self, key: str) -> CachedCall | None:
        """Return the cached call under ``key``, or ``None``."""
        with self.store._read() as conn:
            row = conn.execute(select(_cache).where(_cache.c.key == key)).first()
        if row is None:
            return None
        return CachedCall(row.output, dict(row.usage or {}), float(row.latency_ms))

    def cache_put(self, key: str, call: CachedCall) -> None:
        """Store a call's result under ``key`` (the first result stored wins)."""
        with write_connection(self.store.engine) as conn:
            conn.execute(
                self._insert(_cache)
                .values(
                    key=key,
                    output=call.output,
                    usage=call.usage,
                    latency_ms=call.latency_ms,
                    created_at=now_ms(),
                )
                .on_conflict_do_nothing()
            )

    # -- traces ---------------------------------------------------------------------------

    def add_trace_segment(self, new: NewTraceSegment) -> TraceSegmentRecord:
        """Record a trace segment, its audit event and lineage edges, in one commit."""
        record = TraceSegmentRecord(
            **new.__dict__, id=new_id(), created_at=now_ms(), created_by=self.store.actor
        )
        node = ("trace_batch", record.id)
        with write_connection(self.store.engine) as conn:
            conn.execute(_segments.insert().values(**record.__dict__))
            if new.deployment:
                self._edge(conn, ("deployment", new.deployment), node, "traced")
            for prompt in new.prompts:
                self._edge(conn, ("prompt_version", prompt), node, "used")
            self.store.audit_event(
                conn,
                "traces.append",
                "deployment",
                new.deployment,
                {
                    "segment_id": record.id,
                    "digest": new.digest,
                    "num_traces": new.num_traces,
                    "num_spans": new.num_spans,
                },
            )
        return record

    def list_trace_segments(
        self, deployment: str | None = None, start: int | None = None, end: int | None = None
    ) -> list[TraceSegmentRecord]:
        """Return segments (of one deployment) overlapping ``[start, end)``, oldest first."""
        query = select(_segments)
        if deployment is not None:
            query = query.where(_segments.c.deployment == deployment)
        if start is not None:
            query = query.where(_segments.c.end_time >= start)
        if end is not None:
            query = query.where(_segments.c.start_time < end)
        with self.store._read() as conn:
            rows = conn.execute(query.order_by(_segments.c.start_time, _segments.c.id)).all()
        return [
            TraceSegmentRecord(
                deployment=r.deployment,
                start_time=r.start_time,
                end_time=r.end_time,
                num_traces=r.num_traces,
                num_spans=r.num_spans,
                num_errors=r.num_errors,
                digest=r.digest,
                size_bytes=r.size_bytes,
                prompts=list(r.prompts or []),
                id=r.id,
                created_at=r.created_at,
                created_by=r.created_by,
            )
            for r in rows
        ]


def _to_evaluation(r: Any) -> EvaluationRecord:
    return to_record(
        EvaluationRecord,
        r,
        num_rows=int(r.num_rows),
        num_errors=int(r.num_errors),
        summary=dict(r.summary or {}),
        scorers=list(r.scorers or []),
    )
