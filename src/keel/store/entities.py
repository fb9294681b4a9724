"""Plain domain objects the metadata store returns: no SQLAlchemy object leaves ``store``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ArtifactEntry",
    "AuditEvent",
    "ChainVerification",
    "Experiment",
    "LineageEdge",
    "Metric",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
]


class RunStatus(StrEnum):
    """Life-cycle state of a run."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended."""
        return self is not RunStatus.RUNNING


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    id: str
    name: str
    description: str
    created_at: int
    lifecycle_stage: str = "active"


@dataclass(frozen=True)
class Metric:
    """One point of a metric series. ``timestamp`` is milliseconds since the epoch."""

    key: str
    value: float
    step: int
    timestamp: int

    @property
    def is_nan(self) -> bool:
        """Whether the logged value was NaN."""
        return math.isnan(self.value)


@dataclass(slots=True)
class RunInfo:
    """Who, where, when and how a run ran, and what it cost.

    Times are milliseconds since the epoch; resource figures are filled when the run ends.
    """

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    user: str
    source: str | None
    git_commit: str | None
    git_dirty: bool | None
    python_version: str | None
    environment_digest: str | None
    hostname: str | None
    pid: int | None
    process_start: float | None
    wall_time_s: float | None
    cpu_time_s: float | None
    peak_rss_bytes: int | None
    lifecycle_stage: str = "active"

    @property
    def run_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id


@dataclass(slots=True)
class RunData:
    """The latest value of each metric, the params and the tags of a run."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Run:
    """A run with its info and data."""

    info: RunInfo
    data: RunData

    @property
    def id(self) -> str:
        """The run id."""
        return self.info.id

    def to_flat_dict(self) -> dict[str, Any]:
        """Flatten into one row: attributes, then ``metrics.*``, ``params.*`` and ``tags.*``."""
        row: dict[str, Any] = {
            "run_id": self.info.id,
            "experiment_id": self.info.experiment_id,
            "run_name": self.info.name,
            "status": str(self.info.status),
            "start_time": self.info.start_time,
            "end_time": self.info.end_time,
            "user": self.info.user,
            "parent_run_id": self.info.parent_run_id,
        }
        row.update({f"metrics.{k}": v for k, v in self.data.metrics.items()})
        row.update({f"params.{k}": v for k, v in self.data.params.items()})
        row.update({f"tags.{k}": v for k, v in self.data.tags.items()})
        return row


@dataclass(frozen=True)
class ArtifactEntry:
    """A file in a run's artifact namespace, pointing at a content-addressed blob."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class LineageEdge:
    """A directed edge of the lineage graph, ``source -> target``.

    Nodes are ``(kind, id)`` pairs such as ``("run", "a1b2")`` or ``("dataset_version", "tx@v3")``.
    """

    source_kind: str
    source_id: str
    target_kind: str
    target_id: str
    relation: str
    created_at: int
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the hash-chained audit log."""

    id: int
    timestamp: int
    actor: str
    action: str
    resource_kind: str
    resource_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainVerification:
    """The result of recomputing the audit hash chain."""

    ok: bool
    events_checked: int
    first_bad_event_id: int | None = None
    reason: str | None = None
