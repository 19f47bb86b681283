"""Report figures: every number recomputed here in Python from the raw rows, on both backends.

The database does the aggregation in SQL; the test reads plain rows
(`SELECT` of columns, no GROUP BY) and counts, sorts and ranks them itself.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update

from inboxtui.db import Database
from inboxtui.ingest import MentionIn, ingest
from inboxtui.models import (
    Agent,
    Conversation,
    Mention,
    OutboxReply,
    Role,
    Source,
    Template,
    Topic,
)
from inboxtui.query import QueryError
from inboxtui.reports import PeriodError, compute_report, figures, make_period
from inboxtui.reports.figures import Report, TimeStat
from inboxtui.reports.render_data import render_csv, render_json
from inboxtui.reports.render_md import duration, render_markdown
from inboxtui.seed import seed_demo
from inboxtui.timeutil import utcnow

TOPICS = [("battery", "battery OR 電池 OR 电池"), ("refund", "refund OR 退款")]


# --------------------------------------------------------------------------- raw rows


def _rows(db: Database, sql: str) -> list[Any]:
    with db.read() as session:
        return list(session.connection().execute(text(sql)))


def _mentions(db: Database) -> list[Any]:
    """Plain rows (typed columns, so times come back as datetimes on both backends)."""
    statement = select(
        Mention.created_at,
        Source.kind,
        Mention.sentiment_label,
        Mention.conversation_id,
        Mention.author_id,
    ).join(Source, Source.id == Mention.source_id)
    with db.read() as session:
        return list(session.connection().execute(statement))


def _conversations(db: Database) -> dict[int, Any]:
    c = Conversation
    statement = (
        select(
            c.id,
            c.kind,
            c.status,
            c.created_at,
            c.first_response_at,
            c.resolved_at,
            Role.name.label("role"),
            Agent.handle.label("agent"),
        )
        .outerjoin(Role, Role.id == c.role_id)
        .outerjoin(Agent, Agent.id == c.agent_id)
    )
    with db.read() as session:
        return {r.id: r for r in session.connection().execute(statement)}


TOPIC_WORDS = {"battery": ("battery", "電池", "电池"), "refund": ("refund", "退款")}


def _matching(db: Database, topic: str) -> set[int]:
    """Conversations with a mention containing one of the topic's words (by Python)."""
    texts = _rows(
        db, "SELECT conversation_id, lower(coalesce(title, '') || ' ' || text) FROM mention"
    )
    by_conversation: dict[int, str] = defaultdict(str)
    for conversation_id, body in texts:
        by_conversation[conversation_id] += " " + body
    words = TOPIC_WORDS[topic]
    return {cid for cid, body in by_conversation.items() if any(w in body for w in words)}


def _secs(start: datetime, end: datetime) -> int:
    return math.floor(end.timestamp()) - math.floor(start.timestamp())


def _nearest_rank(values: list[int], p: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered) / 100) - 1]


def _expected_times(rows: list[tuple[int, str | None, str | None]]) -> list[TimeStat]:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for secs, role, agent in rows:
        groups["all", ""].append(secs)
        groups["role", role or "(none)"].append(secs)
        groups["agent", agent or "(none)"].append(secs)
    order = {"all": 0, "role": 1, "agent": 2}
    return [
        TimeStat(dim, name, len(v), _nearest_rank(v, 50), _nearest_rank(v, 90))
        for (dim, name), v in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
    ]


def _inside(value: datetime | None, since: datetime, until: datetime) -> bool:
    return value is not None and since <= value < until


# --------------------------------------------------------------------------- data


@pytest.fixture
def seeded(db: Database) -> Database:
    seed_demo(db, 250, seed=3)
    now = utcnow()
    with db.write() as session:
        conn = session.connection()
        conn.execute(
            insert(Template),
            [
                {
                    "name": "refund-status",
                    "body": "b",
                    "usage_count": 7,
                    "created_at": now,
                    "updated_at": now,
                },
                {
                    "name": "thanks",
                    "body": "b",
                    "usage_count": 12,
                    "created_at": now,
                    "updated_at": now,
                },
                {
                    "name": "unused",
                    "body": "b",
                    "usage_count": 0,
                    "created_at": now,
                    "updated_at": now,
                },
            ],
        )
        agents = dict(conn.execute(text("SELECT handle, id FROM agent")).all())
        conversations = [
            r[0] for r in conn.execute(text("SELECT id FROM conversation ORDER BY id"))
        ]
        replies = []
        for i, conversation_id in enumerate(conversations[:30]):
            state = ("sent", "sent", "failed", "queued")[i % 4]
            sent_at = now - timedelta(days=i % 10) if state == "sent" else None
            replies.append(
                {
                    "conversation_id": conversation_id,
                    "agent_id": agents["alice" if i % 3 else "bob"],
                    "body": "thanks",
                    "idempotency_key": f"k{i}",
                    "state": state,
                    "attempts": 1,
                    "created_at": now,
                    "updated_at": now,
                    "sent_at": sent_at,
                }
            )
        conn.execute(insert(OutboxReply), replies)
    return db


def _report(db: Database, since: str = "7d", query: str = "") -> tuple[Report, Any]:
    period = make_period(since)
    with db.read() as session:
        report = compute_report(session, period, query=query, topics=TOPICS)
    return report, period


# --------------------------------------------------------------------------- figures


def test_volume_and_negative_share_match_the_rows(seeded: Database) -> None:
    report, period = _report(seeded)
    previous = period.previous
    width = period.bucket_seconds
    by_bucket: dict[int, Counter[str]] = defaultdict(Counter)
    previous_by_bucket: Counter[int] = Counter()
    negative: Counter[int] = Counter()
    positive: Counter[int] = Counter()
    totals: Counter[str] = Counter()
    previous_totals: Counter[str] = Counter()
    for created, kind, label, _conv, _author in _mentions(seeded):
        if _inside(created, period.since, period.until):
            index = _secs(period.since, created) // width
            by_bucket[index][kind] += 1
            totals[kind] += 1
            negative[index] += label == "negative"
            positive[index] += label == "positive"
        elif _inside(created, previous.since, previous.until):
            previous_by_bucket[_secs(previous.since, created) // width] += 1
            previous_totals[kind] += 1
    assert sum(totals.values()) > 50 and sum(previous_totals.values()) > 50
    assert report.totals == dict(totals)
    assert report.previous_totals == dict(previous_totals)
    assert len(report.volume) == 7 and period.bucket == "day"
    for i, bucket in enumerate(report.volume):
        assert bucket.start == period.since + timedelta(days=i)
        assert {k: v for k, v in bucket.by_kind.items() if v} == dict(by_bucket[i])
        assert bucket.previous_total == previous_by_bucket[i]
        assert (bucket.negative, bucket.positive) == (negative[i], positive[i])
    assert report.negative == sum(negative.values())
    expected_share = sum(negative.values()) / (sum(negative.values()) + sum(positive.values()))
    assert report.negative_share == pytest.approx(expected_share)
    for bucket in report.volume:
        scored = bucket.negative + bucket.positive
        assert bucket.negative_share == (bucket.negative / scored if scored else None)


def test_response_times_per_role_and_agent(seeded: Database) -> None:
    report, period = _report(seeded)
    conversations = _conversations(seeded).values()
    first = [
        (_secs(c.created_at, c.first_response_at), c.role, c.agent)
        for c in conversations
        if _inside(c.first_response_at, period.since, period.until)
    ]
    resolved = [
        (_secs(c.created_at, c.resolved_at), c.role, c.agent)
        for c in conversations
        if c.status == "resolved" and _inside(c.resolved_at, period.since, period.until)
    ]
    assert len(first) > 10 and len(resolved) > 10
    assert report.first_response == _expected_times(first)
    assert report.resolution == _expected_times(resolved)


def test_handled_outcomes_replies_templates(seeded: Database) -> None:
    report, period = _report(seeded)
    conversations = list(_conversations(seeded).values())
    handled = Counter(
        c.agent or "(none)"
        for c in conversations
        if _inside(c.first_response_at, period.since, period.until)
        or _inside(c.resolved_at, period.since, period.until)
    )
    assert report.handled == dict(handled)
    outcomes = Counter(
        c.status for c in conversations if _inside(c.created_at, period.since, period.until)
    )
    assert report.outcomes == dict(outcomes)
    with seeded.read() as session:
        sent = (
            session.connection()
            .execute(
                select(Agent.handle, OutboxReply.state, OutboxReply.sent_at).join(
                    Agent, Agent.id == OutboxReply.agent_id
                )
            )
            .all()
        )
    expected = Counter(
        h for h, state, at in sent if state == "sent" and _inside(at, period.since, period.until)
    )
    assert report.replies_sent == dict(expected) and sum(expected.values()) > 0
    # replies do not record their template yet: all-time usage, unused ones left out
    assert report.templates == [("thanks", 12), ("refund-status", 7)]
    assert report.templates_all_time


def test_sla_deadlines_due_and_missed(seeded: Database) -> None:
    """Deadlines due in the period; missed = answered late, or unanswered when paused/now."""
    with seeded.write() as session:
        conn = session.connection()
        rows = conn.execute(select(Conversation.id, Conversation.created_at)).all()
        for cid, created in rows:
            values: dict[str, Any] = {
                "first_response_due_at": created + timedelta(hours=2 + cid % 9),
                "resolution_due_at": created + timedelta(days=1 + cid % 3),
            }
            if cid % 5 == 0:
                values["sla_paused_at"] = created + timedelta(hours=cid % 13)
            conn.execute(update(Conversation).where(Conversation.id == cid).values(**values))
    now = utcnow()
    period = make_period("7d", now=now)
    with seeded.read() as session:
        report = compute_report(session, period, topics=[], now=now)
        # a filter reads its conversations once for both clocks: the same definition
        filtered = compute_report(session, period, query="role:support", topics=[], now=now)
        support = session.connection().execute(select(Role.id).where(Role.name == "support"))
        support_id = support.scalar_one()
        clocks = (
            session.connection()
            .execute(
                select(
                    Conversation.first_response_due_at,
                    Conversation.first_response_at,
                    Conversation.resolution_due_at,
                    Conversation.resolved_at,
                    Conversation.sla_paused_at,
                    Conversation.role_id,
                )
            )
            .all()
        )
    assert report.sla is not None and filtered.sla is not None
    for name, due_at, done_at in (("first_response", 0, 1), ("resolution", 2, 3)):
        due = [c for c in clocks if _inside(c[due_at], period.since, min(period.until, now))]
        missed = [c for c in due if (c[done_at] or c[4] or now) > c[due_at]]
        assert report.sla.due[name] == len(due) > 0
        assert report.sla.breaches[name] == len(missed) > 0
        row = f"| {name.replace('_', ' ')} | {len(due)} | {len(missed)} |"
        assert row in render_markdown(report)
        theirs = [c for c in due if c[5] == support_id]
        assert filtered.sla.due[name] == len(theirs) > 0
        assert filtered.sla.breaches[name] == len([c for c in missed if c[5] == support_id])


def test_share_of_voice_and_top_authors(seeded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    report, period = _report(seeded)
    # long periods collect the store's matches instead of checking candidates: same counts
    monkeypatch.setattr(figures, "BOUNDED_TOPIC_MENTIONS", 0)
    with seeded.read() as session:
        unbounded = compute_report(session, period, topics=TOPICS)
    assert unbounded.share_of_voice == report.share_of_voice
    mentions = _mentions(seeded)
    for (name, _query), share in zip(TOPICS, report.share_of_voice, strict=True):
        matching = _matching(seeded, name)
        labels = Counter(
            label
            for created, _k, label, cid, _a in mentions
            if cid in matching and _inside(created, period.since, period.until)
        )
        assert share.name == name
        assert share.mentions == sum(labels.values()) > 0
        assert (share.sentiment.negative, share.sentiment.neutral, share.sentiment.positive) == (
            labels["negative"],
            labels["neutral"],
            labels["positive"],
        )
    authors = {r.id: r for r in _rows(seeded, "SELECT id, handle, followers FROM author")}
    per_author: dict[int, Counter[str]] = defaultdict(Counter)
    for created, _k, label, _c, author_id in mentions:
        if _inside(created, period.since, period.until):
            per_author[author_id][label or "unscored"] += 1
    by_volume = sorted(per_author, key=lambda a: (-sum(per_author[a].values()), a))[:10]
    assert [a.handle for a in report.top_by_volume] == [authors[a].handle for a in by_volume]
    for figure, author_id in zip(report.top_by_volume, by_volume, strict=True):
        assert figure.mentions == sum(per_author[author_id].values())
        assert figure.sentiment.negative == per_author[author_id]["negative"]
        assert figure.sentiment.positive == per_author[author_id]["positive"]
    known = [a for a in per_author if authors[a].followers is not None]
    by_reach = sorted(
        known, key=lambda a: (-authors[a].followers, -sum(per_author[a].values()), a)
    )[:10]
    assert [a.handle for a in report.top_by_reach] == [authors[a].handle for a in by_reach]
    assert report.top_by_reach[0].followers == max(authors[a].followers for a in known)


def test_a_query_narrows_every_figure(seeded: Database) -> None:
    report, period = _report(seeded, query="kind:reddit")
    conversations = _conversations(seeded)
    reddit = {cid for cid, c in conversations.items() if c.kind == "reddit"}
    in_period = [
        m
        for m in _mentions(seeded)
        if m.conversation_id in reddit and _inside(m.created_at, period.since, period.until)
    ]
    assert report.kinds == ("reddit",)
    assert report.total == len(in_period) > 0
    outcomes = Counter(
        conversations[cid].status
        for cid in reddit
        if _inside(conversations[cid].created_at, period.since, period.until)
    )
    assert report.outcomes == dict(outcomes)
    first = [
        (_secs(c.created_at, c.first_response_at), c.role, c.agent)
        for cid, c in conversations.items()
        if cid in reddit and _inside(c.first_response_at, period.since, period.until)
    ]
    assert report.first_response == _expected_times(first)
    assert [t.mentions for t in report.share_of_voice] == [
        sum(1 for m in in_period if m.conversation_id in _matching(seeded, name))
        for name, _ in TOPICS
    ]
    with seeded.read() as session, pytest.raises(QueryError):
        compute_report(session, period, query="kind:", topics=[])


def test_today_has_hourly_buckets_and_empty_periods_are_zero(seeded: Database) -> None:
    period = make_period("2020-01-01", "2020-01-03")
    with seeded.read() as session:
        report = compute_report(session, period, topics=[])
    assert period.bucket == "hour" and len(report.volume) == 48
    assert report.total == 0 and report.negative_share is None
    assert report.first_response == [] and report.outcomes == {}
    assert report.top_by_volume == [] and report.share_of_voice == []
    assert "No watched topics." in render_markdown(report)


def test_watched_topics_come_from_the_topic_table(seeded: Database) -> None:
    now = utcnow()
    with seeded.write() as session:
        session.connection().execute(
            insert(Topic),
            [
                {"name": "refund", "query": "refund", "enabled": True, "created_at": now},
                {"name": "off", "query": "battery", "enabled": False, "created_at": now},
            ],
        )
    with seeded.read() as session:
        report = compute_report(session, make_period("7d"))
    assert [t.name for t in report.share_of_voice] == ["refund"]
    assert report.share_of_voice[0].mentions > 0


# --------------------------------------------------------------------------- periods


def test_periods() -> None:
    now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    today = make_period("today", now=now)
    assert today.since == datetime(2026, 11, 20, tzinfo=UTC) and today.bucket == "hour"
    assert today.bucket_count == 16
    week = make_period("7d", now=now)
    assert week.until - week.since == timedelta(days=7) and week.bucket == "day"
    assert week.previous.until == week.since
    assert make_period("30d", now=now).bucket_count == 30
    assert make_period("2026-01-01", "2026-11-01", now=now).bucket == "week"
    with pytest.raises(PeriodError, match="not a time: 'yesterday'"):
        make_period("yesterday", now=now)
    with pytest.raises(PeriodError, match="is not before"):
        make_period("2026-11-02", "2026-11-01", now=now)


# --------------------------------------------------------------------------- rendering


def test_renderings_carry_the_same_numbers(seeded: Database) -> None:
    report, _ = _report(seeded)
    data = json.loads(render_json(report))
    assert data["volume"]["total"] == report.total
    assert data["volume"]["by_kind"] == report.totals
    assert [b["total"] for b in data["volume"]["buckets"]] == [b.total for b in report.volume]
    assert (
        data["response"]["first_response"][0]["median_seconds"] == report.first_response[0].median
    )
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    mentions = [
        r
        for r in rows
        if r["section"] == "volume" and r["metric"] == "mentions" and r["group"] != "kind"
    ]
    assert sum(int(r["value"]) for r in mentions) == report.total
    md = render_markdown(report)
    assert f"**{report.total:,} mentions**" in md
    assert duration(report.first_response[0].median) in md
    for share in report.share_of_voice:
        assert f"| {share.name} |" in md


def test_markdown_keeps_hostile_author_text_inert(sqlite_db: Database) -> None:
    now = utcnow()
    ingest(
        sqlite_db,
        [
            MentionIn(
                kind="mastodon",
                source="m",
                external_id="1",
                created_at=now - timedelta(hours=1),
                text="hi",
                author_handle="@evil|x`\x1b[31m@example",
                author_followers=5,
            ),
        ],
    )
    with sqlite_db.read() as session:
        report = compute_report(session, make_period("1d"), topics=[])
    md = render_markdown(report)
    assert "\x1b" not in md
    assert "@evil\\|x\\`" in md
    assert duration(59) == "59s" and duration(3 * 3600 + 5 * 60) == "3h 05m"
    assert duration(3 * 86400 + 7200) == "3d 02h" and duration(None) == "-"


def test_agents_corrections_are_counted(seeded: Database) -> None:
    from inboxtui.services.sentiment_labels import correct_label

    with seeded.read() as session:
        conversations = [
            r[0] for r in session.execute(text("SELECT id FROM conversation ORDER BY id LIMIT 3"))
        ]
    before, _ = _report(seeded)
    assert before.corrections == 0
    assert "corrected no sentiment labels" in render_markdown(before)
    changes: Counter[tuple[str | None, str]] = Counter()
    labels = ("positive", "negative", "neutral")
    for conversation_id, label in zip(conversations, labels, strict=True):
        with seeded.read() as session:
            old = session.execute(
                text(
                    "SELECT sentiment_label FROM mention WHERE conversation_id = :c"
                    " ORDER BY depth, created_at, id LIMIT 1"
                ),
                {"c": conversation_id},
            ).scalar_one()
        correct_label(seeded, conversation_id, label, actor="alice")
        if old != label:
            changes[(old, label)] += 1
    # periods end on a whole second: look a little past the corrections just made
    with seeded.read() as session:
        report = compute_report(
            session, make_period("7d", now=utcnow() + timedelta(seconds=2)), topics=TOPICS
        )
    assert report.corrections == sum(changes.values())
    assert report.corrections_by_change == dict(changes)
    data = json.loads(render_json(report))
    assert data["sentiment"]["corrections"] == report.corrections
    if report.corrections:
        assert f"Agents corrected **{report.corrections:,}** sentiment labels" in render_markdown(
            report
        )
