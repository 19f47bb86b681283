"""Crisis detection on both backends: topics, window statistics, triggers, escalation, incidents."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from detection_support import NOW, Stream, minute_topic
from polling_support import FeedServer, Reply
from sqlalchemy import select

from inboxtui import services, sources_admin
from inboxtui.db import Database
from inboxtui.detection import detect, hook, incidents, webhook
from inboxtui.detection.detector import wilson_lower, window_words
from inboxtui.detection.reach import engagement, reach
from inboxtui.detection.topics import add_topic, list_topics, remove_topic, set_topic
from inboxtui.detection.windows import window_stats
from inboxtui.models import Conversation, Event, Incident, IncidentEvent, Role
from inboxtui.polling import Poller
from inboxtui.query import bounded_filter, conversation_filter, parse
from inboxtui.services.errors import NotFound, ServiceError
from inboxtui.timeutil import utcnow


def _conversations(db: Database) -> list[Conversation]:
    with db.read() as session:
        return list(session.execute(select(Conversation).order_by(Conversation.id)).scalars())


def _incident_count(db: Database) -> int:
    with db.read() as session:
        return len(session.execute(select(Incident.id)).all())


# ---------------------------------------------------------------- topics


def test_topics_are_validated_listed_changed_and_removed(db: Database) -> None:
    spec = add_topic(
        db, "acme", "acme OR @acme", actor="tester", influencer_reach={"hackernews": 300}
    )
    assert spec.window_seconds == 3600 and spec.baseline_days == 7 and spec.spike_k == 3.0
    assert spec.reach_threshold("hackernews") == 300
    assert spec.reach_threshold("mastodon") == 10_000
    with pytest.raises(ServiceError, match="already exists"):
        add_topic(db, "acme", "acme", actor="tester")
    with pytest.raises(ServiceError, match="topic query"):
        add_topic(db, "bad", "frobnicate:3", actor="tester")
    with pytest.raises(ServiceError, match="matches everything"):
        add_topic(db, "all", "sort:newest", actor="tester")
    with pytest.raises(ServiceError, match="negative_share must be in"):
        add_topic(db, "x", "acme", actor="tester", negative_share=1.5)
    with pytest.raises(ServiceError, match="window_seconds must be at least 60"):
        add_topic(db, "y", "acme", actor="tester", window_seconds=5)
    changed = set_topic(db, "acme", actor="tester", spike_k=4, enabled=False)
    assert changed.spike_k == 4.0 and not changed.enabled
    assert [t.name for t in list_topics(db)] == ["acme"]
    assert list_topics(db, enabled_only=True) == []
    remove_topic(db, "acme", actor="tester")
    with pytest.raises(NotFound, match="no topic 'acme'"):
        remove_topic(db, "acme", actor="tester")
    with db.read() as session:
        actions = [e.action for e in session.execute(select(Event)).scalars()]
    assert actions == ["topic.add", "topic.set", "topic.remove"]


# ---------------------------------------------------------------- windows


def test_window_stats_count_topic_mentions_per_window_and_label(db: Database) -> None:
    topic = minute_topic(db)
    stream = Stream()
    stream.add(NOW - timedelta(seconds=10), "negative")
    stream.add(NOW - timedelta(seconds=20), "positive")
    # no stored label: derived from the score (label_for)
    stream.add(NOW - timedelta(seconds=30), score=-0.9)
    # a stored label wins over the score
    stream.add(NOW - timedelta(seconds=40), score=0.9, stored_label="negative")
    stream.add(NOW - timedelta(seconds=50), "negative", text="unrelated chatter")  # not the topic
    stream.add(NOW - timedelta(seconds=90), "positive")  # one window back
    stream.add(NOW + timedelta(seconds=5), "negative")  # after `now`: not counted
    stream.store(db)
    with db.read() as session:
        stats = window_stats(session, topic, NOW)
    assert (stats.current.count, stats.current.negative, stats.current.positive) == (4, 3, 1)
    assert stats.current.share == 0.75
    assert stats.baseline[0].count == 1 and stats.baseline[0].positive == 1
    assert len(stats.baseline) == 1  # the store's data starts one window before this one


def test_replies_count_for_the_topic_of_their_thread(db: Database) -> None:
    topic = minute_topic(db)
    stream = Stream()
    root = stream.add(NOW - timedelta(seconds=50), "negative", text="acme broke my laptop")
    for i in range(5):
        stream.add(NOW - timedelta(seconds=40 - i), "negative", text="same here", reply_to=root)
    stream.store(db)
    with db.read() as session:
        assert window_stats(session, topic, NOW).current.negative == 6


# ---------------------------------------------------------------- triggers


def test_volume_spike_opens_an_incident_escalates_and_routes_to_pr(db: Database) -> None:
    minute_topic(db, negative_share=1.0)
    stream = Stream()
    stream.steady(40, per_minute=2)
    for i in range(30):
        stream.add(NOW - timedelta(seconds=50 - i), "neutral", text=f"acme news {i}")
    stream.store(db)
    [result] = detect(db, now=NOW)
    [trigger] = result.triggers
    assert trigger.kind == "volume"
    assert trigger.reason.startswith("volume spike: 30 mentions in last 1m (15.0x) vs baseline 2.0")
    assert result.outcome is not None and result.outcome.action == "opened"
    with db.read() as session:
        [view] = incidents.list_incidents(session)
        pr = session.execute(select(Role.id).where(Role.name == "pr")).scalar_one()
    assert view.status == "open" and view.topic == "acme" and view.triggers == ["volume"]
    assert view.opened_at == NOW and view.cooldown_until == NOW + timedelta(seconds=600)
    escalated = [c for c in _conversations(db) if c.escalated]
    assert len(escalated) == 20 == view.conversations  # the busiest 20 of the window
    for conversation in escalated:
        assert conversation.role_id == pr and conversation.incident_id == view.id
        assert conversation.severity == 2
        assert conversation.escalation_reason.endswith(f"(topic acme, incident #{view.id})")
    with db.read() as session:
        actors = {e.actor for e in session.execute(select(Event)).scalars() if e.conversation_id}
    assert actors == {"system:detector"}


def test_quiet_topic_does_not_alarm_below_minimum_count(db: Database) -> None:
    minute_topic(db, min_count=50)
    stream = Stream()
    stream.steady(40)
    for i in range(20):
        stream.add(NOW - timedelta(seconds=30 - i), "neutral")
    stream.store(db)
    [result] = detect(db, now=NOW)
    assert result.triggers == []
    assert _incident_count(db) == 0


def test_volume_needs_a_day_of_history(db: Database) -> None:
    minute_topic(db)
    stream = Stream()
    stream.steady(10)  # ten windows of history: too few to call anything a spike
    for i in range(40):
        stream.add(NOW - timedelta(seconds=50 - i), "neutral")
    stream.store(db)
    [result] = detect(db, now=NOW)
    assert [t.kind for t in result.triggers] == []


def test_negative_share_names_share_and_baseline(db: Database) -> None:
    minute_topic(db)
    stream = Stream()
    for minute in range(2, 12):  # baseline: 1 negative, 4 positive a minute (20%)
        stream.add(NOW - timedelta(minutes=minute), "negative")
        for k in range(4):
            stream.add(NOW - timedelta(minutes=minute, seconds=k + 1), "positive")
    for i in range(16):
        stream.add(NOW - timedelta(seconds=55 - i), "negative" if i < 12 else "positive")
    stream.store(db)
    [result] = detect(db, now=NOW)
    [trigger] = result.triggers
    assert trigger.kind == "negative_share"
    assert trigger.reason == (
        "negative share 75% in last 1m vs 20% baseline (12 negative, 4 positive)"
    )
    escalated = [c for c in _conversations(db) if c.escalated]
    assert len(escalated) == 12  # the conversations with negative mentions in the window


def test_negative_share_is_not_alarmed_by_chance(db: Database) -> None:
    minute_topic(db)
    stream = Stream()
    for i in range(26):  # 42% negative of 26: could be chance at a 20% baseline
        stream.add(NOW - timedelta(seconds=55 - i), "negative" if i < 11 else "positive")
    stream.store(db)
    [result] = detect(db, now=NOW)
    assert result.triggers == []
    assert wilson_lower(11, 26) < 0.4 < wilson_lower(30, 50)


def test_influencer_alarm_uses_followers_engagement_and_per_kind_thresholds(
    db: Database,
) -> None:
    minute_topic(db, influencer_reach={"default": 10_000, "hackernews": 300})
    stream = Stream()
    stream.add(NOW - timedelta(seconds=50), "positive", followers=2_000_000, handle="@star")
    stream.add(NOW - timedelta(seconds=45), "negative", followers=9_000, handle="@small")
    stream.add(
        NOW - timedelta(seconds=40),
        "negative",
        followers=100,
        handle="@viral",
        engagement={"likes": 12_000, "boosts": 500},
    )
    stream.add(
        NOW - timedelta(seconds=30),
        "negative",
        kind="hackernews",
        followers=None,
        handle="hnuser",
        engagement={"points": 450, "replies": 10},
    )
    stream.store(db)
    [result] = detect(db, now=NOW)
    [trigger] = result.triggers
    assert trigger.kind == "influencer"
    assert trigger.reason == (
        "influencer alarm: negative mastodon post by @viral (reach 13k: 100 followers "
        "+ 12k engagement, threshold 10k) and 1 more"
    )
    assert trigger.metrics["mentions"] == 2
    escalated = {c.kind for c in _conversations(db) if c.escalated}
    assert escalated == {"mastodon", "hackernews"}


def test_reach_reads_engagement_from_the_raw_record() -> None:
    assert engagement('{"engagement": {"replies": 3, "likes": 4, "boosts": null}}') == 7
    assert engagement('{"engagement": 42}') == 42
    assert engagement('{"engagement": {"likes": true}}') == 0
    assert engagement("not json but says engagement") == 0
    assert engagement(None) == 0
    assert reach(None, '{"engagement": {"points": 5}}') == (5, 0, 5)
    assert window_words(3600) == "last hour" and window_words(1800) == "last 30m"


# ---------------------------------------------------------------- one storm, one incident


def _storm(db: Database, at, negatives: int = 15) -> None:
    stream = Stream()
    for i in range(negatives):
        stream.add(at - timedelta(seconds=55 - i), "negative", text=f"acme fail {at} {i}")
    stream.store(db)


def test_a_storm_is_one_incident_and_a_later_storm_another(db: Database) -> None:
    minute_topic(db, cooldown_seconds=600)
    _storm(db, NOW)
    [first] = detect(db, now=NOW)
    _storm(db, NOW + timedelta(minutes=5))
    [again] = detect(db, now=NOW + timedelta(minutes=5))
    assert first.outcome.action == "opened" and again.outcome.action == "extended"
    assert again.outcome.incident_id == first.outcome.incident_id
    services_actor = "pr-lead"
    view = incidents.resolve(
        db, first.outcome.incident_id, actor=services_actor, note="refunds issued"
    )
    assert view.status == "resolved" and view.postmortem == "refunds issued"
    # the storm goes on within the cool-down: noted on the resolved incident, no new one
    _storm(db, NOW + timedelta(minutes=10))
    [noted] = detect(db, now=NOW + timedelta(minutes=10))
    assert noted.outcome.action == "suppressed"
    # quiet for longer than the cool-down: a new storm is a new incident
    _storm(db, NOW + timedelta(minutes=40))
    [fresh] = detect(db, now=NOW + timedelta(minutes=40))
    assert fresh.outcome.action == "opened"
    assert fresh.outcome.incident_id != first.outcome.incident_id
    with db.read() as session:
        actions = [e.action for e in incidents.timeline(session, first.outcome.incident_id)]
    assert actions[:3] == ["opened", "trigger", "linked"]
    assert "resolved" in actions and "trigger-after-resolve" in actions


def test_a_new_kind_of_trigger_reopens_a_resolved_incident(db: Database) -> None:
    minute_topic(db, cooldown_seconds=600)
    _storm(db, NOW)
    [first] = detect(db, now=NOW)
    incidents.resolve(db, first.outcome.incident_id, actor="lead", note="handled")
    stream = Stream()
    stream.add(NOW + timedelta(minutes=3), "negative", followers=80_000, handle="@anchor")
    stream.store(db)
    [later] = detect(db, now=NOW + timedelta(minutes=3, seconds=30))
    assert later.outcome.action == "reopened"
    with db.read() as session:
        view = incidents.get_incident(session, first.outcome.incident_id)
    assert view.status == "open" and view.closed_at is None
    assert view.triggers == ["influencer", "negative_share"]


def test_incident_services_acknowledge_own_resolve(db: Database) -> None:
    minute_topic(db)
    _storm(db, NOW)
    [result] = detect(db, now=NOW)
    incident_id = result.outcome.incident_id
    with db.read() as session:
        version = incidents.get_incident(session, incident_id).version
    view = incidents.acknowledge(db, incident_id, actor="alice", expected_version=version)
    assert view.status == "acknowledged" and view.acknowledged_at is not None
    with pytest.raises(ServiceError, match="is acknowledged, not open"):
        incidents.acknowledge(db, incident_id, actor="alice")
    with pytest.raises(services.ConflictError, match="changed since you loaded it"):
        incidents.own(db, incident_id, actor="bob", expected_version=version)
    view = incidents.own(db, incident_id, actor="bob")
    assert view.owner == "bob"
    with pytest.raises(ServiceError, match="no agent 'zed'"):
        incidents.own(db, incident_id, actor="bob", agent="zed")
    with pytest.raises(ServiceError, match="post-mortem"):
        incidents.resolve(db, incident_id, actor="bob", note="  ")
    incidents.note(db, incident_id, actor="bob", text="called the blogger")
    view = incidents.resolve(db, incident_id, actor="bob", note="apology posted\x1b[31m")
    assert view.postmortem == "apology posted"  # escape sequences never stored
    with pytest.raises(NotFound, match="no incident #999"):
        incidents.acknowledge(db, 999, actor="bob")
    with db.read() as session:
        steps = [(e.actor, e.action) for e in incidents.timeline(session, incident_id)]
        assert incidents.open_incidents(session) == []
    assert steps[-4:] == [
        ("alice", "acknowledged"),
        ("bob", "owner"),
        ("bob", "note"),
        ("bob", "resolved"),
    ]


def test_rerouting_an_escalated_conversation_is_not_undone(db: Database) -> None:
    minute_topic(db)
    services.create_role(db, "support", actor="admin")
    _storm(db, NOW)
    detect(db, now=NOW)
    escalated = [c for c in _conversations(db) if c.escalated]
    services.assign(db, escalated[0].id, actor="alice", role="support")
    detect(db, now=NOW + timedelta(seconds=10))
    after = {c.id: c for c in _conversations(db)}
    assert after[escalated[0].id].role_id != after[escalated[1].id].role_id  # routing kept


def test_topic_removal_keeps_its_incidents(db: Database) -> None:
    minute_topic(db)
    _storm(db, NOW)
    detect(db, now=NOW)
    remove_topic(db, "acme", actor="tester")
    with db.read() as session:
        [view] = incidents.list_incidents(session)
    assert view.topic == "acme" and view.topic_id is None


# ---------------------------------------------------------------- the poller's hook


def _rss(count: int, when: datetime) -> bytes:
    stamp = format_datetime(when)
    items = "".join(
        f'<item><guid isPermaLink="false">urn:storm:{i}</guid><title>acme storm {i}</title>'
        f"<link>http://example.test/storm/{i}</link><description>acme again {i}</description>"
        f"<pubDate>{stamp}</pubDate></item>"
        for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>storm</title>'
        f"<link>http://example.test/</link><description>d</description>{items}</channel></rss>"
    ).encode()


async def test_poller_runs_detection_after_its_commit(db: Database) -> None:
    now = utcnow()
    minute_topic(db, negative_share=1.0)
    history = Stream()  # half an hour of one mention a minute, then a spike arrives by RSS
    history.steady(30, end=now - timedelta(seconds=30))
    history.store(db)
    body = _rss(25, now - timedelta(seconds=20))
    with FeedServer() as server:
        url = server.route("/storm.xml", lambda request: Reply(200, {}, body))
        sources_admin.add_source(db, "rss", "storm", {"url": url}, actor="tester", interval=300)
        poller = Poller(db, timeout=10.0)
        try:
            [outcome] = await poller.poll_once()
        finally:
            await poller.aclose()
    assert outcome.inserted == 25
    with db.read() as session:
        [view] = incidents.list_incidents(session)
    assert view.triggers == ["volume"] and view.conversations > 0
    assert hook.stats(db)[1] == 0


def test_a_failing_detection_is_logged_and_never_raised(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    minute_topic(sqlite_db)
    _storm(sqlite_db, utcnow())
    with sqlite_db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE incident_event")
    with caplog.at_level(logging.ERROR):
        hook.detect_quietly(sqlite_db)
    assert "crisis detection failed; polling goes on" in caplog.text
    assert hook.stats(sqlite_db) == (1, 1)


# ---------------------------------------------------------------- the webhook


class _Hook(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        server.bodies.append(json.loads(body))  # type: ignore[attr-defined]
        status = server.statuses.pop(0) if server.statuses else 200  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def slack() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.bodies = []  # type: ignore[attr-defined]
    server.statuses = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/services/T000/SECRET"


def test_webhook_posts_each_incident_change_once_and_retries(
    db: Database, slack: ThreadingHTTPServer
) -> None:
    minute_topic(db)
    stream = Stream()
    stream.add(NOW - timedelta(seconds=30), "negative", followers=90_000, handle="<!channel>")
    stream.store(db)
    [result] = detect(db, now=NOW)
    url = _url(slack)
    now = NOW + timedelta(seconds=5)  # the detector's clock (events are stamped with it)
    slack.statuses.extend([500])  # type: ignore[attr-defined]
    first = webhook.deliver_pending(db, url, now=now)
    assert (first.posts, first.sent, first.retrying) == (1, 0, 2)
    with db.read() as session:
        errors = {e.notify_error for e in session.execute(select(IncidentEvent)).scalars()}
    assert any(e and "HTTP 500" in e for e in errors)
    assert not any(e and "SECRET" in e for e in errors)  # the URL is the secret: redacted
    assert webhook.deliver_pending(db, url, now=now).posts == 0  # backing off
    again = webhook.deliver_pending(db, url, now=now + timedelta(seconds=31))
    assert (again.posts, again.sent) == (1, 2)
    body = slack.bodies[-1]  # type: ignore[attr-defined]
    assert body["text"].startswith(
        f"[inboxtui] Incident #{result.outcome.incident_id} (acme, severity 2) is open"
    )
    assert "&lt;!channel&gt;" in body["text"] and "<!channel>" not in body["text"]
    assert [e["action"] for e in body["inboxtui"]["events"]] == ["opened", "trigger"]
    incidents.acknowledge(db, result.outcome.incident_id, actor="alice")  # stamped utcnow()
    third = webhook.deliver_pending(db, url, now=utcnow())
    assert third.sent == 1
    assert slack.bodies[-1]["text"].endswith("• acknowledged by alice")  # type: ignore[attr-defined]
    assert webhook.deliver_pending(db, url, now=utcnow()).posts == 0
    assert len(slack.bodies) == 3  # type: ignore[attr-defined]


def test_webhook_gives_up_after_its_attempts_and_skips_old_lines(
    db: Database, slack: ThreadingHTTPServer
) -> None:
    minute_topic(db)
    _storm(db, NOW)
    detect(db, now=NOW)
    url = _url(slack)
    slack.statuses.extend([503] * webhook.MAX_ATTEMPTS)  # type: ignore[attr-defined]
    now = NOW + timedelta(seconds=5)
    for attempt in range(webhook.MAX_ATTEMPTS):
        result = webhook.deliver_pending(db, url, now=now + timedelta(minutes=70 * attempt))
    assert result.failed == 2 and result.retrying == 0
    with db.read() as session:
        states = {e.notify for e in session.execute(select(IncidentEvent)).scalars()}
    assert states == {"failed", "skip"}
    _storm(db, NOW + timedelta(minutes=1))
    detect(db, now=NOW + timedelta(minutes=1))  # more lines, but we are days later
    late = webhook.deliver_pending(db, url, now=now + timedelta(days=2))
    assert late.posts == 0 and late.expired >= 1
    assert webhook.deliver_pending(db, None) is None  # no webhook configured: nothing


def test_bounded_filter_finds_the_same_conversations(db: Database) -> None:
    stream = Stream()
    for i, words in enumerate(
        ["acme broke my laptop", "refund please", "acme refund now", "broke acme", "nothing"]
    ):
        root = stream.add(NOW - timedelta(minutes=i), "negative", text=words)
        stream.add(NOW - timedelta(minutes=i, seconds=-5), text="me too", reply_to=root)
    stream.store(db)
    queries = ["acme", "acme broke", '"acme broke"', "acme OR refund", "-acme", "ac", "a -refund"]
    with db.read() as session:
        dialect = session.get_bind().dialect.name
        for text in queries:
            plain = conversation_filter(parse(text), dialect=dialect, me_id=None)
            expected = set(session.execute(select(Conversation.id).where(plain)).scalars())
            planned = bounded_filter(session, text)
            found = set(session.execute(select(Conversation.id).where(planned)).scalars())
            assert found == expected, text


def test_the_poller_hook_delivers_alerts_after_detection(
    sqlite_db: Database, slack: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOXTUI_SECRET_INCIDENT_WEBHOOK", _url(slack))
    minute_topic(sqlite_db)
    _storm(sqlite_db, utcnow())
    hook.detect_quietly(sqlite_db)
    [body] = slack.bodies  # type: ignore[attr-defined]
    assert "(acme, severity 3) is open" in body["text"]
    hook.detect_quietly(sqlite_db)  # nothing new to say
    assert len(slack.bodies) == 1  # type: ignore[attr-defined]
