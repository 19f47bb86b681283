"""`L` in the inbox corrects the selected conversation's sentiment, pressed in a real app."""

from __future__ import annotations

import pytest
from test_tui_helpers import fill, messages, running, settle

from inboxtui.db import Database
from inboxtui.screens.sentiment import SentimentModal
from inboxtui.sentiment import LABELS
from inboxtui.services.sentiment_labels import correction_counts, root_label


@pytest.fixture
def inbox(sqlite_db: Database) -> Database:
    fill(sqlite_db, 5)
    return sqlite_db


def _root(db: Database, conversation_id: int) -> tuple[str | None, bool]:
    with db.read() as session:
        return root_label(session, conversation_id)


async def test_L_sets_the_root_label_and_escape_cancels(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        row = app.inbox.queue.current_row
        assert row is not None
        model_label, corrected = _root(inbox, row.id)
        assert model_label is not None and not corrected

        await pilot.press("L")
        await settle(pilot, app)
        assert isinstance(app.screen, SentimentModal)
        await pilot.press("escape")
        await settle(pilot, app)
        assert _root(inbox, row.id) == (model_label, False)

        wanted = "positive" if model_label != "positive" else "negative"
        await pilot.press("L", "3" if wanted == "positive" else "1")
        await settle(pilot, app)
        assert _root(inbox, row.id) == (wanted, True)
        assert any(f"sentiment {model_label} -> {wanted}" in m for m in messages(app))

        await pilot.press("L", "down", "enter")  # arrows (wrapping) and enter work too
        await settle(pilot, app)
        assert _root(inbox, row.id) == (LABELS[(LABELS.index(wanted) + 1) % 3], True)
    with inbox.read() as session:
        assert correction_counts(session).total == 2


async def test_L_refuses_a_marked_set(inbox: Database) -> None:
    async with running(inbox) as (app, pilot):
        await pilot.press("space", "semicolon", "L")
        await settle(pilot, app)
        assert not isinstance(app.screen, SentimentModal)
        assert any("one conversation at a time" in m for m in messages(app))
