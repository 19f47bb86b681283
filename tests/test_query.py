"""The filter language: parsing and its errors (no database), then every key, full-text
search, precedence and keyset paging against real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlmodel import Session

from inboxtui import pg_plan
from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.models import (
    PRIORITY_RANK,
    Agent,
    Author,
    Conversation,
    ConversationTag,
    Mention,
    Role,
    Source,
    Tag,
)
from inboxtui.search import index_rows
from inboxtui.timeutil import utcnow

# --------------------------------------------------------------------------- parsing


def shape(node: q.Node | None) -> object:
    """The tree without positions and tokens, for readable assertions."""
    if node is None:
        return None
    if isinstance(node, q.Filter):
        return (node.key, node.op, node.value)
    if isinstance(node, q.TextTerm):
        return ("text", node.term, node.quoted)
    if isinstance(node, q.Not):
        return ("not", shape(node.node))
    name = "and" if isinstance(node, q.And) else "or"
    return (name, *[shape(n) for n in node.nodes])


def test_and_binds_tighter_than_or() -> None:
    assert shape(q.parse("a b OR c").root) == (
        "or",
        ("and", ("text", "a", False), ("text", "b", False)),
        ("text", "c", False),
    )
    assert shape(q.parse("a (b OR c)").root) == (
        "and",
        ("text", "a", False),
        ("or", ("text", "b", False), ("text", "c", False)),
    )


def test_explicit_and_is_the_same_as_a_space() -> None:
    assert shape(q.parse("is:open AND refund").root) == shape(q.parse("is:open refund").root)


def test_negation_of_terms_phrases_and_groups() -> None:
    assert shape(q.parse('-tag:spam -refund -"money back"').root) == (
        "and",
        ("not", ("tag", "=", "spam")),
        ("not", ("text", "refund", False)),
        ("not", ("text", "money back", True)),
    )
    assert shape(q.parse("-(is:open OR is:new)").root) == (
        "not",
        ("or", ("is", "=", "open"), ("is", "=", "new")),
    )


def test_values_are_normalised() -> None:
    parsed = q.parse(
        "IS:Open status:new assignee:@Bob author:@alice lang:zh_TW severity:>=2 "
        'followers:>1.5m followers:<=10k priority:>=HIGH tag:"needs reply" sort:oldest'
    )
    assert parsed.sort == "oldest"
    assert shape(parsed.root) == (
        "and",
        ("is", "=", "open"),
        ("is", "=", "new"),
        ("assignee", "=", "Bob"),
        ("author", "=", "alice"),
        ("lang", "=", "zh-tw"),
        ("severity", ">=", 2),
        ("followers", ">", 1_500_000),
        ("followers", "<=", 10_000),
        ("priority", ">=", PRIORITY_RANK["high"]),
        ("tag", "=", "needs reply"),
    )


def test_empty_and_punctuation_queries() -> None:
    assert q.parse("").root is None
    assert q.parse("   ").root is None
    assert q.parse("sort:priority").root is None
    assert q.parse("sort:priority").sort == "priority"
    assert q.parse("").sort == "newest"


def test_urls_and_times_are_text_not_keys() -> None:
    assert shape(q.parse("https://example.com/x").root) == (
        "text",
        "https://example.com/x",
        False,
    )
    assert shape(q.parse("12:30").root) == ("text", "12:30", False)


def caret(error: q.QueryError) -> tuple[int, int]:
    return error.position, error.length


def test_unknown_key_shows_a_suggestion_and_a_caret() -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse("is:open stauts:x")
    error = info.value
    assert caret(error) == (8, 8)
    assert error.query == "is:open stauts:x"
    lines = str(error).splitlines()
    assert lines[0].startswith("unknown filter key 'stauts' (did you mean 'status'? keys: is, ")
    assert lines[1] == "  is:open stauts:x"
    assert lines[2] == "          ^^^^^^^^"


def test_bad_value_points_at_the_value_and_suggests() -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse("tag:x is:opn")
    assert caret(info.value) == (9, 3)
    assert "did you mean 'open'?" in info.value.reason
    assert str(info.value).splitlines()[2] == "           ^^^"


def test_bad_comparison() -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse("severity:>>2")
    assert caret(info.value) == (9, 3)
    assert "bad comparison '>>2' for severity:" in info.value.reason
    with pytest.raises(q.QueryError, match="priorities: low, normal, high, urgent"):
        q.parse("priority:>=hihg")
    with pytest.raises(q.QueryError, match="bad comparison"):
        q.parse("followers:>lots")


def test_bad_date() -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse("refund since:yesterdayish")
    assert caret(info.value) == (13, 12)
    assert "not a time: 'yesterdayish'" in info.value.reason


def test_unbalanced_quote() -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse('is:open "money back')
    assert info.value.reason == "unclosed quote"
    assert caret(info.value) == (8, 11)
    with pytest.raises(q.QueryError, match="unclosed quote"):
        q.parse('tag:"needs reply')


def test_dangling_or() -> None:
    for text, position in (("refund OR", 7), ("OR refund", 0), ("a OR OR b", 2), ("(a OR) b", 3)):
        with pytest.raises(q.QueryError, match="OR needs a term on both sides") as info:
            q.parse(text)
        assert caret(info.value) == (position, 2), text


def test_parentheses_and_dashes() -> None:
    with pytest.raises(q.QueryError, match=r"unclosed '\('") as info:
        q.parse("is:open (a OR b")
    assert caret(info.value) == (8, 1)
    with pytest.raises(q.QueryError, match=r"unmatched '\)'") as info:
        q.parse("a OR b)")
    assert caret(info.value) == (6, 1)
    with pytest.raises(q.QueryError, match="empty parentheses"):
        q.parse("a ()")
    with pytest.raises(q.QueryError, match="'-' must touch"):
        q.parse("- tag:spam")


def test_sort_is_global() -> None:
    with pytest.raises(q.QueryError, match="cannot be negated"):
        q.parse("-sort:oldest")
    with pytest.raises(q.QueryError, match="cannot be negated or used with OR"):
        q.parse("a OR sort:oldest")
    with pytest.raises(q.QueryError, match="only one sort"):
        q.parse("sort:oldest sort:newest")
    with pytest.raises(q.QueryError, match="missing value after 'sort:'"):
        q.parse("sort:")


def test_caret_is_aligned_under_wide_characters() -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse("退款 is:opne")
    lines = str(info.value).splitlines()
    assert lines[2] == "  " + " " * 8 + "^^^^"  # 退款 is four terminal cells wide


def test_cursor_token_round_trip_and_rejection() -> None:
    when = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=utcnow().tzinfo)
    for cursor in (
        q.Cursor("newest", (when,), 42),
        q.Cursor("priority", (3, when), 7),
        q.Cursor("followers", (-1,), 9),
    ):
        assert q.Cursor.from_token(cursor.to_token()) == cursor
    for bad in ("", "nonsense", q.Cursor("newest", (5,), 1).to_token()):
        with pytest.raises(ValueError, match="not a valid page cursor"):
            q.Cursor.from_token(bad)


# --------------------------------------------------------------------------- data


@dataclass
class World:
    """Conversation keys (root_key) <-> ids, and my agent id."""

    ids: dict[str, int] = field(default_factory=dict)
    me: int = 0

    def keys(self, found: list[int]) -> list[str]:
        names = {v: k for k, v in self.ids.items()}
        return [names[i] for i in found]


NOW = utcnow()


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def build(session: Session, world: World) -> None:
    def add(obj):  # type: ignore[no-untyped-def]
        session.add(obj)
        session.flush()
        return obj

    mastodon = add(Source(kind="mastodon", name="Acme Mastodon", created_at=NOW))
    blog = add(Source(kind="rss", name="blog", created_at=NOW))
    support = add(Role(name="support"))
    pr = add(Role(name="pr"))
    me = add(Agent(handle="tester", created_at=NOW))
    bob_agent = add(Agent(handle="bob", created_at=NOW))
    world.me = me.id

    def author(handle: str, followers: int | None) -> Author:
        return add(
            Author(
                kind="mastodon",
                handle=handle,
                name=handle.strip("@").title(),
                followers=followers,
                first_seen_at=NOW,
                last_seen_at=NOW,
            )
        )

    alice = author("alice", 50_000)
    bob = author("bob", 900)
    carol = author("carol", None)
    dave = author("@Dave", 1_500_000)
    tags = {name: add(Tag(name=name)) for name in ("vip", "spam")}
    mention_ids: list[tuple[int, str, str | None]] = []

    def conv(key: str, source: Source, who: Author, when: datetime, texts, **fields) -> None:  # type: ignore[no-untyped-def]
        tag_names = fields.pop("tags", ())
        c = add(
            Conversation(
                source_id=source.id,
                root_key=key,
                kind=fields.pop("kind", "post"),
                author_id=who.id,
                created_at=when - timedelta(minutes=5),
                last_activity_at=when,
                updated_at=when,
                excerpt=texts[0][0][:50],
                title=texts[0][1] if len(texts[0]) > 1 else None,
                mention_count=len(texts),
                **fields,
            )
        )
        world.ids[key] = c.id
        for name in tag_names:
            add(ConversationTag(conversation_id=c.id, tag_id=tags[name].id))
        for n, (body, title, lang, sentiment) in enumerate(
            t + (None,) * (4 - len(t)) for t in texts
        ):
            m = add(
                Mention(
                    source_id=source.id,
                    external_id=f"{key}-{n}",
                    conversation_id=c.id,
                    author_id=who.id,
                    created_at=when - timedelta(minutes=n),
                    text=body,
                    title=title,
                    lang=lang,
                    sentiment_label=sentiment,
                    fetched_at=NOW,
                )
            )
            mention_ids.append((m.id, body, title))

    conv(
        "c1",
        mastodon,
        alice,
        ago(hours=1),
        [("I want a refund for my order", None, "en", "negative")],
        status="open",
        agent_id=me.id,
        role_id=support.id,
        priority=PRIORITY_RANK["high"],
        tags=("vip",),
    )
    conv(
        "c2",
        mastodon,
        bob,
        ago(hours=2),
        [
            ("申请退款，谢谢", None, "zh-Hans", "neutral"),
            ("money back guarantee please", None, "en", "positive"),
        ],
        status="new",
        role_id=support.id,
        tags=("spam",),
    )
    conv(
        "c3",
        blog,
        carol,
        ago(days=3),
        [("這次的營銷活動很失敗", "營銷活動", "zh-TW", "negative")],
        kind="article",
        status="pending",
        agent_id=bob_agent.id,
        role_id=pr.id,
        escalated=True,
        severity=3,
        escalation_reason="angry press",
        priority=PRIORITY_RANK["urgent"],
    )
    conv(
        "c4",
        blog,
        dave,
        ago(days=10),
        [("营销 campaign launch at the Café, 退货 accepted", None, "zh-CN", None)],
        status="resolved",
        priority=PRIORITY_RANK["low"],
    )
    conv(
        "c5",
        mastodon,
        alice,
        ago(days=30),
        [("Refunding is slow; moneyback!", None, "de", None)],
        status="snoozed",
        agent_id=me.id,
        escalated=True,
        severity=1,
    )
    conv(
        "c6",
        mastodon,
        bob,
        ago(hours=5),
        [("!!! ???", None, None, None)],
        status="open",
        role_id=pr.id,
        priority=PRIORITY_RANK["high"],
        tags=("vip", "spam"),
    )
    index_rows(session.connection(), mention_ids)


ALL = ["c1", "c2", "c3", "c4", "c5", "c6"]


@contextmanager
def _pg_budget_spent(self: q._PostgresPlanner) -> Iterator[None]:
    """PostgreSQL's real budget, spent by a statement it stops before the walk runs."""
    with pg_plan.budget(self.session, 1):
        self.session.connection().exec_driver_sql("SELECT pg_sleep(0.2)")
        yield


@pytest.fixture(params=["planned", "exists", "scan", "interrupted"])
def world(db: Database, request: pytest.FixtureRequest, monkeypatch) -> Iterator[World]:  # type: ignore[no-untyped-def]
    """The same data, with the planners forced into each of their shapes."""
    planner = q._SqlitePlanner
    if request.param != "planned" and db.dialect != "sqlite":
        pg = q._PostgresPlanner
        monkeypatch.setattr(pg, "IDS_MAX", -1)  # never hand over ids
        monkeypatch.setattr(pg, "AUTHORS_IN_MAX", -1)
        if request.param == "exists":  # collect every match, never walk
            monkeypatch.setattr(pg, "SCAN_FIRST", False)
        elif request.param == "scan":  # the newest mentions alone decide: walk
            monkeypatch.setattr(pg, "DENSE", 0.0)
        elif request.param == "interrupted":  # every walk runs out of budget at once
            monkeypatch.setattr(pg, "budget", _pg_budget_spent)
    elif request.param != "planned":
        # as if every term, tag and follower bound matched many
        monkeypatch.setattr(planner, "IDS_MAX", -1)
        monkeypatch.setattr(planner, "TAG_IN_MAX", -1)
        monkeypatch.setattr(planner, "AUTHORS_IN_MAX", -1)
        monkeypatch.setattr(planner, "DENSE", 0.0)
    if request.param == "exists":
        monkeypatch.setattr(planner, "SCAN_FIRST", False)
    elif request.param == "interrupted":  # every scan runs out of budget at once
        monkeypatch.setattr(planner, "SCAN_STEPS", 0)
        monkeypatch.setattr(planner, "STEP_SIZE", 1)
    w = World()
    with db.write() as session:
        build(session, w)
    w.db = db  # type: ignore[attr-defined]
    yield w


def found(world: World, text: str, *, me: bool = True) -> set[str]:
    """Ids by fetch_page (planned), checked against matching_ids and count (portable)."""
    db: Database = world.db  # type: ignore[attr-defined]
    me_id = world.me if me else None
    with db.read() as session:
        page = q.fetch_page(session, text, me_id=me_id, limit=100)
        ids = q.matching_ids(session, text, me_id=me_id)
        total = q.count(session, text, me_id=me_id)
        filtered = list(
            session.exec(
                select(Conversation.id).where(
                    q.conversation_filter(q.parse(text), dialect=db.dialect, me_id=me_id)
                )
            )
        )
    keys = world.keys([r.id for r in page.rows])
    assert keys == world.keys(ids), text
    assert total == len(ids), text
    assert sorted(r[0] for r in filtered) == sorted(ids), text
    assert page.next_cursor is None
    return set(keys)


def everything_but(*keys: str) -> set[str]:
    return set(ALL) - set(keys)


# --------------------------------------------------------------------------- keys


KEY_CASES: list[tuple[str, list[str]]] = [
    ("", ALL),
    ("is:open", ["c1", "c6"]),
    ("status:open", ["c1", "c6"]),
    ("is:new", ["c2"]),
    ("is:pending", ["c3"]),
    ("is:snoozed", ["c5"]),
    ("is:resolved", ["c4"]),
    ("-is:resolved", ["c1", "c2", "c3", "c5", "c6"]),
    ("is:escalated", ["c3", "c5"]),
    ("is:unassigned", ["c2", "c4", "c6"]),
    ("is:assigned", ["c1", "c3", "c5"]),
    ("is:mine", ["c1", "c5"]),
    ("assignee:me", ["c1", "c5"]),
    ("assignee:bob", ["c3"]),
    ("assignee:@BOB", ["c3"]),
    ("assignee:nobody", []),
    ("assignee:none", ["c2", "c4", "c6"]),
    ("-assignee:bob", ["c1", "c2", "c4", "c5", "c6"]),
    ("role:support", ["c1", "c2"]),
    ("role:PR", ["c3", "c6"]),
    ("role:none", ["c4", "c5"]),
    ("-role:pr", ["c1", "c2", "c4", "c5"]),
    ("role:ghost", []),
    ('source:"Acme Mastodon"', ["c1", "c2", "c5", "c6"]),
    ("source:blog", ["c3", "c4"]),
    ("-source:blog", ["c1", "c2", "c5", "c6"]),
    ("kind:article", ["c3"]),
    ("author:alice", ["c1", "c5"]),
    ("author:@ALICE", ["c1", "c5"]),
    ("author:dave", ["c4"]),
    ("author:@dave", ["c4"]),
    ("tag:vip", ["c1", "c6"]),
    ("tag:SPAM", ["c2", "c6"]),
    ("-tag:spam", ["c1", "c3", "c4", "c5"]),
    ("tag:vip tag:spam", ["c6"]),
    ("tag:nothing", []),
    ("lang:zh", ["c2", "c3", "c4"]),
    ("lang:zh-tw", ["c3"]),
    ("lang:en", ["c1", "c2"]),
    ("-lang:zh", ["c1", "c5", "c6"]),
    ("sentiment:negative", ["c1", "c3"]),
    ("sentiment:positive", ["c2"]),
    ("severity:>=2", ["c3"]),
    ("severity:1", ["c5"]),
    ("severity:<3", ["c5"]),
    ("-severity:>=2", ["c1", "c2", "c4", "c5", "c6"]),
    ("followers:>10000", ["c1", "c4", "c5"]),
    ("followers:>10k", ["c1", "c4", "c5"]),
    ("followers:>=1.5m", ["c4"]),
    ("followers:<1000", ["c2", "c6"]),
    ("priority:high", ["c1", "c6"]),
    ("priority:>=high", ["c1", "c3", "c6"]),
    ("priority:<normal", ["c4"]),
    ("since:2d", ["c1", "c2", "c6"]),
    ("before:2d", ["c3", "c4", "c5"]),
    ("since:1w before:2d", ["c3"]),
    ("is:open role:support", ["c1"]),
]


def check(world: World, cases: list[tuple[str, list[str]]]) -> None:
    """All cases in one database (building it is the slow part); every mismatch is reported."""
    got = {text: found(world, text) for text, _ in cases}
    assert got == {text: set(expected) for text, expected in cases}


def test_every_key(world: World) -> None:
    check(world, KEY_CASES)


def test_mine_without_an_identity_matches_nothing(world: World) -> None:
    assert found(world, "is:mine", me=False) == set()
    assert found(world, "assignee:me", me=False) == set()
    assert found(world, "-assignee:me", me=False) == set(ALL)


def test_absolute_dates(world: World) -> None:
    day = (NOW - timedelta(days=7)).date().isoformat()
    assert found(world, f"since:{day}") == {"c1", "c2", "c3", "c6"}
    assert found(world, f"before:{day}") == {"c4", "c5"}


# --------------------------------------------------------------------------- full text


TEXT_CASES: list[tuple[str, list[str]]] = [
    ("refund", ["c1", "c5"]),  # a bare word is a prefix: "Refunding" too
    ("REFUND", ["c1", "c5"]),
    ("mon", ["c2", "c5"]),  # money, moneyback
    ('"money back"', ["c2"]),  # adjacent words, not "moneyback"
    ('"back money"', []),
    ('"money ba"', ["c2"]),  # the last word of a phrase narrows as you type
    ("refund order", ["c1"]),
    ("refund 退款", []),  # one AND group: all in one mention
    ("money 退款", []),  # two mentions of c2, never one
    ("退款", ["c2"]),
    ("退", ["c2", "c4"]),  # one character: 退款, 退货
    ("请退", ["c2"]),  # a bigram across a word boundary inside unspaced text
    ("申请退款", ["c2"]),
    ("款谢", []),  # not adjacent: the comma separates runs
    ("营销", ["c3", "c4"]),  # Simplified finds Traditional 營銷 too
    ("營銷", ["c3", "c4"]),  # and the other way round
    ("营销活动", ["c3"]),  # in the title (Traditional 營銷活動)
    ("活動很失敗", ["c3"]),
    ("-refund", ["c2", "c3", "c4", "c6"]),
    ("-退款 -营销", ["c1", "c5", "c6"]),
    ("refund OR 退款", ["c1", "c2", "c5"]),
    ("refund is:open OR 退款", ["c1", "c2"]),  # (refund AND open) OR 退款
    ("refund (is:open OR 退款)", ["c1"]),
    ("is:open OR is:new refund", ["c1", "c6"]),  # open OR (new AND refund)
    ("-(refund OR 营销)", ["c2", "c6"]),
    ("!!!", ALL),  # only punctuation: ignored
    ('is:open "!!!"', ["c1", "c6"]),
    ("refund OR ???", ["c1", "c5"]),  # an ignored term drops out of the OR
    ("营销 OR 營銷 OR refund", ["c1", "c3", "c4", "c5"]),  # one script's twin: one lookup
    ("nothinglikethis", []),
    ("https://example.com", []),
]


def test_full_text(world: World) -> None:
    check(world, TEXT_CASES)


def test_words_folding_to_the_same_tokens_are_looked_up_once() -> None:
    twins = q.conversation_filter(q.parse("营销 OR 營銷 OR refund"), dialect="sqlite", me_id=None)
    single = q.conversation_filter(q.parse("营销 OR refund"), dialect="sqlite", me_id=None)
    assert str(twins).count("MATCH") == str(single).count("MATCH") == 2


# --------------------------------------------------------------------------- rows and order


def order(world: World, text: str) -> list[str]:
    db: Database = world.db  # type: ignore[attr-defined]
    with db.read() as session:
        return world.keys([r.id for r in q.fetch_page(session, text, me_id=world.me).rows])


def test_sorts(world: World) -> None:
    assert order(world, "") == ["c1", "c2", "c6", "c3", "c4", "c5"]
    assert order(world, "sort:oldest") == ["c5", "c4", "c3", "c6", "c2", "c1"]
    assert order(world, "sort:priority") == ["c3", "c1", "c6", "c2", "c5", "c4"]
    # alice's two conversations tie on followers: higher id first; carol's unknown count last
    assert order(world, "sort:followers") == ["c4", "c5", "c1", "c6", "c2", "c3"]
    assert order(world, "sort:oldest is:open") == ["c6", "c1"]


def test_every_key_in_priority_order(world: World) -> None:
    # SQLite walks the priority index with the filter's columns unindexed (`+status`),
    # and when that walk runs out of budget ("interrupted") sorts the filter's matches.
    check(world, [(f"{text} sort:priority", expected) for text, expected in KEY_CASES])


def test_row_contents(world: World) -> None:
    db: Database = world.db  # type: ignore[attr-defined]
    with db.read() as session:
        (c1,) = q.fetch_page(session, "tag:vip is:mine", me_id=world.me).rows
        (c3,) = q.fetch_page(session, "is:escalated severity:3").rows
        (c2,) = q.fetch_page(session, "is:new").rows
    assert c1.id == world.ids["c1"]
    assert (c1.status, c1.priority, c1.role, c1.agent) == ("open", "high", "support", "tester")
    assert (c1.source, c1.kind, c1.author_handle, c1.author_name) == (
        "Acme Mastodon",
        "post",
        "alice",
        "Alice",
    )
    assert c1.followers == 50_000 and c1.tags == ("vip",) and c1.escalated is False
    assert c1.last_activity_at == ago(hours=1) and c1.snooze_until is None
    assert c1.excerpt == "I want a refund for my order" and c1.version == 1
    assert (c3.escalated, c3.severity, c3.escalation_reason) == (True, 3, "angry press")
    assert (c3.priority, c3.agent, c3.title, c3.followers) == ("urgent", "bob", "營銷活動", None)
    assert c2.tags == ("spam",) and c2.agent is None and c2.mention_count == 2


def test_fetch_rows_keeps_the_given_order_and_skips_missing(world: World) -> None:
    db: Database = world.db  # type: ignore[attr-defined]
    wanted = [world.ids["c6"], 999_999, world.ids["c1"], world.ids["c6"]]
    with db.read() as session:
        rows = q.fetch_rows(session, wanted)
        assert q.fetch_rows(session, []) == []
    assert [r.id for r in rows] == [world.ids["c6"], world.ids["c1"], world.ids["c6"]]
    assert rows[0].tags == ("spam", "vip")


def test_a_cursor_of_another_sort_is_refused(world: World) -> None:
    db: Database = world.db  # type: ignore[attr-defined]
    with db.read() as session:
        page = q.fetch_page(session, "", limit=2)
        assert page.next_cursor is not None
        with pytest.raises(q.QueryError, match="sort:newest"):
            q.fetch_page(session, "sort:oldest", after=page.next_cursor)


# --------------------------------------------------------------------------- paging


def fill_many(session: Session, n: int) -> None:
    """`n` conversations with heavy ties on every sort key."""
    source = Source(kind="rss", name="bulk", created_at=NOW)
    authors = [
        Author(
            kind="rss",
            handle=f"a{i}",
            followers=None if i == 0 else (i % 3) * 100,
            first_seen_at=NOW,
            last_seen_at=NOW,
        )
        for i in range(7)
    ]
    session.add_all([source, *authors])
    session.flush()
    conversations = [
        Conversation(
            source_id=source.id,
            root_key=f"k{i}",
            kind="post",
            author_id=authors[i % 7].id,
            status="open" if i % 4 else "new",
            priority=i % 4,
            created_at=NOW,
            last_activity_at=NOW - timedelta(minutes=i // 5),  # five rows per instant
            updated_at=NOW,
        )
        for i in range(n)
    ]
    session.add_all(conversations)
    session.flush()
    mentions = [
        Mention(
            source_id=source.id,
            external_id=f"m{i}",
            conversation_id=c.id,
            author_id=c.author_id,
            created_at=NOW,
            text=f"bulk refund 退款 number{i}",
            fetched_at=NOW,
        )
        for i, c in enumerate(conversations)
    ]
    session.add_all(mentions)
    session.flush()
    index_rows(session.connection(), [(m.id, m.text, None) for m in mentions])


def sort_key(sort: str, r: q.ConversationRow) -> tuple:
    followers = -1 if r.followers is None else r.followers
    return {
        "newest": (r.last_activity_at, r.id),
        "oldest": (r.last_activity_at, r.id),
        "priority": (PRIORITY_RANK[r.priority], r.last_activity_at, r.id),
        "followers": (followers, r.id),
    }[sort]


@pytest.mark.parametrize("sort", ["newest", "oldest", "priority", "followers"])
def test_keyset_paging_gives_every_row_once_in_order(db: Database, sort: str) -> None:
    with db.write() as session:
        fill_many(session, 137)
    for extra in ("", "is:open", "refund", "退款 -number7"):
        text = f"{extra} sort:{sort}"
        with db.read() as session:
            expected = q.matching_ids(session, text)
            rows = {r.id: r for r in q.fetch_rows(session, expected)}
            seen: list[int] = []
            after = None
            pages = 0
            while True:
                page = q.fetch_page(session, text, limit=10, after=after)
                seen.extend(r.id for r in page.rows)
                pages += 1
                if page.next_cursor is None:
                    break
                # the CLI's path: the cursor survives as a token
                after = q.Cursor.from_token(page.next_cursor.to_token())
        assert len(seen) == len(set(seen)) == len(expected) > 10, text
        assert seen == expected, text
        assert pages == -(-len(expected) // 10), text
        by_key = sorted(expected, key=lambda i: sort_key(sort, rows[i]), reverse=sort != "oldest")
        assert expected == by_key, text


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("is:open sort:priority", "ix_conversation_status_priority_activity"),
        ("role:none sort:priority", "ix_conversation_priority_activity"),  # a walk
    ],
)
def test_priority_order_with_a_filter_reads_an_index_in_that_order(
    sqlite_db: Database, text: str, index: str
) -> None:
    """Pages of `sort:priority` with a filter come without a temporary b-tree of every match."""
    with sqlite_db.write() as session:
        fill_many(session, 40)
    statements: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "ORDER BY conversation.priority DESC" in statement:  # the page's query
            statements.append((statement, parameters))

    event.listen(sqlite_db.engine, "before_cursor_execute", capture)
    try:
        with sqlite_db.read() as session:
            page = q.fetch_page(session, text, limit=10)
            q.fetch_page(session, text, limit=10, after=page.next_cursor)
    finally:
        event.remove(sqlite_db.engine, "before_cursor_execute", capture)
    assert len(statements) == 2
    with sqlite_db.engine.connect() as conn:
        for statement, parameters in statements:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert f"INDEX {index}" in plan, plan  # (a covering index is fine too)
            assert "TEMP B-TREE" not in plan, plan


def test_only_last_reads_the_last_row_of_the_same_page(db: Database) -> None:
    with db.write() as session:
        fill_many(session, 37)
    with db.read() as session:
        full = q.fetch_page(session, "sort:priority", limit=10)
        last = q.fetch_page(session, "sort:priority", limit=10, only_last=True)
        tail = q.fetch_page(
            session, "sort:priority", limit=100, after=full.next_cursor, only_last=True
        )
        expected = q.matching_ids(session, "sort:priority")
    assert [r.id for r in last.rows] == [full.rows[-1].id]
    assert (last.skipped, last.next_cursor) == (9, full.next_cursor)
    assert [r.id for r in tail.rows] == [expected[-1]]  # the end of the list
    assert (tail.skipped, tail.next_cursor) == (26, None)
