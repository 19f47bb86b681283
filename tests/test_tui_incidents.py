"""The incident banner and the Incidents screen (`I`), in a real headless app."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from detection_support import Stream
from test_tui_helpers import FROZEN, fill, messages, running, settle
from textual.widgets import Sparkline

from inboxtui.db import Database
from inboxtui.detection import detect, incidents
from inboxtui.detection.topics import add_topic
from inboxtui.screens.incidents import IncidentsScreen
from inboxtui.widgets.incident_banner import IncidentBanner


def storm(db: Database, handle: str = "@anchor") -> int:
    """An influencer's negative post and 15 negative replies before FROZEN: one incident."""
    stream = Stream()
    root = stream.add(FROZEN - timedelta(minutes=30), "negative", followers=400_000, handle=handle)
    for i in range(15):
        stream.add(FROZEN - timedelta(minutes=20 - i), "negative", text="same", reply_to=root)
    stream.add(FROZEN - timedelta(minutes=10), "negative", text="acme never again")
    stream.store(db)
    [result] = detect(db, now=FROZEN)
    assert result.outcome is not None
    return result.outcome.incident_id


@pytest.fixture
def crisis_db(sqlite_db: Database) -> Database:
    fill(sqlite_db, 6)
    add_topic(sqlite_db, "acme", "acme", actor="tester")
    return sqlite_db


async def wait(pilot, app) -> None:
    await settle(pilot, app)
    screen = app.screen
    deadline = time.monotonic() + 30  # bounded by time: a loaded machine runs fewer rounds
    while time.monotonic() < deadline:
        banner = app.inbox.query_one(IncidentBanner)
        busy = getattr(screen, "is_busy", False) or banner.is_loading
        if not busy and not any(w.is_running for w in app.workers):
            return
        await pilot.pause(0.01)
    raise AssertionError("the incidents did not settle")


async def test_banner_appears_and_rings_when_an_incident_opens(crisis_db: Database) -> None:
    async with running(crisis_db) as (app, pilot):
        banner = app.inbox.query_one(IncidentBanner)
        await wait(pilot, app)
        assert not banner.display and banner.bells == 0
        incident_id = storm(crisis_db, handle="@[bold red]x\x1b[2J")
        app.db_changed()  # what the live watcher calls
        await wait(pilot, app)
        assert banner.display and banner.bells == 1
        text = banner.render().plain if hasattr(banner.render(), "plain") else str(banner.render())
        assert f"INCIDENT #{incident_id}" in text and "severity 3" in text
        assert "[bold red]x" in text and "\x1b" not in text  # hostile text stays inert
        app.db_changed()
        await wait(pilot, app)
        assert banner.bells == 1  # one bell per incident, not per refresh
        incidents.acknowledge(crisis_db, incident_id, actor="alice")
        app.db_changed()
        await wait(pilot, app)
        assert banner.display and banner.has_class("-acknowledged")
        incidents.resolve(crisis_db, incident_id, actor="alice", note="done")
        app.db_changed()
        await wait(pilot, app)
        assert not banner.display


async def test_incidents_screen_shows_and_acknowledges_owns_resolves(
    crisis_db: Database,
) -> None:
    incident_id = storm(crisis_db)
    async with running(crisis_db) as (app, pilot):
        await pilot.press("I")
        await wait(pilot, app)
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        assert [v.id for v in screen.views] == [incident_id]
        detail = screen.detail
        assert detail is not None and detail.view.id == incident_id
        assert [e.action for e in detail.timeline][:3] == ["opened", "trigger", "trigger"]
        assert len(detail.conversations) == 2  # the thread and the lone post
        assert sum(screen.query_one("#volume", Sparkline).data) == 17
        assert max(screen.query_one("#share", Sparkline).data) == 100.0
        await pilot.press("a")
        await wait(pilot, app)
        assert screen.views[0].status == "acknowledged"
        await pilot.press("o")
        await wait(pilot, app)
        assert screen.views[0].owner == "tester"
        await pilot.press("x")
        await pilot.press(*"apology posted", "ctrl+s")
        await wait(pilot, app)
        with crisis_db.read() as session:
            view = incidents.get_incident(session, incident_id)
            actions = [(e.actor, e.action) for e in incidents.timeline(session, incident_id)]
        assert view.status == "resolved" and view.postmortem == "apology posted"
        assert actions[-3:] == [
            ("tester", "acknowledged"),
            ("tester", "owner"),
            ("tester", "resolved"),
        ]
        await pilot.press("x")
        assert "already resolved" in messages(app)[-1]
        await pilot.press("escape")
        await wait(pilot, app)
        assert not isinstance(app.screen, IncidentsScreen)
        assert not app.inbox.query_one(IncidentBanner).display


async def test_a_change_by_someone_else_is_a_reload_notice(crisis_db: Database) -> None:
    incident_id = storm(crisis_db)
    async with running(crisis_db) as (app, pilot):
        await pilot.press("I")
        await wait(pilot, app)
        incidents.own(crisis_db, incident_id, actor="alice")  # another agent, meanwhile
        await pilot.press("a")
        await wait(pilot, app)
        assert "changed since you loaded it" in messages(app)[-1]
        assert app.screen.views[0].owner == "alice"  # reloaded after the notice


async def test_incidents_screen_with_none_says_so(crisis_db: Database) -> None:
    async with running(crisis_db) as (app, pilot):
        await pilot.press("I")
        await wait(pilot, app)
        assert app.screen.views == []
        await pilot.press("a")
        assert messages(app)[-1] == "No incident selected"
