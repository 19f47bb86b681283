"""source health columns and poll leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Sources gain the health the poller records (last success, last error and when,
consecutive failures, next poll, items last poll), their poll interval and a
reference to their keyring entry (never the secret). `source_lease` holds the
one-poll-at-a-time lease per source.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("source", schema=None) as batch_op:
        # NULL: a source known only from imported mentions, which the poller leaves alone
        batch_op.add_column(sa.Column("interval_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("secret_ref", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_success_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_error_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("next_poll_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("items_last_poll", sa.Integer(), nullable=True))

    op.create_table(
        "source_lease",
        sa.Column("source_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id"),
    )


def downgrade() -> None:
    op.drop_table("source_lease")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_column("items_last_poll")
        batch_op.drop_column("next_poll_at")
        batch_op.drop_column("consecutive_failures")
        batch_op.drop_column("last_error_at")
        batch_op.drop_column("last_success_at")
        batch_op.drop_column("secret_ref")
        batch_op.drop_column("interval_seconds")
