"""The Reports screen (`R`): charts and tables on fixed data with a frozen clock.

Regenerate the snapshots after a deliberate change of the look:
    .venv/bin/pytest tests/test_tui_reports.py --snapshot-update
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update
from test_tui_helpers import FROZEN, make_app, running, settle
from textual.pilot import Pilot
from textual.widgets import DataTable

from inboxtui import services
from inboxtui.app import InboxApp
from inboxtui.db import Database
from inboxtui.ingest import MentionIn, ingest
from inboxtui.models import Agent, Conversation, Role, Topic
from inboxtui.screens.reports import ChartPanel, ReportsScreen

KINDS = ("mastodon", "bluesky", "reddit")
LABELS = ("negative", "neutral", "positive", "negative", "neutral")
HANDLES = (("@ann@example", 120_000), ("bo.bsky.social", 950), ("u/[bold]cy[/bold]", None))


def fill_reports(db: Database) -> None:
    """24 mentions in the last 7 days, 8 the week before; answered, resolved, on topics."""
    services.create_role(db, "support", actor="system:test")
    services.create_agent(db, "tester", "Tess", ["support"], actor="system:test")
    services.create_agent(db, "alice", "Alice", ["support"], actor="system:test")
    mentions = []
    for i in range(32):
        kind = KINDS[i % 3]
        handle, followers = HANDLES[i % 3]
        mentions.append(
            MentionIn(
                kind=kind,
                source=f"{kind}-main",
                external_id=f"m{i}",
                created_at=FROZEN - timedelta(hours=7 * i + 1),
                text=("refund please" if i % 4 == 0 else "battery is hot") + f" #{i}",
                author_handle=handle,
                author_followers=followers,
                sentiment=-0.5,
                sentiment_label=LABELS[i % 5],
            )
        )
    ingest(db, mentions)
    with db.write() as session:
        conn = session.connection()
        agents = dict(conn.execute(select(Agent.handle, Agent.id)).all())
        role_id = conn.execute(select(Role.id)).scalar_one()
        for cid, created in conn.execute(select(Conversation.id, Conversation.created_at)).all():
            values: dict[str, object] = {
                "agent_id": agents["alice" if cid % 2 else "tester"],
                "role_id": role_id,
                "status": "open",
                "first_response_at": created + timedelta(minutes=20 * (cid % 7) + 5),
            }
            if cid % 3 == 0:
                values.update(status="resolved", resolved_at=created + timedelta(hours=cid % 11))
            conn.execute(update(Conversation).where(Conversation.id == cid).values(**values))
        conn.execute(
            insert(Topic),
            [
                {"name": "refunds", "query": "refund", "created_at": FROZEN},
                {"name": "battery", "query": "battery", "created_at": FROZEN},
            ],
        )


@pytest.fixture
def reports_db(sqlite_db: Database) -> Database:
    fill_reports(sqlite_db)
    return sqlite_db


async def settle_report(pilot: Pilot, app: InboxApp) -> ReportsScreen:
    for _ in range(500):
        await pilot.pause()
        screen = app.screen
        loaded = isinstance(screen, ReportsScreen) and screen.report is not None
        if loaded and not screen.loading_report and not any(w.is_running for w in app.workers):
            await pilot.pause()
            return screen
        await asyncio.sleep(0.01)
    raise AssertionError("the report did not load")


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_r_opens_the_report_of_the_period(reports_db: Database) -> None:
    async with running(reports_db) as (app, pilot):
        await pilot.press("R")
        screen = await settle_report(pilot, app)
        report = screen.report
        assert report is not None
        # 7 days = hours 1..167 before the frozen clock: i = 0..23 (7 * 23 + 1 = 162)
        assert report.total == 24 and report.previous_total == 8
        assert report.totals == {"bluesky": 8, "mastodon": 8, "reddit": 8}
        status = str(screen.query_one("#report-status").render())
        assert "24 mentions" in status and "+200%" in status
        volume = screen.query_one("#volume-table", DataTable)
        assert volume.row_count == 7
        assert sum(int(row[-2]) for row in cells(volume)) == 24
        voice = cells(screen.query_one("#voice-table", DataTable))
        assert [row[0] for row in voice] == ["battery", "refunds"]
        assert [int(row[1]) for row in voice] == [18, 6]  # every 4th of 24 mentions is a refund


async def test_t_toggles_tables_and_keys_change_the_period(reports_db: Database) -> None:
    async with running(reports_db) as (app, pilot):
        await pilot.press("R")
        screen = await settle_report(pilot, app)
        panels = list(screen.query(ChartPanel))
        assert len(panels) == 4
        assert all(p.query_one("ContentSwitcher").current.endswith("-chart") for p in panels)
        await pilot.press("t")
        assert all(p.query_one("ContentSwitcher").current.endswith("-table") for p in panels)
        await pilot.press("1")
        screen = await settle_report(pilot, app)
        assert screen.report is not None and screen.report.period.bucket == "hour"
        assert screen.report.period.label == "today"
        assert screen.query_one("#volume-table", DataTable).row_count == 12  # midnight to noon
        await pilot.press("3")
        screen = await settle_report(pilot, app)
        assert screen.report is not None and screen.report.total == 32
        await pilot.press("escape")
        await settle(pilot, app)
        assert app.screen is app.inbox


async def test_the_inbox_filter_narrows_the_report(reports_db: Database) -> None:
    async with running(reports_db) as (app, pilot):
        app.inbox.apply_filter("kind:reddit")
        await settle(pilot, app)
        await pilot.press("R")
        screen = await settle_report(pilot, app)
        assert screen.report is not None
        assert screen.report.query == "kind:reddit"
        assert screen.report.totals == {"reddit": 8}


async def test_author_handles_stay_inert(reports_db: Database) -> None:
    async with running(reports_db) as (app, pilot):
        await pilot.press("R")
        screen = await settle_report(pilot, app)
        handles = [row[0] for row in cells(screen.query_one("#volume-authors-table", DataTable))]
        assert "u/[bold]cy[/bold]" in handles


def _snapshot(snap_compare, db: Database, keys: tuple[str, ...]) -> bool:
    app = make_app(db)

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, app)
        await pilot.press("R")
        await settle_report(pilot, app)
        if keys:
            await pilot.press(*keys)
            await pilot.pause()

    return snap_compare(app, terminal_size=(160, 48), run_before=run_before)


def test_reports_charts_160x48(snap_compare, reports_db: Database) -> None:
    assert _snapshot(snap_compare, reports_db, ())


def test_reports_tables_160x48(snap_compare, reports_db: Database) -> None:
    assert _snapshot(snap_compare, reports_db, ("t",))


async def test_a_bad_query_is_said_not_raised(reports_db: Database) -> None:
    async with running(reports_db) as (app, pilot):
        screen = ReportsScreen(reports_db, query="kind:", clock=lambda: FROZEN)
        await app.push_screen(screen)
        for _ in range(300):
            await pilot.pause()
            if not screen.loading_report:
                break
            await asyncio.sleep(0.01)
        status = str(screen.query_one("#report-status").render())
        assert "missing value after 'kind:'" in status
        assert screen.report is None and app.screen is screen
