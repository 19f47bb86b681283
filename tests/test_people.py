"""Author profiles: linking accounts into persons, tags, notes, renames, and the profile
read, on SQLite and PostgreSQL. Expected figures are computed here from the world's
own list of mentions, not by the service's SQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from people_support import PeopleWorld, build_people_world
from sqlalchemy import select

from inboxtui.db import Database
from inboxtui.models import Event, Person, PersonAuthor, PersonNote, PersonTag
from inboxtui.services import NotFound, ServiceError, people

ADA_M = "mastodon:@ada@hachyderm.io"
ADA_B = "bluesky:ada.bsky.social"


@pytest.fixture
def world(db: Database) -> PeopleWorld:
    return build_people_world(db)


def events(db: Database) -> list[tuple[str, dict, dict]]:
    with db.read() as session:
        rows = session.execute(select(Event).order_by(Event.id)).scalars().all()
    return [
        (e.action, json.loads(e.before or "{}"), json.loads(e.after or "{}"))
        for e in rows
        if e.action.startswith("person.")
    ]


def test_an_unlinked_author_is_its_own_implicit_person(db: Database, world: PeopleWorld) -> None:
    with db.read() as session:
        ref = people.resolve(session, "@ADA@hachyderm.io")
        assert ref.implicit and ref.author_ids == (world.authors[ADA_M],)
        assert ref.name == "Ada L."
        profile = people.profile(session, ref)
        assert session.execute(select(Person)).first() is None  # reading creates nothing
    assert [c.id for c in profile.conversations] == [
        world.conversations["m2"],
        world.conversations["m1"],
    ]
    assert profile.tags == [] and profile.notes == []


def test_link_makes_one_person_of_two_accounts_and_is_audited(
    db: Database, world: PeopleWorld
) -> None:
    result = people.link(db, ADA_M, ADA_B, actor="alice")
    assert result.summary == f"linked {ADA_B} to 'Ada L.'"
    assert set(result.ref.author_ids) == {world.authors[ADA_M], world.authors[ADA_B]}
    people.rename(db, "ada l.", "Ada Lovelace", actor="alice")
    with db.read() as session:
        # by name (any case), by either handle, by KIND:HANDLE: the same person
        refs = {
            people.resolve(session, text).person_id
            for text in ("ADA LOVELACE", "ada.bsky.social", ADA_M, "@ada@hachyderm.io")
        }
        assert len(refs) == 1 and None not in refs
    assert [a for a, _, _ in events(db)] == ["person.create", "person.link", "person.rename"]
    assert events(db)[1][1:] == ({"person": None}, {"person": "Ada L."})
    assert events(db)[2][1:] == ({"person": "Ada L."}, {"person": "Ada Lovelace"})
    again = people.link(db, "Ada Lovelace", ADA_B, actor="alice")
    assert not again.changed and len(events(db)) == 3


def test_an_author_belongs_to_one_person_and_linking_elsewhere_moves_and_merges(
    db: Database, world: PeopleWorld
) -> None:
    people.tag(db, ADA_B, ["Advocate"], actor="alice")  # makes person "Ada Lovelace"
    people.add_note(db, ADA_B, "met at the conference", actor="alice")
    people.tag(db, ADA_M, ["VIP"], actor="bob-agent")  # person "Ada L."
    result = people.link(db, "Ada L.", ADA_B, actor="alice")
    assert "merged its tags and notes" in result.summary
    with db.read() as session:
        persons = session.execute(select(Person.name)).scalars().all()
        assert persons == ["Ada L."]
        ref = people.resolve(session, ADA_B)
        assert ref.name == "Ada L." and len(ref.author_ids) == 2
        profile = people.profile(session, ref)
        links = session.execute(select(PersonAuthor.author_id)).scalars().all()
    assert sorted(links) == sorted([world.authors[ADA_M], world.authors[ADA_B]])
    assert profile.tags == ["advocate", "vip"]
    assert [n.body for n in profile.notes] == ["met at the conference"]


def test_unlink_separates_an_account_but_not_the_only_one(db: Database, world: PeopleWorld) -> None:
    people.link(db, ADA_M, ADA_B, actor="alice")
    people.tag(db, ADA_M, ["advocate"], actor="alice")
    result = people.unlink(db, ADA_B, actor="alice")
    assert result.ref.implicit and result.ref.author_ids == (world.authors[ADA_B],)
    with pytest.raises(ServiceError, match=r"only account of 'Ada L\.'"):
        people.unlink(db, ADA_M, actor="alice")
    assert not people.unlink(db, "cy.bsky.social", actor="alice").changed
    with db.read() as session:
        # the tag stays with the person, not with the account that left
        assert people.profile(session, people.resolve(session, ADA_B)).tags == []
        assert people.profile(session, people.resolve(session, ADA_M)).tags == ["advocate"]
    assert events(db)[-1][0] == "person.unlink"


def test_tags_are_normalised_and_untag_and_no_ops_write_nothing(
    db: Database, world: PeopleWorld
) -> None:
    people.tag(db, "u/bob", ["VIP", " #Detractor ", "vip"], actor="alice")
    assert not people.tag(db, "u/bob", ["detractor"], actor="alice").changed
    people.untag(db, "u/bob", ["DETRACTOR"], actor="alice")
    assert not people.untag(db, "u/bob", ["nope"], actor="alice").changed
    assert not people.untag(db, "cy.bsky.social", ["vip"], actor="alice").changed
    with pytest.raises(ServiceError, match="one word"):
        people.tag(db, "u/bob", ['"big fan"'], actor="alice")
    with db.read() as session:
        assert session.execute(select(PersonTag.tag)).scalars().all() == ["vip"]
        assert session.execute(select(Person.name)).scalars().all() == ["bob"]
    actions = [(a, b.get("tags"), c.get("tags")) for a, b, c in events(db)]
    assert actions == [
        ("person.create", None, None),
        ("person.tag", [], ["detractor", "vip"]),
        ("person.untag", ["detractor", "vip"], ["vip"]),
    ]


def test_notes_record_who_and_when_and_hostile_text_is_cleaned(
    db: Database, world: PeopleWorld
) -> None:
    people.add_note(db, "cy.bsky.social", "calls \x1b[31mevery\u202e day", actor="alice")
    with pytest.raises(ServiceError, match="needs some text"):
        people.add_note(db, "cy.bsky.social", "  ", actor="alice")
    with db.read() as session:
        note = session.execute(select(PersonNote)).scalar_one()
        profile = people.profile(session, people.resolve(session, "cy.bsky.social"))
    assert note.body == "calls every day"
    assert profile.notes[0].agent == "alice" and profile.notes[0].body == "calls every day"
    assert profile.last_contact is not None and profile.last_contact.via == "person note"
    assert events(db)[-1] == ("person.note", {}, {"note_id": note.id})


def test_errors_name_the_problem(db: Database, world: PeopleWorld) -> None:
    with pytest.raises(NotFound, match="no person or account 'nobody'"):
        people.tag(db, "nobody", ["vip"], actor="alice")
    with pytest.raises(NotFound, match="no account 'ghost'"):
        people.link(db, ADA_M, "ghost", actor="alice")
    people.rename(db, "u/bob", "Bobby", actor="alice")
    with pytest.raises(ServiceError, match="a person named 'bobby' exists"):
        people.rename(db, ADA_M, "bobby", actor="alice")
    with pytest.raises(ServiceError, match="no acting agent"):
        people.tag(db, ADA_M, ["vip"], actor=" ")


def test_two_platforms_with_one_handle_must_be_told_apart(db: Database, world: PeopleWorld) -> None:
    from inboxtui.models import Author

    with db.write() as session:
        session.add(
            Author(
                kind="mastodon",
                handle="ada.bsky.social",
                first_seen_at=world.now,
                last_seen_at=world.now,
            )
        )
    with db.read() as session, pytest.raises(ServiceError, match="several platforms"):
        people.resolve(session, "ada.bsky.social")
    with db.read() as session:
        assert people.resolve(session, ADA_B).author_ids == (world.authors[ADA_B],)


def test_profile_figures_match_the_world(db: Database, world: PeopleWorld) -> None:
    people.link(db, ADA_M, ADA_B, actor="alice")
    with db.read() as session:
        profile = people.profile(session, people.resolve(session, ADA_M), now=world.now)
    ada = {ADA_M, ADA_B}
    mine = [m for m in world.mentions if m[0] in ada]
    # identities: followers and mention counts per account
    assert {(i.label, i.followers, i.mentions) for i in profile.identities} == {
        (ADA_M, 1200, sum(1 for m in mine if m[0] == ADA_M)),
        (ADA_B, 800, sum(1 for m in mine if m[0] == ADA_B)),
    }
    assert profile.reach == 2000 and profile.mentions == len(mine)
    assert profile.first_seen_at == world.now - timedelta(days=40)
    # every conversation she started or wrote in, with its outcome
    keys = {m[1] for m in mine}
    by_id = {v: k for k, v in world.conversations.items()}
    assert {by_id[c.id] for c in profile.conversations} == keys
    assert profile.conversations_total == len(keys)
    assert {by_id[c.id]: (c.status, c.started) for c in profile.conversations} == {
        "m1": ("resolved", True),
        "m2": ("open", True),
        "b1": ("new", True),
        "r1": ("pending", False),
    }
    assert profile.outcomes == {"resolved": 1, "open": 1, "new": 1, "pending": 1}
    # weekly trend: counted here by date arithmetic on the world's own list
    assert len(profile.trend) == people.TREND_WEEKS
    for week in profile.trend:
        inside = [m for m in mine if week.week <= m[2] < week.week + timedelta(weeks=1)]
        assert week.mentions == len(inside)
        assert week.negative == sum(1 for m in inside if m[3] == "negative")
        assert week.positive == sum(1 for m in inside if m[3] == "positive")
        labelled = [m for m in inside if m[3] is not None]
        net = sum({"positive": 1, "negative": -1}.get(m[3] or "", 0) for m in labelled)
        assert week.net == (pytest.approx(net / len(labelled)) if labelled else None)
    assert sum(w.mentions for w in profile.trend) == sum(
        1 for m in mine if m[2] >= profile.trend[0].week
    )
    # who talked to her last: alice's reply in Bob's thread (7 days) beats the 29-day note
    assert profile.last_reply is not None and profile.last_reply.agent == "alice"
    assert profile.last_contact == profile.last_reply
    assert profile.last_contact.conversation_id == world.conversations["r1"]


def test_list_people_and_tag_filter(db: Database, world: PeopleWorld) -> None:
    people.link(db, ADA_M, ADA_B, actor="alice")
    people.tag(db, ADA_M, ["advocate"], actor="alice")
    people.tag(db, "u/bob", ["detractor"], actor="alice")
    people.add_note(db, "u/bob", "angry about refunds", actor="alice")
    with db.read() as session:
        everyone = people.list_people(session)
        advocates = people.list_people(session, tag_name="ADVOCATE")
    assert [(p.name, p.accounts, p.tags, p.reach, p.notes) for p in everyone] == [
        ("Ada L.", [ADA_B, ADA_M], ["advocate"], 2000, 0),
        ("bob", ["reddit:u/bob"], ["detractor"], 0, 1),
    ]
    assert [p.name for p in advocates] == ["Ada L."]


def test_the_activity_log_reads_person_events(db: Database, world: PeopleWorld) -> None:
    from inboxtui.activity_log import ActivityFilter, read_page

    people.tag(db, ADA_M, ["advocate"], actor="alice")
    people.link(db, ADA_M, ADA_B, actor="alice")
    rows = read_page(db, ActivityFilter(action="person"))
    assert [(e.action, e.describe(), e.detail) for e in rows] == [
        ("person.link", "person.link person none -> Ada L.", ADA_B),
        ("person.tag", "person.tag tags none -> advocate", "Ada L."),
        (
            "person.create",
            f"person.create accounts none -> {ADA_M}, person none -> Ada L.",
            "Ada L.",
        ),
    ]
