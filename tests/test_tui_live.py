"""Changes by another process show up, keeping the cursor's conversation and the marks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text
from test_tui_helpers import FROZEN, fill, running, settle

from inboxtui import services
from inboxtui.db import Database, open_database
from inboxtui.ingest import MentionIn, ingest
from inboxtui.live import Watcher


def newest_mention(n: int) -> MentionIn:
    return MentionIn(
        kind="mastodon",
        source="mastodon-main",
        external_id=f"late{n}",
        created_at=FROZEN + timedelta(minutes=n),
        text=f"brand new complaint {n}",
        author_handle="@late@example",
    )


def test_watcher_fires_on_another_connections_commit(db: Database) -> None:
    fill(db, 3)
    fired: list[int] = []
    watcher = Watcher(db, lambda: fired.append(1))
    try:
        assert watcher.check() is False  # nothing changed yet
        other = open_database(db.url)
        try:
            services.assign(other, 1, agent="alice", actor="alice")
        finally:
            other.dispose()
        assert watcher.check() is True
        assert fired == [1]
        assert watcher.check() is False  # one change, one notice
    finally:
        watcher.stop()


async def test_another_process_change_appears_keeping_cursor_and_marks(db: Database) -> None:
    fill(db, 30)
    async with running(db) as (app, pilot):
        queue = app.inbox.queue
        await pilot.press("space", "j", "j", "j")
        marked = queue.row_at(0).id
        followed = queue.current_row.id
        assigned = queue.row_at(5).id
        other = open_database(db.url)  # its own engine: as good as another process
        try:
            services.assign(other, assigned, agent="alice", actor="alice")
            ingest(other, [newest_mention(1), newest_mention(2)])
        finally:
            other.dispose()
        assert app.poll_changes()
        await settle(pilot, app)
        assert queue.total == 32
        assert queue.row_at(0).excerpt.startswith("brand new complaint")
        assert queue.current_row.id == followed  # the cursor stayed on its conversation
        assert queue.cursor == 5
        assert queue.marks == {marked}
        assert queue.row_at(7).id == assigned
        assert queue.row_at(7).agent == "alice"
        assert app.inbox.sidebar.counts["inbox"] == 32


async def test_the_watcher_thread_notices_within_a_bounded_wait(db: Database) -> None:
    fill(db, 10)
    async with running(db, live=True) as (app, pilot):
        queue = app.inbox.queue
        other = open_database(db.url)
        try:
            ingest(other, [newest_mention(1)])
        finally:
            other.dispose()
        for _ in range(400):  # bounded: SQLite polls every 250 ms, PostgreSQL is notified
            await pilot.pause()
            if queue.total == 11:
                break
            await asyncio.sleep(0.025)
        await settle(pilot, app)
        assert queue.total == 11
        assert queue.row_at(0).excerpt == "brand new complaint 1"


def test_postgresql_notifies_a_change_made_by_any_writer(pg_db: Database) -> None:
    """A statement in plain SQL (psql, a script) wakes the listener: the triggers send it."""
    fill(pg_db, 2)
    fired: list[int] = []
    watcher = Watcher(pg_db, lambda: fired.append(1))
    try:
        assert watcher.check() is False
        with pg_db.engine.begin() as conn:
            conn.execute(text("UPDATE conversation SET priority = 3 WHERE id = 1"))
            conn.execute(text("UPDATE conversation SET priority = 2 WHERE id = 2"))
        assert watcher.check() is True
        assert watcher.check() is False  # one transaction, one notice
        with pg_db.engine.begin() as conn:  # a transaction that changes nothing shown
            conn.execute(text("SELECT count(*) FROM conversation"))
        assert watcher.check() is False
    finally:
        watcher.stop()
    assert fired == [1]


def test_postgresql_listener_comes_back_after_losing_its_connection(pg_db: Database) -> None:
    fill(pg_db, 2)
    watcher = Watcher(pg_db, lambda: None)
    try:
        with pg_db.engine.begin() as conn:  # the server drops every listening backend
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                    " AND datname = current_database()"
                    " AND query LIKE '%' || current_schema() || '%'"
                )
            )
        assert watcher.check() is False  # noticed the loss; nothing to compare yet
        # reconnected: whatever happened while away may be missed, so it counts as a change
        assert watcher.check() is True
        with pg_db.engine.begin() as conn:
            conn.execute(text("UPDATE conversation SET priority = 3 WHERE id = 1"))
        assert watcher.check() is True
    finally:
        watcher.stop()
