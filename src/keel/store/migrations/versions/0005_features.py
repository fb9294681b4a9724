"""features: versioned feature definitions and materialization runs

Revision ID: 0005_features
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_features"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feature_definitions", schema=None) as batch_op:
        batch_op.create_index(
            "ux_feature_definitions_version", ["kind", "name", "version"], unique=True
        )

    op.create_table(
        "feature_materializations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("view_name", sa.String(length=256), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("data_digest", sa.String(length=64), nullable=False),
        sa.Column("online_store", sa.String(length=1024), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=True),
        sa.Column("end_us", sa.BigInteger(), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feature_materializations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feature_materializations_watermark",
            ["view_name", "online_store", "data_digest", "end_us"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("feature_materializations", schema=None) as batch_op:
        batch_op.drop_index("ix_feature_materializations_watermark")
    op.drop_table("feature_materializations")
    with op.batch_alter_table("feature_definitions", schema=None) as batch_op:
        batch_op.drop_index("ux_feature_definitions_version")
    op.drop_table("feature_definitions")
