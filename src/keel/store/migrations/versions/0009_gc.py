"""gc: soft-deleted runs, retention policies, tombstones of purged objects

Revision ID: 0009_gc
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_gc"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deleted_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=False),
        sa.Column("deleted_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_index("ix_deleted_runs_deleted_at", "deleted_runs", ["deleted_at"])
    op.create_table(
        "retention_policies",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("keep_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "tombstones",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("purged_at", sa.BigInteger(), nullable=False),
        sa.Column("purged_by", sa.String(length=256), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "object_id"),
    )


def downgrade() -> None:
    op.drop_table("tombstones")
    op.drop_table("retention_policies")
    op.drop_index("ix_deleted_runs_deleted_at", table_name="deleted_runs")
    op.drop_table("deleted_runs")
