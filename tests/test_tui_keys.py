"""Every inbox key, pressed in a real (headless) app, with its effect checked in the database."""

from __future__ import annotations

import webbrowser

import pytest
from test_tui_helpers import fill, messages, notes, running, settle, state
from textual.command import CommandPalette

from inboxtui import services
from inboxtui.db import Database
from inboxtui.screens.composer import ComposerScreen
from inboxtui.screens.confirm import ConfirmModal
from inboxtui.screens.help import HelpScreen


@pytest.fixture
def inbox(sqlite_db: Database) -> Database:
    fill(sqlite_db, 40)
    return sqlite_db


def current(app) -> int:
    row = app.inbox.queue.current_row
    assert row is not None
    return row.id


async def test_launch_shows_the_inbox_with_counts(inbox: Database) -> None:
    async with running(inbox) as (app, _pilot):
        queue = app.inbox.queue
        assert queue.total == 40
        assert queue.cursor == 0
        assert app.inbox.sidebar.counts["inbox"] == 40
        assert app.inbox.sidebar.counts["unassigned"] == 40
        assert app.inbox.detail.conversation_id == current(app)
        assert "tester" in app.inbox.title


async def test_cursor_keys_move_and_the_detail_follows(inbox: Database) -> None:
    async with running(inbox, size=(160, 30)) as (app, pilot):
        queue = app.inbox.queue
        height = queue.scrollable_content_region.height
        await pilot.press("j", "j", "down")
        assert queue.cursor == 3
        await pilot.press("k", "up")
        assert queue.cursor == 1
        await pilot.press("G")
        await settle(pilot, app)
        assert queue.cursor == 39
        assert queue.current_row is not None
        await pilot.press("g")
        assert queue.cursor == 0
        await pilot.press("ctrl+d")
        assert queue.cursor == height // 2
        await pilot.press("ctrl+u")
        assert queue.cursor == 0
        await pilot.press("pagedown")
        assert queue.cursor == height
        await pilot.press("pageup")
        assert queue.cursor == 0
        await pilot.press("end")
        assert queue.cursor == 39
        await pilot.press("home", "j")
        await settle(pilot, app)
        assert app.inbox.detail.conversation_id == current(app)


async def test_enter_and_l_open_escape_and_h_go_back(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        screen = app.inbox
        await pilot.press("enter")
        assert screen.detail.has_focus
        await pilot.press("escape")
        assert screen.queue.has_focus
        await pilot.press("l")
        assert screen.detail.has_focus
        await pilot.press("h")
        assert screen.queue.has_focus


async def test_take_assigns_me_and_A_unassigns(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        target = current(app)
        await pilot.press("t")
        await settle(pilot, app)
        assert state(inbox, target)["agent"] == "tester"
        assert state(inbox, target)["status"] == "open"
        assert app.inbox.queue.current_row.agent == "tester"  # row refreshed in place
        await pilot.press("A")
        await settle(pilot, app)
        assert state(inbox, target)["agent"] is None


async def test_assign_picker_routes_to_a_role_or_an_agent(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        target = current(app)
        await pilot.press("a")
        await pilot.press(*"supp", "enter")
        await settle(pilot, app)
        assert state(inbox, target)["role"] == "support"
        await pilot.press("a")
        await pilot.press(*"alice", "enter")
        await settle(pilot, app)
        assert state(inbox, target)["agent"] == "alice"
        await pilot.press("a", "escape")
        await settle(pilot, app)
        assert state(inbox, target)["agent"] == "alice"


async def test_escalate_with_severity_and_reason(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        target = current(app)
        await pilot.press("e", "2")
        await pilot.press(*"press is asking", "enter")
        await settle(pilot, app)
        got = state(inbox, target)
        assert got["escalated"] is True
        assert got["severity"] == 2
        assert got["escalation_reason"] == "press is asking"
        assert "▲2" in app.inbox.queue.render_line(0).text


async def test_resolve_then_reopen(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        target = current(app)
        await pilot.press("x")
        await settle(pilot, app)
        assert state(inbox, target)["status"] == "resolved"
        await pilot.press("X")
        await settle(pilot, app)
        assert state(inbox, target)["status"] == "open"


async def test_snooze_with_a_preset(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        target = current(app)
        await pilot.press("s", "1")
        await settle(pilot, app)
        got = state(inbox, target)
        assert got["status"] == "snoozed"
        assert got["snooze_until"] is not None


async def test_priority_and_tags_and_note(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        target = current(app)
        await pilot.press("p", "4")
        await settle(pilot, app)
        assert state(inbox, target)["priority"] == "urgent"
        await pilot.press("number_sign")
        await pilot.press(*"refund", "enter")
        await settle(pilot, app)
        assert state(inbox, target)["tags"] == ["refund"]
        await pilot.press("number_sign", "enter")  # the current tag is listed first: removes it
        await settle(pilot, app)
        assert state(inbox, target)["tags"] == []
        await pilot.press("i")
        await pilot.press(*"called them back", "ctrl+s")
        await settle(pilot, app)
        assert notes(inbox, target) == ["called them back"]


async def test_r_opens_the_reply_composer(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        target = current(app)
        await pilot.press("r")
        assert isinstance(app.screen, ComposerScreen) and app.screen.conversation_id == target


async def test_copy_link_and_open_in_browser(
    inbox: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    async with running(inbox) as (app, pilot):
        await pilot.press("y")
        await settle(pilot, app)
        assert app.clipboard.startswith("https://example.com/")
        await pilot.press("o")
        await settle(pilot, app)
        assert opened == [app.clipboard]


async def test_marks_and_bulk_apply_with_semicolon(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        queue = app.inbox.queue
        first = current(app)
        await pilot.press("space", "j", "j")
        third = current(app)
        await pilot.press("space")
        assert queue.marks == {first, third}
        await pilot.press("semicolon", "x")
        await settle(pilot, app)
        assert state(inbox, first)["status"] == "resolved"
        assert state(inbox, third)["status"] == "resolved"
        assert queue.row_at(1) is not None
        assert state(inbox, queue.row_at(1).id)["status"] == "new"  # unmarked: untouched
        assert queue.marks == {first, third}  # marks survive the action
        await pilot.press("u")
        assert queue.marks == set()


async def test_range_mark_with_v(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        queue = app.inbox.queue
        await pilot.press("space", "j", "j", "j", "v")
        assert queue.marks == {queue.row_at(i).id for i in range(4)}


async def test_star_marks_every_match_and_bulk_over_20_asks_first(inbox: Database) -> None:
    async with running(inbox, size=(120, 24)) as (app, pilot):
        queue = app.inbox.queue
        await pilot.press("asterisk")
        await settle(pilot, app)
        assert len(queue.marks) == 40  # all matches, not just the 20 rows on screen
        await pilot.press("semicolon", "t")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot, app)
        with inbox.read() as session:
            assert services.agent_id_for(session, "tester") is not None
        assert all(state(inbox, i)["agent"] is None for i in queue.marks)
        await pilot.press("semicolon", "t")
        await settle(pilot, app)
        await pilot.press("y")
        await settle(pilot, app)
        assert all(state(inbox, i)["agent"] == "tester" for i in queue.marks)


async def test_filter_errors_inline_then_applies(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        screen = app.inbox
        await pilot.press("slash")
        assert screen.filter_bar.is_open
        await pilot.press(*"bogus:1", "enter")
        error = str(screen.query_one("#filter-error").render())
        assert "unknown filter key 'bogus'" in error
        assert "^" in error
        await pilot.press("escape")
        assert not screen.filter_bar.is_open
        assert screen.queue.has_focus
        await pilot.press("slash")
        await pilot.press(*"kind:reddit", "enter")
        await settle(pilot, app)
        assert screen.queue.query_obj.text.endswith("kind:reddit")
        assert screen.queue.total == 6
        assert all(screen.queue.row_at(i).kind == "reddit" for i in range(6))


async def test_full_text_filter_finds_cjk(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        screen = app.inbox
        screen.apply_filter("退款")
        await settle(pilot, app)
        # 申請退款 (Traditional) and 申请退款 (Simplified) both match.
        assert screen.queue.total == 8


async def test_n_and_N_step_through_matches_and_wrap(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        screen = app.inbox
        screen.apply_filter("kind:github")
        await settle(pilot, app)
        total = screen.queue.total
        await pilot.press("n", "n")
        assert screen.queue.cursor == 2
        await pilot.press("N", "N", "N")
        assert screen.queue.cursor == total - 1
        assert "Search wrapped around" in messages(app)


async def test_a_conflict_names_who_changed_it_and_refreshes_the_row(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        target = current(app)
        services.assign(inbox, target, agent="alice", actor="bob")  # another agent, meanwhile
        await pilot.press("x")
        await settle(pilot, app)
        assert state(inbox, target)["status"] != "resolved"
        assert any("bob" in message for message in messages(app))
        assert app.inbox.queue.current_row.agent == "alice"


async def test_help_palette_theme_and_quit(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+t")
        assert not app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark
        await pilot.press("colon")
        await settle(pilot, app)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Take: assign")
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert state(inbox, current(app))["agent"] == "tester"
        await pilot.press("q")
        await pilot.pause()
        assert app._exit


async def test_a_click_selects_the_row(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        await pilot.click("#queue", offset=(10, 4))
        await settle(pilot, app)
        assert app.inbox.queue.cursor == 4
        assert app.inbox.detail.conversation_id == current(app)


async def test_sidebar_view_selection(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        services.assign(inbox, 1, agent="tester", actor="tester")
        screen = app.inbox
        screen.sidebar.focus()
        screen.sidebar.highlighted = 1  # Mine
        await pilot.press("enter")
        await settle(pilot, app)
        assert screen.queue.query_obj.text == "is:mine -is:resolved"
        assert screen.queue.total == 1


async def test_keys_are_remappable_by_binding_id(inbox: Database) -> None:
    async with running(inbox, user_keymap={"inbox.resolve": "z"}) as (app, pilot):
        target = current(app)
        await pilot.press("x")
        await settle(pilot, app)
        assert state(inbox, target)["status"] == "new"
        await pilot.press("z")
        await settle(pilot, app)
        assert state(inbox, target)["status"] == "resolved"


async def test_help_lists_the_keys_in_force_including_remapped_ones(inbox: Database) -> None:
    async with running(inbox, user_keymap={"inbox.resolve": "z"}) as (app, _pilot):
        rows = {description: keys for keys, description, _group in app.help_rows()}
        assert rows["Resolve"] == "z"
        assert rows["Take: assign to me"] == "t"
        assert rows["Next conversation"] in ("j, ↓", "↓, j")
        assert "Scroll Left" not in rows


def test_a_bad_keymap_entry_is_a_clear_error(tmp_path) -> None:
    from inboxtui.keymap import KeymapError, user_keymap

    config = tmp_path / "config.toml"
    config.write_text('[keymap]\n"inbox.resolve" = "z"\n', encoding="utf-8")
    assert user_keymap(config) == {"inbox.resolve": "z"}
    config.write_text('[keymap]\n"inbox.nope" = "z"\n', encoding="utf-8")
    with pytest.raises(KeymapError, match=r"unknown key binding id 'inbox\.nope'"):
        user_keymap(config)
