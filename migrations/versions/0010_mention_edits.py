"""mention edits: when the author last edited a mention

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

A mention seen again with a newer `edited_at` and other text replaces its
stored text (audited as `edited`); the column remembers which edit is stored,
so an older or repeated edit changes nothing. Null: never edited (as far as
we know).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("edited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.drop_column("edited_at")
