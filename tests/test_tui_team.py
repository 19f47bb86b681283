"""The Team screen (`M`): roles, agents, duty, capacity and rebalance, on real databases."""

from __future__ import annotations

import json

from rich.text import Text
from sqlalchemy import select
from test_tui_helpers import fill, messages, running, settle, state
from textual.pilot import Pilot

from inboxtui import services, team
from inboxtui.app import InboxApp
from inboxtui.db import Database
from inboxtui.models import Event
from inboxtui.screens.team import TeamScreen

HOSTILE_NAME = "[bold red]pwned[/] \x1b[2J\u202egnp.exe"

TEAM = f"""
lead_role = "lead"

[[role]]
name = "support"

[[agent]]
handle = "alice"
name = {json.dumps(HOSTILE_NAME)}
roles = ["community", "lead"]

[[agent]]
handle = "tester"
name = "Tess Tester"
roles = ["support"]
capacity = 5
"""

LEAD_TEAM = TEAM.replace('roles = ["support"]', 'roles = ["support", "lead"]')


def setup_team(db: Database, text: str = TEAM) -> None:
    fill(db, 12)
    team.import_team(db, team.parse_team(text), actor="system:test")




async def open_team(pilot: Pilot, app: InboxApp) -> TeamScreen:
    await pilot.press("M")
    await settle(pilot, app, rounds=2000)
    screen = app.screen
    assert isinstance(screen, TeamScreen)
    return screen


def cells(screen: TeamScreen, table_id: str) -> list[list[Text]]:
    table = screen.roles_table if table_id == "roles" else screen.agents_table
    return [table.get_row_at(i) for i in range(table.row_count)]


def agent_events(db: Database) -> list[tuple[str, str, str | None]]:
    with db.read() as session:
        rows = session.execute(
            select(Event.actor, Event.action, Event.after)
            .where(Event.action == "agent.update")
            .order_by(Event.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_lists_the_team_and_changes_duty_and_capacity(db: Database) -> None:
    setup_team(db)
    services.assign(db, 1, actor="system:test", agent="tester")
    async with running(db) as (app, pilot):
        screen = await open_team(pilot, app)
        roles = {str(r[0]): [str(c) for c in r] for r in cells(screen, "roles")}
        assert roles["lead"][2] == "lead" and roles["lead"][3] == "alice"
        assert roles["support"][2] == "" and roles["support"][3] == "tester"
        assert roles["community"][3] == "alice"
        agents = {str(r[0]): r for r in cells(screen, "agents")}
        assert [str(c) for c in agents["tester"][2:]] == ["support", "1/5", "on duty"]
        assert str(agents["alice"][3]) == "0/-"
        name = agents["alice"][1]
        assert isinstance(name, Text) and not name.spans  # no markup was interpreted
        assert "[bold red]pwned[/]" in name.plain
        assert "\x1b" not in name.plain and "\u202e" not in name.plain
        handles = [a.handle for a in screen.view.agents]
        screen.agents_table.move_cursor(row=handles.index("tester"))
        await pilot.press("d")
        await settle(pilot, app, rounds=2000)
        assert screen.current_agent is not None and not screen.current_agent.on_duty
        for key in ("plus", "plus", "minus"):
            await pilot.press(key)
            await settle(pilot, app, rounds=2000)
        assert screen.current_agent.capacity == 6
        assert str(screen.agents_table.get_row_at(screen.agents_table.cursor_row)[3]) == "1/6"
        assert str(screen.agents_table.get_row_at(screen.agents_table.cursor_row)[4]) == "away"
        with db.read() as session:
            stored = {a.handle: a for a in team.read_team(session).agents}
        assert stored["tester"].on_duty is False and stored["tester"].capacity == 6
        events = [e for e in agent_events(db) if e[0] == "tester"]
        assert len(events) == 4  # duty, 6, 7, 6: one audit event per change
        assert '"on_duty": false' in (events[0][2] or "")
        # "no limit" minus one: the limit starts at the open load (alice has none)
        screen.agents_table.move_cursor(row=handles.index("alice"))
        await pilot.press("plus")
        await settle(pilot, app, rounds=2000)
        assert "alice has no capacity limit (- sets one)" in messages(app)
        for key in ("minus", "minus"):
            await pilot.press(key)
            await settle(pilot, app, rounds=2000)
        assert "capacity must be >= 0, not -1" in messages(app)  # the service refused
        assert screen.current_agent is not None and screen.current_agent.capacity == 0
        await pilot.press("escape")
        assert app.screen is app.inbox


async def test_rebalance_is_for_leads_and_says_the_services_reason(db: Database) -> None:
    setup_team(db)
    for cid in (1, 2, 3):
        services.assign(db, cid, actor="system:test", role="support")
    async with running(db) as (app, pilot):
        screen = await open_team(pilot, app)
        names = [r.name for r in screen.view.roles]
        screen.roles_table.move_cursor(row=names.index("support"))
        await pilot.press("b")
        await settle(pilot, app, rounds=2000)
        assert "only a lead may rebalance role support" in messages(app)
        assert all(state(db, cid)["agent"] is None for cid in (1, 2, 3))
        # made a lead meanwhile (another terminal): the same key now hands the queue out
        team.import_team(db, team.parse_team(LEAD_TEAM), actor="system:test")
        await pilot.press("b")
        await settle(pilot, app, rounds=2000)
        assert any(m.startswith("rebalanced role support: 3 moved") for m in messages(app))
        assert all(state(db, cid)["agent"] == "tester" for cid in (1, 2, 3))
        tester = next(a for a in screen.view.agents if a.handle == "tester")
        assert tester.open == 3
        assert app.inbox.queue.current_row is not None
        await settle(pilot, app)
