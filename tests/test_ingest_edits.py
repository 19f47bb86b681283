"""Edited mentions: a newer `edited_at` with other text replaces the stored version.

On both backends: the text, title, raw record and search document follow the
edit, the conversation's excerpt and title follow when the mention shows
there, an `edited` event keeps the old text; an older, equal or absent edit
leaves a duplicate a no-op.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from inboxtui.db import Database
from inboxtui.ingest import MentionIn, ingest, ingest_batch
from inboxtui.interchange import import_jsonl
from inboxtui.records import RecordError, _parse_checked, _parse_common, parse_record
from inboxtui.search import match_expression, matching_mention_ids
from inboxtui.text import phrase_tokens

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def stamp(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def record(external_id: str, body: str, *, edited: float | None = None, **extra: Any):
    rec: dict[str, Any] = {
        "kind": "github",
        "source": "gh-acme",
        "external_id": external_id,
        "created_at": stamp(int(external_id)),
        "text": body,
        "author": {"handle": f"user{external_id}", "followers": 5},
        **extra,
    }
    if edited is not None:
        rec["edited_at"] = stamp(edited)
    return rec


def one(db: Database, sql: str, **params: Any) -> Any:
    with db.read() as session:
        return session.execute(text(sql), params).one()


def search(db: Database, words: str) -> set[str]:
    expression = match_expression(db.dialect, [phrase_tokens(words)])
    with db.read() as session:
        ids = {
            r[0] for r in session.execute(matching_mention_ids(db.dialect, "q"), {"q": expression})
        }
        if not ids:
            return set()
        rows = session.execute(text("SELECT id, external_id FROM mention")).all()
    return {ext for mid, ext in rows if mid in ids}


def events(db: Database, action: str = "edited") -> list[Any]:
    with db.read() as session:
        return session.execute(
            text(
                'SELECT conversation_id, actor, version, "before", "after", detail FROM event'
                " WHERE action = :a ORDER BY id"
            ),
            {"a": action},
        ).all()


def test_edited_at_is_parsed_the_same_on_both_paths() -> None:
    rec = record("1", "hello", edited=5)
    assert _parse_common(rec, None) == _parse_checked(rec, None)
    assert parse_record(rec).edited_at == T0 + timedelta(minutes=5)
    assert parse_record(record("1", "hello")).edited_at is None
    assert parse_record({**record("1", "x"), "edited_at": ""}).edited_at is None
    for bad in ("yesterday", 5, ["2026"]):
        with pytest.raises(RecordError, match="edited_at"):
            parse_record({**record("1", "x"), "edited_at": bad})


def test_newer_edit_replaces_text_search_excerpt_and_is_audited(db: Database) -> None:
    ingest(db, [parse_record(record("1", "the battery exploded"))])
    before = one(db, "SELECT id, version FROM conversation")
    stats = ingest(db, [parse_record(record("1", "the charger works now", edited=30))])
    assert (stats.inserted, stats.duplicates, stats.edited) == (0, 0, 1)

    body, raw, edited_at = one(db, "SELECT text, raw, edited_at FROM mention")
    assert body == "the charger works now" and json.loads(raw)["edited_at"] == stamp(30)
    assert edited_at is not None
    assert search(db, "charger") == {"1"} and search(db, "battery") == set()
    excerpt, version = one(db, "SELECT excerpt, version FROM conversation")
    assert excerpt == "the charger works now" and version == before.version + 1
    (event,) = events(db)
    assert event.conversation_id == before.id and event.actor == "system:ingest"
    assert event.version == before.version + 1 and event.detail == "mention 1"
    assert json.loads(event.before) == {"text": "the battery exploded", "edited_at": None}
    assert json.loads(event.after) == {"text": "the charger works now", "edited_at": stamp(30)}


def test_older_equal_or_absent_edits_change_nothing(db: Database) -> None:
    ingest(db, [parse_record(record("1", "v2 text", edited=30))])
    state = one(db, "SELECT text, edited_at, raw FROM mention")
    conv = one(db, "SELECT version, updated_at, excerpt FROM conversation")
    for rec in (
        record("1", "v1 older text", edited=10),  # an older edit arriving late
        record("1", "same time, other text", edited=30),  # equal: the stored one stays
        record("1", "no edit time at all"),  # a plain duplicate
    ):
        stats = ingest(db, [parse_record(rec)])
        assert (stats.inserted, stats.duplicates, stats.edited) == (0, 1, 0)
    assert one(db, "SELECT text, edited_at, raw FROM mention") == state
    assert one(db, "SELECT version, updated_at, excerpt FROM conversation") == conv
    assert events(db) == [] and search(db, "older") == set()


def test_newer_edit_with_the_same_text_is_a_duplicate(db: Database) -> None:
    ingest(db, [parse_record(record("1", "unchanged"))])
    stats = ingest(db, [parse_record(record("1", "unchanged", edited=40))])
    assert (stats.duplicates, stats.edited) == (1, 0) and events(db) == []
    assert one(db, "SELECT edited_at FROM mention").edited_at is None


def test_root_edit_moves_the_title_and_a_reply_edit_leaves_the_excerpt(db: Database) -> None:
    ingest(
        db,
        [
            parse_record(record("1", "root body", title="Old title")),
            parse_record(record("2", "first reply", in_reply_to="1")),
            parse_record(record("3", "latest reply", in_reply_to="1")),
        ],
    )
    stats = ingest(
        db,
        [
            parse_record(record("1", "root body", title="New title", edited=20)),
            parse_record(record("2", "first reply, corrected", in_reply_to="1", edited=20)),
        ],
    )
    assert stats.edited == 2
    title, excerpt, count = one(db, "SELECT title, excerpt, mention_count FROM conversation")
    assert (title, excerpt, count) == ("New title", "latest reply", 3)
    root_event, reply_event = events(db)
    assert json.loads(root_event.after)["title"] == "New title"
    assert "title" not in json.loads(reply_event.after)


def test_edits_mixed_with_new_mentions_in_one_batch(db: Database) -> None:
    ingest(db, [parse_record(record("1", "root says hello"))])
    version = one(db, "SELECT version FROM conversation").version
    stats = ingest(
        db,
        [
            parse_record(record("1", "root says goodbye", edited=50)),
            parse_record(record("2", "a new reply", in_reply_to="1")),
        ],
    )
    assert (stats.inserted, stats.edited, stats.duplicates) == (1, 1, 0)
    excerpt, new_version = one(db, "SELECT excerpt, version FROM conversation")
    assert excerpt == "a new reply"  # the reply is the latest mention
    assert new_version == version + 2  # one for the reply, one for the edit
    assert events(db)[0].version == version + 2
    assert search(db, "goodbye") == {"1"}


def test_within_one_batch_the_newest_version_wins(db: Database) -> None:
    stats = ingest(
        db,
        [
            parse_record(record("1", "draft", edited=1)),
            parse_record(record("1", "final words", edited=9)),
            parse_record(record("1", "stale middle", edited=5)),
        ],
    )
    assert (stats.inserted, stats.duplicates, stats.edited) == (1, 2, 0)
    assert one(db, "SELECT text FROM mention").text == "final words"
    assert events(db) == []  # never stored in another version: nothing to audit


def test_poller_path_edits_in_the_callers_transaction(db: Database) -> None:
    ingest(db, [parse_record(record("1", "polled first"))])
    with db.write() as session:
        stats = ingest_batch(
            session, [parse_record(record("1", "polled edit", edited=3))], actor="system:poll"
        )
    assert stats.edited == 1
    assert events(db)[0].actor == "system:poll"


def test_jsonl_import_applies_edits(db: Database) -> None:
    lines = [record("1", "imported once"), record("1", "imported edit", edited=7)]
    import_jsonl(db, io.StringIO(json.dumps(lines[0]) + "\n"))
    report = import_jsonl(db, io.StringIO(json.dumps(lines[1]) + "\n"))
    assert report.inserted == 0 and report.errors == []
    assert one(db, "SELECT text FROM mention").text == "imported edit"


def test_an_agents_sentiment_label_survives_an_edit(db: Database) -> None:
    ingest(db, [parse_record(record("1", "love it", sentiment=0.9, sentiment_label="positive"))])
    with db.write() as session:
        session.execute(
            text("UPDATE mention SET sentiment_label = 'negative', sentiment_corrected = :t"),
            {"t": True},
        )
    rec = record("1", "love it, edited", edited=2, sentiment=0.8, sentiment_label="positive")
    ingest(db, [parse_record(rec)])
    assert tuple(one(db, "SELECT sentiment, sentiment_label FROM mention")) == (0.8, "negative")


def test_hand_built_naive_edit_time_is_refused(db: Database) -> None:
    naive = MentionIn(
        kind="rss",
        source="blog",
        external_id="x",
        created_at=T0,
        text="t",
        author_handle="a",
        edited_at=datetime(2026, 11, 20, 10, 0),
    )
    with pytest.raises(ValueError, match="edited_at has no timezone"):
        ingest(db, [naive])
