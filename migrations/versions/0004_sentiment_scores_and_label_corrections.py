"""sentiment scores and label corrections

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Mentions are scored at ingest from now on (`inboxtui.sentiment`); mentions
stored before keep NULL until `inboxtui sentiment --rescore`. An agent's
correction of a label is kept in `sentiment_correction` (who, when, old and
new label, the model's score) and marks the mention `sentiment_corrected`, so
re-scoring never overwrites it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sentiment_corrected", sa.Boolean(), server_default="0", nullable=False)
        )

    op.create_table(
        "sentiment_correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("old_label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("new_label", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("old_score", sa.Float(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mention_id"], ["mention.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_sentiment_correction_created", "sentiment_correction", ["created_at"], unique=False
    )
    op.create_index(
        "ix_sentiment_correction_mention",
        "sentiment_correction",
        ["mention_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_sentiment_correction_mention", table_name="sentiment_correction")
    op.drop_index("ix_sentiment_correction_created", table_name="sentiment_correction")
    op.drop_table("sentiment_correction")
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.drop_column("sentiment_corrected")
