"""`person:NAME` and `author-tag:TAG` in the filter language: parsing, caret errors, and
the conversations they find on SQLite and PostgreSQL (planned and portable SQL agree)."""

from __future__ import annotations

import pytest
from people_support import PeopleWorld, build_people_world
from sqlalchemy import select

from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.models import Conversation
from inboxtui.services import people

ADA_M = "mastodon:@ada@hachyderm.io"
ADA_B = "bluesky:ada.bsky.social"


def shape(node: q.Node | None) -> object:
    if isinstance(node, q.Filter):
        return (node.key, node.op, node.value)
    if isinstance(node, q.TextTerm):
        return ("text", node.term)
    if isinstance(node, q.Not):
        return ("not", shape(node.node))
    assert isinstance(node, q.And | q.Or)
    return ("and" if isinstance(node, q.And) else "or", *[shape(n) for n in node.nodes])


def test_keys_parse_with_negation_or_and_quotes() -> None:
    parsed = q.parse('Author-Tag:VIP -author-tag:detractor (person:"Ada Lovelace" OR person:@bob)')
    assert shape(parsed.root) == (
        "and",
        ("author-tag", "=", "vip"),
        ("not", ("author-tag", "=", "detractor")),
        ("or", ("person", "=", "Ada Lovelace"), ("person", "=", "@bob")),
    )


def test_bad_values_get_a_caret_under_the_value() -> None:
    with pytest.raises(q.QueryError) as info:
        q.parse('is:open author-tag:"big fan"')
    assert "one word" in info.value.reason
    assert info.value.position == len('is:open author-tag:"')
    with pytest.raises(q.QueryError) as info:
        q.parse("author-tag:")
    assert info.value.reason.startswith("missing value after 'author-tag:'")
    with pytest.raises(q.QueryError) as info:
        q.parse("persn:ada")
    assert "did you mean 'person'" in info.value.reason


def test_other_hyphenated_words_stay_text() -> None:
    assert shape(q.parse("well-known:thing").root) == ("text", "well-known:thing")


@pytest.fixture
def world(db: Database) -> PeopleWorld:
    w = build_people_world(db)
    people.link(db, ADA_M, ADA_B, actor="alice")
    people.rename(db, ADA_M, "Ada Lovelace", actor="alice")
    people.tag(db, ADA_M, ["advocate", "VIP"], actor="alice")
    people.tag(db, "u/bob", ["detractor"], actor="alice")
    return w


def found(db: Database, world: PeopleWorld, text: str) -> set[str]:
    """Keys by fetch_page (planned), checked against count and the portable filter."""
    names = {v: k for k, v in world.conversations.items()}
    with db.read() as session:
        page = q.fetch_page(session, text, limit=100)
        total = q.count(session, text)
        portable = session.execute(
            select(Conversation.id).where(
                q.conversation_filter(q.parse(text), dialect=db.dialect, me_id=None)
            )
        ).scalars()
        portable_keys = {names[i] for i in portable}
    keys = {names[r.id] for r in page.rows}
    assert keys == portable_keys, text
    assert total == len(keys), text
    return keys


CASES = [
    ("author-tag:advocate", {"m1", "m2", "b1"}),  # both of Ada's accounts, roots only
    ("author-tag:ADVOCATE author-tag:vip", {"m1", "m2", "b1"}),
    ("author-tag:detractor", {"r1"}),
    ("-author-tag:advocate", {"r1", "c1"}),
    ("author-tag:advocate OR author-tag:detractor", {"m1", "m2", "b1", "r1"}),
    ("author-tag:nobody", set()),
    ('person:"ada lovelace"', {"m1", "m2", "b1"}),
    ("person:ada.bsky.social", {"m1", "m2", "b1"}),  # one handle finds the linked accounts
    ("person:@ADA@hachyderm.io is:open", {"m2"}),
    ("person:cy.bsky.social", {"c1"}),  # an unlinked author is its own person
    ("-person:u/bob", {"m1", "m2", "b1", "c1"}),
    ("person:ghost", set()),
    ("person:Ada Lovelace", set()),  # `Lovelace` is a search word: no mention has it
]


@pytest.mark.parametrize(("text", "keys"), CASES)
def test_conversations_found(db: Database, world: PeopleWorld, text: str, keys: set[str]) -> None:
    assert found(db, world, text) == keys


def test_many_accounts_stay_a_subquery(
    db: Database, world: PeopleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(q, "_PERSON_IDS_MAX", 0)
    assert found(db, world, "author-tag:advocate") == {"m1", "m2", "b1"}
    assert found(db, world, "person:ada.bsky.social -is:resolved") == {"m2", "b1"}


@pytest.mark.parametrize("shape", ["walk", "interrupted"])
def test_many_conversations_walk_the_sort_index_under_a_budget(
    db: Database, world: PeopleWorld, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    if db.dialect != "sqlite":
        pytest.skip("walking under a budget is SQLite's")
    monkeypatch.setattr(q._SqlitePlanner, "TAG_IN_MAX", 0)  # as if they had many
    if shape == "interrupted":  # every walk runs out of budget at once: collected instead
        monkeypatch.setattr(q._SqlitePlanner, "SCAN_STEPS", 0)
        monkeypatch.setattr(q._SqlitePlanner, "STEP_SIZE", 1)
    for text, keys in CASES:
        assert found(db, world, text) == keys, text
        assert found(db, world, f"({text}) sort:priority") == keys, text


def test_unlinking_changes_what_person_finds(db: Database, world: PeopleWorld) -> None:
    people.unlink(db, ADA_B, actor="alice")
    assert found(db, world, "person:ada.bsky.social") == {"b1"}
    assert found(db, world, "author-tag:advocate") == {"m1", "m2"}
