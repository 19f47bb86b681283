"""Shared set-up for the TUI tests: fixed data, a frozen clock, and waiting without sleeps.

(No tests here; the module is imported by the test_tui_* files.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from textual.pilot import Pilot

from inboxtui import services
from inboxtui.app import InboxApp
from inboxtui.db import Database
from inboxtui.ingest import MentionIn, ingest
from inboxtui.models import Note

FROZEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

TEXTS = [
    "My refund has been pending for two weeks, can someone help?",
    "我申請退款已經兩個星期了，客服一直沒有回覆。",
    "我申请退款已经两个星期了，客服一直没有回复。",
    "Love the new release! The dark mode is great.",
    "Your app crashed three times today, losing my drafts.",
    "請問新版本什麼時候支援繁體中文介面？",
    "营销活动的优惠码无法使用，请尽快处理。",
    "Is there an API for exporting invoices?",
    "Shipping to Taiwan took 3 weeks, is that normal?",
    "This is a scam, do not buy!!! #boycott",
]
KINDS = ["mastodon", "bluesky", "reddit", "hackernews", "github", "rss", "discourse"]
AUTHORS = [
    ("@jeff@mastodon.social", "Jeff", 12_300),
    ("@小明@bsky.social", "王小明", 880),
    ("u/quiet_reader", None, None),
    ("@lin@github", "林美玲", 1_250_000),
    ("@ana@discourse", "Ana Souza", 45),
]


def clock() -> datetime:
    return FROZEN


def records(n: int = 40) -> list[MentionIn]:
    """`n` conversations (every third has a reply), newest first, fixed content."""
    out: list[MentionIn] = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        handle, name, followers = AUTHORS[i % len(AUTHORS)]
        created = FROZEN - timedelta(minutes=7 * i + 3)
        root = MentionIn(
            kind=kind,
            source=f"{kind}-main",
            external_id=f"m{i}",
            created_at=created,
            text=f"{TEXTS[i % len(TEXTS)]} (#{i})",
            url=f"https://example.com/{kind}/m{i}",
            author_handle=handle,
            author_name=name,
            author_followers=followers,
            lang="zh" if i % len(TEXTS) in (1, 2, 5, 6) else "en",
            title=f"Thread {i}" if kind in ("reddit", "hackernews") else None,
        )
        out.append(root)
        if i % 3 == 0:
            out.append(
                MentionIn(
                    kind=kind,
                    source=f"{kind}-main",
                    external_id=f"r{i}",
                    created_at=created + timedelta(minutes=1),
                    text=f"Same here, following up on #{i}.",
                    url=f"https://example.com/{kind}/r{i}",
                    author_handle="@echo@example",
                    author_name="Echo",
                    author_followers=3,
                    in_reply_to=f"m{i}",
                )
            )
    return out


def fill(db: Database, n: int = 40) -> None:
    """Roles, agents and `n` conversations of fixed data."""
    for role in ("community", "support", "pr"):
        services.create_role(db, role, actor="system:test")
    services.create_agent(db, "tester", "Tess Tester", ["support"], actor="system:test")
    services.create_agent(db, "alice", "Alice", ["community"], actor="system:test")
    ingest(db, records(n))


def make_app(db: Database, **kwargs: object) -> InboxApp:
    options: dict[str, object] = {
        "clock": clock,
        "live": False,
        "db_label": "test.db",
        "user_keymap": {},
    }
    options.update(kwargs)
    return InboxApp(db, "tester", **options)  # type: ignore[arg-type]


async def settle(pilot: Pilot, app: InboxApp, rounds: int = 500) -> None:
    """Wait until every worker finished and the inbox has nothing loading (bounded).

    A screen on top (Sources, Team, Activity, ...) that has an `is_busy` must be idle too.
    """
    quiet = 0
    for _ in range(rounds):
        await pilot.pause()
        on_top = getattr(app.screen, "is_busy", False)
        if on_top or app.inbox.is_busy or any(w.is_running for w in app.workers):
            quiet = 0
            await asyncio.sleep(0.01)
            continue
        quiet += 1  # messages may still be bubbling: idle three times in a row
        if quiet == 3:
            return
    raise AssertionError("the inbox did not settle")


@asynccontextmanager
async def running(
    db: Database, size: tuple[int, int] = (160, 48), **kwargs: object
) -> AsyncIterator[tuple[InboxApp, Pilot]]:
    """The app on `db`, settled after launch."""
    app = make_app(db, **kwargs)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        yield app, pilot


def state(db: Database, conversation_id: int) -> dict:
    with db.read() as session:
        return services.conversation_state(session, conversation_id)


def notes(db: Database, conversation_id: int) -> list[str]:
    with db.read() as session:
        return list(
            session.execute(
                select(Note.body).where(Note.conversation_id == conversation_id).order_by(Note.id)
            ).scalars()
        )


def messages(app: InboxApp) -> list[str]:
    return [str(n.message) for n in app._notifications]
