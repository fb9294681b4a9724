"""The one metadata store: SQLAlchemy models, queries and migrations (SQLite or PostgreSQL).

Rows never leave this package: callers get the plain objects of :mod:`keel.store.entities`.
"""

from keel.store._engine import schema_heads
from keel.store._sql import MAX_PARAM_LENGTH, MetricPoint, NewRun, SqlMetadataStore
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

__all__ = [
    "MAX_PARAM_LENGTH",
    "schema_heads",
    "ArtifactEntry",
    "AuditEvent",
    "ChainVerification",
    "Experiment",
    "LineageEdge",
    "Metric",
    "MetricPoint",
    "NewRun",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "SqlMetadataStore",
]
