"""The Sources screen (`S`) and the TUI's background poller, on real databases and feeds."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from polling_support import FeedServer, Reply, headless_keyring, installed_keyring
from rich.text import Text
from sqlalchemy import func, select, update
from test_tui_helpers import fill, messages, running, settle
from test_tui_hostile import FORBIDDEN
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable

from inboxtui import sources_admin
from inboxtui.app import InboxApp
from inboxtui.db import Database
from inboxtui.models import Event, Mention, Source, SourceLease
from inboxtui.polling import due_source_ids
from inboxtui.screens.sources import SourcesScreen
from inboxtui.timeutil import utcnow

HOSTILE = (
    "[bold red]pwned[/] [link=https://evil.test]click[/link] [unterminated "
    "\x1b[2J\x1b]52;c;aGVsbG8=\x07 \x1b]8;;https://evil.test\x1b\\x\x1b]8;;\x1b\\ "
    "\u202egnp.exe\u202c zero\u200bwidth 退款 " + "A" * 5000
)


@pytest.fixture(autouse=True)
def _no_keyring() -> Iterator[None]:
    """No desktop keyring on a test host: sources without secrets must not need one."""
    with installed_keyring(headless_keyring()):
        yield


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def add_rss(db: Database, name: str, url: str) -> None:
    sources_admin.add_source(db, "rss", name, {"url": url}, actor="tester", interval="5m")


def screen_of(app: InboxApp) -> SourcesScreen:
    screen = app.screen
    assert isinstance(screen, SourcesScreen)
    return screen




async def open_sources(pilot: Pilot, app: InboxApp) -> SourcesScreen:
    await pilot.press("S")
    await settle(pilot, app, rounds=3000)
    return screen_of(app)


def rows_cells(screen: SourcesScreen) -> dict[str, list[Text]]:
    """Source name -> its cells (asserting every cell is a Text: never markup)."""
    table = screen.query_one("#sources", DataTable)
    out: dict[str, list[Text]] = {}
    for index in range(table.row_count):
        cells = table.get_row_at(index)
        assert all(isinstance(cell, Text) for cell in cells)
        out[cells[0].plain] = cells
    return out


def rows(screen: SourcesScreen) -> dict[str, list[str]]:
    return {name: [c.plain for c in cells] for name, cells in rows_cells(screen).items()}


async def select_source(pilot: Pilot, screen: SourcesScreen, name: str) -> None:
    names = [info.name for info in screen.infos]
    screen.query_one("#sources", DataTable).move_cursor(row=names.index(name))
    await pilot.pause()
    assert screen.current is not None and screen.current.name == name


def source_row(db: Database, name: str) -> Source:
    with db.read() as session:
        return session.execute(select(Source).where(Source.name == name)).scalar_one()


def mention_count(db: Database, name: str) -> int:
    with db.read() as session:
        return session.execute(
            select(func.count())
            .select_from(Mention)
            .join(Source, Source.id == Mention.source_id)
            .where(Source.name == name)
        ).scalar_one()


# ---------------------------------------------------------------- listing and health


async def test_the_screen_lists_every_source_with_its_health(
    db: Database, server: FeedServer
) -> None:
    fill(db, 7)  # imported sources: one per kind
    _, good = server.feed("good", 2)
    server.route("/broken.xml", lambda _request: Reply(503, {"Retry-After": "120"}))
    add_rss(db, "good-feed", good)
    add_rss(db, "broken-feed", server.url + "/broken.xml")
    add_rss(db, "quiet-feed", server.url + "/never.xml")
    sources_admin.set_enabled(db, "quiet-feed", False, actor="tester")
    async with running(db) as (app, pilot):
        screen = await open_sources(pilot, app)
        await select_source(pilot, screen, "good-feed")
        await pilot.press("p")
        await settle(pilot, app, rounds=3000)
        await select_source(pilot, screen, "broken-feed")
        await pilot.press("p")
        await settle(pilot, app, rounds=3000)
        table = rows(screen)
        assert len(table) == 7 + 3
        # columns: name kind health on every success next fails items mentions error
        assert table["good-feed"][1:5] == ["rss", "ok", "yes", "5m"]
        assert table["good-feed"][8:10] == ["2", "2"]
        assert table["good-feed"][10] == ""
        broken = table["broken-feed"]
        assert broken[2] == "failing" and broken[5] == "never" and broken[7] == "1"
        assert "503" in broken[10]
        assert table["quiet-feed"][2:4] == ["disabled", "no"]
        assert table["quiet-feed"][6] == "off"
        assert table["mastodon-main"][2:7] == ["imported", "-", "-", "never", "never"]
        assert table["mastodon-main"][9] == "2"  # a root and its reply
        assert "10 sources, 1 failing (broken-feed)" in screen.sub_title
        panel = screen.panel.content
        assert isinstance(panel, Text)
        assert "503" in panel.plain and "1 consecutive failure" in panel.plain
        assert "Poll now: broken-feed: failed" in panel.plain


async def test_escape_and_q_go_back_to_the_inbox_and_help_lists_the_keys(
    sqlite_db: Database,
) -> None:
    fill(sqlite_db, 3)
    async with running(sqlite_db) as (app, pilot):
        inbox_help = {row[1]: row for row in app.help_rows()}
        assert inbox_help["Sources: health, enable, test, poll now"][::2] == ("S", "View")
        await open_sources(pilot, app)
        rows_help = {row[1]: row for row in app.help_rows()}
        assert rows_help["Enable / disable"][0] == "e, space"
        assert rows_help["Poll now, even if not due"][2] == "Sources"
        await pilot.press("S")  # already there: no second screen
        assert sum(isinstance(s, SourcesScreen) for s in app.screen_stack) == 1
        await pilot.press("escape")
        assert app.screen is app.inbox
        await open_sources(pilot, app)
        await pilot.press("q")  # back, not quit
        assert app.screen is app.inbox and app.is_running


# ---------------------------------------------------------------- enable / disable


async def test_toggling_writes_to_the_database_with_an_audit_event(
    sqlite_db: Database, server: FeedServer
) -> None:
    fill(sqlite_db, 3)
    _, url = server.feed("toggled", 1)
    add_rss(sqlite_db, "toggled", url)
    async with running(sqlite_db) as (app, pilot):
        screen = await open_sources(pilot, app)
        await select_source(pilot, screen, "toggled")
        await pilot.press("e")
        await settle(pilot, app, rounds=3000)
        assert source_row(sqlite_db, "toggled").enabled is False
        assert rows(screen)["toggled"][2:4] == ["disabled", "no"]
        assert screen.current is not None and screen.current.name == "toggled"  # cursor kept
        add_rss(sqlite_db, "a-new-feed", url)  # sorts first: rows shift under the cursor
        await pilot.press("r")
        await settle(pilot, app, rounds=3000)
        assert screen.current is not None and screen.current.name == "toggled"
        await pilot.press("space")
        await settle(pilot, app, rounds=3000)
        row = source_row(sqlite_db, "toggled")
        assert row.enabled is True and row.next_poll_at is None  # due at once
        with sqlite_db.read() as session:
            actions = list(
                session.execute(
                    select(Event.action, Event.actor)
                    .where(Event.action.like("source.%able"))
                    .order_by(Event.id)
                ).all()
            )
        assert actions == [("source.disable", "tester"), ("source.enable", "tester")]
        # an imported source is never polled: switching it is refused, nothing written
        await select_source(pilot, screen, "mastodon-main")
        await pilot.press("e")
        await settle(pilot, app, rounds=3000)
        assert source_row(sqlite_db, "mastodon-main").enabled is True
        assert any("imported mentions only" in m for m in messages(app))


async def test_keys_of_the_sources_screen_are_remappable_by_id(
    sqlite_db: Database, server: FeedServer
) -> None:
    _, url = server.feed("remapped", 1)
    add_rss(sqlite_db, "remapped", url)
    async with running(sqlite_db, user_keymap={"sources.toggle": "o"}) as (app, pilot):
        await open_sources(pilot, app)
        await pilot.press("e")  # no longer bound
        await settle(pilot, app, rounds=3000)
        assert source_row(sqlite_db, "remapped").enabled is True
        await pilot.press("o")
        await settle(pilot, app, rounds=3000)
        assert source_row(sqlite_db, "remapped").enabled is False


# ---------------------------------------------------------------- test and poll now


async def test_test_shows_what_a_poll_would_ingest_and_stores_nothing(
    sqlite_db: Database, server: FeedServer
) -> None:
    feed, url = server.feed("preview", 3)
    add_rss(sqlite_db, "preview", url)
    async with running(sqlite_db) as (app, pilot):
        screen = await open_sources(pilot, app)
        await pilot.press("t")
        await settle(pilot, app, rounds=3000)
        panel = screen.panel.content
        assert isinstance(panel, Text)
        assert "Test of preview: 3 new, 0 already known (nothing stored)" in panel.plain
        assert "preview post 3" in panel.plain
        assert feed.requests == 1
    assert mention_count(sqlite_db, "preview") == 0
    row = source_row(sqlite_db, "preview")
    assert row.cursor is None and row.last_polled_at is None


async def test_poll_now_ingests_and_the_queue_and_header_follow(
    db: Database, server: FeedServer
) -> None:
    fill(db, 5)
    feed, url = server.feed("acme-news", 3)
    add_rss(db, "acme-news", url)
    feed.fail_with = Reply(500, {}, b"down")
    async with running(db) as (app, pilot):
        inbox = app.inbox
        assert inbox.queue.total == 5
        screen = await open_sources(pilot, app)
        await select_source(pilot, screen, "acme-news")
        await pilot.press("p")
        await settle(pilot, app, rounds=3000)
        assert "1 failing (acme-news)" in inbox.sub_title
        feed.fail_with = None
        await pilot.press("p")
        await settle(pilot, app, rounds=3000)
        assert mention_count(db, "acme-news") == 3
        panel = screen.panel.content
        assert isinstance(panel, Text)
        assert "Poll now: acme-news: 3 new, 0 already known" in panel.plain
        assert rows(screen)["acme-news"][2] == "ok"
        # the header no longer counts it as failing though its last error is kept
        assert source_row(db, "acme-news").last_error is not None
        assert inbox.sub_title.endswith("6 sources, all ok")
        await pilot.press("escape")
        await settle(pilot, app)
        assert inbox.queue.total == 8
        shown = [inbox.queue.row_at(i) for i in range(8)]
        assert sorted(r.title for r in shown if r.source == "acme-news") == [
            f"acme-news post {i}" for i in (1, 2, 3)
        ]
        with db.read() as session:
            leases = session.execute(select(func.count()).select_from(SourceLease)).scalar_one()
        assert leases == 0  # released with the commit


async def test_poll_now_on_a_disabled_source_says_so(
    sqlite_db: Database, server: FeedServer
) -> None:
    feed, url = server.feed("off", 2)
    add_rss(sqlite_db, "off", url)
    sources_admin.set_enabled(sqlite_db, "off", False, actor="tester")
    async with running(sqlite_db) as (app, pilot):
        await open_sources(pilot, app)
        await pilot.press("p")
        await settle(pilot, app, rounds=3000)
        assert any("off is disabled" in m for m in messages(app))
    assert feed.requests == 0


# ---------------------------------------------------------------- hostile text


async def test_a_hostile_last_error_renders_inert(sqlite_db: Database) -> None:
    fill(sqlite_db, 1)
    add_rss(sqlite_db, "evil", "http://127.0.0.1:9/evil.xml")
    with sqlite_db.write() as session:
        session.execute(
            update(Source)
            .where(Source.name == "evil")
            .values(last_error=HOSTILE, last_error_at=utcnow(), consecutive_failures=4)
        )
        # an imported source's name comes from a file: hostile too
        session.execute(
            update(Source).where(Source.name == "mastodon-main").values(name=HOSTILE[:90])
        )
    async with running(sqlite_db, size=(100, 30)) as (app, pilot):
        screen = await open_sources(pilot, app)
        await select_source(pilot, screen, "evil")
        cell = rows_cells(screen)["evil"][10]
        assert cell.plain.startswith("[bold red]pwned[/] [link=https://evil.test]")
        assert not cell.spans and not cell.style  # no markup was interpreted
        panel = screen.panel.content
        assert isinstance(panel, Text)
        assert "[unterminated" in panel.plain and "退款" in panel.plain
        assert not any(span.style and "link" in str(span.style) for span in panel.spans)
        for text in (cell.plain, panel.plain, screen.sub_title):
            assert not FORBIDDEN.search(text), repr(text[:120])
        assert "2 sources, 1 failing (evil)" in screen.sub_title
        table = screen.query_one("#sources", DataTable)
        panel_widget = screen.query_one("#panel")
        for widget in (table, panel_widget):
            region = Region(0, 0, widget.size.width, widget.size.height)
            for strip in widget.render_lines(region):
                assert not FORBIDDEN.search(strip.text), repr(strip.text[:120])
                assert strip.cell_length == widget.size.width  # the layout holds
        assert table.row_count == 2


# ---------------------------------------------------------------- the background poller


def poller_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "inboxtui-poller" and t.is_alive()]


async def test_the_app_polls_in_the_background_and_stops_its_thread_on_exit(
    sqlite_db: Database, server: FeedServer
) -> None:
    fill(sqlite_db, 4)  # imported sources only: never polled
    assert due_source_ids(sqlite_db, utcnow()) == []
    before = poller_threads()
    feed, url = server.feed("live-feed", 2)
    add_rss(sqlite_db, "live-feed", url)
    async with running(sqlite_db, poll=True) as (app, pilot):
        assert app.poller is not None
        assert len(poller_threads()) == len(before) + 1
        for _ in range(2000):  # bounded: the first tick is at start, then a 0.5 s refresh
            await pilot.pause()
            if app.inbox.queue.total == 6 and "5 sources, all ok" in app.inbox.sub_title:
                break
            await asyncio.sleep(0.01)
        assert app.inbox.queue.total == 6
        assert "5 sources, all ok" in app.inbox.sub_title
        assert mention_count(sqlite_db, "live-feed") == 2
    assert app.poller is None
    assert poller_threads() == before  # joined, not leaked
    with sqlite_db.read() as session:
        polled = session.execute(
            select(Source.name).where(Source.last_polled_at.is_not(None))
        ).scalars()
        assert list(polled) == ["live-feed"]
        assert session.execute(select(func.count()).select_from(SourceLease)).scalar_one() == 0
    assert feed.requests == 1


async def test_without_poll_the_app_starts_no_poller(sqlite_db: Database) -> None:
    before = poller_threads()
    async with running(sqlite_db) as (app, _pilot):
        assert app.poller is None
        assert poller_threads() == before
