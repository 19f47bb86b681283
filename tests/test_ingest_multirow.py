"""SQLite's multi-row INSERTs (`_Sql._insert_sqlite`) store exactly what one row at a time does."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from inboxtui.db import Database, open_database
from inboxtui.ingest import ingest
from inboxtui.records import parse_record
from inboxtui.seed import demo_records

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# Every stored column that does not hold the time of the write itself.
TABLES = {
    "mention": "SELECT id, source_id, external_id, conversation_id, parent_id, in_reply_to,"
    " depth, author_id, created_at, title, text, url, lang, sentiment, sentiment_label, raw,"
    " edited_at FROM mention ORDER BY id",
    "conversation": "SELECT id, source_id, root_key, kind, author_id, title, excerpt, status,"
    " priority, escalated, created_at, last_activity_at, mention_count, version"
    " FROM conversation ORDER BY id",
    "mention_search": "SELECT rowid, doc FROM mention_search ORDER BY rowid",
    "author": "SELECT id, kind, handle, name, followers, first_seen_at, last_seen_at"
    " FROM author ORDER BY id",
    "report_hour": "SELECT * FROM report_hour ORDER BY 1, 2, 3",
    "report_conversation": "SELECT * FROM report_conversation ORDER BY 1",
}


def _database(template: Path, path: Path, max_params: int | None) -> Database:
    shutil.copy(template, path)
    database = open_database(str(path))
    if max_params is not None:
        database.engine.dispose()

        @event.listens_for(database.engine, "connect")
        def _limit(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, max_params)

    return database


def _contents(database: Database) -> dict[str, list[Any]]:
    with database.read() as session:
        return {
            name: [tuple(row) for row in session.execute(text(sql)).all()]
            for name, sql in TABLES.items()
        }


def test_chunked_inserts_store_what_one_statement_per_row_stores(
    sqlite_template: Path, tmp_path: Path
) -> None:
    records = [parse_record(r) for r in demo_records(1500, now=NOW)]
    stored = []
    # 90 parameters: 5 mention rows, 6 conversation rows, 45 search rows per statement, and
    # remainders of every size; 20: one mention or conversation row per statement (so one
    # executemany), 10 search rows; the default: chunks of _MULTI_ROWS and a remainder
    for number, limit in enumerate((90, 20, None)):
        database = _database(sqlite_template, tmp_path / f"{number}.db", limit)
        try:
            stats = ingest(database, records, batch_size=1500)
            assert stats.inserted == len({(m.source, m.external_id) for m in records})
            stored.append(_contents(database))
        finally:
            database.dispose()
    assert len(stored[0]["mention"]) == stats.inserted
    assert len(stored[0]["mention_search"]) == stats.inserted
    assert stored[0] == stored[1] == stored[2]
