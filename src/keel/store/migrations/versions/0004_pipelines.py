"""pipelines: pipeline runs, step runs, step cache, schedules

Revision ID: 0004_pipelines
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_pipelines"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("pipeline", sa.String(length=256), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("executor", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("dag", sa.JSON(), nullable=False),
        sa.Column("cache_enabled", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failed_step", sa.String(length=256), nullable=True),
        sa.Column("schedule_id", sa.String(length=32), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_runs_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_pipeline_runs_pipeline_start", ["pipeline", "start_time"], unique=False
        )

    op.create_table(
        "pipeline_step_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("function", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("cached_from", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("wall_time_s", sa.Float(), nullable=True),
        sa.Column("cpu_time_s", sa.Float(), nullable=True),
        sa.Column("peak_rss_bytes", sa.BigInteger(), nullable=True),
        sa.Column("hostname", sa.String(length=256), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("tracked_run_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_run_id"], ["pipeline_runs.run_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pipeline_step_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_step_runs_cache_key"), ["cache_key"], unique=False
        )
        batch_op.create_index(
            "ux_pipeline_step_runs_name", ["pipeline_run_id", "name"], unique=True
        )

    op.create_table(
        "pipeline_cache",
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=256), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("step_run_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cache_key"),
    )

    op.create_table(
        "pipeline_schedules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("pipeline", sa.String(length=256), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("working_dir", sa.Text(), nullable=True),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("executor", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("next_run_at", sa.BigInteger(), nullable=False),
        sa.Column("last_run_at", sa.BigInteger(), nullable=True),
        sa.Column("last_run_id", sa.String(length=32), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("pipeline_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_schedules_next_run_at"), ["next_run_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_schedules_next_run_at"))
    op.drop_table("pipeline_schedules")
    op.drop_table("pipeline_cache")
    with op.batch_alter_table("pipeline_step_runs", schema=None) as batch_op:
        batch_op.drop_index("ux_pipeline_step_runs_name")
        batch_op.drop_index(batch_op.f("ix_pipeline_step_runs_cache_key"))
    op.drop_table("pipeline_step_runs")
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_pipeline_runs_pipeline_start")
        batch_op.drop_index(batch_op.f("ix_pipeline_runs_status"))
    op.drop_table("pipeline_runs")
