"""Tables of LLM operations: prompts, versions, aliases, evaluations, call cache, trace log.

Migration ``0010_llm`` creates exactly these tables. Times are integer milliseconds since the
epoch. A prompt version is immutable: its row pins the template, the model parameters and the
digest of both. An evaluation's per-row table lives as Parquet in the artifact store, named by
``rows_digest``. Traces are written like the prediction log: a buffer of finished traces
becomes one Parquet segment of spans in the artifact store, and a ``trace_segments`` row says
which deployment it belongs to, the time range it covers and how many traces, spans and errors
it holds, so readers pick the segments of a window without opening any file.

A trace segment's Parquet file has one row per span:

====================  ======================  ==================================================
column                Arrow type              meaning
====================  ======================  ==================================================
``trace_id``          ``string``              the trace (the root span has ``span_id == trace_id``)
``span_id``           ``string``              the span
``parent_id``         ``string`` (nullable)   the enclosing span; ``None`` for the root
``name``              ``string``              what the span did (``retrieval``, ``llm``, ...)
``kind``              ``string``              ``trace`` for the root, else the caller's kind
``deployment``        ``string``              the deployment that served the trace (or ``""``)
``prompt``            ``string`` (nullable)   the prompt version, ``name/3``
``start_ms``          ``int64``               start, epoch milliseconds
``latency_ms``        ``float64``             duration in milliseconds
``inputs``            ``string``              JSON of the inputs
``outputs``           ``string``              JSON of the outputs
``prompt_tokens``     ``int64`` (nullable)    tokens sent to a model
``completion_tokens`` ``int64`` (nullable)    tokens a model returned
``cost``              ``float64`` (nullable)  money spent, in the caller's currency
``error``             ``string`` (nullable)   the exception, if the span failed
``scores``            ``string``              JSON ``{name: value}`` set on the span
====================  ======================  ==================================================
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class PromptRow(Base):
    """A named prompt; ``latest_version`` hands out version numbers."""

    __tablename__ = "prompts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class PromptVersionRow(Base):
    """One immutable version of a prompt: its template and model parameters."""

    __tablename__ = "prompt_versions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prompt_id: Mapped[str] = mapped_column(ForeignKey("prompts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(Text)
    model_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)
    digest: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (Index("ux_prompt_versions_number", "prompt_id", "version", unique=True),)


class PromptAliasRow(Base):
    """Where an alias of a prompt points now."""

    __tablename__ = "prompt_aliases"
    prompt_id: Mapped[str] = mapped_column(ForeignKey("prompts.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class PromptAliasMoveRow(Base):
    """One move of a prompt alias (set, promote, delete), with the evaluation that justified it."""

    __tablename__ = "prompt_alias_moves"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prompt_id: Mapped[str] = mapped_column(ForeignKey("prompts.id"), index=True)
    alias: Mapped[str] = mapped_column(String(128))
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    evaluation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))


class LlmEvaluationRow(Base):
    """One evaluation of a target (and prompt version) on an evaluation set."""

    __tablename__ = "llm_evaluations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prompt_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    prompt_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target: Mapped[str] = mapped_column(String(1024))
    data_ref: Mapped[str] = mapped_column(String(1024))
    data_digest: Mapped[str] = mapped_column(String(64), index=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    num_rows: Mapped[int] = mapped_column(Integer)
    num_errors: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scorers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rows_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (Index("ix_llm_evaluations_prompt_created", "prompt_name", "created_at"),)


class LlmCallCacheRow(Base):
    """A cached model call, keyed by the hash of (target, prompt version, input, parameters)."""

    __tablename__ = "llm_call_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    output: Mapped[str] = mapped_column(Text)
    usage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[int] = mapped_column(BigInteger)


class TraceSegmentRow(Base):
    """One Parquet segment of spans of finished traces."""

    __tablename__ = "trace_segments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(256))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int] = mapped_column(BigInteger)
    num_traces: Mapped[int] = mapped_column(BigInteger)
    num_spans: Mapped[int] = mapped_column(BigInteger)
    num_errors: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    prompts: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index("ix_trace_segments_deployment_start", "deployment", "start_time"),
        Index("ix_trace_segments_deployment_end", "deployment", "end_time"),
    )
