"""The virtual queue: rows land at the right index however you get there, memory stays bounded."""

from __future__ import annotations

import gc
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.style import Style
from test_tui_helpers import FROZEN, fill, running, settle

from inboxtui import query as q
from inboxtui import services
from inboxtui.db import Database, open_database
from inboxtui.screens.inbox import GC_FULL_EVERY, SWITCH_INTERVAL
from inboxtui.widgets import queue_list
from inboxtui.widgets.queue_list import Columns, RowStyles, age, fit, reach, row_strip

N = 1200


@pytest.fixture
def big(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    # Small blocks and strides so that 1,200 rows exercise walks, reverse reads and pruning.
    monkeypatch.setattr(queue_list, "STRIDE", 150)
    monkeypatch.setattr(queue_list, "MAX_ROWS", 300)
    fill(sqlite_db, N)
    return sqlite_db


def expected_ids(db: Database, text: str) -> list[int]:
    with db.read() as session:
        return q.matching_ids(session, text)


def assert_window_matches(queue, ids: list[int]) -> None:
    loaded = {i: r.id for i, r in queue._rows.items()}
    assert loaded, "nothing loaded"
    for index, row_id in loaded.items():
        assert ids[index] == row_id, f"row {index}"


@pytest.mark.parametrize("query_text", ["-is:resolved", "sort:oldest", "sort:priority"])
async def test_rows_land_at_their_index_from_any_direction(big: Database, query_text: str) -> None:
    ids = expected_ids(big, query_text)
    async with running(big, size=(120, 30)) as (app, pilot):
        screen = app.inbox
        screen.apply_filter(query_text)
        await settle(pilot, app)
        queue = screen.queue
        assert queue.total == N
        await pilot.press("G")  # reverse read for newest/oldest, a stride walk for priority
        await settle(pilot, app)
        assert queue.current_row.id == ids[-1]
        assert_window_matches(queue, ids)
        queue.move_to(N // 2)  # into the unknown middle
        await settle(pilot, app)
        assert queue.current_row.id == ids[N // 2]
        assert_window_matches(queue, ids)
        for _ in range(5):
            await pilot.press("pagedown")
        await settle(pilot, app)
        assert queue.current_row.id == ids[queue.cursor]
        await pilot.press("g")
        await settle(pilot, app)
        assert queue.current_row.id == ids[0]
        assert len(queue._rows) <= queue_list.MAX_ROWS


async def test_scrolling_through_everything_keeps_memory_bounded(big: Database) -> None:
    ids = expected_ids(big, "-is:resolved")
    async with running(big, size=(120, 30)) as (app, pilot):
        queue = app.inbox.queue
        while queue.cursor < N - 1:
            await pilot.press("pagedown")
            await settle(pilot, app)
            assert queue.current_row.id == ids[queue.cursor]
            assert len(queue._rows) <= queue_list.MAX_ROWS + queue_list.BLOCK


async def test_a_range_mark_across_unloaded_rows_marks_them_all(big: Database) -> None:
    ids = expected_ids(big, "-is:resolved")
    async with running(big, size=(120, 30)) as (app, pilot):
        queue = app.inbox.queue
        await pilot.press("j", "space")
        queue.move_to(700)
        await settle(pilot, app)
        await pilot.press("v")
        await settle(pilot, app)
        assert queue.marks == set(ids[1:701])


# --------------------------------------------------------------------------- row text


def styles() -> RowStyles:
    plain = Style()
    return RowStyles(
        plain,
        plain,
        plain,
        plain,
        plain,
        plain,
        plain,
        plain,
        plain,
        age={k: plain for k in ("ok", "warn", "late", "quiet")},
        status={},
    )


@pytest.mark.parametrize("width", [30, 52, 69, 70, 79, 80, 99, 100, 129, 130, 200])
async def test_rows_are_exactly_as_wide_as_the_list_with_cjk(
    sqlite_db: Database, width: int
) -> None:
    fill(sqlite_db, 12)
    with sqlite_db.read() as session:
        rows = q.fetch_page(session, "", limit=12).rows
    for row in rows:
        for marked in (False, True):
            strip = row_strip(row, width, FROZEN, styles(), marked, Style(bold=True))
            assert strip.cell_length == width
            assert sum(cell_len(segment.text) for segment in strip) == width


def test_fit_cuts_and_pads_by_cells() -> None:
    assert fit("abc", 5) == "abc  "
    assert fit("abcdef", 4) == "abc…"
    assert cell_len(fit("退款客服投訴", 5)) == 5
    assert cell_len(fit("退款", 5)) == 5
    assert fit("退款客服", 4) in ("退…", "退 …")
    assert fit("x", 0) == ""


def test_age_and_reach_read_compactly() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert age(now, now - timedelta(seconds=30)) == "now"
    assert age(now, now - timedelta(minutes=5)) == "5m"
    assert age(now, now - timedelta(hours=3)) == "3h"
    assert age(now, now - timedelta(days=2)) == "2d"
    assert age(now, now - timedelta(days=30)) == "4w"
    assert age(now, now - timedelta(days=800)) == "2y"
    assert reach(950) == "950"
    assert reach(1200) == "1.2k"
    assert reach(12_300) == "12k"
    assert reach(1_250_000) == "1.2M"
    assert reach(None) == ""


def test_columns_shrink_with_the_width() -> None:
    assert Columns.for_width(160).tags > 0
    assert Columns.for_width(80).tags == 0
    assert Columns.for_width(75).status == 0
    assert Columns.for_width(60).reach == 0


async def test_a_live_reload_deep_in_the_list_refetches_only_the_window(big: Database) -> None:
    async with running(big, size=(120, 30)) as (app, pilot):
        queue = app.inbox.queue
        queue.move_to(700)
        await settle(pilot, app)
        followed = queue.current_row.id
        changed = queue.row_at(705).id
        other = open_database(big.url)
        try:
            services.assign(other, changed, agent="alice", actor="alice")
        finally:
            other.dispose()
        walks: list[int] = []
        plan = queue._plan

        def spy(first, window):
            fetch = plan(first, window)
            if fetch is not None and fetch.keep == 1:
                walks.append(fetch.start)
            return fetch

        queue._plan = spy
        assert app.poll_changes()
        await settle(pilot, app)
        assert walks == []  # the window was refetched from its anchor, no walk from the top
        assert queue.current_row.id == followed
        assert queue.row_at(705).agent == "alice"
        assert_window_matches(queue, expected_ids(big, "-is:resolved"))


async def test_the_runtime_is_tuned_while_the_inbox_runs_and_restored_after(
    sqlite_db: Database,
) -> None:
    fill(sqlite_db, 12)
    before = (gc.get_threshold(), sys.getswitchinterval())
    async with running(sqlite_db, size=(120, 30)) as (app, pilot):
        await settle(pilot, app)
        assert gc.get_freeze_count() > 0  # startup's objects are out of the full passes
        assert gc.get_threshold()[2] == GC_FULL_EVERY
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    assert (gc.get_threshold(), sys.getswitchinterval()) == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(
    ("text", "inline"),
    [
        ("", True),
        ("is:open role:support sort:oldest", True),
        ("refund", False),
        ("-退款 is:open", False),
        ("is:escalated OR \"money back\"", False),
    ],
)
def test_read_aheads_run_inline_only_for_queries_without_full_text(
    text: str, inline: bool, tmp_path: Path
) -> None:
    """Index walks are read on the UI thread; a search's read-ahead may walk far: a thread."""
    db = open_database(str(tmp_path / "inline.db"))
    try:
        queue = queue_list.QueueList(db)
        assert queue._inline_reads(q.parse(text)) is inline
    finally:
        db.dispose()
