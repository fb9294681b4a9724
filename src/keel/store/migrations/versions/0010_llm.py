"""llm: prompts, prompt versions, aliases and alias moves, evaluations, call cache, trace segments

Revision ID: 0010_llm
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_llm"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("prompt_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("model_params", sa.JSON(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prompt_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prompt_versions_prompt_id"), ["prompt_id"], unique=False
        )
        batch_op.create_index("ux_prompt_versions_number", ["prompt_id", "version"], unique=True)

    op.create_table(
        "prompt_aliases",
        sa.Column("prompt_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompts.id"]),
        sa.PrimaryKeyConstraint("prompt_id", "alias"),
    )
    op.create_table(
        "prompt_alias_moves",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("prompt_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evaluation_id", sa.String(length=32), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prompt_alias_moves", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prompt_alias_moves_prompt_id"), ["prompt_id"], unique=False
        )

    op.create_table(
        "llm_evaluations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("prompt_name", sa.String(length=256), nullable=True),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("data_ref", sa.String(length=1024), nullable=False),
        sa.Column("data_digest", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("num_rows", sa.Integer(), nullable=False),
        sa.Column("num_errors", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("scorers", sa.JSON(), nullable=False),
        sa.Column("rows_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("llm_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_llm_evaluations_data_digest"), ["data_digest"], unique=False
        )
        batch_op.create_index(
            "ix_llm_evaluations_prompt_created", ["prompt_name", "created_at"], unique=False
        )

    op.create_table(
        "llm_call_cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("usage", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )

    op.create_table(
        "trace_segments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=256), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("num_traces", sa.BigInteger(), nullable=False),
        sa.Column("num_spans", sa.BigInteger(), nullable=False),
        sa.Column("num_errors", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("prompts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trace_segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trace_segments_digest"), ["digest"], unique=False)
        batch_op.create_index(
            "ix_trace_segments_deployment_start", ["deployment", "start_time"], unique=False
        )
        batch_op.create_index(
            "ix_trace_segments_deployment_end", ["deployment", "end_time"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("trace_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_trace_segments_deployment_end")
        batch_op.drop_index("ix_trace_segments_deployment_start")
        batch_op.drop_index(batch_op.f("ix_trace_segments_digest"))
    op.drop_table("trace_segments")
    op.drop_table("llm_call_cache")
    with op.batch_alter_table("llm_evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_llm_evaluations_prompt_created")
        batch_op.drop_index(batch_op.f("ix_llm_evaluations_data_digest"))
    op.drop_table("llm_evaluations")
    with op.batch_alter_table("prompt_alias_moves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prompt_alias_moves_prompt_id"))
    op.drop_table("prompt_alias_moves")
    op.drop_table("prompt_aliases")
    with op.batch_alter_table("prompt_versions", schema=None) as batch_op:
        batch_op.drop_index("ux_prompt_versions_number")
        batch_op.drop_index(batch_op.f("ix_prompt_versions_prompt_id"))
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
