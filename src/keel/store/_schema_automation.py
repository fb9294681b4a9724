"""Tables of the automation capability: policies, their triggers and events, and the agent lease.

Migration ``0012_automation`` creates exactly these tables. A policy holds its definition as
JSON and a cursor (the last alert event seen, the next schedule tick, the last dataset version
seen). Each trigger is one row, unique per ``(policy_id, cause_kind, cause_id)``, so evaluating
a policy twice never acts twice on the same cause; its state machine (``status``, rollout
``step_index``, ``step_started_at``) is persisted so a restarted agent resumes where the last
one stopped. Trigger events are the step-by-step record. The lease row makes one agent act at
a time. Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class AutomationPolicyRow(Base):
    """A policy: when it triggers, what it runs, how it promotes, and where it has read up to."""

    __tablename__ = "automation_policies"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class AutomationTriggerRow(Base):
    """One trigger of a policy by one cause, and how far its retraining and rollout got."""

    __tablename__ = "automation_triggers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("automation_policies.id"), index=True)
    cause_kind: Mapped[str] = mapped_column(String(32))
    cause_id: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(32))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    step_started_at: Mapped[int | None] = mapped_column(BigInteger)
    pipeline_run_id: Mapped[str | None] = mapped_column(String(64))
    model_name: Mapped[str | None] = mapped_column(String(256))
    challenger_version: Mapped[int | None] = mapped_column(Integer)
    champion_version: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ux_automation_triggers_cause", "policy_id", "cause_kind", "cause_id", unique=True),
    )


class AutomationEventRow(Base):
    """One step in the life of a trigger (started, compared, rollout step, rollback, ...)."""

    __tablename__ = "automation_events"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    trigger_id: Mapped[str] = mapped_column(ForeignKey("automation_triggers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger)


class AutomationLeaseRow(Base):
    """Which agent may act, until when; taken over once it expires."""

    __tablename__ = "automation_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    acquired_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
