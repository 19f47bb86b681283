"""Saved views: from the filter by `V`, from scripts by `inboxtui view`, removed in the sidebar."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from test_tui_helpers import fill, running, settle

from inboxtui import cli
from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.models import Event, SavedView
from inboxtui.screens.save_view import SaveViewModal
from inboxtui.services import NotFound, ServiceError, views


def test_save_replace_and_remove_are_audited(db: Database) -> None:
    first = views.save_view(db, "Refunds", "退款 OR refund", actor="alice")
    again = views.save_view(db, "refunds", "refund -is:resolved", actor="alice")
    assert again.id == first.id  # the same name (any case) replaces the query
    team = views.save_view(db, "Refunds", "refund", actor="alice", shared=True)
    assert team.id != first.id and team.shared
    with db.read() as session:
        assert [(v.name, v.query, v.shared) for v in views.list_views(session, "alice")] == [
            ("refunds", "refund -is:resolved", False),
            ("Refunds", "refund", True),
        ]
        assert [(v.name, v.shared) for v in views.list_views(session, "bob")] == [
            ("Refunds", True)
        ]
    views.remove_view(db, "REFUNDS", actor="alice")
    with pytest.raises(NotFound, match="no view 'Refunds' in your views"):
        views.remove_view(db, "Refunds", actor="alice")
    with db.read() as session:
        assert session.execute(select(SavedView.name)).scalars().all() == ["Refunds"]
        actions = session.execute(select(Event.action).order_by(Event.id)).scalars().all()
    assert actions == ["view.save", "view.save", "view.save", "view.remove"]


def test_a_bad_query_or_name_is_refused_before_anything_is_written(db: Database) -> None:
    with pytest.raises(q.QueryError) as caught:
        views.save_view(db, "Broken", "is:open sentimnet:negative", actor="alice")
    assert "^" in str(caught.value)
    with pytest.raises(ServiceError, match="needs a name"):
        views.save_view(db, "  \u200b ", "is:open", actor="alice")
    with pytest.raises(ServiceError, match="needs a query"):
        views.save_view(db, "Empty", "   ", actor="alice")
    with db.read() as session:
        assert session.execute(select(SavedView)).first() is None


def test_the_view_command(sqlite_db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--db", sqlite_db.display_name, "--as", "alice", "view"]
    assert cli.main([*base, "save", "Angry VIPs", "sentiment:negative followers:>10k"]) == 0
    assert cli.main([*base, "save", "Team queue", "is:unassigned", "--team"]) == 0
    capsys.readouterr()
    assert cli.main([*base, "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(v["name"], v["query"], v["shared"]) for v in listed] == [
        ("Angry VIPs", "sentiment:negative followers:>10k", False),
        ("Team queue", "is:unassigned", True),
    ]
    assert cli.main([*base, "save", "Bad", "is:opne"]) == cli.EXIT_USAGE
    assert "^" in capsys.readouterr().err
    assert cli.main([*base, "remove", "Team queue"]) == cli.EXIT_USAGE  # it is the team's
    assert "no view 'Team queue' in your views" in capsys.readouterr().err
    assert cli.main([*base, "remove", "Team queue", "--team"]) == 0


async def test_V_saves_the_filter_and_the_sidebar_shows_and_removes_it(
    sqlite_db: Database,
) -> None:
    fill(sqlite_db, 30)
    async with running(sqlite_db) as (app, pilot):
        screen = app.inbox
        await pilot.press("V")  # any view's query can be saved under a new name; esc cancels
        assert isinstance(app.screen, SaveViewModal)
        await pilot.press("escape")
        assert app.screen is screen
        screen.apply_filter("kind:github")
        await settle(pilot, app)
        expected = screen.queue.total
        await pilot.press("V")
        await pilot.press(*"GitHub")
        await pilot.press("ctrl+t")  # for the whole team
        await pilot.press("enter")
        await settle(pilot, app)
        with sqlite_db.read() as session:
            saved = session.execute(select(SavedView)).scalar_one()
        assert (saved.name, saved.query, saved.agent_id is None) == ("GitHub", "kind:github", True)
        sidebar = screen.sidebar
        view_id = f"saved-{saved.id}"
        assert sidebar.active_id == view_id
        assert sidebar.counts[view_id] == expected
        assert "GitHub" in str(sidebar.get_option(view_id).prompt)

        # another view, then back to the saved one: its query comes back
        sidebar.focus()
        sidebar.highlighted = 0
        await pilot.press("enter")
        await settle(pilot, app)
        assert screen.queue.query_obj.text == "-is:resolved"
        sidebar.focus()
        sidebar.highlighted = [v.id for v in sidebar.views].index(view_id)
        await pilot.press("enter")
        await settle(pilot, app)
        assert screen.queue.query_obj.text == "kind:github"

        # built-in views stay; the saved one goes after a yes
        sidebar.focus()
        sidebar.highlighted = 0
        await pilot.press("d")
        await settle(pilot, app)
        assert app.screen is screen  # nothing to confirm: built-ins cannot be removed
        sidebar.highlighted = [v.id for v in sidebar.views].index(view_id)
        await pilot.press("d")
        await pilot.press("y")
        await settle(pilot, app)
        assert view_id not in [v.id for v in sidebar.views]
    with sqlite_db.read() as session:
        assert session.execute(select(SavedView)).first() is None
