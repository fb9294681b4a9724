"""Tables of the model registry: registered models, versions, aliases, gates and promotions.

Migration ``0003_registry`` creates exactly these tables. Times are integer milliseconds since
the epoch. Model bytes live in the artifact store (in the namespace of the run that logged
them); a version row pins the digest of the model's manifest, which lists the digest of every
file, so a version's content can never change after it is registered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class RegisteredModelRow(Base):
    """A named model; ``latest_version`` is the counter that hands out version numbers."""

    __tablename__ = "registered_models"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    intended_use: Mapped[str] = mapped_column(Text, default="")
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    holdout: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ModelVersionRow(Base):
    """One immutable version of a registered model, linked to the run that logged it."""

    __tablename__ = "model_versions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    artifact_path: Mapped[str] = mapped_column(String(1024))
    flavor: Mapped[str] = mapped_column(String(64))
    serialization: Mapped[str] = mapped_column(String(64))
    manifest_digest: Mapped[str] = mapped_column(String(64))
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (Index("ux_model_versions_number", "model_id", "version", unique=True),)


class ModelVersionMetricRow(Base):
    """A metric copied onto a version (from its run, or from an evaluation); NaN is NULL."""

    __tablename__ = "model_version_metrics"
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(256))
    recorded_at: Mapped[int] = mapped_column(BigInteger)


class ModelAliasRow(Base):
    """Where an alias points now; ``revision`` counts its moves (the compare-and-set token)."""

    __tablename__ = "model_aliases"
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(256))


class ModelAliasEventRow(Base):
    """One move of an alias.

    The unique ``(model, alias, revision)`` forbids two moves from the same starting point,
    so a concurrent move can never be silently lost.
    """

    __tablename__ = "model_alias_events"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id"))
    alias: Mapped[str] = mapped_column(String(128))
    revision: Mapped[int] = mapped_column(Integer)
    old_version: Mapped[int | None] = mapped_column(Integer)
    new_version: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ux_model_alias_events_revision", "model_id", "alias", "revision", unique=True),
    )


class ModelGateRow(Base):
    """A promotion gate of a model; ``alias`` is ``""`` for gates on every promotion."""

    __tablename__ = "model_gates"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id"))
    alias: Mapped[str] = mapped_column(String(128), default="")
    name: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (Index("ux_model_gates_name", "model_id", "alias", "name", unique=True),)


class ModelGateResultRow(Base):
    """The outcome of evaluating one gate on one version (in a promotion or a dry run)."""

    __tablename__ = "model_gate_results"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    promotion_id: Mapped[str | None] = mapped_column(String(32), index=True)
    alias: Mapped[str] = mapped_column(String(128))
    gate_name: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evaluated_at: Mapped[int] = mapped_column(BigInteger)
    evaluated_by: Mapped[str] = mapped_column(String(256))

    __table_args__ = (Index("ix_model_gate_results_version", "version_id", "evaluated_at"),)


class ModelApprovalRow(Base):
    """An approval of a version by a principal acting in a role."""

    __tablename__ = "model_approvals"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    role: Mapped[str] = mapped_column(String(128))
    approver: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ux_model_approvals", "version_id", "role", "approver", unique=True),)


class ModelPromotionRow(Base):
    """A promotion attempt: who moved which alias to which version, why, and the outcome.

    ``outcome`` is ``promoted``, or ``refused`` with the names of the gates that failed.
    """

    __tablename__ = "model_promotions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), index=True)
    alias: Mapped[str] = mapped_column(String(128))
    previous_version: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    failed_gates: Mapped[list[str]] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger)
