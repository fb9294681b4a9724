"""Tables of the serving capability: deployments and the history of their traffic settings.

Migration ``0007_serving`` creates exactly these tables. A deployment names a registered model
and what of it to serve: an alias (followed as it moves) or a pinned version, optionally a
canary version with a share of the traffic, a shadow version run on every request without its
answer being returned, and the feature service that entity lookups read. Every change bumps
``revision`` and appends a ``deployment_events`` row holding the full settings after it; a
rollback restores the settings of the revision before the current one. Running servers poll
the largest event id (a cheap, indexed read) to notice changes. Times are integer milliseconds
since the epoch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class DeploymentRow(Base):
    """A named deployment of a registered model, with its traffic settings."""

    __tablename__ = "deployments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    model_name: Mapped[str] = mapped_column(String(256), index=True)
    alias: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer)
    canary_version: Mapped[int | None] = mapped_column(Integer)
    canary_percent: Mapped[float | None] = mapped_column(Float)
    shadow_version: Mapped[int | None] = mapped_column(Integer)
    feature_service: Mapped[str | None] = mapped_column(String(256))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(256))


class DeploymentEventRow(Base):
    """One change of a deployment: its settings after the change, who made it and why."""

    __tablename__ = "deployment_events"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"))
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ux_deployment_events_revision", "deployment_id", "revision", unique=True),
    )
