"""monitoring: prediction log segments, label segments, monitors, results, alert states, events

Revision ID: 0006_monitoring
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_monitoring"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_segments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=256), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("num_errors", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prediction_segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prediction_segments_digest"), ["digest"], unique=False)
        batch_op.create_index(
            "ix_prediction_segments_deployment_start", ["deployment", "start_time"], unique=False
        )
        batch_op.create_index(
            "ix_prediction_segments_deployment_end", ["deployment", "end_time"], unique=False
        )

    op.create_table(
        "prediction_label_segments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=256), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prediction_label_segments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prediction_label_segments_digest"), ["digest"], unique=False
        )
        batch_op.create_index(
            "ix_prediction_label_segments_deployment_created",
            ["deployment", "created_at"],
            unique=False,
        )

    op.create_table(
        "monitors",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("deployment", sa.String(length=256), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("reference_digest", sa.String(length=64), nullable=False),
        sa.Column("baseline_digest", sa.String(length=64), nullable=True),
        sa.Column("window_ms", sa.BigInteger(), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitors_deployment"), ["deployment"], unique=False)

    op.create_table(
        "monitor_results",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("monitor_id", sa.String(length=32), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("num_labeled", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("report_digest", sa.String(length=64), nullable=True),
        sa.Column("details_digest", sa.String(length=64), nullable=True),
        sa.Column("labels_seen_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["monitor_id"], ["monitors.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("monitor_results", schema=None) as batch_op:
        batch_op.create_index(
            "ux_monitor_results_window", ["monitor_id", "window_start"], unique=True
        )

    op.create_table(
        "monitor_alert_states",
        sa.Column("monitor_id", sa.String(length=32), nullable=False),
        sa.Column("check_name", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since_window", sa.BigInteger(), nullable=True),
        sa.Column("last_window", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["monitor_id"], ["monitors.id"]),
        sa.PrimaryKeyConstraint("monitor_id", "check_name"),
    )

    op.create_table(
        "monitor_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("monitor_id", sa.String(length=32), nullable=False),
        sa.Column("result_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("check_name", sa.String(length=256), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("deliveries", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["monitor_id"], ["monitors.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("monitor_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitor_events_monitor_id"), ["monitor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_monitor_events_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_events_created_at"))
        batch_op.drop_index(batch_op.f("ix_monitor_events_monitor_id"))
    op.drop_table("monitor_events")
    op.drop_table("monitor_alert_states")
    with op.batch_alter_table("monitor_results", schema=None) as batch_op:
        batch_op.drop_index("ux_monitor_results_window")
    op.drop_table("monitor_results")
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitors_deployment"))
    op.drop_table("monitors")
    with op.batch_alter_table("prediction_label_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_label_segments_deployment_created")
        batch_op.drop_index(batch_op.f("ix_prediction_label_segments_digest"))
    op.drop_table("prediction_label_segments")
    with op.batch_alter_table("prediction_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_segments_deployment_end")
        batch_op.drop_index("ix_prediction_segments_deployment_start")
        batch_op.drop_index(batch_op.f("ix_prediction_segments_digest"))
    op.drop_table("prediction_segments")
