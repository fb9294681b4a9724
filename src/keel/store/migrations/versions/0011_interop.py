"""interop: the objects imported from other tools' stores (MLflow)

Revision ID: 0011_interop
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_interop"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interop_imports",
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=512), nullable=False),
        sa.Column("keel_id", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("imported_at", sa.BigInteger(), nullable=False),
        sa.Column("imported_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("source", "kind", "source_id"),
    )


def downgrade() -> None:
    op.drop_table("interop_imports")
