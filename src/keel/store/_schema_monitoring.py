"""Tables of the monitoring capability: monitors, their results per window, alerts and events.

Migration ``0006_monitoring`` creates exactly these tables. A monitor's results form a time
series, one row per evaluated window (the unique index on ``(monitor_id, window_start)`` makes
each window evaluated once even with concurrent runners). Alert states make an alert fire once
per breach; events are the durable record of each firing and resolution that automation reads
by increasing ``id``. Report bytes (HTML, JSON) and reference profiles live in the artifact
store; rows hold their digests. Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class MonitorRow(Base):
    """A monitor: which deployment's log it watches, against what reference, with which checks."""

    __tablename__ = "monitors"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    deployment: Mapped[str] = mapped_column(String(256), index=True)
    reference: Mapped[str] = mapped_column(Text)
    reference_digest: Mapped[str] = mapped_column(String(64))
    baseline_digest: Mapped[str | None] = mapped_column(String(64))
    window_ms: Mapped[int] = mapped_column(BigInteger)
    start_time: Mapped[int | None] = mapped_column(BigInteger)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    alerts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class MonitorResultRow(Base):
    """The evaluation of one window of a monitor: metrics, check outcomes and report digests."""

    __tablename__ = "monitor_results"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id"))
    window_start: Mapped[int] = mapped_column(BigInteger)
    window_end: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    num_rows: Mapped[int] = mapped_column(BigInteger)
    num_labeled: Mapped[int] = mapped_column(BigInteger)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    report_digest: Mapped[str | None] = mapped_column(String(64))
    details_digest: Mapped[str | None] = mapped_column(String(64))
    labels_seen_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ux_monitor_results_window", "monitor_id", "window_start", unique=True),
    )


class MonitorAlertStateRow(Base):
    """Whether a check of a monitor is in breach, and since which window."""

    __tablename__ = "monitor_alert_states"
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id"), primary_key=True)
    check_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    since_window: Mapped[int | None] = mapped_column(BigInteger)
    last_window: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class MonitorEventRow(Base):
    """An alert that fired or resolved, with the outcome of each delivery."""

    __tablename__ = "monitor_events"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id"), index=True)
    result_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    check_name: Mapped[str] = mapped_column(String(256))
    window_start: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deliveries: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
