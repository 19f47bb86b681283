"""routing rules, auto-assignment and SLA policies

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

Roles gain `is_lead` (who may reassign anyone's conversations); agents gain
`last_assigned_at` (round-robin among equally loaded agents); `routing_rule`
holds the ordered routing rules. `sla_policy` holds SLA targets per priority;
roles name their policy; conversations store their deadlines (indexed, for
`is:breached` / `is:due:<1h`) and the paused-at time and credit of the clock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("business_hours", sa.Text(), nullable=True),
        sa.Column("targets", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_lead", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("sla_policy_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_role_sla_policy_id_sla_policy", "sla_policy", ["sla_policy_id"], ["id"]
        )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        for name in ("first_response_due_at", "resolution_due_at", "sla_paused_at"):
            batch_op.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
            )
        batch_op.add_column(
            sa.Column("sla_paused_seconds", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_index(
        "ix_conversation_first_response_due", "conversation", ["first_response_due_at"]
    )
    op.create_index("ix_conversation_resolution_due", "conversation", ["resolution_due_at"])
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_assigned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("agent", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("priority", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("continue_after", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_routing_rule_position", "routing_rule", ["position"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_conversation_resolution_due", table_name="conversation")
    op.drop_index("ix_conversation_first_response_due", table_name="conversation")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        for name in (
            "sla_paused_seconds",
            "sla_paused_at",
            "resolution_due_at",
            "first_response_due_at",
        ):
            batch_op.drop_column(name)
    op.drop_index("ix_routing_rule_position", table_name="routing_rule")
    op.drop_table("routing_rule")
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_column("last_assigned_at")
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.drop_constraint("fk_role_sla_policy_id_sla_policy", type_="foreignkey")
        batch_op.drop_column("sla_policy_id")
        batch_op.drop_column("is_lead")
    op.drop_table("sla_policy")
