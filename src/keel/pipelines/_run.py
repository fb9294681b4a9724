"""What a pipeline run returns, and what ``keel.pipelines.get_run`` reads back from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from keel.errors import InvalidArgumentError, NotFoundError, near_matches
from keel.pipelines._errors import PipelineFailedError
from keel.store._pipelines import PipelineRunRecord, StepRunRecord

__all__ = ["PipelineRun", "StepRun", "StepStatus", "get_run", "list_runs"]


class StepStatus(StrEnum):
    """Life-cycle state of a step in a pipeline run."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CACHED = "CACHED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    KILLED = "KILLED"


def _load_value(ref: dict[str, Any]) -> Any:
    from keel.pipelines._serializers import deserialize
    from keel.tracking import get_client

    return deserialize(get_client().artifacts.get_bytes(ref["digest"]), ref["serializer"])


def _load_template(template: Any) -> Any:
    if isinstance(template, dict):
        if "$output" in template and len(template) == 1:
            return _load_value(template["$output"])
        if "$tuple" in template and len(template) == 1:
            return tuple(_load_template(v) for v in template["$tuple"])
        if "$dict" in template and len(template) == 1:
            return {k: _load_template(v) for k, v in template["$dict"]}
        if "$literal" in template and len(template) == 1:
            return template["$literal"]
        return {k: _load_template(v) for k, v in template.items()}
    if isinstance(template, list):
        return [_load_template(v) for v in template]
    return template


@dataclass(frozen=True)
class StepRun:
    """One step of a pipeline run.

    Attributes:
        name: The step's name in the pipeline.
        status: Where it ended (``COMPLETED``, ``CACHED``, ``FAILED``, ``SKIPPED`` ...).
        cache_hit: Whether its outputs came from an earlier run.
        attempts: How many times it ran in this pipeline run (0 for a cache hit).
        duration_s: Seconds from its first attempt's start to its end.
        error: ``ExceptionType: message`` of its last failed attempt.
        traceback: The traceback of that failure.
        outputs: Each output's digest, serializer, type and size.
        record: Everything the store holds about it.
    """

    name: str
    status: StepStatus
    cache_hit: bool
    attempts: int
    duration_s: float | None
    error: str | None
    traceback: str | None
    outputs: list[dict[str, Any]]
    record: StepRunRecord

    @classmethod
    def from_record(cls, record: StepRunRecord) -> StepRun:
        """Build from the stored record."""
        duration = (
            (record.end_time - record.start_time) / 1000
            if record.start_time is not None and record.end_time is not None
            else None
        )
        return cls(
            name=record.name,
            status=StepStatus(record.status),
            cache_hit=record.cache_hit,
            attempts=record.attempts,
            duration_s=duration,
            error=record.error,
            traceback=record.traceback,
            outputs=record.outputs,
            record=record,
        )

    def load(self) -> Any:
        """Load the step's output (a tuple for several outputs) from the artifact store.

        Raises:
            InvalidArgumentError: The step produced no outputs (it failed or was skipped).
        """
        if not self.outputs:
            raise InvalidArgumentError(
                f"Step {self.name!r} has no outputs to load: it is {self.status.value}."
            )
        values = [_load_value(ref) for ref in self.outputs]
        return values[0] if len(values) == 1 else tuple(values)


@dataclass
class PipelineRun:
    """A pipeline run: its status, its steps, and its outputs (loaded on first access).

    Attributes:
        id: The run id; the pipeline run is also a tracked run with this id.
        pipeline: The pipeline's name.
        status: ``FINISHED``, ``FAILED``, ``KILLED``, or ``RUNNING`` while it runs.
        params: The parameters it ran with.
        executor: The executor's name.
        steps: The steps by name, in DAG order.
        error: The failed step's error, for a failed run.
        failed_step: The step that failed first.
        start_time: Milliseconds since the epoch.
        end_time: Milliseconds since the epoch.
        dag: Each step with the steps it waits for, in DAG order.
    """

    id: str
    pipeline: str
    status: str
    params: dict[str, Any]
    executor: str
    steps: dict[str, StepRun]
    error: str | None
    failed_step: str | None
    start_time: int
    end_time: int | None
    dag: list[dict[str, Any]] = field(default_factory=list)
    _outputs_template: Any = None
    _outputs: Any = field(default=None, repr=False)
    _loaded: bool = field(default=False, repr=False)

    @classmethod
    def from_record(cls, record: PipelineRunRecord) -> PipelineRun:
        """Build from the stored record."""
        status = record.status
        if status == "RUNNING" and record.run_status not in (None, "RUNNING"):
            status = str(record.run_status)  # its process died; keel doctor ended the run
        return cls(
            id=record.run_id,
            pipeline=record.pipeline,
            status=status,
            params=record.params,
            executor=record.executor,
            steps={s.name: StepRun.from_record(s) for s in record.steps},
            error=record.error,
            failed_step=record.failed_step,
            start_time=record.start_time,
            end_time=record.end_time,
            dag=record.dag,
            _outputs_template=record.outputs,
        )

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time) / 1000

    @property
    def cache_hits(self) -> list[str]:
        """Names of the steps whose outputs came from the cache."""
        return [name for name, s in self.steps.items() if s.cache_hit]

    @property
    def outputs(self) -> Any:
        """What the pipeline function returned, with step outputs loaded.

        Raises:
            PipelineFailedError: The run did not finish; the message has the step's error.
        """
        self.raise_for_status()
        if not self._loaded:
            self._outputs = _load_template(self._outputs_template)
            self._loaded = True
        return self._outputs

    def raise_for_status(self) -> None:
        """Raise :class:`PipelineFailedError` unless the run finished."""
        if self.status == "FINISHED":
            return
        if self.failed_step:
            message = (
                f"Pipeline {self.pipeline!r} run {self.id[:8]} failed at step "
                f"{self.failed_step!r}: {self.error}"
            )
        else:
            message = f"Pipeline {self.pipeline!r} run {self.id[:8]} is {self.status}" + (
                f": {self.error}" if self.error else "."
            )
        raise PipelineFailedError(message, run_id=self.id, step=self.failed_step)

    def __repr__(self) -> str:
        return (
            f"<PipelineRun {self.id[:8]} {self.pipeline!r} {self.status}: {len(self.steps)} "
            f"steps, {len(self.cache_hits)} cached>"
        )


def get_run(run_id: str) -> PipelineRun:
    """Read a pipeline run back from the store (a unique prefix of its id is enough).

    Raises:
        NotFoundError: No pipeline run has that id.
        InvalidArgumentError: The prefix matches several runs.
    """
    from keel.store._pipelines import PipelineRepository
    from keel.tracking import get_client

    repo = PipelineRepository(get_client().store)
    if len(run_id) != 32:
        matches = repo.find_runs(run_id)
        if len(matches) > 1:
            raise InvalidArgumentError(
                f"Pipeline run id prefix {run_id!r} is ambiguous: it matches {matches[:5]!r}. "
                "Give more characters."
            )
        if not matches:
            raise NotFoundError(
                f"No pipeline run has an id starting with {run_id!r}. List pipeline runs "
                "with 'keel pipeline ls'.",
                details={"run_id": run_id},
            )
        run_id = matches[0]
    return PipelineRun.from_record(repo.get_run(run_id))


def list_runs(pipeline: str | None = None, limit: int = 50) -> list[PipelineRun]:
    """Return pipeline runs, newest first (of one pipeline if ``pipeline`` is given).

    Raises:
        NotFoundError: No run of a pipeline called ``pipeline`` exists (near names listed).
    """
    from keel.store._pipelines import PipelineRepository
    from keel.tracking import get_client

    repo = PipelineRepository(get_client().store)
    records = repo.list_runs(pipeline=pipeline, limit=limit)
    if pipeline is not None and not records:
        names = repo.list_pipelines()
        raise NotFoundError(
            f"No pipeline called {pipeline!r} has run.{near_matches(pipeline, names)}",
            details={"pipeline": pipeline},
        )
    return [PipelineRun.from_record(r) for r in records]
