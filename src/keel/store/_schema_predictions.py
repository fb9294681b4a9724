"""Tables of the prediction log: segments of logged predictions and of late-arriving labels.

This is the storage contract between serving (which writes the log) and monitoring (which
reads it). Migration ``0006_monitoring`` creates these tables. A segment's rows live in one
Parquet blob of the artifact store, named by ``digest``; the row here says which deployment and
model produced it, the time range it covers and how many rows it has, so readers pick the
segments of a window without opening any file.

A prediction segment's Parquet file has these columns, in this order:

========================  ==========================  ===========================================
column                    Arrow type                  meaning
========================  ==========================  ===========================================
``prediction_id``         ``string``                  unique id of the prediction (the join key)
``timestamp``             ``timestamp[ms, UTC]``      when the prediction was made
``latency_ms``            ``float64`` (nullable)      time the model took, in milliseconds
``error``                 ``bool``                    whether the request failed
``prediction``            any scalar type (nullable)  the model's output (label or value)
``prediction_score``      ``float64`` (optional)      score of the positive class, if known
*features...*             their own types             the model's input columns, by name
========================  ==========================  ===========================================

A label segment's Parquet file has ``prediction_id`` (string), ``label`` (any scalar type) and
``labeled_at`` (``timestamp[ms, UTC]``); a label sent twice for one prediction counts once, the
latest winning. Times in the tables are integer milliseconds since the epoch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class PredictionSegmentRow(Base):
    """One Parquet segment of a deployment's prediction log."""

    __tablename__ = "prediction_segments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(256))
    model_name: Mapped[str | None] = mapped_column(String(256))
    model_version: Mapped[str | None] = mapped_column(String(64))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int] = mapped_column(BigInteger)
    num_rows: Mapped[int] = mapped_column(BigInteger)
    num_errors: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index("ix_prediction_segments_deployment_start", "deployment", "start_time"),
        Index("ix_prediction_segments_deployment_end", "deployment", "end_time"),
    )


class LabelSegmentRow(Base):
    """One Parquet segment of labels (ground truth) for a deployment's predictions."""

    __tablename__ = "prediction_label_segments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(256))
    num_rows: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index("ix_prediction_label_segments_deployment_created", "deployment", "created_at"),
    )
