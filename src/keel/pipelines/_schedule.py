"""``keel.schedule``: run a pipeline on a cron schedule, fired by ``keel agent``.

A schedule lives in the metadata store: the pipeline (as an importable ``module:function``),
the cron expression and its time zone, the parameters and the executor. ``keel agent`` claims
due firings (each exactly once, even with several agents) and runs them; a firing missed
while no agent ran is run once when an agent starts, then the schedule continues from now.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Any

from keel.errors import InvalidArgumentError
from keel.pipelines._cron import CronExpression, parse_timezone
from keel.pipelines._pipeline import Pipeline
from keel.store._pipelines import NewSchedule, PipelineRepository, ScheduleRecord

__all__ = [
    "Schedule",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "next_fire_ms",
    "pause_schedule",
    "resume_schedule",
    "schedule",
]


@dataclass(frozen=True)
class Schedule:
    """A stored schedule.

    Attributes:
        id: Its id.
        name: Its unique name (the pipeline's name by default).
        pipeline: The pipeline's name.
        target: ``module:function`` the agent imports.
        cron: The cron expression.
        timezone: The zone the expression is read in.
        params: The parameters of each run.
        executor: The executor of each run.
        enabled: Whether the agent fires it.
        next_run_at: The next firing, milliseconds since the epoch.
        last_run_id: The run the last firing started.
        last_status: How that run ended.
    """

    id: str
    name: str
    pipeline: str
    target: str
    cron: str
    timezone: str
    params: dict[str, Any]
    executor: str
    enabled: bool
    next_run_at: int
    last_run_id: str | None
    last_status: str | None
    working_dir: str | None = None

    @classmethod
    def from_record(cls, r: ScheduleRecord) -> Schedule:
        """Build from the stored record."""
        return cls(
            id=r.id,
            name=r.name,
            pipeline=r.pipeline,
            target=r.target,
            cron=r.cron,
            timezone=r.timezone,
            params=r.params,
            executor=r.executor,
            enabled=r.enabled,
            next_run_at=r.next_run_at,
            last_run_id=r.last_run_id,
            last_status=r.last_status,
            working_dir=r.working_dir,
        )

    @property
    def next_run(self) -> dt.datetime:
        """The next firing as an aware datetime in the schedule's zone."""
        return dt.datetime.fromtimestamp(self.next_run_at / 1000, parse_timezone(self.timezone))


def next_fire_ms(cron: str, timezone: str, after_ms: int) -> int:
    """Return the first firing of ``cron`` in ``timezone`` after ``after_ms``, in milliseconds."""
    zone = parse_timezone(timezone)
    after = dt.datetime.fromtimestamp(after_ms / 1000, zone)
    return int(CronExpression(cron).next_after(after, zone).timestamp() * 1000)


def _repo() -> PipelineRepository:
    from keel.tracking import get_client

    return PipelineRepository(get_client().store)


def schedule(
    pipeline: Pipeline | str,
    cron: str,
    *,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    executor: str = "inline",
    timezone: str = "UTC",
    enabled: bool = True,
) -> Schedule:
    """Run ``pipeline`` on the cron schedule ``cron``; ``keel agent`` fires it.

    Args:
        pipeline: A pipeline defined at the top level of an importable module, or its
            ``module:function`` text.
        cron: Five cron fields or a macro: ``"0 3 * * *"`` is every day at 03:00.
        name: The schedule's unique name (the pipeline's name by default).
        params: Parameters of each run (checked against the pipeline's signature).
        executor: The executor of each run.
        timezone: The IANA zone ``cron`` is read in.
        enabled: Whether the agent fires it.

    Returns:
        The stored schedule, with its next firing.

    Raises:
        InvalidArgumentError: The cron expression, time zone, parameters or executor is
            invalid, or the pipeline cannot be imported by the agent (defined in a script or
            inside a function).
        AlreadyExistsError: A schedule of that name exists.
    """
    from keel.pipelines._loader import load_pipeline
    from keel.pipelines.executors import list_executors

    if isinstance(pipeline, str):
        target = pipeline
        pipeline = load_pipeline(target)
    elif isinstance(pipeline, Pipeline):
        found = pipeline.target
        if found is None:
            raise InvalidArgumentError(
                f"Pipeline {pipeline.name!r} cannot be scheduled: the agent imports pipelines "
                "by module and name, and this one is defined in a script run as __main__ or "
                "inside a function. Define it at the top level of a module (pipelines.py) and "
                "schedule it from there, or pass 'module:function'."
            )
        target = found
    else:
        raise InvalidArgumentError(
            f"keel.schedule needs a pipeline (or 'module:function'), got {pipeline!r}."
        )
    CronExpression(cron)
    parse_timezone(timezone)
    if executor not in list_executors():
        from keel.errors import near_matches

        raise InvalidArgumentError(
            f"Unknown executor {executor!r}.{near_matches(executor, list_executors())} "
            f"Executors: {', '.join(list_executors())}."
        )
    bound = pipeline.bind(params or {})
    given = {k: v for k, v in bound.items() if params and k in params}
    try:
        json.dumps(given, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Schedule parameters must be plain JSON values (numbers, strings, lists, dicts); "
            f"{exc}. Pass identifiers (a dataset version reference) instead of objects."
        ) from exc
    from keel._utils import now_ms

    record = _repo().create_schedule(
        NewSchedule(
            name=name or pipeline.name,
            pipeline=pipeline.name,
            target=target,
            cron=cron,
            timezone=timezone,
            params=given,
            executor=executor,
            next_run_at=next_fire_ms(cron, timezone, now_ms()),
            working_dir=os.getcwd(),
            enabled=enabled,
        )
    )
    return Schedule.from_record(record)


def get_schedule(name: str) -> Schedule:
    """Return the schedule called ``name`` (or with that id).

    Raises:
        NotFoundError: No such schedule (near names listed).
    """
    return Schedule.from_record(_repo().get_schedule(name))


def list_schedules() -> list[Schedule]:
    """Return every schedule, by name."""
    return [Schedule.from_record(r) for r in _repo().list_schedules()]


def delete_schedule(name: str) -> None:
    """Delete the schedule called ``name``.

    Raises:
        NotFoundError: No such schedule.
    """
    _repo().delete_schedule(name)


def pause_schedule(name: str) -> Schedule:
    """Stop the agent from firing ``name`` until :func:`resume_schedule`."""
    return Schedule.from_record(_repo().update_schedule(name, enabled=False))


def resume_schedule(name: str) -> Schedule:
    """Fire ``name`` again, from its next firing after now."""
    from keel._utils import now_ms

    record = _repo().get_schedule(name)
    following = next_fire_ms(record.cron, record.timezone, now_ms())
    return Schedule.from_record(_repo().update_schedule(name, enabled=True, next_run_at=following))
