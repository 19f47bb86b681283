"""The reply composer, driven by keys in the real (headless) app, checked in the database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_tui_helpers import messages, running, settle
from textual.widgets import Label, Static, TextArea

from inboxtui import services
from inboxtui.db import Database
from inboxtui.drafts import load_draft
from inboxtui.ingest import ingest, parse_record
from inboxtui.models import (
    Agent,
    AgentRole,
    Conversation,
    Note,
    OutboxReply,
    Presence,
    Role,
    Source,
)
from inboxtui.outbox import queue_reply
from inboxtui.presence import describe, leave, replying, replying_on, touch
from inboxtui.screens.composer import ComposerScreen, FieldPrompt, TemplatePicker
from inboxtui.screens.confirm import ConfirmModal
from inboxtui.templates import TemplateSpec, save_template
from inboxtui.timeutil import utcnow

HOSTILE = "[bold]boom[/bold] \x1b[31mred"




def seed(
    db: Database,
    *,
    kind: str = "mastodon",
    url: str | None = None,
    options: dict[str, str] | None = None,
    lang: str = "en",
) -> int:
    services.create_agent(db, "tester", "Tess", actor="system:test")
    record = {
        "kind": kind,
        "source": "acme-masto" if kind == "mastodon" else "news",
        "external_id": "1001",
        "created_at": "2026-11-20T10:00:00Z",
        "text": f"where is my order? {HOSTILE}",
        "author": {"handle": "@grace", "name": "Grace"},
        "lang": lang,
    }
    ingest(db, [parse_record(record)])
    with db.write() as session:
        source = session.execute(select(Source)).scalar_one()
        source.url = url
        source.config = json.dumps(options or {})
    save_template(
        db,
        TemplateSpec(
            name="refund",
            shortcut="rf",
            body="Hi {author.name}, about {topic}: {agent.name} is on it.",
            variants={"zh-Hant": "{author.name} 您好，{topic}處理中。"},
            tags=["refund"],
            status="pending",
        ),
        actor="admin",
    )
    save_template(db, TemplateSpec(name="signoff", body="— the Acme team"), actor="admin")
    with db.read() as session:
        return session.execute(select(Conversation.id)).scalar_one()


def body(app) -> str:
    return app.screen.query_one("#body", TextArea).text


def label(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Label).render())


async def open_composer(app, pilot) -> ComposerScreen:
    await pilot.press("r")
    await settle(pilot, app)
    assert isinstance(app.screen, ComposerScreen)
    return app.screen


async def insert_refund(app, pilot, topic: str = "orders") -> None:
    await pilot.press("ctrl+t")
    await pilot.pause()
    assert isinstance(app.screen, TemplatePicker)
    await pilot.press("r", "f", "enter")
    await pilot.pause()
    assert isinstance(app.screen, FieldPrompt)
    await pilot.press(*topic, "enter")
    await settle(pilot, app)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOXTUI_SECRET_ACME_MASTO", "token-1")


async def test_thread_visible_templates_fields_and_counter(sqlite_db: Database) -> None:
    seed(sqlite_db)
    async with running(sqlite_db) as (app, pilot):
        composer = await open_composer(app, pilot)
        thread = composer.query_one("#thread-text", Static).render()
        assert "where is my order? [bold]boom[/bold] red" in str(thread)  # inert
        assert "acme-masto (mastodon) · @grace" in label(app, "#title")
        assert label(app, "#mode") == "Public reply"

        await insert_refund(app, pilot)
        assert body(app) == "Hi Grace, about orders: Tess is on it."
        assert label(app, "#counter") == "38/500 characters"

        await pilot.press("ctrl+t", *"signoff", "enter")  # no fields: inserted at once
        await settle(pilot, app)
        assert body(app) == "Hi Grace, about orders: Tess is on it.\n\n— the Acme team"
        await pilot.press("ctrl+t", "r", "f", "enter")  # {topic} is known now: no prompt
        await settle(pilot, app)
        assert body(app).endswith("— the Acme team\n\nHi Grace, about orders: Tess is on it.")
        assert composer.used == ["refund", "signoff"]


async def test_the_variant_follows_the_authors_language(sqlite_db: Database) -> None:
    seed(sqlite_db, lang="zh-TW")
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        await insert_refund(app, pilot, "退款")
        assert body(app) == "Grace 您好，退款處理中。"


async def test_over_the_limit_blocks_sending_but_a_note_has_no_limit(sqlite_db: Database) -> None:
    conversation = seed(sqlite_db, options={"max_characters": "10"})
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        await pilot.press(*"VIP, be kind")
        await pilot.pause()
        assert label(app, "#counter") == "12/10 characters  2 over the limit"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, ComposerScreen)
        assert "too long for mastodon: 12/10 characters" in label(app, "#error")

        await pilot.press("ctrl+o")
        await pilot.pause()
        assert label(app, "#mode").startswith("Internal note")
        assert label(app, "#counter") == "12 characters"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert f"#{conversation} note added" in messages(app)
    with sqlite_db.read() as session:
        assert session.execute(select(Note.body)).scalar_one() == "VIP, be kind"
        assert session.execute(select(OutboxReply)).first() is None


async def test_send_queues_then_the_sender_posts_it(sqlite_db: Database, http_server) -> None:
    http_server.add(
        "/api/v1/statuses", method="POST", json={"id": "9", "url": "https://x.social/@acme/9"}
    )
    conversation = seed(sqlite_db, url=http_server.url)
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        await insert_refund(app, pilot)
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert not isinstance(app.screen, ComposerScreen)
        shown = messages(app)
        assert f"#{conversation} reply queued (outbox 1)" in shown
        assert "outbox 1: sent https://x.social/@acme/9" in shown
    (request,) = http_server.requests_to("/api/v1/statuses")
    assert "Hi+Grace" in request.body.decode()
    with sqlite_db.read() as session:
        sent = session.execute(select(OutboxReply)).scalar_one()
        assert sent.state == "sent" and sent.template_name == "refund"
        replied = session.get(Conversation, conversation)
        assert replied.status == "pending" and replied.first_response_at is not None
    assert load_draft(sqlite_db, conversation, "tester") is None


async def test_drafts_survive_closing_and_restarting(sqlite_db: Database) -> None:
    conversation = seed(sqlite_db)
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        await insert_refund(app, pilot)
        await pilot.press(*" See")
        app.screen._save_draft()  # what the debounce timer calls while typing
        await settle(pilot, app)
        assert load_draft(sqlite_db, conversation, "tester").body.endswith("on it. See")
        await pilot.press(*" you")
        await pilot.press("escape")
        await settle(pilot, app)
        assert not isinstance(app.screen, ComposerScreen)
    draft = load_draft(sqlite_db, conversation, "tester")
    assert draft is not None and draft.body.endswith("is on it. See you")
    assert draft.templates == ["refund"] and draft.fields == {"topic": "orders"}

    async with running(sqlite_db) as (app, pilot):  # a new app: as after a restart
        composer = await open_composer(app, pilot)
        assert body(app) == "Hi Grace, about orders: Tess is on it. See you"
        assert composer.used == ["refund"]
        await pilot.press(*"!")
        assert body(app).endswith("See you!")  # the cursor is at the end


async def test_sources_without_a_reply_api_copy_and_confirm(sqlite_db: Database) -> None:
    conversation = seed(sqlite_db, kind="rss")
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        assert "rss has no reply API" in label(app, "#mode")
        await pilot.press(*"answered on the blog", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert app.clipboard == "answered on the blog"
        await pilot.press("y")
        await settle(pilot, app)
        assert f"#{conversation} replied externally" in messages(app)
    with sqlite_db.read() as session:
        row = session.execute(select(OutboxReply)).scalar_one()
        assert (row.state, row.external) == ("sent", True)


async def test_a_refused_send_keeps_the_composer_open(sqlite_db: Database) -> None:
    seed(sqlite_db)
    save_template(
        sqlite_db, TemplateSpec(name="pr-only", body="statement", roles=["pr"]), actor="admin"
    )
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        await pilot.press("ctrl+t", *"pr-only", "enter")
        await settle(pilot, app)
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, ComposerScreen)
        assert "template 'pr-only' is for role(s) pr" in label(app, "#error")
        await pilot.press("ctrl+s")  # can try again (not stuck "sending")
        await settle(pilot, app)
        assert "is for role(s) pr" in label(app, "#error")


# -- two agents, one conversation ---------------------------------------------------------------


def test_presence_expires_and_names_the_others(db: Database) -> None:
    conversation = seed(db)
    services.create_agent(db, "lin", "Lin", actor="admin")
    now = utcnow()
    touch(db, conversation, "lin", now)
    touch(db, conversation, "tester", now)
    touch(db, conversation, "lin", now)  # a heartbeat: still one row
    assert replying(db, conversation, "tester", now=now) == ["Lin"]
    assert replying_on(db, [conversation], now=now) == {conversation: ["Lin", "Tess"]}
    later = now + timedelta(seconds=31)
    assert replying(db, conversation, "tester", now=later) == []  # a crashed composer expires
    leave(db, conversation, "lin")
    assert replying_on(db, [conversation], now=now) == {conversation: ["Tess"]}
    assert describe(["Lin", "Pat", "Ann"]) == "Lin, Pat and Ann are replying"


async def test_lin_is_replying_and_a_second_reply_asks_first(sqlite_db: Database) -> None:
    conversation = seed(sqlite_db)
    services.create_agent(sqlite_db, "lin", "Lin", actor="admin")
    touch(sqlite_db, conversation, "lin")
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        assert label(app, "#presence") == "Lin is replying"
        with sqlite_db.read() as session:
            present = session.execute(select(Presence)).scalars().all()
        assert len(present) == 2  # lin's and ours

        queue_reply(sqlite_db, conversation, actor="lin", text="On it!")  # lin was faster
        await pilot.press(*"Hello", "ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot, app)
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        await pilot.press("y")
        await settle(pilot, app)
        assert not isinstance(app.screen, ComposerScreen)
    with sqlite_db.read() as session:
        bodies = session.execute(select(OutboxReply.body).order_by(OutboxReply.id)).scalars()
        assert list(bodies) == ["On it!", "Hello"]
        left = session.execute(select(Presence)).scalars().all()
    assert len(left) == 1  # ours went with the composer; lin's expires on its own


async def test_an_approver_reviews_edits_approves_and_rejects(
    sqlite_db: Database, http_server
) -> None:
    http_server.add(
        "/api/v1/statuses", method="POST", json={"id": "9", "url": "https://x.social/@acme/9"}
    )
    conversation = seed(sqlite_db, url=http_server.url)
    services.create_role(sqlite_db, "pr", actor="admin")
    services.create_agent(sqlite_db, "lin", "Lin", actor="admin")
    save_template(
        sqlite_db, TemplateSpec(name="risky", body="So sorry", requires_approval=True), actor="a"
    )
    first = queue_reply(sqlite_db, conversation, actor="lin", templates=["risky"])
    async with running(sqlite_db) as (app, pilot):  # tester is no approver yet
        await open_composer(app, pilot)
        assert label(app, "#presence") == "a reply by lin awaits approval"
        assert body(app) == ""
        await pilot.press("escape")
        await settle(pilot, app)
    with sqlite_db.write() as session:
        pr = session.execute(select(Role.id).where(Role.name == "pr")).scalar_one()
        tester = session.execute(select(Agent.id).where(Agent.handle == "tester")).scalar_one()
        session.add(AgentRole(agent_id=tester, role_id=pr))
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        assert label(app, "#mode").startswith(f"Review: reply {first.outbox_id} by lin awaits")
        assert body(app) == "So sorry"
        await pilot.press(*", Grace.", "ctrl+s")
        await settle(pilot, app)
        assert f"outbox reply {first.outbox_id} approved and queued" in messages(app)
        assert "outbox 1: sent https://x.social/@acme/9" in messages(app)

        second = queue_reply(sqlite_db, conversation, actor="lin", templates=["risky"])
        await open_composer(app, pilot)
        await pilot.press("ctrl+r", *"not now", "ctrl+s")
        await settle(pilot, app)
        assert f"outbox reply {second.outbox_id} rejected" in messages(app)
    (request,) = http_server.requests_to("/api/v1/statuses")
    assert "So+sorry%2C+Grace." in request.body.decode()
    with sqlite_db.read() as session:
        states = dict(session.execute(select(OutboxReply.id, OutboxReply.state)).all())
        assert states == {first.outbox_id: "sent", second.outbox_id: "rejected"}
        assert load_draft(sqlite_db, conversation, "tester") is None  # a review is no draft


async def test_the_mastodon_limit_is_the_instances(sqlite_db: Database, http_server) -> None:
    """No `max_characters` option: the counter asks the instance (`/api/v2/instance`)."""
    http_server.add(
        "/api/v2/instance",
        json={"domain": "example.social", "configuration": {"statuses": {"max_characters": 1000}}},
    )
    seed(sqlite_db, url=http_server.url)
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        await pilot.press(*"hello")
        await settle(pilot, app)
        assert label(app, "#counter") == "5/1000 characters"
    assert len(http_server.requests_to("/api/v2/instance")) == 1


async def test_an_instance_that_cannot_say_leaves_the_default(
    sqlite_db: Database, http_server
) -> None:
    http_server.add("/api/v2/instance", status=503)
    seed(sqlite_db, url=http_server.url)
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        await pilot.press(*"hi")
        await settle(pilot, app)
        assert label(app, "#counter") == "2/500 characters"
