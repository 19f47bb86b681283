"""The full-text index, one behaviour on two databases.

Python (`inboxtui.text`) decides what the tokens are; each database only
stores and intersects them:
- SQLite: an FTS5 table `mention_search(doc)` keyed by mention rowid, with the
  `ascii` tokenizer over space-separated tokens (so FTS5 re-splits exactly on
  our spaces and never second-guesses the folding);
- PostgreSQL: `mention_search(mention_id, doc tsvector)` with a GIN index; the
  tsvector and tsquery are written as literals, bypassing the text-search
  parser, whose idea of a word depends on the server's locale.
Phrases are adjacent tokens (`+` in FTS5, `<->` in tsquery); prefixes are `*`
and `:*`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Integer, column, select, text
from sqlalchemy.sql.elements import TextClause

from inboxtui.models import Mention
from inboxtui.search_documents import document, stored_document  # noqa: F401 (the API)
from inboxtui.text import QueryToken

SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS mention_search USING fts5("
    "doc, tokenize = 'ascii', detail = 'full')"
)
POSTGRES_DDL = (
    "CREATE TABLE IF NOT EXISTS mention_search ("
    " mention_id INTEGER PRIMARY KEY REFERENCES mention(id) ON DELETE CASCADE,"
    " doc TSVECTOR NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_mention_search_doc ON mention_search USING GIN (doc)",
)
# SQLite: (id, conversation_id) of every mention, used only where named (migration 0015)
CONVERSATION_OF_INDEX = "ix_mention_conversation_of"
# Indexes the migrations own outside the models, one backend's each (autogenerate ignores them)
UNMODELLED_INDEXES = frozenset({"ix_mention_search_doc", CONVERSATION_OF_INDEX})
# Tables the migrations own outside the models (autogenerate must ignore them).
UNMODELLED_TABLES = frozenset(
    {
        "mention_search",
        "mention_search_data",
        "mention_search_idx",
        "mention_search_content",
        "mention_search_docsize",
        "mention_search_config",
    }
)


_INSERT = {
    "postgresql": "INSERT INTO mention_search (mention_id, doc)"
    " VALUES (:id, CAST(:doc AS tsvector))"
    " ON CONFLICT (mention_id) DO UPDATE SET doc = EXCLUDED.doc",
    "sqlite": "INSERT INTO mention_search (rowid, doc) VALUES (:id, :doc)",
}


def insert_sql(dialect: str) -> str:
    """DBAPI SQL (`?` placeholders) indexing one (mention id, `stored_document`) row."""
    return _INSERT[dialect].replace(":id", "?").replace(":doc", "?")


def index_rows(
    conn: Connection, rows: Iterable[tuple[int, str, str | None]], *, replace: bool = False
) -> None:
    """Index (mention_id, text, title) rows; `replace` when a row may be indexed already."""
    dialect = conn.dialect.name
    params = [
        {"id": mid, "doc": stored_document(dialect, body, title)} for mid, body, title in rows
    ]
    if not params:
        return
    if dialect != "postgresql" and replace:
        ids = [{"id": p["id"]} for p in params]
        conn.execute(text("DELETE FROM mention_search WHERE rowid = :id"), ids)
    conn.execute(text(_INSERT[dialect]), params)


def _fts5_phrase(tokens: Sequence[QueryToken]) -> str:
    return " + ".join(
        '"' + t.text.replace('"', '""') + '"' + ("*" if t.prefix else "") for t in tokens
    )


def _tsquery_phrase(tokens: Sequence[QueryToken]) -> str:
    parts = []
    for t in tokens:
        lexeme = "'" + t.text.replace("\\", "\\\\").replace("'", "''") + "'"
        parts.append(lexeme + (":*" if t.prefix else ""))
    return "(" + " <-> ".join(parts) + ")"


def match_expression(dialect: str, phrases: Sequence[Sequence[QueryToken]]) -> str:
    """All `phrases` must occur (AND). Empty phrases are dropped by the caller."""
    if dialect == "postgresql":
        return " & ".join(_tsquery_phrase(p) for p in phrases)
    return " AND ".join(_fts5_phrase(p) for p in phrases)


def matching_mention_ids(dialect: str, param: str) -> TextClause:
    """SQL selecting mention ids that match the bound parameter `:{param}`.

    The parameter value comes from `match_expression`.
    """
    if dialect == "postgresql":
        return text(f"SELECT mention_id FROM mention_search WHERE doc @@ CAST(:{param} AS tsquery)")
    return text(f"SELECT rowid FROM mention_search WHERE mention_search MATCH :{param}")


def conversations_of(dialect: str, mention_ids: Any) -> Any:
    """The conversation ids of the mentions `mention_ids` selects, as a subquery.

    SQLite: read from `CONVERSATION_OF_INDEX` (a few megabytes), not from
    `mention`'s wide rows: a dense word's matches cost a third as much. The
    index is partial on `id > 0` so that only a query that says so (this one)
    can use it.
    """
    if dialect != "sqlite":
        return select(Mention.conversation_id).where(Mention.id.in_(mention_ids))
    return (
        select(column("conversation_id", Integer))
        .select_from(text(f"mention INDEXED BY {CONVERSATION_OF_INDEX}"))
        .where(text("id > 0"), column("id", Integer).in_(mention_ids))
    )


def create_structures(conn: Connection) -> None:
    """Called by the migrations: the index is not a model."""
    if conn.dialect.name == "postgresql":
        for statement in POSTGRES_DDL:
            conn.execute(text(statement))
    else:
        conn.execute(text(SQLITE_DDL))


def rebuild(conn: Connection, batch: int = 5000) -> int:
    """Re-index every mention (after a tokenizer change). Returns the count."""
    conn.execute(text("DELETE FROM mention_search"))
    count = 0
    last = 0
    while True:
        rows = conn.execute(
            text("SELECT id, text, title FROM mention WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": batch},
        ).all()
        if not rows:
            return count
        index_rows(conn, [(r[0], r[1], r[2]) for r in rows])
        count += len(rows)
        last = rows[-1][0]
