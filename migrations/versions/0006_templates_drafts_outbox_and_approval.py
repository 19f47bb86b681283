"""templates, drafts, outbox and approval

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Templates gain the status a send sets and an approval flag. Outbox replies
gain what the worker needs to send each reply exactly once: a lease (owner and
expiry) claimed in one write transaction, the next attempt time (back-off), an
`ambiguous` flag (the last attempt may have reached the server), an `external`
flag (replied on the site by hand) and what a send does to the conversation.
`draft` keeps each agent's unsent reply per conversation (the composer's).
Approval: roles may require it for their agents' replies; outbox replies
remember why they wait (`approval_reason`) and who reviewed them. `presence`
says who has the composer open on a conversation ("Lin is replying").
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("template", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status_on_send", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("requires_approval", sa.Boolean(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("requires_approval", sa.Boolean(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("outbox_reply", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("approval_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reviewer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_outbox_reply_reviewer_id_agent", "agent", ["reviewer_id"], ["id"]
        )
        batch_op.add_column(
            sa.Column("ambiguous", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("template_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(sa.Column("on_send", sa.Text(), server_default="{}", nullable=False))
        batch_op.add_column(
            sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lease_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.create_table(
        "draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("note", sa.Boolean(), nullable=False),
        sa.Column("templates", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "agent_id", name="uq_draft_conversation_agent"),
    )
    op.create_table(
        "presence",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "agent_id"),
    )


def downgrade() -> None:
    op.drop_table("presence")
    op.drop_table("draft")
    with op.batch_alter_table("outbox_reply", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_reply_reviewer_id_agent", type_="foreignkey")
        for column in (
            "reviewer_id",
            "approval_reason",
            "lease_expires_at",
            "lease_owner",
            "next_attempt_at",
            "on_send",
            "template_name",
            "ambiguous",
            "external",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.drop_column("requires_approval")
    with op.batch_alter_table("template", schema=None) as batch_op:
        batch_op.drop_column("requires_approval")
        batch_op.drop_column("status_on_send")
