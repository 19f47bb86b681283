"""The demo inbox comes furnished: templates, a team with SLAs, rules, topics, our accounts."""

from __future__ import annotations

import json

from sqlalchemy import select

from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.demo_setup import STORM_TOPIC, furnish
from inboxtui.detection.topics import list_topics
from inboxtui.models import Author, Incident, Mention, Source
from inboxtui.outbox import reply_target
from inboxtui.routing import list_rules
from inboxtui.seed import BRAND_ACCOUNTS, seed_demo
from inboxtui.team import team_configured
from inboxtui.templates import list_templates


def threads_ending_with_our_answer(db: Database) -> list[int]:
    """Conversations whose newest mention is by the brand's own account."""
    with db.read() as session:
        rows = session.execute(
            select(Mention.conversation_id, Mention.created_at, Mention.id, Author.handle)
            .join(Author, Author.id == Mention.author_id)
            .order_by(Mention.conversation_id, Mention.created_at, Mention.id)
        ).all()
    newest = {row.conversation_id: row.handle for row in rows}
    return [c for c, handle in newest.items() if handle in BRAND_ACCOUNTS.values()]


def test_the_demo_is_furnished_and_replies_greet_the_customer(sqlite_db: Database) -> None:
    # The demo's hours follow the clock (a daily rhythm): at 600 mentions some times of
    # day gave no thread ending with the brand's answer (9 of 72 times tried); 1,500 none.
    seed_demo(sqlite_db, 1500, seed=5)
    furnish(sqlite_db, "newcomer")
    assert {t.name for t in list_templates(sqlite_db)} == {"refund", "thanks", "x2-battery"}
    storm = next(t for t in list_topics(sqlite_db) if t.name == STORM_TOPIC)
    with sqlite_db.read() as session:
        assert team_configured(session)  # the newcomer is a lead: nothing refuses them
        assert [r.name for r in list_rules(session.connection())] == [
            "refunds to support",
            "x2 battery to pr",
        ]
        incident = session.execute(select(Incident)).scalar_one()
        assert incident.topic_id == storm.id  # detection extends the seeded storm
        assert q.count(session, "is:breached") > 0  # the support SLA is running
        for source in session.execute(select(Source)).scalars():
            account = json.loads(source.config).get("account")
            assert account == BRAND_ACCOUNTS.get(source.kind)  # news feeds have no account

    ours = threads_ending_with_our_answer(sqlite_db)
    assert ours, "the demo has threads that end with the brand's answer"
    for conversation_id in ours[:5]:
        target = reply_target(sqlite_db, conversation_id, "newcomer")
        assert target.author_handle not in BRAND_ACCOUNTS.values()
        assert target.author_handle


def test_the_demo_has_persons_with_linked_accounts_and_tags(sqlite_db: Database, tmp_path) -> None:
    from inboxtui.db import open_database
    from inboxtui.services import people

    def furnished_persons(db: Database) -> list[tuple[str, list[str], list[str]]]:
        seed_demo(db, 600, seed=5)
        furnish(db, "newcomer")
        with db.read() as session:
            assert q.count(session, "author-tag:influencer") > 0
            return [(p.name, p.accounts, p.tags) for p in people.list_people(session)]

    persons = furnished_persons(sqlite_db)
    assert any(len(accounts) >= 2 for _, accounts, _ in persons), "some accounts are linked"
    assert {"influencer", "detractor"} <= {t for _, _, tags in persons for t in tags}
    other = open_database(str(tmp_path / "again.db"))
    try:
        assert furnished_persons(other) == persons  # the same seed, the same persons
    finally:
        other.dispose()
