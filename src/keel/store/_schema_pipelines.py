"""Tables of the pipelines capability: pipeline runs, step runs, the step cache and schedules.

Migration ``0004_pipelines`` creates exactly these tables. Times are integer milliseconds since
the epoch. A pipeline run is also a tracked run (``runs.id`` is its id); step outputs live in the
artifact store and rows hold their sha256 digests.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class PipelineRunRow(Base):
    """One run of a pipeline: its DAG, parameters, executor and outcome."""

    __tablename__ = "pipeline_runs"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(256))
    target: Mapped[str | None] = mapped_column(Text)
    executor: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dag: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cache_enabled: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    failed_step: Mapped[str | None] = mapped_column(String(256))
    schedule_id: Mapped[str | None] = mapped_column(String(32))
    outputs: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)

    __table_args__ = (Index("ix_pipeline_runs_pipeline_start", "pipeline", "start_time"),)


class PipelineStepRunRow(Base):
    """One step of a pipeline run: status, timing, attempts, cache use, error and outputs."""

    __tablename__ = "pipeline_step_runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline_run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.run_id"))
    name: Mapped[str] = mapped_column(String(256))
    function: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    cache_key: Mapped[str | None] = mapped_column(String(64), index=True)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    cached_from: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    start_time: Mapped[int | None] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    cpu_time_s: Mapped[float | None] = mapped_column(Float)
    peak_rss_bytes: Mapped[int | None] = mapped_column(BigInteger)
    hostname: Mapped[str | None] = mapped_column(String(256))
    pid: Mapped[int | None] = mapped_column(Integer)
    tracked_run_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    __table_args__ = (Index("ux_pipeline_step_runs_name", "pipeline_run_id", "name", unique=True),)


class PipelineCacheRow(Base):
    """A cache entry: the outputs a step produced for one code hash, inputs and params."""

    __tablename__ = "pipeline_cache"
    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(256))
    code_hash: Mapped[str] = mapped_column(String(64))
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    step_run_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)


class PipelineScheduleRow(Base):
    """A cron schedule that ``keel agent`` fires: which pipeline, with what, and when next."""

    __tablename__ = "pipeline_schedules"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    pipeline: Mapped[str] = mapped_column(String(256))
    target: Mapped[str] = mapped_column(Text)
    working_dir: Mapped[str | None] = mapped_column(Text)
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    executor: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    next_run_at: Mapped[int] = mapped_column(BigInteger, index=True)
    last_run_at: Mapped[int | None] = mapped_column(BigInteger)
    last_run_id: Mapped[str | None] = mapped_column(String(32))
    last_status: Mapped[str | None] = mapped_column(String(16))
