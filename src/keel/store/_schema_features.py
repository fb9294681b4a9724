"""Tables of the feature store: versioned definitions and materialization runs.

Migration ``0005_features`` creates exactly these tables. Definitions (entities, feature views,
on-demand feature views, feature services) are immutable versions: a changed definition is a
new row with the next version number. Times are integer milliseconds since the epoch, except
materialization windows, which are microseconds (event timestamps are that precise).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class FeatureDefinitionRow(Base):
    """One version of an entity, feature view, on-demand feature view or feature service."""

    __tablename__ = "feature_definitions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index("ux_feature_definitions_version", "kind", "name", "version", unique=True),
    )


class FeatureMaterializationRow(Base):
    """One materialization of a feature view into an online store: window, counts, timing."""

    __tablename__ = "feature_materializations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    view_name: Mapped[str] = mapped_column(String(256))
    view_version: Mapped[int] = mapped_column(Integer)
    data_digest: Mapped[str] = mapped_column(String(64))
    online_store: Mapped[str] = mapped_column(String(1024))
    start_us: Mapped[int | None] = mapped_column(BigInteger)
    end_us: Mapped[int] = mapped_column(BigInteger)
    rows_read: Mapped[int] = mapped_column(BigInteger)
    rows_written: Mapped[int] = mapped_column(BigInteger)
    batches: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (
        Index(
            "ix_feature_materializations_watermark",
            "view_name",
            "online_store",
            "data_digest",
            "end_us",
        ),
    )
