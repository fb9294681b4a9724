"""SQLAlchemy 2 table definitions of the metadata store.

The Alembic migrations in ``keel/store/migrations`` create exactly these tables; a test
compares the two so they cannot drift apart. Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every Keel table."""


def all_metadata() -> MetaData:
    """Return the metadata of every Keel table, importing each capability's ``_schema_*`` module.

    Each capability keeps its tables in ``keel/store/_schema_<capability>.py`` on this ``Base``
    and its migrations in ``migrations/versions``; Alembic and the schema test read this.
    """
    import importlib
    import pkgutil

    import keel.store

    for mod in pkgutil.iter_modules(keel.store.__path__):
        if mod.name.startswith("_schema_"):
            importlib.import_module(f"keel.store.{mod.name}")
    return Base.metadata


class ExperimentRow(Base):
    """An experiment."""

    __tablename__ = "experiments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[int] = mapped_column(BigInteger)


class RunRow(Base):
    """A run, with its environment and resource use."""

    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Looked up through ix_runs_experiment_start, whose first column it is.
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id"))
    name: Mapped[str] = mapped_column(String(256))
    # Not indexed: every run changes status once, only `keel doctor` filters by it.
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    parent_run_id: Mapped[str | None] = mapped_column(String(32), index=True)
    user: Mapped[str] = mapped_column(String(256))
    source: Mapped[str | None] = mapped_column(Text)
    git_commit: Mapped[str | None] = mapped_column(String(64))
    git_dirty: Mapped[bool | None] = mapped_column(Boolean)
    python_version: Mapped[str | None] = mapped_column(String(64))
    environment_digest: Mapped[str | None] = mapped_column(String(64))
    hostname: Mapped[str | None] = mapped_column(String(256))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_start: Mapped[float | None] = mapped_column(Float)
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    cpu_time_s: Mapped[float | None] = mapped_column(Float)
    peak_rss_bytes: Mapped[int | None] = mapped_column(BigInteger)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")

    __table_args__ = (Index("ix_runs_experiment_start", "experiment_id", "start_time"),)


class ParamRow(Base):
    """An immutable run parameter, stored as text."""

    __tablename__ = "params"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

    # WITHOUT ROWID: one B-tree keyed by (run_id, key) instead of a table plus its key index.
    __table_args__ = (Index("ix_params_key_value", "key", "run_id"), {"sqlite_with_rowid": False})


class TagRow(Base):
    """A mutable run tag."""

    __tablename__ = "tags"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

    __table_args__ = ({"sqlite_with_rowid": False},)


class MetricRow(Base):
    """One point of a metric series; NaN is stored as NULL (SQLite has no NaN)."""

    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float | None] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_metrics_run_key_step", "run_id", "key", "step"),)


class LatestMetricRow(Base):
    """The latest point (highest step, then newest) of each metric of a run, for search."""

    __tablename__ = "latest_metrics"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_latest_metrics_key_value", "key", "value"),
        {"sqlite_with_rowid": False},
    )


class RunArtifactRow(Base):
    """A file in a run's artifact namespace and the digest of its content."""

    __tablename__ = "run_artifacts"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)


class LineageEdgeRow(Base):
    """An edge of the one lineage graph."""

    __tablename__ = "lineage_edges"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    source_kind: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(512))
    target_kind: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(512))
    relation: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_lineage_source", "source_kind", "source_id"),
        Index("ix_lineage_target", "target_kind", "target_id"),
        Index(
            "ux_lineage_edge",
            "source_kind",
            "source_id",
            "target_kind",
            "target_id",
            "relation",
            unique=True,
        ),
    )


class AuditEventRow(Base):
    """An audit event, chained to the one before it by ``prev_hash``."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    timestamp: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(128))
    resource_kind: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(512))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_resource", "resource_kind", "resource_id"),)
