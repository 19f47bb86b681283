"""Statistics after a bulk import on PostgreSQL (`inboxtui.pg_stats`), real server."""

from __future__ import annotations

import io
import json

from sqlalchemy import text

from inboxtui import pg_stats
from inboxtui.db import Database
from inboxtui.interchange import import_jsonl


def _jsonl(n: int, start: int = 0) -> io.StringIO:
    lines = [
        json.dumps(
            {
                "kind": "mastodon",
                "source": "acme-social",
                "external_id": f"m{i}",
                "created_at": "2026-11-20T10:00:00Z",
                "text": f"refund number {i} 申请退款",
                "author": {"handle": f"@user{i % 7}@mastodon.social"},
            }
        )
        for i in range(start, start + n)
    ]
    return io.StringIO("\n".join(lines) + "\n")


def _analyzed_rows(db: Database) -> float:
    with db.engine.connect() as conn:
        return float(
            conn.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('mention')")
            ).scalar_one()
        )


def test_due_follows_autovacuums_rule() -> None:
    assert not pg_stats.due(50, -1)  # never analyzed: more than 50 changes
    assert pg_stats.due(51, -1)
    assert not pg_stats.due(1050, 10_000)  # 50 + 10% of 10,000
    assert pg_stats.due(1051, 10_000)


def test_a_big_import_leaves_fresh_statistics(pg_db: Database) -> None:
    report = import_jsonl(pg_db, _jsonl(200), parallel=False)
    assert report.inserted == 200
    assert _analyzed_rows(pg_db) == 200  # ANALYZE counted what the import wrote
    # a small import after it is not worth analyzing again
    assert import_jsonl(pg_db, _jsonl(30, start=200), parallel=False).inserted == 30
    assert _analyzed_rows(pg_db) == 200
    assert not pg_stats.after_import(pg_db, 30)


def test_sqlite_is_left_alone(sqlite_db: Database) -> None:
    assert not pg_stats.after_import(sqlite_db, 100_000)
