"""notify listeners of changes on PostgreSQL

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

Every open inbox LISTENs (`inboxtui.live`); these statement-level triggers
`pg_notify` the schema's channel whenever a statement changes a table the
queue shows, so a change by any writer appears at once without polling.
Notifications are sent at commit and identical ones in one transaction fold
into one, so a bulk import notifies once per batch. SQLite needs nothing
(`PRAGMA data_version`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# what the queue, the sidebar counts, the detail pane and the header show
TABLES = ("conversation", "mention", "event", "source", "note", "conversation_tag", "incident")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION inboxtui_notify_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(left('inboxtui_' || current_schema(), 63), TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER inboxtui_notify_{table} AFTER INSERT OR UPDATE OR DELETE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION inboxtui_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS inboxtui_notify_{table} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS inboxtui_notify_change()")
