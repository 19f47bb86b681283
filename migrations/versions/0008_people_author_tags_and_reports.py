"""people, author tags and reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

Report indexes: response times, conversations handled and outcomes read the
conversations first answered, resolved or created in a period. Each index
leads with that time and carries the columns the figures need, so a report
reads an index range instead of every conversation.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: dict[str, list[str]] = {
    "ix_conversation_first_response": ["first_response_at", "created_at", "role_id", "agent_id"],
    "ix_conversation_resolved": ["resolved_at", "status", "created_at", "role_id", "agent_id"],
    "ix_conversation_created": ["created_at", "status"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "conversation", columns, unique=False)


def downgrade() -> None:
    for name in reversed(_INDEXES):
        op.drop_index(name, table_name="conversation")
