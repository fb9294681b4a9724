"""Tables of retention and garbage collection: soft-deleted runs, retention policies, tombstones.

Migration ``0009_gc`` creates exactly these tables. Times are integer milliseconds since the
epoch. A soft-deleted run keeps ``runs.lifecycle_stage = 'deleted'`` and one row here saying when
and by whom, so it can be restored until the ``runs-deleted`` retention has passed and garbage
collection purges it. A purged object leaves a tombstone, so lineage still shows what it was and
that it was purged, when and by whom.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class DeletedRunRow(Base):
    """A soft-deleted run: restorable until the retention for deleted runs has passed."""

    __tablename__ = "deleted_runs"
    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deleted_at: Mapped[int] = mapped_column(BigInteger, index=True)
    deleted_by: Mapped[str] = mapped_column(String(256))


class RetentionPolicyRow(Base):
    """How long one kind of data is kept: ``prediction-logs``, ``runs-deleted``, ..."""

    __tablename__ = "retention_policies"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    keep_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(256))


class TombstoneRow(Base):
    """What remains of a purged object: its kind, id, name, and when and by whom it was purged."""

    __tablename__ = "tombstones"
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    purged_at: Mapped[int] = mapped_column(BigInteger)
    purged_by: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
