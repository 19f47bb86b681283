"""The demo data: reproducible, multilingual, threaded, with reach and a negative spike."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from inboxtui.db import Database
from inboxtui.ingest import parse_record
from inboxtui.seed import AGENTS, ROLES, SOURCES, TAGS, demo_records, seed_demo
from inboxtui.timeutil import parse_iso

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(demo_records(6000, now=NOW))


def test_same_arguments_same_records() -> None:
    first = [json.dumps(r, ensure_ascii=False) for r in demo_records(700, seed=5, now=NOW)]
    again = [json.dumps(r, ensure_ascii=False) for r in demo_records(700, seed=5, now=NOW)]
    other = [json.dumps(r, ensure_ascii=False) for r in demo_records(700, seed=6, now=NOW)]
    assert first == again
    assert first != other
    ids = {(json.loads(r)["source"], json.loads(r)["external_id"]) for r in first}
    assert not ids & {(json.loads(r)["source"], json.loads(r)["external_id"]) for r in other}
    assert len(list(demo_records(0, now=NOW))) == 0
    assert len(list(demo_records(1, now=NOW))) == 1


def test_every_record_is_valid_and_unique(sample: list[dict]) -> None:
    parsed = [parse_record(r) for r in sample]
    assert len({(m.source, m.external_id) for m in parsed}) == len(sample)
    assert {r["source"] for r in sample} == {s.name for s in SOURCES}
    assert len({r["kind"] for r in sample}) == 7


def test_times_span_two_weeks_oldest_first_with_a_daily_rhythm(sample: list[dict]) -> None:
    times = [parse_iso(r["created_at"]) for r in sample]
    assert times == sorted(times)
    assert NOW - timedelta(days=14) <= times[0] < NOW - timedelta(days=13)
    assert times[-1] <= NOW
    by_hour = Counter(t.hour for t in times if t < NOW - timedelta(hours=6))
    assert max(by_hour.values()) > 2 * min(by_hour.values())


def test_language_shares(sample: list[dict]) -> None:
    shares = Counter(r["lang"] for r in sample)
    total = len(sample)
    assert abs(shares["en"] / total - 0.6) < 0.04
    assert abs(shares["zh-Hant"] / total - 0.2) < 0.03
    assert abs(shares["zh-Hans"] / total - 0.2) < 0.03
    hant = " ".join(r["text"] for r in sample if r["lang"] == "zh-Hant")
    hans = " ".join(r["text"] for r in sample if r["lang"] == "zh-Hans")
    for word in ("退款", "詐騙", "投訴", "退貨", "垃圾", "客服", "營銷"):
        assert word in hant, word
    for word in ("退款", "诈骗", "投诉", "退货", "客服", "营销"):
        assert word in hans, word


def test_reach_follows_a_power_law(sample: list[dict]) -> None:
    followers: dict[tuple[str, str], int] = {}
    for r in sample:
        if "followers" in r["author"]:
            followers[(r["kind"], r["author"]["handle"])] = r["author"]["followers"]
    values = list(followers.values())
    assert sum(v < 500 for v in values) / len(values) > 0.9
    assert any(v > 100_000 for v in values)


def test_threads_reply_to_earlier_posts_of_the_same_source(sample: list[dict]) -> None:
    seen: set[tuple[str, str]] = set()
    replies = 0
    for r in sample:
        if "in_reply_to" in r:
            replies += 1
            assert (r["source"], r["in_reply_to"]) in seen
        seen.add((r["source"], r["external_id"]))
    assert 0.25 < replies / len(sample) < 0.45
    assert not any("in_reply_to" in r for r in sample if r["kind"] == "rss")


def test_negative_spike_in_the_last_hours(sample: list[dict]) -> None:
    def about_battery(r: dict) -> bool:
        body = r["text"]
        return "X2" in body and ("battery" in body or "電池" in body or "电池" in body)

    recent = [r for r in sample if parse_iso(r["created_at"]) >= NOW - timedelta(hours=6)]
    earlier = [r for r in sample if parse_iso(r["created_at"]) < NOW - timedelta(hours=6)]
    spike = [r for r in recent if about_battery(r)]
    assert len(spike) >= 0.03 * len(sample)
    hourly_recent = len(spike) / 6
    hourly_before = sum(about_battery(r) for r in earlier) / (14 * 24 - 6)
    assert hourly_recent > 10 * max(hourly_before, 0.1)
    assert sum(r["sentiment_label"] == "negative" for r in spike) / len(spike) > 0.9
    starter = min(spike, key=lambda r: r["created_at"])
    assert "in_reply_to" not in starter
    assert starter["author"]["followers"] > 100_000
    replies_to_starter = [r for r in spike if r.get("in_reply_to") == starter["external_id"]]
    assert replies_to_starter


def test_negative_share_runs_near_a_third_until_the_spike(sample: list[dict]) -> None:
    def share(records: list[dict]) -> float:
        labels = Counter(r["sentiment_label"] for r in records)
        return labels["negative"] / (labels["negative"] + labels["positive"])

    cut = NOW - timedelta(hours=6)
    assert 0.2 < share([r for r in sample if parse_iso(r["created_at"]) < cut]) < 0.45
    assert share([r for r in sample if parse_iso(r["created_at"]) >= cut]) > 0.6


def test_sentiment_follows_intent_and_some_text_is_hostile(sample: list[dict]) -> None:
    for r in sample:
        score, label = r["sentiment"], r["sentiment_label"]
        assert -1 <= score <= 1
        expected = "negative" if score <= -0.25 else "positive" if score >= 0.25 else "neutral"
        assert label == expected
    labels = Counter(r["sentiment_label"] for r in sample)
    assert min(labels.values()) > 0.1 * len(sample)
    hostile = [
        r for r in sample if "\x1b" in r["text"] or "\u202e" in r["text"] or "[bold" in r["text"]
    ]
    assert 0.003 < len(hostile) / len(sample) < 0.03
    assert all("\x1b" not in parse_record(r).text for r in hostile)


def test_seed_demo_builds_a_working_inbox(db: Database) -> None:
    stats = seed_demo(db, 400, seed=3)
    assert stats.inserted == 400 and stats.conversations_created > 200
    with db.read() as session:

        def scalar(sql: str) -> int:
            return session.execute(text(sql)).scalar_one()

        assert scalar("SELECT count(*) FROM role") == len(ROLES)
        assert scalar("SELECT count(*) FROM agent") == len(AGENTS)
        assert scalar("SELECT count(*) FROM tag") == len(TAGS)
        assert scalar("SELECT count(*) FROM agentrole") >= len(AGENTS)
        statuses = dict(
            session.execute(text("SELECT status, count(*) FROM conversation GROUP BY status")).all()
        )
        assert {"new", "open", "resolved"} <= set(statuses)
        assert scalar("SELECT count(*) FROM conversation WHERE agent_id IS NOT NULL") > 20
        assert scalar("SELECT count(*) FROM conversation_tag") > 20
        assert scalar("SELECT count(*) FROM conversation WHERE escalated") >= 1
        assert scalar("SELECT count(*) FROM incident") == 1
        # every seeded change bumped the version once; untouched ones stayed at 1
        assert scalar("SELECT count(*) FROM conversation WHERE version > 2") == 0
        unresolved = "status = 'resolved' AND resolved_at IS NULL"
        assert scalar(f"SELECT count(*) FROM conversation WHERE {unresolved}") == 0
        assert (
            scalar("SELECT count(*) FROM conversation WHERE status <> 'new' AND version = 1") == 0
        )
    again = seed_demo(db, 400, seed=3)
    assert (again.inserted, again.duplicates) == (0, 400)
