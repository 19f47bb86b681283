"""report rollups: hourly and per-author counts kept by ingest

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23

Reports at 1,000,000 mentions must not scan `mention`. Three rollup tables
hold exact counts of it, written in the transaction of every write:

- `report_hour`: mentions per hour (epoch seconds of the hour's start),
  source and sentiment label (`negative`, `neutral`, `positive`, or '' for
  any other or none): volume and negative share;
- `report_author`: all-time mentions per author, indexed by count: the
  order in which reports look for the period's top authors by volume;
- `report_conversation`: per conversation, the first and last mention time
  (whole epoch seconds) and mentions per label: share of voice adds whole
  conversations that lie inside the period and reads mentions only for the
  few that straddle its edges.

Who counts:
- PostgreSQL: statement triggers on `mention` (INSERT, UPDATE, DELETE) with
  transition tables: one grouped UPSERT per statement and table, rows in key
  order (concurrent writers lock them in the same order);
- SQLite: row triggers for UPDATE and DELETE (edits, sentiment corrections,
  re-scoring, any delete); INSERTs are counted by ingest
  (`inboxtui.rollup_counts`, one call per batch, aggregated in Python): a row
  trigger on INSERT halved ingest's rate. `report_state.mention_id` is the
  highest mention id counted; reports read `mention` while a higher one
  exists (an insert that bypassed ingest).

The existing mentions are counted once here (backfill). `ix_mention_author`
becomes `(author_id, created_at, sentiment_label)`: an author's mentions in a
period, by label, from the index alone; `ix_mention_conversation` gains
`source_id, author_id, sentiment_label`, so a filtered report (the mentions
of matching conversations) reads no mention row either.

On SQLite a later migration that rebuilds `mention` (`batch_alter_table`)
drops these triggers: it must create them again (`create_triggers`) and
rebuild the rollups (`backfill`); reports check that the triggers exist and
read `mention` when they do not.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a filtered report's mentions (those of matching conversations) from the index alone
MENTION_CONVERSATION = [
    "conversation_id",
    "created_at",
    "source_id",
    "author_id",
    "sentiment_label",
]
TRIGGERS = ("report_mention_insert", "report_mention_update", "report_mention_delete")
LABELS = ("negative", "neutral", "positive")


def _label(row: str) -> str:
    """The rollup's label key of a mention row alias: one of LABELS, else ''."""
    col = f"{row}.sentiment_label"
    return f"(CASE WHEN {col} IN ('negative', 'neutral', 'positive') THEN {col} ELSE '' END)"


def _sqlite_epoch(row: str) -> str:
    return f"unixepoch({row}.created_at)"


def _pg_epoch(row: str) -> str:
    return f"CAST(floor(extract(epoch FROM {row}.created_at)) AS bigint)"


# ------------------------------------------------------------------ SQLite


def _sqlite_add(row: str) -> list[str]:
    """Statements counting mention `row` (NEW) in."""
    label, sec = _label(row), _sqlite_epoch(row)
    counts = ", ".join(f"({label} = '{name}')" for name in LABELS)
    return [
        "INSERT INTO report_hour (hour, source_id, label, mentions)"
        f" VALUES ({sec} / 3600 * 3600, {row}.source_id, {label}, 1)"
        " ON CONFLICT (hour, source_id, label) DO UPDATE SET mentions = mentions + 1",
        f"INSERT INTO report_author (author_id, mentions) VALUES ({row}.author_id, 1)"
        " ON CONFLICT (author_id) DO UPDATE SET mentions = mentions + 1",
        "INSERT INTO report_conversation"
        " (conversation_id, first_at, last_at, negative, neutral, positive, mentions)"
        f" VALUES ({row}.conversation_id, {sec}, {sec}, {counts}, 1)"
        " ON CONFLICT (conversation_id) DO UPDATE SET"
        " first_at = min(first_at, excluded.first_at),"
        " last_at = max(last_at, excluded.last_at),"
        " negative = negative + excluded.negative,"
        " neutral = neutral + excluded.neutral,"
        " positive = positive + excluded.positive,"
        " mentions = mentions + 1",
    ]


def _sqlite_remove(row: str) -> list[str]:
    """Statements counting mention `row` (OLD) out (AFTER the write: it is gone or moved)."""
    label, sec = _label(row), _sqlite_epoch(row)
    hour_key = f"hour = {sec} / 3600 * 3600 AND source_id = {row}.source_id AND label = {label}"
    counts = ", ".join(f"{name} = {name} - ({label} = '{name}')" for name in LABELS)
    conv = f"conversation_id = {row}.conversation_id"
    return [
        f"UPDATE report_hour SET mentions = mentions - 1 WHERE {hour_key}",
        f"DELETE FROM report_hour WHERE {hour_key} AND mentions <= 0",
        f"UPDATE report_author SET mentions = mentions - 1 WHERE author_id = {row}.author_id",
        f"DELETE FROM report_author WHERE author_id = {row}.author_id AND mentions <= 0",
        f"UPDATE report_conversation SET {counts}, mentions = mentions - 1,"
        f" first_at = coalesce(unixepoch((SELECT min(created_at) FROM mention WHERE {conv})),"
        " first_at),"
        f" last_at = coalesce(unixepoch((SELECT max(created_at) FROM mention WHERE {conv})),"
        " last_at)"
        f" WHERE {conv}",
        f"DELETE FROM report_conversation WHERE {conv} AND mentions <= 0",
    ]


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(
        [
            f"OLD.{c} IS NOT NEW.{c}"
            for c in ("created_at", "source_id", "author_id", "conversation_id")
        ]
        + [f"{_label('OLD')} IS NOT {_label('NEW')}"]
    )
    body = "; ".join
    return [
        f"CREATE TRIGGER report_mention_delete AFTER DELETE ON mention"
        f" BEGIN {body(_sqlite_remove('OLD'))}; END",
        "CREATE TRIGGER report_mention_update AFTER UPDATE OF"
        " created_at, source_id, author_id, conversation_id, sentiment_label ON mention"
        f" WHEN {changed}"
        f" BEGIN {body(_sqlite_remove('OLD'))}; {body(_sqlite_add('NEW'))}; END",
    ]


# ------------------------------------------------------------------ PostgreSQL


def _pg_counted(table: str, sign: int, where: str = "") -> str:
    """The rows of a transition table as signed deltas: -1 counted out, +1 counted in."""
    label, sec = _label("m"), _pg_epoch("m")
    return (
        f"SELECT m.source_id, m.author_id, m.conversation_id, {sec} AS sec,"
        f" {label} AS label, {sign} AS sign FROM {table} m{where}"
    )


def _pg_function(name: str, delta: str, changed: str | None, removes: bool) -> str:
    """A statement trigger's function: grouped UPSERTs of the statement's deltas.

    Every statement starts `WITH delta AS (...)` (the transition tables can be
    read any number of times). `changed`: UPDATE only, the test that some
    counted column changed; without it, ingest's edits cost one lookup.
    """
    with_delta = f"WITH delta AS ({delta})"
    per_label = ", ".join(f"coalesce(sum(sign) FILTER (WHERE label = '{n}'), 0)" for n in LABELS)
    counts_set = ", ".join(f"{n} = r.{n} + EXCLUDED.{n}" for n in LABELS)
    guard = f"IF NOT EXISTS ({changed}) THEN RETURN NULL; END IF;" if changed else ""
    removed = ""
    if removes:
        removed = f"""
    {with_delta} DELETE FROM report_hour WHERE mentions <= 0
        AND hour IN (SELECT sec / 3600 * 3600 FROM delta WHERE sign < 0);
    {with_delta} DELETE FROM report_author WHERE mentions <= 0
        AND author_id IN (SELECT author_id FROM delta WHERE sign < 0);
    {with_delta} UPDATE report_conversation r SET
        first_at = coalesce((SELECT CAST(floor(extract(epoch FROM min(x.created_at))) AS bigint)
                             FROM mention x WHERE x.conversation_id = r.conversation_id),
                            r.first_at),
        last_at = coalesce((SELECT CAST(floor(extract(epoch FROM max(x.created_at))) AS bigint)
                            FROM mention x WHERE x.conversation_id = r.conversation_id),
                           r.last_at)
        WHERE r.conversation_id IN (SELECT conversation_id FROM delta WHERE sign < 0);
    {with_delta} DELETE FROM report_conversation WHERE mentions <= 0
        AND conversation_id IN (SELECT conversation_id FROM delta WHERE sign < 0);"""
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {guard}
    {with_delta}
    INSERT INTO report_hour AS r (hour, source_id, label, mentions)
    SELECT sec / 3600 * 3600, source_id, label, sum(sign) FROM delta
    GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (hour, source_id, label) DO UPDATE SET mentions = r.mentions + EXCLUDED.mentions;
    {with_delta}
    INSERT INTO report_author AS r (author_id, mentions)
    SELECT author_id, sum(sign) FROM delta GROUP BY 1 HAVING sum(sign) <> 0 ORDER BY 1
    ON CONFLICT (author_id) DO UPDATE SET mentions = r.mentions + EXCLUDED.mentions;
    {with_delta}
    INSERT INTO report_conversation AS r
        (conversation_id, first_at, last_at, negative, neutral, positive, mentions)
    SELECT conversation_id,
           coalesce(min(sec) FILTER (WHERE sign > 0), {_FAR}),
           coalesce(max(sec) FILTER (WHERE sign > 0), -{_FAR}),
           {per_label}, sum(sign)
    FROM delta GROUP BY 1 ORDER BY 1
    ON CONFLICT (conversation_id) DO UPDATE SET
        first_at = LEAST(r.first_at, EXCLUDED.first_at),
        last_at = GREATEST(r.last_at, EXCLUDED.last_at),
        {counts_set},
        mentions = r.mentions + EXCLUDED.mentions;{removed}
    RETURN NULL;
END
$$
"""


_FAR = 9_000_000_000_000  # epoch seconds no mention reaches: "no new time" in LEAST/GREATEST


def _pg_triggers() -> list[str]:
    changed_rows = (
        "SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE"
        " o.created_at IS DISTINCT FROM n.created_at OR o.source_id IS DISTINCT FROM n.source_id"
        " OR o.author_id IS DISTINCT FROM n.author_id"
        " OR o.conversation_id IS DISTINCT FROM n.conversation_id"
        f" OR {_label('o')} IS DISTINCT FROM {_label('n')}"
    )
    moved = f" WHERE m.id IN ({changed_rows})"
    updated = f"{_pg_counted('old_rows', -1, moved)} UNION ALL {_pg_counted('new_rows', 1, moved)}"
    return [
        _pg_function("report_mention_insert", _pg_counted("new_rows", 1), None, False),
        _pg_function("report_mention_update", updated, changed_rows, True),
        _pg_function("report_mention_delete", _pg_counted("old_rows", -1), None, True),
        "CREATE TRIGGER report_mention_insert AFTER INSERT ON mention"
        " REFERENCING NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION report_mention_insert()",
        "CREATE TRIGGER report_mention_update AFTER UPDATE ON mention"
        " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION report_mention_update()",
        "CREATE TRIGGER report_mention_delete AFTER DELETE ON mention"
        " REFERENCING OLD TABLE AS old_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION report_mention_delete()",
    ]


# ------------------------------------------------------------------ both


def create_triggers(dialect: str) -> None:
    for statement in _pg_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)


def backfill(dialect: str) -> None:
    """Count every stored mention into the (emptied) rollups."""
    sec = _pg_epoch("m") if dialect == "postgresql" else _sqlite_epoch("m")
    hour = f"{sec} / 3600 * 3600"
    label = _label("m")
    counts = ", ".join(f"sum(CASE WHEN {label} = '{name}' THEN 1 ELSE 0 END)" for name in LABELS)
    for table in ("report_hour", "report_author", "report_conversation", "report_state"):
        op.execute(f"DELETE FROM {table}")
    op.execute(
        "INSERT INTO report_state (id, mention_id) SELECT 1, coalesce(max(id), 0) FROM mention"
    )
    op.execute(
        "INSERT INTO report_hour (hour, source_id, label, mentions)"
        f" SELECT {hour}, m.source_id, {label}, count(*) FROM mention m"
        f" GROUP BY {hour}, m.source_id, {label}"
    )
    op.execute(
        "INSERT INTO report_author (author_id, mentions)"
        " SELECT m.author_id, count(*) FROM mention m GROUP BY m.author_id"
    )
    op.execute(
        "INSERT INTO report_conversation"
        " (conversation_id, first_at, last_at, negative, neutral, positive, mentions)"
        f" SELECT m.conversation_id, min({sec}), max({sec}), {counts}, count(*)"
        " FROM mention m GROUP BY m.conversation_id"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "report_hour",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "source_id", "label"),
    )
    op.create_table(
        "report_author",
        sa.Column("author_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("author_id"),
    )
    op.create_index("ix_report_author_mentions", "report_author", ["mentions", "author_id"])
    op.create_table(
        "report_conversation",
        sa.Column("conversation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    op.create_index("ix_report_conversation_last", "report_conversation", ["last_at", "first_at"])
    op.create_table(
        "report_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("mention_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.drop_index("ix_mention_author", table_name="mention")
    op.create_index("ix_mention_author", "mention", ["author_id", "created_at", "sentiment_label"])
    op.drop_index("ix_mention_conversation", table_name="mention")
    op.create_index("ix_mention_conversation", "mention", MENTION_CONVERSATION)
    create_triggers(dialect)
    backfill(dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name} ON mention"
            if dialect == "postgresql"
            else f"DROP TRIGGER IF EXISTS {name}"
        )
    if dialect == "postgresql":
        for name in TRIGGERS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_mention_author", table_name="mention")
    op.create_index("ix_mention_author", "mention", ["author_id"])
    op.drop_index("ix_mention_conversation", table_name="mention")
    op.create_index("ix_mention_conversation", "mention", ["conversation_id", "created_at"])
    op.drop_table("report_state")
    op.drop_index("ix_report_conversation_last", table_name="report_conversation")
    op.drop_table("report_conversation")
    op.drop_index("ix_report_author_mentions", table_name="report_author")
    op.drop_table("report_author")
    op.drop_table("report_hour")
