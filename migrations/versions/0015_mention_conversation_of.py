"""full-text matches to conversations without reading mention rows (SQLite)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23

A search word that filters conversations (`refund`, a watched topic's
`x2`) becomes "the conversations of the mentions the full-text index
matches". On SQLite each match then costs a seek into `mention`'s table
b-tree, whose rows carry the text and raw payload (about 800 bytes each):
225,000 matches of `x2` read most of an 800 MB table. This index holds just
(id, conversation_id), about 15 bytes a mention, so the same seeks stay in a
few megabytes.

It is partial on `id > 0` (every mention) so that SQLite can use it only
where a query says `id > 0` and names it (`INDEXED BY`, `search.conversations_of`):
SQLite has no statistics here, and left free to choose it would also pick it
for "this conversation's mentions among the matches", walking every match
per conversation instead of the conversation's few mentions.

PostgreSQL maps matches through its own index-only scans: nothing to create.
A later migration that rebuilds `mention` on SQLite must create it again
(`tests/test_schema.py` checks it exists at head).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_mention_conversation_of"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {NAME} ON mention (id, conversation_id) WHERE id > 0"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP INDEX IF EXISTS {NAME}")
