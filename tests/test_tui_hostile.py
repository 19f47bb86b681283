"""Hostile text stays inert: markup stays literal, escapes never reach the terminal.

The data is written straight into the tables (bypassing ingest's sanitising)
so this proves the TUI's own render-time defence, not ingest's.
"""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len
from sqlalchemy import select, update
from test_tui_helpers import fill, running, settle
from textual.geometry import Region
from textual.widget import Widget

from inboxtui.db import Database
from inboxtui.models import Author, Conversation, Mention, Source
from inboxtui.widgets.queue_list import QueueList

HOSTILE = [
    "[bold]bold?[/bold] [/] [link=https://evil.example]click[/link] unterminated [",
    "[red on white]x \x1b[31mred\x1b[0m \x1b[2J\x1b[H cleared?",
    "osc52 \x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x07 osc8 \x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\",
    "bidi \u202egnirts desrever\u202c and \u2066isolate\u2069 zero\u200bwidth\ufeff",
    "emoji 👩\u200d💻🔥🎉 and wide 退款客服投訴（全形）",
    "C1 \x9b31m csi and \x9d0;title\x9c bell \x07 backspace \x08 del \x7f",
    "A" * 100_000,
    "測" * 50_000,
]
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b\ufeff]")


@pytest.fixture
def hostile(sqlite_db: Database) -> Database:
    fill(sqlite_db, len(HOSTILE))
    with sqlite_db.write() as session:
        conv_ids = session.execute(
            Conversation.__table__.select().order_by(Conversation.id)  # type: ignore[attr-defined]
        ).all()
        for row, text in zip(conv_ids, HOSTILE, strict=True):
            session.execute(
                update(Conversation)
                .where(Conversation.id == row.id)
                .values(excerpt=text, title=text[:300])
            )
            session.execute(
                update(Mention)
                .where(Mention.conversation_id == row.id)
                .values(text=text, title=text[:200], url="https://x.example/\x1b]52;c;QQ==\x07")
            )
        for author_id in session.execute(select(Author.id)).scalars().all():
            session.execute(
                update(Author)
                .where(Author.id == author_id)
                .values(name=HOSTILE[1], handle=f"{HOSTILE[3][:60]}{author_id}")
            )
        session.execute(update(Source).where(Source.id == 1).values(name=HOSTILE[0]))
    return sqlite_db


def lines_of(widget: Widget) -> list:
    region = Region(0, 0, widget.size.width, widget.size.height)
    return widget.render_lines(region)


def assert_inert(strips: list, width: int | None = None) -> None:
    for strip in strips:
        text = strip.text
        assert not FORBIDDEN.search(text), repr(text[:120])
        if width is not None:
            assert strip.cell_length == width
            assert sum(cell_len(s.text) for s in strip) == width


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_hostile_text_renders_inert(hostile: Database, size: tuple[int, int]) -> None:
    async with running(hostile, size=size) as (app, pilot):
        screen = app.inbox
        queue = screen.query_one(QueueList)
        assert queue.total == len(HOSTILE)
        for _ in range(len(HOSTILE)):
            await settle(pilot, app)
            assert_inert(lines_of(queue), queue.size.width)
            assert_inert(lines_of(screen.detail))
            assert not FORBIDDEN.search(screen.detail.text)
            await pilot.press("j")
        rendered = "\n".join(queue.render_line(y).text for y in range(len(HOSTILE)))
        assert "[bold]bold?[/bold]" in rendered  # markup shown literally, not applied
        assert "[red on w" in rendered
        for widget in (screen.sidebar, screen.filter_bar, screen.query_one("Header")):
            assert_inert(lines_of(widget))
        svg = app.export_screenshot()
        assert "\x1b" not in svg
        assert "evil clipboard" not in svg


async def test_hostile_detail_pane_shows_markup_as_text(hostile: Database) -> None:
    async with running(hostile) as (app, pilot):
        detail = app.inbox.detail
        await pilot.press("enter")  # the newest conversation holds HOSTILE[0]
        await settle(pilot, app)
        assert "[bold]bold?[/bold]" in detail.text
        assert not FORBIDDEN.search(detail.text)
        await pilot.press("h", "G", "enter")  # the oldest: 50,000 wide characters on one line
        await settle(pilot, app)
        assert_inert(lines_of(detail))
        assert not FORBIDDEN.search(detail.text)
        assert "more characters" in detail.text


async def test_hostile_link_is_sanitised_before_copy(hostile: Database) -> None:
    async with running(hostile) as (app, pilot):
        await pilot.press("y")
        await settle(pilot, app)
        assert app.clipboard.startswith("https://x.example/")
        assert "\x1b" not in app.clipboard
        assert "\x07" not in app.clipboard
