"""routing rules, auto-assignment and SLA policies

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

Reserved in the chain; the feature that fills it lands with its code.
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
