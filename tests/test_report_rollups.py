"""Report rollups stay exact: after any mix of writes they equal a recount of `mention`.

The rollup tables (`report_hour`, `report_author`, `report_conversation`) are
kept by database triggers and, for SQLite's inserts, by ingest; here a random
mix of imports (new threads and replies, some back-dated), edits, sentiment
corrections, re-scoring and deletes runs on both backends, and after every
step the tables are compared with counts made in Python from the raw rows.
Reports computed from the rollups must also equal reports computed from
`mention` alone, for periods whose edges fall anywhere in an hour.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from inboxtui.db import Database
from inboxtui.ingest import ingest, parse_record
from inboxtui.models import Mention, ReportAuthor, ReportConversation, ReportHour
from inboxtui.reports import compute_report, make_period, rollups
from inboxtui.reports.period import Period
from inboxtui.seed import seed_demo
from inboxtui.services.sentiment_labels import correct_label, rescore
from inboxtui.timeutil import utcnow

LABELS = ("negative", "neutral", "positive")
WORDS = ("battery", "refund", "x2", "hello", "电池", "退款", "great", "broken")
TOPICS = [("battery", "battery OR 電池 OR 电池"), ("refund", "refund OR 退款"), ("X2", "x2")]


def _label(value: str | None) -> str:
    return value if value in LABELS else ""


def _epoch(value: datetime) -> int:
    return math.floor(value.timestamp())


def recount(db: Database) -> tuple[Counter[Any], Counter[Any], dict[int, tuple[int, ...]]]:
    """The three rollups, counted in Python from plain rows of `mention`."""
    statement = select(
        Mention.created_at,
        Mention.source_id,
        Mention.author_id,
        Mention.conversation_id,
        Mention.sentiment_label,
    )
    hours: Counter[Any] = Counter()
    authors: Counter[Any] = Counter()
    conversations: dict[int, list[Any]] = defaultdict(list)
    with db.read() as session:
        for at, source_id, author_id, conversation_id, label in session.execute(statement):
            second = _epoch(at)
            hours[second - second % 3600, source_id, _label(label)] += 1
            authors[author_id] += 1
            conversations[conversation_id].append((second, _label(label)))
    expected = {}
    for conversation_id, rows in conversations.items():
        seconds = [s for s, _ in rows]
        labels = Counter(label for _, label in rows)
        expected[conversation_id] = (
            min(seconds),
            max(seconds),
            *(labels[name] for name in LABELS),
            len(rows),
        )
    return hours, authors, expected


def stored(db: Database) -> tuple[Counter[Any], Counter[Any], dict[int, tuple[int, ...]]]:
    rc = ReportConversation
    with db.read() as session:
        hours = Counter(
            {
                (int(h), int(s), label): int(n)
                for h, s, label, n in session.execute(
                    select(
                        ReportHour.hour, ReportHour.source_id, ReportHour.label, ReportHour.mentions
                    )
                )
            }
        )
        authors = Counter(
            {
                int(a): int(n)
                for a, n in session.execute(select(ReportAuthor.author_id, ReportAuthor.mentions))
            }
        )
        conversations = {
            int(row[0]): tuple(int(v) for v in row[1:])
            for row in session.execute(
                select(
                    rc.conversation_id,
                    rc.first_at,
                    rc.last_at,
                    rc.negative,
                    rc.neutral,
                    rc.positive,
                    rc.mentions,
                )
            )
        }
    return hours, authors, conversations


def assert_exact(db: Database, step: str) -> None:
    hours, authors, conversations = stored(db)
    want_hours, want_authors, want_conversations = recount(db)
    assert hours == want_hours, step
    assert authors == want_authors, step
    assert conversations == want_conversations, step


def record(rnd: random.Random, now: datetime, number: int, reply_to: str | None) -> dict[str, Any]:
    at = now - timedelta(seconds=rnd.randrange(0, 20 * 86400))
    rec: dict[str, Any] = {
        "kind": "mastodon",
        "source": "masto-test",
        "external_id": f"t{number}",
        "created_at": at.isoformat().replace("+00:00", "Z"),
        "text": " ".join(rnd.choice(WORDS) for _ in range(4)),
        "author": {"handle": f"@u{rnd.randrange(12)}@example.org", "followers": rnd.randrange(900)},
        "sentiment_label": rnd.choice((*LABELS, None)),
    }
    if reply_to:
        rec["in_reply_to"] = reply_to
    return rec


def _ids(db: Database, sql: str) -> list[Any]:
    with db.read() as session:
        return list(session.execute(text(sql)))


def test_rollups_equal_a_recount_after_random_writes(db: Database) -> None:
    rnd = random.Random(12)
    seed_demo(db, 200, seed=4)
    assert_exact(db, "seed")
    now = utcnow()
    number = 0
    posted: list[tuple[str, dict[str, Any]]] = []
    for step in range(14):
        action = step % 7
        if action in (0, 1):  # imports: new threads and replies, in any order of time
            batch = []
            for _ in range(rnd.randrange(3, 15)):
                number += 1
                parent = rnd.choice(posted)[0] if posted and rnd.random() < 0.5 else None
                rec = record(rnd, now, number, parent)
                batch.append(rec)
                posted.append((rec["external_id"], rec))
            ingest(db, (parse_record(r) for r in batch), actor="test")
        elif action == 2 and posted:  # edits: newer text and label (ingest's edit path)
            for _, rec in rnd.sample(posted, min(4, len(posted))):
                edited = dict(rec)
                edited["text"] = rec["text"] + " edited"
                edited["sentiment_label"] = rnd.choice(LABELS)
                edited["edited_at"] = (
                    (now + timedelta(minutes=step)).isoformat().replace("+00:00", "Z")
                )
                ingest(db, [parse_record(edited)], actor="test")
        elif action == 3:  # agents' corrections
            for conversation_id, mention_id in rnd.sample(
                _ids(db, "SELECT conversation_id, id FROM mention"), 5
            ):
                correct_label(
                    db, conversation_id, rnd.choice(LABELS), actor="tester", mention_id=mention_id
                )
        elif action == 4:  # re-scoring by the model
            rescore(db, all_mentions=True)
        elif action == 5:  # deletes: leaf mentions (no replies hang on them)
            leaves = _ids(
                db,
                "SELECT id FROM mention m WHERE NOT EXISTS"
                " (SELECT 1 FROM mention c WHERE c.parent_id = m.id)",
            )
            with db.write() as session:
                for (mention_id,) in rnd.sample(leaves, 3):
                    if db.dialect == "sqlite":  # PostgreSQL's index row cascades
                        session.execute(
                            text("DELETE FROM mention_search WHERE rowid = :i"), {"i": mention_id}
                        )
                    session.execute(text("DELETE FROM mention WHERE id = :i"), {"i": mention_id})
        else:  # any other writer: a mention moved in time, to another author and thread
            (mention_id,), (author_id,), (conversation_id,) = (
                rnd.choice(_ids(db, "SELECT id FROM mention")),
                rnd.choice(_ids(db, "SELECT id FROM author")),
                rnd.choice(_ids(db, "SELECT id FROM conversation")),
            )
            with db.write() as session:
                session.execute(
                    Mention.__table__.update()  # type: ignore[attr-defined]
                    .where(Mention.id == mention_id)
                    .values(
                        created_at=now - timedelta(hours=rnd.randrange(400), seconds=17),
                        author_id=author_id,
                        conversation_id=conversation_id,
                        sentiment_label=None,
                    )
                )
        assert_exact(db, f"step {step} (action {action})")


def _figures(report: Any) -> dict[str, Any]:
    data = asdict(report)
    data.pop("generated_at")
    return data


@pytest.mark.parametrize(
    "since,until,query",
    [
        ("today", None, ""),
        ("7d", None, ""),
        ("30d", None, ""),
        ("36h", None, ""),
        ("9d", "2d", ""),
        ("7d", None, "role:support"),
        ("30d", None, "refund OR is:escalated"),
    ],
)
def test_reports_from_rollups_equal_reports_from_mentions(
    db: Database, monkeypatch: pytest.MonkeyPatch, since: str, until: str | None, query: str
) -> None:
    seed_demo(db, 400, seed=9)
    # edges anywhere in an hour: 17 min 23 s past
    now = utcnow().replace(minute=17, second=23, microsecond=0)
    period = make_period(since, until, now=now)
    with db.read() as session:
        assert rollups.usable(session, period)
        monkeypatch.setattr(rollups, "WALK_SHARE", 10.0)  # the walk, not the fallback
        # share of voice both ways: probing a short period's conversations, mapping matches
        monkeypatch.setattr("inboxtui.reports.figures.BOUNDED_TOPIC_MENTIONS", 10**9)
        probing = compute_report(session, period, query=query, topics=TOPICS, now=now)
        monkeypatch.setattr("inboxtui.reports.figures.BOUNDED_TOPIC_MENTIONS", -1)
        mapping = compute_report(session, period, query=query, topics=TOPICS, now=now)
        monkeypatch.setattr(rollups, "usable", lambda session, period: False)
        from_mentions = compute_report(session, period, query=query, topics=TOPICS, now=now)
    assert from_mentions.total > 0 or since == "today"
    assert _figures(probing) == _figures(from_mentions)
    assert _figures(mapping) == _figures(from_mentions)


def test_reports_read_mentions_when_the_triggers_are_gone(sqlite_db: Database) -> None:
    """A migration rebuilding `mention` on SQLite drops its triggers: never trust stale rollups."""
    period = make_period("7d")
    with sqlite_db.read() as session:
        assert rollups.usable(session, period)
    with sqlite_db.write() as session:
        session.execute(text("DROP TRIGGER report_mention_update"))
    with sqlite_db.read() as session:
        assert not rollups.usable(session, period)
        assert not rollups.usable(
            session, Period(period.since.replace(microsecond=5), period.until, "day", "x")
        )


def test_an_insert_that_bypasses_ingest_is_noticed(sqlite_db: Database) -> None:
    """SQLite counts inserts in ingest: a mention it did not count makes reports read `mention`."""
    seed_demo(sqlite_db, 30, seed=2)
    period = make_period("30d")
    with sqlite_db.read() as session:
        assert rollups.usable(session, period)
    with sqlite_db.write() as session:
        session.execute(
            text(
                "INSERT INTO mention (id, source_id, external_id, conversation_id, depth,"
                " author_id, created_at, text, raw, fetched_at)"
                " SELECT id + 1000000, source_id, 'bypass', conversation_id, depth, author_id,"
                " created_at, text, raw, fetched_at FROM mention ORDER BY id LIMIT 1"
            )
        )
    with sqlite_db.read() as session:
        assert not rollups.usable(session, period)


def test_hour_edges_are_the_partial_hours() -> None:
    now = datetime(2026, 11, 23, 6, 30, 0, tzinfo=UTC)
    aligned = make_period("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", now=now)
    assert rollups._edge_hours(aligned) == []
    week = make_period("7d", now=now)
    hours = rollups._edge_hours(week)
    # one partial hour per day boundary of both periods, and the period's end
    assert len(hours) == 15 and all(h % 3600 == 0 for h in hours)
