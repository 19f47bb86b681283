"""The author profile screen (`P`, `enter` in the detail pane): what it shows, its keys
(tag, note, link, unlink, name), going to a conversation, inert hostile text, a snapshot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rich.text import Text
from sqlalchemy import select, update
from test_tui_helpers import FROZEN, fill, make_app, messages, records, running, settle
from textual.content import Content
from textual.pilot import Pilot

from inboxtui.app import InboxApp
from inboxtui.db import Database
from inboxtui.models import Author, Conversation, PersonNote
from inboxtui.screens.inbox import InboxScreen
from inboxtui.screens.profile import AuthorPicker, ProfileScreen
from inboxtui.services import people

HOSTILE = "[bold red]pwned[/] \x1b[2J\u202egnp.exe"
JEFF = "@jeff@mastodon.social"


def conversation_id(db: Database, root_key: str) -> int:
    with db.read() as session:
        return session.execute(
            select(Conversation.id).where(Conversation.root_key == root_key)
        ).scalar_one()


def expected_roots(n: int, handle: str, kinds: set[str]) -> set[str]:
    """Root keys of the conversations started by `handle` on `kinds`, from the fixed records."""
    return {
        r.external_id
        for r in records(n)
        if r.in_reply_to is None and r.author_handle == handle and r.kind in kinds
    }


async def open_profile(pilot: Pilot, app: InboxApp, key: str = "P") -> ProfileScreen:
    await pilot.press(key)
    await settle(pilot, app, rounds=2000)
    screen = app.screen
    assert isinstance(screen, ProfileScreen)
    return screen


def table_ids(screen: ProfileScreen) -> set[int]:
    return {int(str(screen.table.get_row_at(i)[0])) for i in range(screen.table.row_count)}


def head(screen: ProfileScreen) -> str:
    return str(screen.query_one("#profile-head").render())


async def test_profile_keys_change_the_person_and_enter_goes_to_a_conversation(
    db: Database,
) -> None:
    fill(db, 12)
    async with running(db) as (app, pilot):
        screen = await open_profile(pilot, app)  # the first row: m0, Jeff on Mastodon
        assert "Jeff" in head(screen) and "not linked" in head(screen)
        roots = expected_roots(12, JEFF, {"mastodon"})
        assert table_ids(screen) == {conversation_id(db, k) for k in roots}

        # `#`: tag (the modal's new-tag row), `i`: a note
        await pilot.press("number_sign", *"advocate")
        await pilot.press("enter")
        await settle(pilot, app, rounds=2000)
        await pilot.press("i", *"met at FOSDEM")
        await pilot.press("ctrl+s")
        await settle(pilot, app, rounds=2000)
        assert screen.profile is not None
        assert screen.profile.tags == ["advocate"]
        assert [n.body for n in screen.profile.notes] == ["met at FOSDEM"]
        assert "advocate" in head(screen)
        assert "met at FOSDEM" in str(screen.query_one("#profile-notes").render())

        # `l`: link Jeff's RSS account with the picker; his conversations there join
        await pilot.press("l")
        await settle(pilot, app, rounds=2000)
        assert isinstance(app.screen, AuthorPicker)
        await pilot.press(*"rss jeff")
        await pilot.press("enter")
        await settle(pilot, app, rounds=2000)
        assert app.screen is screen
        assert [m for m in messages(app) if m.startswith("linked rss:@jeff")]
        roots = expected_roots(12, JEFF, {"mastodon", "rss"})
        assert len(roots) == 2 and table_ids(screen) == {conversation_id(db, k) for k in roots}
        assert {i.kind for i in screen.profile.identities} == {"mastodon", "rss"}

        # `n`: name the person
        await pilot.press("n")
        await settle(pilot, app)
        app.screen.query_one("#name").value = "Jeff Atwood"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot, app, rounds=2000)
        assert screen.profile.name == "Jeff Atwood"

        # `u`: unlink the RSS account again
        await pilot.press("u", *"rss")
        await pilot.press("enter")
        await settle(pilot, app, rounds=2000)
        assert {i.kind for i in screen.profile.identities} == {"mastodon"}
        assert screen.profile.tags == ["advocate"]  # tags stay with the person

        # enter on a conversation: back in the inbox, the cursor on it
        wanted = screen.profile.conversations[0].id
        screen.table.focus()
        await pilot.press("enter")
        await settle(pilot, app, rounds=2000)
        assert isinstance(app.screen, InboxScreen)
        assert app.inbox.queue.current_row is not None
        assert app.inbox.queue.current_row.id == wanted
    with db.read() as session:
        ref = people.resolve(session, "Jeff Atwood")
        assert len(ref.author_ids) == 1


async def test_enter_in_the_detail_pane_opens_the_author_and_escape_returns(
    db: Database,
) -> None:
    fill(db, 12)
    async with running(db) as (app, pilot):
        await pilot.press("j", "enter")  # m1: the second row, opened in the detail pane
        await settle(pilot, app)
        assert app.inbox.detail.has_focus
        screen = await open_profile(pilot, app, "enter")
        m1 = next(r for r in records(12) if r.external_id == "m1")
        assert m1.author_name is not None and m1.author_name in head(screen)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, InboxScreen)


async def test_the_detail_pane_names_the_person_and_its_tags(db: Database) -> None:
    fill(db, 6)
    people.tag(db, f"mastodon:{JEFF}", ["advocate"], actor="alice")
    people.rename(db, f"mastodon:{JEFF}", "Jeff Atwood", actor="alice")
    async with running(db) as (app, pilot):
        await pilot.press("enter")  # m0: Jeff on Mastodon
        await settle(pilot, app)
        assert "person Jeff Atwood  advocate" in app.inbox.detail.text


async def test_hostile_names_and_notes_are_inert(db: Database) -> None:
    fill(db, 6)
    people.rename(db, f"mastodon:{JEFF}", HOSTILE, actor="alice")
    people.add_note(db, f"mastodon:{JEFF}", HOSTILE, actor=HOSTILE)
    async with running(db) as (app, pilot):
        screen = await open_profile(pilot, app)
        rendered = [screen.query_one(f"#profile-{part}").render() for part in ("head", "notes")]
        for text in rendered:
            assert isinstance(text, Text | Content)
            assert "[bold red]pwned[/]" in text.plain  # shown literally, not as style
            assert "\x1b" not in text.plain and "\u202e" not in text.plain
            assert not any("red" in str(span.style) for span in text.spans)


async def test_a_profile_screen_follows_changes_made_elsewhere(db: Database) -> None:
    fill(db, 6)
    async with running(db) as (app, pilot):
        screen = await open_profile(pilot, app)
        people.tag(db, f"mastodon:{JEFF}", ["vip"], actor="alice")  # another process, say
        app.db_changed()
        await settle(pilot, app, rounds=2000)
        assert screen.profile is not None and screen.profile.tags == ["vip"]


async def test_palette_lists_the_profile_keys(db: Database) -> None:
    fill(db, 3)
    async with running(db) as (app, pilot):
        screen = await open_profile(pilot, app)
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Link another account (picker)" in titles
        assert "Tag / untag the person" in titles


@pytest.fixture
def profiled(sqlite_db: Database) -> Database:
    fill(sqlite_db, 20)
    with sqlite_db.read() as session:
        rss_jeff = session.execute(
            select(Author.id).where(Author.kind == "rss", Author.handle == JEFF)
        ).scalar_one()
    people.link(sqlite_db, f"mastodon:{JEFF}", rss_jeff, actor="alice")
    people.rename(sqlite_db, f"mastodon:{JEFF}", "Jeff Atwood", actor="alice")
    people.tag(sqlite_db, "Jeff Atwood", ["advocate", "vip"], actor="alice")
    people.add_note(
        sqlite_db, "Jeff Atwood", "Long-time user; wrote the 繁體中文 guide.", actor="alice"
    )
    with sqlite_db.write() as session:  # the note's time is now(): pin it for the snapshot
        session.execute(update(PersonNote).values(created_at=FROZEN - timedelta(hours=2)))
    return sqlite_db


def test_profile_snapshot(snap_compare, profiled: Database) -> None:
    app = make_app(profiled)

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, app)
        await pilot.press("P")
        await settle(pilot, app, rounds=2000)

    assert snap_compare(app, terminal_size=(140, 40), run_before=run_before)
