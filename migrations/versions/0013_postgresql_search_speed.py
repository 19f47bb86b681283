"""PostgreSQL: no parallel scans of the queue table

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23

The queue is read a page (tens of rows) at a time, walking an index of
`conversation` in the page's order. With statistics a little out of date the
planner sometimes runs that walk with parallel workers, whose start-up costs
more than the walk (measured at 100,000 mentions on a busy machine:
`sentiment:negative` 28 ms, 16 of them starting workers, against 0.5 ms
without). The table's own `parallel_workers` setting stops that for every
statement on it, at no cost per query. Other tables keep parallel scans
(reports aggregate over `mention`). SQLite has nothing to change.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE conversation SET (parallel_workers = 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE conversation RESET (parallel_workers)")
