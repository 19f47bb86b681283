"""topics, detection and incidents

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Watched topics (a named query plus its detection settings), the incident
columns detection and the Incidents screen need (topic, owner, acknowledgement,
last trigger, cool-down, post-mortem, trigger kinds and metrics, version), an
incident timeline (`incident_event`, which doubles as the outbound webhook's
outbox) and an index to list an incident's conversations.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "topic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("baseline_days", sa.Integer(), nullable=False),
        sa.Column("spike_k", sa.Float(), nullable=False),
        sa.Column("min_count", sa.Integer(), nullable=False),
        sa.Column("negative_share", sa.Float(), nullable=False),
        sa.Column("min_share_volume", sa.Integer(), nullable=False),
        sa.Column("influencer_reach", sa.Text(), nullable=False),
        sa.Column("cooldown_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topic_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("owner_agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("acknowledged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_triggered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cooldown_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("postmortem", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("triggers", sa.Text(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("metrics", sa.Text(), server_default="{}", nullable=False))
        batch_op.add_column(
            sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.create_foreign_key(
            "fk_incident_topic_id_topic", "topic", ["topic_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            "fk_incident_owner_agent_id_agent", "agent", ["owner_agent_id"], ["id"]
        )
        batch_op.create_index("ix_incident_status", ["status"], unique=False)
        batch_op.create_index("ix_incident_topic_status", ["topic_id", "status"], unique=False)
    op.create_table(
        "incident_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("notify", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("notify_attempts", sa.Integer(), nullable=False),
        sa.Column("notify_due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("notify_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_incident_event_incident", "incident_event", ["incident_id", "id"], unique=False
    )
    op.create_index("ix_incident_event_notify", "incident_event", ["notify", "id"], unique=False)
    op.create_index("ix_conversation_incident", "conversation", ["incident_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_conversation_incident", table_name="conversation")
    op.drop_index("ix_incident_event_notify", table_name="incident_event")
    op.drop_index("ix_incident_event_incident", table_name="incident_event")
    op.drop_table("incident_event")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_topic_status")
        batch_op.drop_index("ix_incident_status")
        batch_op.drop_constraint("fk_incident_owner_agent_id_agent", type_="foreignkey")
        batch_op.drop_constraint("fk_incident_topic_id_topic", type_="foreignkey")
        for name in (
            "version",
            "updated_at",
            "metrics",
            "triggers",
            "postmortem",
            "cooldown_until",
            "last_triggered_at",
            "acknowledged_at",
            "owner_agent_id",
            "topic_id",
        ):
            batch_op.drop_column(name)
    op.drop_table("topic")
