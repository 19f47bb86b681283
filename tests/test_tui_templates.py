"""The Templates screen (`T`), driven by keys in the real (headless) app, checked in the DB."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from sqlalchemy import select
from test_composer import body, open_composer
from test_composer import seed as composer_seed
from test_tui_helpers import fill, messages, running, settle
from textual.widgets import Checkbox, DataTable, Input, Label, TextArea

from inboxtui import services
from inboxtui.app import InboxApp
from inboxtui.db import Database
from inboxtui.models import Event
from inboxtui.presence import leave, touch
from inboxtui.screens.composer import ComposerScreen, TemplatePicker
from inboxtui.screens.confirm import ConfirmModal
from inboxtui.screens.templates import TemplateForm, TemplatesScreen
from inboxtui.templates import TemplateSpec, list_templates, save_template

HOSTILE = "[bold]boom[/bold]\x1b[31m"


def seed(db: Database) -> None:
    services.create_agent(db, "tester", "Tess", actor="system:test")
    save_template(
        db,
        TemplateSpec(
            name="refund",
            shortcut="rf",
            body="Hi {author.name}, about {topic}.",
            variants={"zh-Hant": "{author.name} 您好。"},
            kinds=["mastodon"],
            roles=["support"],
        ),
        actor="admin",
    )
    save_template(db, TemplateSpec(name=HOSTILE, body="[red]not markup[/red]"), actor="admin")


def stored(db: Database) -> dict[str, TemplateSpec]:
    return {spec.name: spec for spec in list_templates(db)}


def audit_actions(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.execute(select(Event.action).order_by(Event.id)).scalars())


async def open_templates(app: InboxApp, pilot) -> TemplatesScreen:
    await pilot.press("T")
    await settle(pilot, app)
    assert isinstance(app.screen, TemplatesScreen)
    return app.screen


def cells(screen: TemplatesScreen) -> list[list[str]]:
    table = screen.query_one("#templates", DataTable)
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


def pick_row(screen: TemplatesScreen, name: str) -> None:
    screen.query_one("#templates", DataTable).move_cursor(
        row=[s.name for s in screen.specs].index(name)
    )


def form(app: InboxApp) -> TemplateForm:
    assert isinstance(app.screen, TemplateForm)
    return app.screen


def error_text(app: InboxApp) -> str:
    label = app.screen.query_one("#error", Label)
    return str(label.render()) if label.display else ""


async def test_the_list_shows_templates_inert(sqlite_db: Database) -> None:
    seed(sqlite_db)
    async with running(sqlite_db) as (app, pilot):
        screen = await open_templates(app, pilot)
        rows = cells(screen)
        assert ["refund", "rf", "default, zh-Hant", "mastodon", "support", "0"] in rows
        assert ["[bold]boom[/bold]", "", "default", "all", "all", "0"] in rows  # inert
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.inbox


async def test_edit_and_save_changes_the_database(db: Database) -> None:
    seed(db)
    async with running(db) as (app, pilot):
        screen = await open_templates(app, pilot)
        pick_row(screen, "refund")
        await pilot.press("enter")
        await settle(pilot, app)
        editor = form(app)
        assert editor.query_one("#variant-body-0", TextArea).text == "{author.name} 您好。"
        editor.query_one("#body", TextArea).focus()
        await pilot.pause()
        await pilot.press("end", *" Thanks!")
        editor.query_one("#tags", Input).value = "Refund, VIP"
        editor.query_one("#approval", Checkbox).value = True
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert app.screen is screen
        saved = stored(db)["refund"]
        assert saved.body == "Hi {author.name}, about {topic}. Thanks!"
        assert saved.tags == ["refund", "vip"]
        assert saved.requires_approval
        assert saved.variants == {"zh-Hant": "{author.name} 您好。"}
        assert audit_actions(db)[-1] == "template.update"
        assert "template refund saved" in messages(app)


async def test_a_bad_placeholder_is_shown_inline_and_nothing_is_saved(
    sqlite_db: Database,
) -> None:
    seed(sqlite_db)
    before = stored(sqlite_db)
    async with running(sqlite_db) as (app, pilot):
        screen = await open_templates(app, pilot)
        pick_row(screen, "refund")
        await pilot.press("e")
        await settle(pilot, app)
        editor = form(app)
        editor.query_one("#body", TextArea).load_text("Hi\n  {author.nmae}")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        message = error_text(app)
        assert message.startswith(
            "template 'refund', variant default, line 2 column 3: unknown placeholder"
        )
        assert isinstance(app.screen, TemplateForm)  # the form and the text stay

        editor.query_one("#body", TextArea).load_text("fine {topic}")
        editor.query_one("#variant-body-0", TextArea).load_text("ok\n{x}}")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert error_text(app).startswith("template 'refund', variant zh-Hant, line 2 column 4")
        assert stored(sqlite_db) == before

        await pilot.press("escape")  # changed: asks before dropping them
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot, app)
        assert app.screen is screen
        assert stored(sqlite_db) == before


async def test_new_template_with_a_language_variant(sqlite_db: Database) -> None:
    seed(sqlite_db)
    async with running(sqlite_db) as (app, pilot):
        await open_templates(app, pilot)
        await pilot.press("n")
        await settle(pilot, app)
        editor = form(app)
        await pilot.press(*"refund")  # the name field has focus; this name is taken
        editor.query_one("#body", TextArea).load_text("Thanks, {author.name}!")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert "template 'refund' already exists" in error_text(app)
        assert stored(sqlite_db)["refund"].body == "Hi {author.name}, about {topic}."

        editor.query_one("#name", Input).value = "thanks"
        await pilot.press("ctrl+l")  # a language variant: its language field gets focus
        await pilot.pause()
        await pilot.press(*"pt-BR")
        editor.query_one("#variant-body-0", TextArea).load_text("Obrigado, {author.name}!")
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, TemplatesScreen)
        created = stored(sqlite_db)["thanks"]
        assert created.body == "Thanks, {author.name}!"
        assert created.variants == {"pt-BR": "Obrigado, {author.name}!"}
        assert app.screen.current is not None and app.screen.current.name == "thanks"


async def test_delete_asks_first(sqlite_db: Database) -> None:
    seed(sqlite_db)
    async with running(sqlite_db) as (app, pilot):
        screen = await open_templates(app, pilot)
        pick_row(screen, "refund")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot, app)
        assert "refund" in stored(sqlite_db)

        await pilot.press("d", "y")
        await settle(pilot, app)
        assert "refund" not in stored(sqlite_db)
        assert [row[0] for row in cells(screen)] == ["[bold]boom[/bold]"]
        assert audit_actions(sqlite_db)[-1] == "template.delete"


async def test_slash_on_an_empty_reply_opens_the_template_picker(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOXTUI_SECRET_ACME_MASTO", "token-1")
    composer_seed(sqlite_db)
    async with running(sqlite_db) as (app, pilot):
        await open_composer(app, pilot)
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.screen, TemplatePicker)
        await pilot.press(*"signoff", "enter")
        await settle(pilot, app)
        assert body(app) == "— the Acme team"
        await pilot.press("slash", "x")  # the reply is not empty: `/` is text
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert body(app) == "— the Acme team/x"

        app.screen.query_one("#body", TextArea).load_text("")
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press("escape")  # no template: the `/` stays typed, as in chat apps
        await pilot.pause()
        await pilot.press(*"help")
        assert body(app) == "/help"


def line_text(app: InboxApp, y: int) -> str:
    return "".join(segment.text for segment in app.inbox.queue.render_line(y))


async def test_queue_rows_show_who_is_replying(sqlite_db: Database) -> None:
    fill(sqlite_db, 6)
    async with running(sqlite_db) as (app, pilot):
        queue = app.inbox.queue
        first, second = queue.row_at(0), queue.row_at(1)
        assert first is not None and second is not None
        before = line_text(app, 0)
        touch(sqlite_db, first.id, "alice")
        queue.refresh_presence()
        await settle(pilot, app)
        shown = line_text(app, 0)
        assert "✎Alice " in shown and "✎" not in line_text(app, 1)
        assert cell_len(shown) == cell_len(before)  # the columns keep their places

        leave(sqlite_db, first.id, "alice")
        queue.refresh_presence()
        await settle(pilot, app)
        assert line_text(app, 0) == before
