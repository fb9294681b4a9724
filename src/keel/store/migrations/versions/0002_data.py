"""data: datasets, dataset versions, validation suites and results

Revision ID: 0002_data
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_data"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "data_suites",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_suites", schema=None) as batch_op:
        batch_op.create_index("ux_data_suites_digest", ["name", "digest"], unique=True)
        batch_op.create_index("ux_data_suites_version", ["name", "version"], unique=True)

    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("storage", sa.String(length=16), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("num_columns", sa.Integer(), nullable=False),
        sa.Column("num_files", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("source_format", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parents", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("profile_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dataset_versions_dataset_id"), ["dataset_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dataset_versions_digest"), ["digest"], unique=False)
        batch_op.create_index("ux_dataset_versions_digest", ["dataset_id", "digest"], unique=True)
        batch_op.create_index("ux_dataset_versions_number", ["dataset_id", "version"], unique=True)

    op.create_table(
        "data_validations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dataset_version_id", sa.String(length=32), nullable=False),
        sa.Column("suite_id", sa.String(length=32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("num_checks", sa.Integer(), nullable=False),
        sa.Column("num_failed", sa.Integer(), nullable=False),
        sa.Column("num_warnings", sa.Integer(), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["dataset_version_id"], ["dataset_versions.id"]),
        sa.ForeignKeyConstraint(["suite_id"], ["data_suites.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_validations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_validations_suite_id"), ["suite_id"], unique=False
        )
        batch_op.create_index(
            "ix_data_validations_version_time", ["dataset_version_id", "created_at"], unique=False
        )

    op.create_table(
        "data_check_results",
        sa.Column("validation_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("check_type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("column_name", sa.String(length=256), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("bad_rows", sa.BigInteger(), nullable=True),
        sa.Column("total_rows", sa.BigInteger(), nullable=True),
        sa.Column("observed", sa.JSON(), nullable=True),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("sample_rows", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["validation_id"], ["data_validations.id"]),
        sa.PrimaryKeyConstraint("validation_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("data_check_results")
    with op.batch_alter_table("data_validations", schema=None) as batch_op:
        batch_op.drop_index("ix_data_validations_version_time")
        batch_op.drop_index(batch_op.f("ix_data_validations_suite_id"))
    op.drop_table("data_validations")
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_index("ux_dataset_versions_number")
        batch_op.drop_index("ux_dataset_versions_digest")
        batch_op.drop_index(batch_op.f("ix_dataset_versions_digest"))
        batch_op.drop_index(batch_op.f("ix_dataset_versions_dataset_id"))
    op.drop_table("dataset_versions")
    with op.batch_alter_table("data_suites", schema=None) as batch_op:
        batch_op.drop_index("ux_data_suites_version")
        batch_op.drop_index("ux_data_suites_digest")
    op.drop_table("data_suites")
    op.drop_table("datasets")
