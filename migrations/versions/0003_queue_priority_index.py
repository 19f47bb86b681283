"""queue index for one status in priority order

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

`is:open sort:priority` (the view a support lead lives in) read a status's
conversations and sorted them all; with this index it reads the first page in
order and stops.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversation_status_priority_activity",
        "conversation",
        ["status", "priority", "last_activity_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_status_priority_activity", table_name="conversation")
