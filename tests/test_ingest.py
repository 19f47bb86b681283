"""The single ingest path: validation, dedup, threading, summaries, reopen — on both backends."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from inboxtui.db import Database
from inboxtui.ingest import BulkWrites, MentionIn, ingest
from inboxtui.records import (
    Prepared,
    RecordError,
    _clean,
    _parse_checked,
    _parse_common,
    clean_text,
    parse_record,
    prepare,
)
from inboxtui.search import match_expression, matching_mention_ids
from inboxtui.seed import demo_records
from inboxtui.text import phrase_tokens

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def record(external_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid interchange record; `minutes` shifts created_at from T0."""
    minutes = overrides.pop("minutes", 0)
    base: dict[str, Any] = {
        "kind": "mastodon",
        "source": "acme-social",
        "external_id": external_id,
        "created_at": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "text": f"post {external_id}",
        "author": {"handle": f"@u{external_id}@x.social", "name": "U", "followers": 10},
    }
    base.update(overrides)
    return base


def mentions(*records: dict[str, Any]) -> list[MentionIn]:
    return [parse_record(r) for r in records]


def rows(db: Database, sql: str, **params: Any) -> list[Any]:
    with db.read() as session:
        return list(session.execute(text(sql), params).all())


def mention_rows(db: Database) -> dict[str, Any]:
    """external_id -> (conversation_id, parent external id, depth)."""
    found = rows(
        db,
        "SELECT m.external_id, m.conversation_id, p.external_id, m.depth FROM mention m"
        " LEFT JOIN mention p ON p.id = m.parent_id",
    )
    return {r[0]: (r[1], r[2], r[3]) for r in found}


# ---------------------------------------------------------------- parse_record


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"kind": None}, "kind", "required"),
        ({"kind": "Mastodon"}, "kind", "lowercase"),
        ({"source": ""}, "source", "empty"),
        ({"source": 5}, "source", "string"),
        ({"external_id": ""}, "external_id", "empty"),
        ({"external_id": 123}, "external_id", "string"),
        ({"external_id": "a\x1bb"}, "external_id", "control"),
        ({"created_at": "yesterday"}, "created_at", "ISO 8601"),
        ({"created_at": None}, "created_at", "required"),
        ({"text": None}, "text", "required"),
        ({"text": ["a"]}, "text", "string"),
        ({"url": "javascript:alert(1)"}, "url", "http"),
        ({"author": None}, "author", "required"),
        ({"author": "jeff"}, "author", "object"),
        ({"author": {"name": "x"}}, "author.handle", "required"),
        ({"author": {"handle": "  "}}, "author.handle", "empty"),
        ({"author": {"handle": "h", "followers": "12k"}}, "author.followers", "whole number"),
        ({"author": {"handle": "h", "followers": 1.5}}, "author.followers", "whole number"),
        ({"author": {"handle": "h", "followers": True}}, "author.followers", "whole number"),
        ({"author": {"handle": "h", "followers": -1}}, "author.followers", "range"),
        ({"sentiment": 2}, "sentiment", "[-1, 1]"),
        ({"sentiment": "bad"}, "sentiment", "number"),
        ({"lang": 7}, "lang", "string"),
        ({"in_reply_to": 5}, "in_reply_to", "string"),
    ],
)
def test_parse_record_names_the_field(change: dict[str, Any], field: str, words: str) -> None:
    bad = record("1")
    bad.update(change)
    with pytest.raises(RecordError) as caught:
        parse_record(bad)
    assert caught.value.field == field
    assert words in caught.value.reason
    assert str(caught.value).startswith(f"{field}: ")


def test_parse_record_refuses_non_objects() -> None:
    with pytest.raises(RecordError) as caught:
        parse_record([1, 2])
    assert caught.value.field is None
    assert "JSON object" in str(caught.value)


def test_parse_record_normalises() -> None:
    m = parse_record(
        record(
            "9",
            created_at="2026-11-20T11:30:00+01:00",
            title="",
            lang="",
            in_reply_to="",
            sentiment=1,
            engagement={"likes": 3},
        )
    )
    assert m.created_at == datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    assert (m.title, m.lang, m.in_reply_to) == (None, None, None)  # empty means absent
    assert m.sentiment == 1.0 and isinstance(m.sentiment, float)
    assert json.loads(m.raw)["engagement"] == {"likes": 3}  # extras live in raw


def test_fast_and_checked_parsers_agree() -> None:
    """The cheap path must give exactly what the careful path gives."""
    samples = list(demo_records(400, seed=3, now=T0))
    samples += [
        record("a", text="line\r\nnext\x1b[31m red\u202e", title="t\x07"),
        record("b", author={"handle": " @h@x ", "name": "", "followers": 0}),
        record("c", created_at="2026-11-20 10:00:00", url="HTTPS://x.example/a"),
        record("d", sentiment=-0.25, sentiment_label="negative", lang="zh-Hant"),
        record("e", text="中文 🙂 \u200bzero width", source=" spaced "),
    ]
    compared = 0
    for sample in samples:
        fast = _parse_common(sample, None)
        if fast is not None:
            compared += 1
            assert fast == _parse_checked(sample, None)
    assert compared == len(samples)


# ---------------------------------------------------------------- sanitising


def test_text_is_sanitised_and_raw_kept(db: Database) -> None:
    hostile = record(
        "1",
        text="hi \x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x07link\x1b]8;;\x07 "
        "\u202egnp.exe\nnext line [bold]markup[/bold]",
        title="Title \x1b[2J\u202d",
        author={"handle": "@h\x1b[5m@x.social", "name": "\u202eeve\x9b31m", "followers": 3},
    )
    line = json.dumps(hostile)
    ingest(db, [parse_record(hostile, raw=line)])
    (body, title, raw, handle, name) = rows(
        db,
        "SELECT m.text, m.title, m.raw, a.handle, a.name FROM mention m"
        " JOIN author a ON a.id = m.author_id",
    )[0]
    for value in (body, title, handle, name):
        assert "\x1b" not in value and "\u202e" not in value and "\u202d" not in value
        assert "\x9b" not in value and "\x07" not in value
    assert body == "hi red link gnp.exe\nnext line [bold]markup[/bold]"  # newline kept
    assert title == "Title "
    assert (handle, name) == ("@h@x.social", "eve")  # C1 CSI removed whole
    assert raw == line  # byte-exact


# ---------------------------------------------------------------- dedup


def test_reingest_changes_nothing(db: Database) -> None:
    batch = mentions(record("1"), record("2", in_reply_to="1", minutes=1), record("3"))
    first = ingest(db, batch)
    assert (first.inserted, first.duplicates, first.conversations_created) == (3, 0, 2)
    before = rows(db, "SELECT id, version, updated_at, mention_count FROM conversation ORDER BY id")
    again = ingest(db, batch)
    assert (again.inserted, again.duplicates, again.conversations_created) == (0, 3, 0)
    assert again.mention_ids == []
    assert rows(db, "SELECT count(*) FROM mention")[0][0] == 3
    assert rows(db, "SELECT count(*) FROM event")[0][0] == 0
    after = rows(db, "SELECT id, version, updated_at, mention_count FROM conversation ORDER BY id")
    assert after == before


def test_duplicates_within_one_batch_and_across_batches(db: Database) -> None:
    batch = mentions(record("1"), record("1", text="edited"), record("2"), record("1"))
    stats = ingest(db, batch, batch_size=2)  # the second "1" is in the same batch, the third not
    assert (stats.inserted, stats.duplicates) == (2, 2)
    assert rows(db, "SELECT text FROM mention WHERE external_id = '1'") == [("post 1",)]
    assert len(stats.mention_ids) == 2


def test_same_external_id_on_two_sources_is_two_mentions(db: Database) -> None:
    stats = ingest(db, mentions(record("1"), record("1", source="other-social")))
    assert stats.inserted == 2
    assert rows(db, "SELECT count(*) FROM source")[0][0] == 2


def test_source_of_another_kind_is_rejected(db: Database) -> None:
    ingest(db, mentions(record("1")))
    stats = ingest(db, mentions(record("2", kind="bluesky"), record("3")))
    assert stats.inserted == 1
    assert stats.rejected == [(0, "kind: source 'acme-social' is a mastodon source, not bluesky")]
    # within one batch, the first kind seen for a new source wins
    stats = ingest(db, mentions(record("4", source="new"), record("5", source="new", kind="rss")))
    assert stats.inserted == 1 and stats.rejected[0][0] == 1


# ---------------------------------------------------------------- threading


def test_replies_join_the_thread(db: Database) -> None:
    stats = ingest(
        db,
        mentions(
            record("r", title="Root title"),
            record("a", in_reply_to="r", minutes=1),
            record("b", in_reply_to="a", minutes=2, text="newest\nreply"),
        ),
    )
    assert stats.conversations_created == 1
    found = mention_rows(db)
    conv = found["r"][0]
    assert found == {"r": (conv, None, 0), "a": (conv, "r", 1), "b": (conv, "a", 2)}
    (root_key, count, excerpt, title, status, version, kind) = rows(
        db,
        "SELECT root_key, mention_count, excerpt, title, status, version, kind FROM conversation",
    )[0]
    assert (root_key, count, excerpt, title, status, version, kind) == (
        "r",
        3,
        "newest reply",
        "Root title",
        "new",
        1,
        "mastodon",
    )


def test_child_before_parent_in_one_batch(db: Database) -> None:
    ingest(
        db,
        mentions(
            record("b", in_reply_to="a", minutes=2),
            record("a", in_reply_to="r", minutes=1),
            record("r"),
        ),
    )
    found = mention_rows(db)
    conv = found["r"][0]
    assert found == {"r": (conv, None, 0), "a": (conv, "r", 1), "b": (conv, "a", 2)}
    assert rows(db, "SELECT count(*) FROM conversation")[0][0] == 1


def test_child_before_parent_across_batches(db: Database) -> None:
    first = ingest(db, mentions(record("c", in_reply_to="r", minutes=5, title="Re: it")))
    assert first.conversations_created == 1
    (conv_id, root_key, author_before, title_before) = rows(
        db, "SELECT id, root_key, author_id, title FROM conversation"
    )[0]
    assert (root_key, title_before) == ("r", "Re: it")  # waiting for its root
    ingest(db, mentions(record("r", title="The root", text="root text")))
    found = mention_rows(db)
    assert found == {"r": (conv_id, None, 0), "c": (conv_id, "r", 1)}
    (count, author_id, title, created, excerpt, version) = rows(
        db, "SELECT mention_count, author_id, title, created_at, excerpt, version FROM conversation"
    )[0]
    root_author = rows(db, "SELECT author_id FROM mention WHERE external_id = 'r'")[0][0]
    assert (count, title, excerpt, version) == (2, "The root", "post c", 2)
    assert author_id == root_author != author_before  # the root's author now
    assert str(created).startswith("2026-11-20 10:00:00")


def test_mid_thread_mention_arriving_late(db: Database) -> None:
    """c -> b -> r arriving in reverse order, each in its own batch, end as one thread."""
    ingest(db, mentions(record("c", in_reply_to="b", minutes=2)))
    ingest(db, mentions(record("b", in_reply_to="r", minutes=1)))
    assert rows(db, "SELECT root_key FROM conversation") == [("r",)]  # re-keyed to b's parent
    ingest(db, mentions(record("r")))
    found = mention_rows(db)
    conv = found["r"][0]
    assert found == {"r": (conv, None, 0), "b": (conv, "r", 1), "c": (conv, "b", 2)}
    assert rows(db, "SELECT mention_count FROM conversation") == [(3,)]


def test_replies_to_an_unknown_parent_share_a_conversation(db: Database) -> None:
    ingest(db, mentions(record("x", in_reply_to="gone", minutes=1)))
    ingest(db, mentions(record("y", in_reply_to="gone", minutes=2)))
    assert rows(db, "SELECT root_key, mention_count FROM conversation") == [("gone", 2)]
    assert {v[2] for v in mention_rows(db).values()} == {1}


def test_threads_are_per_source(db: Database) -> None:
    ingest(db, mentions(record("r"), record("a", source="elsewhere", in_reply_to="r")))
    assert rows(db, "SELECT count(*) FROM conversation")[0][0] == 2


# ---------------------------------------------------------------- summaries and status


def set_conversation(db: Database, sql: str, **params: Any) -> None:
    with db.write() as session:
        session.execute(text(sql), params)


def test_new_activity_bumps_version_and_summary(db: Database) -> None:
    ingest(db, mentions(record("r")))
    (version, updated) = rows(db, "SELECT version, updated_at FROM conversation")[0]
    ingest(db, mentions(record("a", in_reply_to="r", minutes=30, text="later")))
    (version2, updated2, last, excerpt, status) = rows(
        db, "SELECT version, updated_at, last_activity_at, excerpt, status FROM conversation"
    )[0]
    assert version2 == version + 1
    assert str(updated2) > str(updated)
    assert str(last).startswith("2026-11-20 10:30:00")
    assert excerpt == "later"
    assert status == "new"
    # an older mention arriving late does not replace the newest excerpt
    ingest(db, mentions(record("old", in_reply_to="r", minutes=5, text="older")))
    assert rows(db, "SELECT excerpt, mention_count FROM conversation") == [("later", 3)]


def test_new_mention_reopens_a_resolved_conversation(db: Database) -> None:
    ingest(db, mentions(record("r")))
    set_conversation(
        db,
        "UPDATE conversation SET status = 'resolved', resolved_at = created_at, version = 4",
    )
    stats = ingest(
        db,
        mentions(
            record("a", in_reply_to="r", minutes=10),
            record("b", in_reply_to="a", minutes=11),
        ),
        actor="system:poller:acme",
    )
    assert stats.reopened == 1
    (status, resolved_at, version) = rows(
        db, "SELECT status, resolved_at, version FROM conversation"
    )[0]
    assert (status, resolved_at, version) == ("open", None, 5)
    events = rows(db, 'SELECT actor, action, version, "before", "after", detail FROM event')
    assert events == [
        (
            "system:poller:acme",
            "reopen",
            5,
            '{"status": "resolved"}',
            '{"status": "open"}',
            "new mention a",
        )
    ]


def test_new_mention_wakes_a_snoozed_conversation(db: Database) -> None:
    ingest(db, mentions(record("r")))
    with db.write() as session:
        session.execute(
            text("UPDATE conversation SET status = 'snoozed', snooze_until = :until"),
            {"until": "2026-12-01 00:00:00.000000" if db.dialect == "sqlite" else T0},
        )
    stats = ingest(db, mentions(record("a", in_reply_to="r", minutes=1)))
    assert stats.reopened == 1
    assert rows(db, "SELECT status, snooze_until FROM conversation") == [("open", None)]
    (action, before, after) = rows(db, 'SELECT action, "before", "after" FROM event')[0]
    assert action == "wake"
    assert json.loads(before)["status"] == "snoozed" and json.loads(before)["snooze_until"]
    assert json.loads(after) == {"snooze_until": None, "status": "open"}


def test_pending_stays_pending(db: Database) -> None:
    ingest(db, mentions(record("r")))
    set_conversation(db, "UPDATE conversation SET status = 'pending'")
    stats = ingest(db, mentions(record("a", in_reply_to="r", minutes=1)))
    assert stats.reopened == 0
    assert rows(db, "SELECT status, version FROM conversation") == [("pending", 2)]
    assert rows(db, "SELECT count(*) FROM event")[0][0] == 0


# ---------------------------------------------------------------- authors, index, ids


def test_authors_upsert_keeps_the_newest_profile(db: Database) -> None:
    author = {"handle": "@jeff@x.social", "name": "Jeff", "followers": 100}
    ingest(db, mentions(record("1", author=author, minutes=10)))
    older = {"handle": "@jeff@x.social", "name": "Old Jeff", "followers": 50}
    ingest(db, mentions(record("2", author=older, minutes=0)))
    assert rows(db, "SELECT name, followers FROM author") == [("Jeff", 100)]
    newer = {"handle": "@jeff@x.social", "name": "Jeff B", "followers": 12000}
    ingest(db, mentions(record("3", author=newer, minutes=20)))
    (name, followers, first, last) = rows(
        db, "SELECT name, followers, first_seen_at, last_seen_at FROM author"
    )[0]
    assert (name, followers) == ("Jeff B", 12000)
    assert str(first).startswith("2026-11-20 10:00:00")
    assert str(last).startswith("2026-11-20 10:20:00")
    # same handle on another platform is another person
    ingest(db, mentions(record("4", kind="bluesky", source="acme-bsky", author=newer)))
    assert rows(db, "SELECT count(*) FROM author")[0][0] == 2


def test_authors_across_batches_of_one_run(db: Database) -> None:
    """A big run keeps author rows between its batches; the result is the same."""
    jeff = {"handle": "@jeff@x.social", "name": "Jeff", "followers": 100}
    batch = [
        record("1", author=jeff, minutes=10),
        record("2", author={**jeff, "name": "Old Jeff"}, minutes=0),
        record("3", author={**jeff, "followers": 12000}, minutes=20),
        record("4", author={"handle": "@jeff@x.social"}, minutes=30),
        record("5", author={"handle": "@ann@x.social", "name": "Ann"}, minutes=5),
    ]
    ingest(db, mentions(*batch), batch_size=1)
    found = rows(
        db, "SELECT handle, name, followers, first_seen_at, last_seen_at FROM author ORDER BY id"
    )
    assert [tuple(r[:3]) for r in found] == [
        ("@jeff@x.social", "Jeff", 12000),
        ("@ann@x.social", "Ann", None),
    ]
    assert str(found[0][3]).startswith("2026-11-20 10:00:00")
    assert str(found[0][4]).startswith("2026-11-20 10:30:00")


@pytest.mark.parametrize("writer", ["this process", "another process"])
def test_kept_authors_are_read_again_after_someone_else_writes(
    sqlite_db: Database, writer: str
) -> None:
    """Between two batches another writer moves the author on: nothing of it is undone."""
    db = sqlite_db

    def one(external_id: str, name: str, minutes: int) -> list[Prepared]:
        author = {"handle": "@a@x.social", "name": name, "followers": 10}
        return [
            prepare(parse_record(record(external_id, author=author, minutes=minutes)), "sqlite")
        ]

    later = "UPDATE author SET name = 'Renamed', last_seen_at = '2030-01-01 00:00:00.000000'"
    with BulkWrites(db) as bulk:
        bulk.ingest(one("1", "A", minutes=0))
        assert bulk.authors is not None and bulk.authors.rows
        if writer == "this process":
            with db.write() as session:
                session.execute(text(later))
        else:
            path = db.engine.url.database
            assert path
            other = sqlite3.connect(path)
            with other:
                other.execute(later)
            other.close()
        bulk.ingest(one("2", "A2", minutes=5))  # older than the stored last_seen: keep all
    assert rows(db, "SELECT name, last_seen_at FROM author") == [
        ("Renamed", "2030-01-01 00:00:00.000000")
    ]


def test_mentions_are_searchable_and_ids_follow_input_order(db: Database) -> None:
    batch = mentions(
        record("2", in_reply_to="1", minutes=1, text="退款 still pending"),
        record("1", text="my battery died"),
        record("3", text="營銷 spam again"),
    )
    stats = ingest(db, batch, batch_size=2)
    by_external = dict(rows(db, "SELECT external_id, id FROM mention"))
    assert stats.mention_ids == [by_external["2"], by_external["1"], by_external["3"]]

    def search(term: str) -> set[int]:
        expression = match_expression(db.dialect, [phrase_tokens(term)])
        with db.read() as session:
            found = session.execute(matching_mention_ids(db.dialect, "q"), {"q": expression})
            return {r[0] for r in found}

    assert search("battery") == {by_external["1"]}
    assert search("退款") == {by_external["2"]}
    assert search("营销") == {by_external["3"]}  # Simplified finds Traditional


def test_naive_times_are_refused(db: Database) -> None:
    naive = MentionIn(
        kind="rss",
        source="feed",
        external_id="1",
        created_at=datetime(2026, 1, 1),
        text="x",
        author_handle="a",
    )
    with pytest.raises(ValueError, match="timezone"):
        ingest(db, [naive])
    assert rows(db, "SELECT count(*) FROM mention")[0][0] == 0


def test_quick_clean_agrees_with_sanitize() -> None:
    """`_clean` skips work for clean text; it must never skip text `sanitize` would change."""
    alphabet = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]
    alphabet += list("\u061c\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202e\u2060\u2066")
    alphabet += list("\u2069\ufeff\ufff9\ud800\udfff\U000e0001 ab中文👩💻\ufe0f[é\n\t")
    rng = random.Random(5)
    for _ in range(20000):
        sample = "".join(rng.choice(alphabet) for _ in range(rng.randrange(10)))
        assert _clean(sample) == clean_text(sample), repr(sample)
