"""A storm thread: the pane shows the first post and the newest replies, `show` all of it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from test_tui_helpers import FROZEN, running, settle

from inboxtui import details
from inboxtui.db import Database
from inboxtui.ingest import MentionIn, ingest
from inboxtui.models import Conversation
from inboxtui.widgets.detail_pane import THREAD_SHOWN

REPLIES = 120


def storm(db: Database) -> int:
    root = MentionIn(
        kind="mastodon",
        source="mastodon-main",
        external_id="root",
        created_at=FROZEN - timedelta(hours=5),
        text="Your support is a joke, three weeks without a refund",
        author_handle="@angry@example",
    )
    replies = [
        MentionIn(
            kind="mastodon",
            source="mastodon-main",
            external_id=f"r{i}",
            in_reply_to="root",
            created_at=FROZEN - timedelta(hours=5) + timedelta(minutes=i + 1),
            text=f"same here #{i}",
            author_handle=f"@fan{i}@example",
        )
        for i in range(REPLIES)
    ]
    ingest(db, [root, *replies])
    with db.read() as session:
        return session.execute(select(Conversation.id)).scalar_one()


def test_a_capped_thread_keeps_the_first_post_and_the_newest_replies(db: Database) -> None:
    conversation = storm(db)
    with db.read() as session:
        whole = details.load(session, conversation)
        capped = details.load(session, conversation, newest=10)
    assert whole is not None and capped is not None
    assert [m.external_id for m in whole.mentions] == ["root", *(f"r{i}" for i in range(REPLIES))]
    assert whole.hidden == 0
    assert [m.external_id for m in capped.mentions] == [
        "root",
        *(f"r{i}" for i in range(REPLIES - 10, REPLIES)),
    ]
    assert capped.hidden == REPLIES - 10


def test_a_thread_shorter_than_the_cap_is_whole(db: Database) -> None:
    conversation = storm(db)
    with db.read() as session:
        capped = details.load(session, conversation, newest=REPLIES + 5)
    assert capped is not None
    assert len(capped.mentions) == REPLIES + 1 and capped.hidden == 0


async def test_the_pane_says_how_many_replies_it_left_out(sqlite_db: Database) -> None:
    storm(sqlite_db)
    async with running(sqlite_db) as (app, pilot):
        await settle(pilot, app)
        shown = app.inbox.detail.text
    hidden = REPLIES - THREAD_SHOWN
    assert f"Thread ({REPLIES + 1:,})" in shown
    assert f"… {hidden:,} earlier replies not shown" in shown
    assert "Your support is a joke" in shown
    assert f"same here #{REPLIES - 1}" in shown
    assert f"same here #{hidden - 1}" not in shown and "same here #0" not in shown
