"""report speed: duration bins (SQLite), outcomes per status

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23

A report's first-response and resolution percentiles rank every conversation
answered or resolved in the period (~300,000 in a week of a 1,000,000-mention
store). `inboxtui.reports.durations` counts them per duration bin instead and
reads the exact durations of only the bins that hold a percentile. On SQLite
two partial indexes on expressions make both steps index reads: per event,
(duration bin, role, agent, event time, duration, created_at), in bin
order: the index alone answers (created_at makes it covering). The counts
are one walk of the index (no parse of a timestamp, no sort); a bin's
durations are one seek. SQLite keeps the indexes exact on every write, so
nothing else maintains them. The resolution index also holds
`first_response_at`: "conversations handled" (answered or resolved in the
period) counts those both answered and resolved in the same walk.

The expressions must stay textually those of `inboxtui.reports.durations`
(SQLite uses an index on an expression only for the same expression;
`tests/test_report_durations.py` checks the plans). PostgreSQL aggregates
the same expressions by hashing, without an index: nothing to create.
The indexes are not models (SQLite does not reflect expressions); a later
migration that rebuilds `conversation` on SQLite drops them, and reports
then count without them (slower, as exact).

On both backends, `ix_conversation_status_created (status, created_at)`: an
unfiltered "how conversations end" counts a range per status (a handful of
index seeks) instead of sorting a period's conversations by status. A
filtered one keeps `ix_conversation_created` (the period's range, then the
filter's test per conversation).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRST_RESPONSE = "ix_conversation_first_response_bins"
RESOLVED = "ix_conversation_resolved_bins"


def _seconds(event: str) -> str:
    return f"(unixepoch({event}) - unixepoch(created_at))"


def _bin(event: str) -> str:
    """The number of digits and three leading digits: bins 0.1-1% wide, in duration order."""
    s = _seconds(event)
    return (
        f"(CASE WHEN {s} < 1000 THEN max({s}, -1)"
        f" ELSE length({s}) * 1000 + CAST(substr({s}, 1, 3) AS INTEGER) END)"
    )


def upgrade() -> None:
    op.create_index("ix_conversation_status_created", "conversation", ["status", "created_at"])
    if op.get_bind().dialect.name != "sqlite":
        return
    fr, res = "first_response_at", "resolved_at"
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {FIRST_RESPONSE} ON conversation"
        f" ({_bin(fr)}, role_id, agent_id, {fr}, {_seconds(fr)}, created_at)"
        f" WHERE {fr} IS NOT NULL"
    )
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {RESOLVED} ON conversation"
        f" ({_bin(res)}, role_id, agent_id, resolved_at, {_seconds(res)}, {fr},"
        " created_at)"
        " WHERE resolved_at IS NOT NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP INDEX IF EXISTS {RESOLVED}")
        op.execute(f"DROP INDEX IF EXISTS {FIRST_RESPONSE}")
    op.drop_index("ix_conversation_status_created", table_name="conversation")
