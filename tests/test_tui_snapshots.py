"""Snapshots of the inbox (pytest-textual-snapshot), with CJK content and a frozen clock.

Regenerate after a deliberate change of the look:
    .venv/bin/pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest
from test_tui_helpers import fill, make_app, settle
from textual.pilot import Pilot

from inboxtui.db import Database


@pytest.fixture
def inbox(sqlite_db: Database) -> Database:
    fill(sqlite_db, 40)
    return sqlite_db


def check(snap_compare, db: Database, size: tuple[int, int], keys: tuple[str, ...] = ()) -> bool:
    app = make_app(db)

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, app)
        if keys:
            await pilot.press(*keys)
            await settle(pilot, app)

    return snap_compare(app, terminal_size=size, run_before=run_before)


def test_inbox_80x24(snap_compare, inbox: Database) -> None:
    assert check(snap_compare, inbox, (80, 24))


def test_inbox_160x48(snap_compare, inbox: Database) -> None:
    assert check(snap_compare, inbox, (160, 48))


def test_inbox_160x48_marked_and_filtered(snap_compare, inbox: Database) -> None:
    keys = ("space", "j", "space", "j", "j", "slash", *"退款", "enter", "j")
    assert check(snap_compare, inbox, (160, 48), keys)
