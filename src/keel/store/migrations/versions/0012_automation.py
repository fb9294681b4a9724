"""automation: policies, triggers, trigger events and the agent lease

Revision ID: 0012_automation
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_automation"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "automation_policies",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "automation_triggers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("cause_kind", sa.String(length=32), nullable=False),
        sa.Column("cause_id", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_started_at", sa.BigInteger(), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=64), nullable=True),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("challenger_version", sa.Integer(), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["policy_id"], ["automation_policies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("automation_triggers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_automation_triggers_policy_id"), ["policy_id"], unique=False
        )
        batch_op.create_index(
            "ux_automation_triggers_cause", ["policy_id", "cause_kind", "cause_id"], unique=True
        )
    op.create_table(
        "automation_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("trigger_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["trigger_id"], ["automation_triggers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("automation_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_automation_events_trigger_id"), ["trigger_id"], unique=False
        )
    op.create_table(
        "automation_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=False),
        sa.Column("acquired_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("automation_leases")
    with op.batch_alter_table("automation_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automation_events_trigger_id"))
    op.drop_table("automation_events")
    with op.batch_alter_table("automation_triggers", schema=None) as batch_op:
        batch_op.drop_index("ux_automation_triggers_cause")
        batch_op.drop_index(batch_op.f("ix_automation_triggers_policy_id"))
    op.drop_table("automation_triggers")
    op.drop_table("automation_policies")
