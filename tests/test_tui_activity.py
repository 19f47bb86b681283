"""The Activity screen (`E`) and its filter language, on real databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rich.text import Text
from test_tui_helpers import FROZEN, fill, messages, running, settle
from textual.pilot import Pilot

from inboxtui import activity_log, services
from inboxtui import query as q
from inboxtui.activity_log import (
    ActivityFilter,
    ActivityFilterError,
    change_summary,
    parse_filter,
    read_page,
)
from inboxtui.app import InboxApp
from inboxtui.db import Database
from inboxtui.screens.activity import ActivityScreen
from inboxtui.services import audit

HOSTILE = "[bold red]pwned[/] \x1b[2J\u202egnp.exe"


# ---------------------------------------------------------------- the filter language


def test_filter_terms() -> None:
    got = parse_filter("actor:alice  action:assign since:1d #42", now=FROZEN)
    assert got == ActivityFilter("alice", "assign", FROZEN - timedelta(days=1), 42)
    assert parse_filter("  ", now=FROZEN) == ActivityFilter()
    assert parse_filter("since:2026-11-01", now=FROZEN).since is not None


@pytest.mark.parametrize(
    ("text", "bad", "reason"),
    [
        ("actor:alice bogus", "bogus", "unknown term 'bogus'"),
        ("who:alice", "who:alice", "unknown term 'who:alice'"),
        ("#4x actor:a", "#4x", "a conversation is #ID"),
        ("action: #1", "action:", "action: needs a value"),
        ("#1 since:soon", "since:soon", "since: not a time: 'soon'"),
    ],
)
def test_filter_errors_point_at_the_term(text: str, bad: str, reason: str) -> None:
    with pytest.raises(ActivityFilterError) as caught:
        parse_filter(text, now=FROZEN)
    error = caught.value
    assert text[error.start : error.end] == bad
    assert reason in error.reason
    assert f"(at column {error.start + 1})" in str(error)


def add_events(db: Database, n: int, *, actor: str = "bot", action: str = "note") -> None:
    with db.write() as session:
        for i in range(n):
            audit.record(
                session,
                conversation_id=None,
                actor=actor,
                action=action,
                before=None,
                after={"n": i},
                version=None,
            )


def test_pages_newest_first_with_filters(db: Database) -> None:
    add_events(db, 5, actor="alice", action="agent.update")
    add_events(db, 3, actor="bob", action="agent_x")
    everything = read_page(db, ActivityFilter(), limit=4)
    assert [e.after["n"] for e in everything] == [2, 1, 0, 4]
    older = read_page(db, ActivityFilter(), before_id=everything[-1].id, limit=4)
    assert [e.after["n"] for e in older] == [3, 2, 1, 0]
    assert [e.actor for e in read_page(db, ActivityFilter(actor="bob"))] == ["bob"] * 3
    # action:agent matches agent.update; `_` is not a LIKE wildcard
    assert len(read_page(db, ActivityFilter(action="agent"))) == 5
    assert read_page(db, ActivityFilter(action="agent_")) == []
    assert read_page(db, ActivityFilter(since=FROZEN + timedelta(days=3650))) == []
    assert change_summary(everything[0]) == "n none -> 2"


# ---------------------------------------------------------------- the screen




async def open_activity(pilot: Pilot, app: InboxApp) -> ActivityScreen:
    await pilot.press("E")
    await settle(pilot, app, rounds=2000)
    screen = app.screen
    assert isinstance(screen, ActivityScreen)
    return screen


def row(screen: ActivityScreen, index: int) -> list[str]:
    return [str(c) for c in screen.table.get_row_at(index)]


async def test_the_log_filtered_inert_and_opening_a_conversation(db: Database) -> None:
    fill(db, 12)
    services.assign(db, 7, actor="alice", role="support")
    with db.write() as session:
        audit.record(
            session,
            conversation_id=None,
            actor=HOSTILE,
            action="route",
            before={"role": None},
            after={"role": HOSTILE},
            version=None,
            detail=HOSTILE,
        )
    async with running(db) as (app, pilot):
        screen = await open_activity(pilot, app)
        first = screen.table.get_row_at(0)
        assert all(isinstance(c, Text) and not c.spans for c in first[1:3] + first[4:])
        assert "[bold red]pwned[/]" in first[1].plain and "\x1b" not in first[5].plain
        assert str(first[3]) == "team"
        assert row(screen, 1)[1:5] == [
            "alice",
            "assign",
            "#7",
            "role none -> support, status new -> open",
        ]
        total = screen.table.row_count
        await pilot.press("slash", *"#3")
        assert screen.filter_input.value == "#3"  # typed keys go to the input
        screen.filter_input.value = "actor:alice bogus"
        await pilot.press("enter")
        await settle(pilot, app, rounds=2000)
        error = screen.query_one("#filter-error").render()
        assert "unknown term 'bogus'" in str(error)
        assert "            ^^^^^" in str(error)  # the caret under the bad term
        assert screen.table.row_count == total  # nothing applied
        screen.filter_input.value = "actor:alice "
        await pilot.press("enter")
        await settle(pilot, app, rounds=2000)
        assert [e.actor for e in screen.events] == ["alice"]
        assert "matching actor:alice" in str(screen.query_one("#status").render())
        await pilot.press("slash")
        screen.filter_input.value = "action:agent"
        await pilot.press("enter")
        await settle(pilot, app, rounds=2000)
        assert {e.action for e in screen.events} == {"agent.create"}
        await pilot.press("enter")  # a team event: no conversation to open
        assert "This event is about the team, not a conversation" in messages(app)
        assert app.screen is screen
        await pilot.press("escape")
        assert app.screen is app.inbox
        # enter on an event of a conversation: back in the inbox, cursor on it
        inbox = app.inbox
        assert inbox.queue.current_row is not None and inbox.queue.current_row.id != 7
        screen = await open_activity(pilot, app)
        screen.table.move_cursor(row=1)
        assert screen.current is not None and screen.current.conversation_id == 7
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen is inbox
        assert inbox.queue.current_row is not None and inbox.queue.current_row.id == 7
        assert inbox.detail.conversation_id == 7
        # not in the current view: the detail pane shows it, the queue stays
        inbox.apply_filter("is:snoozed")
        await settle(pilot, app)
        screen = await open_activity(pilot, app)
        screen.table.move_cursor(row=1)
        await pilot.press("enter")
        await settle(pilot, app)
        assert "#7 is not in this view: shown in the detail pane" in messages(app)
        assert inbox.detail.conversation_id == 7


async def test_pages_load_as_the_cursor_reaches_the_bottom(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activity_log, "PAGE_SIZE", 20)
    add_events(db, 45)
    async with running(db, size=(120, 24)) as (app, pilot):  # 40 rows need scrolling
        screen = await open_activity(pilot, app)
        assert screen.table.row_count == 20 and screen.more
        assert screen.events[0].after["n"] == 44
        await pilot.press("ctrl+end")  # the cursor reaches the last row
        await settle(pilot, app, rounds=2000)
        assert screen.table.row_count == 40
        screen.table.scroll_end(animate=False, immediate=True)  # or a scroll (the mouse)
        await settle(pilot, app, rounds=2000)
        assert screen.table.row_count == 45 and not screen.more
        assert [e.after["n"] for e in screen.events] == list(range(44, -1, -1))
        assert "end of the log" in str(screen.query_one("#status").render())
        await pilot.press("slash", "q")  # typing, not leaving
        assert screen.filter_input.has_focus and screen.filter_input.value == "q"
        await pilot.press("escape")  # leaves the input first, then the screen
        assert screen.table.has_focus and not screen.filter_input.display
        assert app.screen is screen
        await pilot.press("escape")
        assert app.screen is app.inbox


@pytest.mark.parametrize("sort", ["newest", "oldest", "priority", "followers"])
def test_position_of_agrees_with_the_queue_order(db: Database, sort: str) -> None:
    fill(db, 12)
    services.set_priority(db, 4, actor="system:test", priority="urgent")
    text = f"-is:snoozed sort:{sort}"
    with db.read() as session:
        ids = q.matching_ids(session, text)
        assert [q.position_of(session, text, cid) for cid in ids] == list(range(len(ids)))
        assert q.position_of(session, "is:snoozed", ids[0]) is None
