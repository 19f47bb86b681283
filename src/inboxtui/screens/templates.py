"""The Templates screen (`T`): list canned replies, edit, create and delete them.

It saves through `inboxtui.templates.save_template` and deletes through
`delete_template`, the same audited services as `inboxtui template ...`, so a
body with a bad placeholder is refused here exactly as on import: the form
shows the template/variant/line:column message and nothing is written.

Every database read and write runs in a thread worker. Names, bodies and tags
were typed by people (or imported from files): every cell and label is built
as plain `Text`, never markup.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from sqlalchemy import select
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import AwaitMount
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Label, Static, TextArea

from inboxtui.db import Database
from inboxtui.models import Template
from inboxtui.screens.confirm import ConfirmModal
from inboxtui.screens.picker import key_hint, plain
from inboxtui.services.errors import ServiceError
from inboxtui.templates import (
    DEFAULT_VARIANT,
    TemplateError,
    TemplateSpec,
    delete_template,
    list_templates,
    save_template,
)
from inboxtui.text import one_line, sanitize

COLUMNS = (
    ("Name", "name"),
    ("Shortcut", "shortcut"),
    ("Languages", "languages"),
    ("Kinds", "kinds"),
    ("Roles", "roles"),
    ("Used", "used"),
)


def joined(values: list[str]) -> str:
    return ", ".join(values)


def split_list(text: str) -> list[str]:
    """A comma field -> its non-empty items (the spec normalises case and duplicates)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def row_cells(spec: TemplateSpec) -> list[Text]:
    """One table row, every cell inert text."""
    return [
        plain(spec.name, 40),
        plain(spec.shortcut or "", 12),
        plain(joined([DEFAULT_VARIANT, *spec.variants]), 40),
        plain(joined(spec.kinds) or "all", 30),
        plain(joined(spec.roles) or "all", 30),
        Text(f"{spec.usage_count:,}", justify="right"),
    ]


def details(spec: TemplateSpec) -> Text:
    """The panel under the list: the selected template in full."""
    out = Text()
    out.append(sanitize(spec.name), "bold")
    if spec.shortcut:
        out.append(f"  [{sanitize(spec.shortcut)}]", "dim")
    out.append(f"  used {spec.usage_count:,} time(s)")
    if spec.requires_approval:
        out.append("  · needs approval", "yellow")
    out.append("\n")
    for label, values in (("tags", spec.tags), ("kinds", spec.kinds), ("roles", spec.roles)):
        if values:
            out.append(f"{label}: ", "dim")
            out.append(sanitize(joined(values)) + "\n")
    if spec.status:
        out.append("status on send: ", "dim")
        out.append(sanitize(spec.status) + "\n")
    for variant, body in spec.bodies().items():
        out.append(f"{sanitize(variant)}: ", "bold")
        out.append(sanitize(body) + "\n")
    return out


def _exists(db: Database, name: str) -> bool:
    with db.read() as session:
        found = session.execute(select(Template.id).where(Template.name == name)).first()
    return found is not None


@dataclass
class FormValues:
    """What the form holds, before `TemplateSpec.check` normalises it."""

    name: str
    shortcut: str
    body: str
    variants: list[tuple[str, str]] = field(default_factory=list)  # (language, body)
    roles: str = ""
    kinds: str = ""
    tags: str = ""
    status: str = ""
    requires_approval: bool = False

    @classmethod
    def of(cls, spec: TemplateSpec) -> FormValues:
        return cls(
            name=spec.name,
            shortcut=spec.shortcut or "",
            body=spec.body,
            variants=list(spec.variants.items()),
            roles=joined(spec.roles),
            kinds=joined(spec.kinds),
            tags=joined(spec.tags),
            status=spec.status or "",
            requires_approval=spec.requires_approval,
        )

    def spec(self) -> TemplateSpec:
        """The spec to save; a variant whose body is cleared is removed.

        Raises `TemplateError` for a variant body without a language.
        """
        variants: dict[str, str] = {}
        for number, (lang, body) in enumerate(self.variants, 1):
            lang = lang.strip()
            if not body.strip():
                continue
            if not lang:
                raise TemplateError(
                    f"template '{self.name.strip()}': variant #{number} has a body but no "
                    "language (like en, zh-Hant, pt-BR)"
                )
            if lang in variants:
                raise TemplateError(
                    f"template '{self.name.strip()}': variant {lang} is there twice"
                )
            variants[lang] = body
        return TemplateSpec(
            name=self.name.strip(),
            body=self.body,
            shortcut=self.shortcut.strip() or None,
            variants=variants,
            roles=split_list(self.roles),
            kinds=split_list(self.kinds),
            tags=split_list(self.tags),
            status=self.status.strip() or None,
            requires_approval=self.requires_approval,
        )


class TemplateForm(Screen[str | None]):
    """Edit one template (or a new one) -> the saved name, or None when left unsaved."""

    CSS_PATH = "templates.tcss"
    AUTO_FOCUS = "#name"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="template_form.save", priority=True),
        Binding("ctrl+l", "add_variant", "Add language", id="template_form.variant", priority=True),
        Binding("escape", "close", "Back", id="template_form.back"),
    ]

    def __init__(self, db: Database, agent: str, original: TemplateSpec | None) -> None:
        super().__init__()
        self.db = db
        self.agent = agent
        self.original = original
        self.initial = FormValues.of(original) if original else FormValues("", "", "")
        self.variant_count = 0
        self.saving = False

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        values = self.initial
        with VerticalScroll(id="form"):
            with Horizontal(classes="row"):
                yield Label("Name", classes="field-label")
                yield Input(values.name, id="name", placeholder="one word, like refund")
                yield Label("Shortcut", classes="field-label")
                yield Input(values.shortcut, id="shortcut", placeholder="like rf")
            yield Label("Body (default language)  ·  {author.name} {agent.name} {topic}…")
            yield TextArea(values.body, id="body", soft_wrap=True)
            yield VerticalScroll(id="variants")
            yield Label(key_hint(("ctrl+l", "add a language variant (clear its body to drop it)")))
            for key, label, value, hint in (
                ("roles", "Roles", values.roles, "who may use it; empty: everyone"),
                ("kinds", "Kinds", values.kinds, "source kinds; empty: all"),
                ("tags", "Tags", values.tags, "tags added on send"),
                ("status", "Status", values.status, "status on send: pending, resolved…"),
            ):
                with Horizontal(classes="row"):
                    yield Label(label, classes="field-label")
                    yield Input(value, id=key, placeholder=hint)
            yield Checkbox("Requires approval", values.requires_approval, id="approval")
        yield Label("", id="error")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "inboxtui · Templates"
        self.sub_title = f"edit {sanitize(self.original.name)}" if self.original else "new template"
        self.query_one("#error", Label).display = False
        for lang, body in self.initial.variants:
            self._mount_variant(lang, body)

    def _mount_variant(self, lang: str, body: str) -> tuple[Input, AwaitMount]:
        number = self.variant_count
        self.variant_count += 1
        language = Input(lang, id=f"variant-lang-{number}", placeholder="en, zh-Hant, pt-BR")
        mounted = self.query_one("#variants", VerticalScroll).mount(
            Horizontal(Label("Language", classes="field-label"), language, classes="row"),
            TextArea(body, id=f"variant-body-{number}", soft_wrap=True, classes="variant"),
        )
        return language, mounted

    async def action_add_variant(self) -> None:
        language, mounted = self._mount_variant("", "")
        await mounted
        language.focus()

    def values(self) -> FormValues:
        def text(selector: str) -> str:
            return self.query_one(selector, Input).value

        return FormValues(
            name=text("#name"),
            shortcut=text("#shortcut"),
            body=self.query_one("#body", TextArea).text,
            variants=[
                (
                    text(f"#variant-lang-{n}"),
                    self.query_one(f"#variant-body-{n}", TextArea).text,
                )
                for n in range(self.variant_count)
            ],
            roles=text("#roles"),
            kinds=text("#kinds"),
            tags=text("#tags"),
            status=text("#status"),
            requires_approval=self.query_one("#approval", Checkbox).value,
        )

    def show_error(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(Text(message))
        error.display = bool(message)

    def action_save(self) -> None:
        if self.saving:
            return
        try:
            spec = self.values().spec()
        except TemplateError as exc:
            self.show_error(str(exc))
            return
        self.saving = True
        self.show_error("")
        self._save_worker(spec, self.original.name if self.original else None)

    @work(thread=True, exit_on_error=False, group="template-save")
    def _save_worker(self, spec: TemplateSpec, old_name: str | None) -> None:
        try:
            spec.check()  # before the name test: the name is normalised here
            if spec.name != old_name and _exists(self.db, spec.name):
                raise TemplateError(
                    f"template '{spec.name}' already exists: pick another name (or edit that one)"
                )
            save_template(self.db, spec, actor=self.agent)
            if old_name is not None and old_name != spec.name:
                delete_template(self.db, old_name, actor=self.agent)  # a rename
        except ServiceError as exc:
            message = str(exc)
        except Exception as exc:  # the database went away: say so, keep the form
            message = f"not saved ({type(exc).__name__}: {exc}); try again"
        else:
            message = ""
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._saved, spec.name, message)

    def _saved(self, name: str, message: str) -> None:
        self.saving = False
        if message:
            self.show_error(message)
            return
        self.app.notify(f"template {sanitize(name)} saved", markup=False)
        self.dismiss(name)

    def action_close(self) -> None:
        if self.saving:
            return
        if self.values() == self.initial:
            self.dismiss(None)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmModal("Leave without saving? Your changes are lost.", yes="Leave"), answered
        )


class TemplatesScreen(Screen[None]):
    """Every template with its usage; `enter`/`e` edit, `n` new, `d` delete."""

    CSS_PATH = "templates.tcss"
    AUTO_FOCUS = "#templates"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit", "Edit", id="templates.edit"),
        Binding("n", "new", "New", id="templates.new"),
        Binding("d", "delete", "Delete", id="templates.delete"),
        Binding("j", "down", "Next template", show=False, id="templates.down"),
        Binding("k", "up", "Previous template", show=False, id="templates.up"),
        Binding("r", "reload", "Refresh", id="templates.refresh"),
        Binding("escape,q", "close", "Back", key_display="esc", id="templates.back"),
    ]

    def __init__(self, db: Database, agent: str, *, db_label: str | None = None) -> None:
        super().__init__()
        self.db = db
        self.agent = agent
        self.db_label = db_label or db.display_name
        self.specs: list[TemplateSpec] = []
        self._loads = 0  # the newest load's number: an older answer is dropped
        self._keep: str | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        yield DataTable(id="templates", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="panel-scroll"):
            yield Static(id="panel")
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#templates", DataTable)

    @property
    def current(self) -> TemplateSpec | None:
        row = self.table.cursor_row
        return self.specs[row] if 0 <= row < len(self.specs) else None

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.table.add_column(label, key=key)
        self.title = "inboxtui · Templates"
        self.sub_title = self.db_label
        self.load()

    def say(self, message: str, severity: str = "information") -> None:
        self.app.notify(message, severity=severity, markup=False)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ loading

    def load(self, keep: str | None = None) -> None:
        """Re-read every template; the cursor stays on `keep` (default: the current one)."""
        self._keep = keep or (self.current.name if self.current else None)
        self._loads += 1
        self._load_worker(self._loads)

    @work(thread=True, exclusive=True, exit_on_error=False, group="templates-load")
    def _load_worker(self, number: int) -> None:
        try:
            specs, error = list_templates(self.db), None
        except Exception as exc:  # a database failure: said plainly, the screen stays
            specs, error = None, f"could not read the templates: {exc}"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._loaded, number, specs, error)

    def _loaded(self, number: int, specs: list[TemplateSpec] | None, error: str | None) -> None:
        if number != self._loads:
            return
        if error is not None or specs is None:
            self.say(error or "could not read the templates", "error")
            return
        self.specs = specs
        table = self.table
        table.clear()
        for spec in specs:
            table.add_row(*row_cells(spec), key=spec.name)
        names = [s.name for s in specs]
        if self._keep in names:
            table.move_cursor(row=names.index(self._keep), animate=False)
        self.sub_title = f"{self.db_label} · {len(specs)} template{'s' * (len(specs) != 1)}"
        self._show_panel()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_panel()

    def _show_panel(self) -> None:
        spec = self.current
        if spec is None:
            text = Text("No templates yet: n creates one, `inboxtui template import FILE` many.")
        else:
            text = details(spec)
        self.query_one("#panel", Static).update(text)

    # ------------------------------------------------------------------ actions

    def action_down(self) -> None:
        self.table.action_cursor_down()

    def action_up(self) -> None:
        self.table.action_cursor_up()

    def action_reload(self) -> None:
        self.load()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_edit()

    def _open_form(self, spec: TemplateSpec | None) -> None:
        def done(name: str | None) -> None:
            if name is not None:
                self.load(keep=name)

        self.app.push_screen(TemplateForm(self.db, self.agent, spec), done)

    def action_edit(self) -> None:
        if self.current is not None:
            self._open_form(self.current)

    def action_new(self) -> None:
        self._open_form(None)

    def action_delete(self) -> None:
        spec = self.current
        if spec is None:
            return
        name = spec.name

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete_worker(name)

        used = f" (used {spec.usage_count:,} times)" if spec.usage_count else ""
        self.app.push_screen(
            ConfirmModal(f"Delete template {one_line(name, 60)}{used}?", yes="Delete"), answered
        )

    @work(thread=True, exit_on_error=False, group="templates-delete")
    def _delete_worker(self, name: str) -> None:
        try:
            delete_template(self.db, name, actor=self.agent)
        except ServiceError as exc:
            message, severity = str(exc), "error"
        except Exception as exc:
            message, severity = f"not deleted ({type(exc).__name__}: {exc})", "error"
        else:
            message, severity = f"template {sanitize(name)} deleted", "information"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._deleted, message, severity)

    def _deleted(self, message: str, severity: str) -> None:
        self.say(message, severity)
        self.load()

    def action_close(self) -> None:
        if self.app.screen is self:
            self.app.pop_screen()


__all__ = ["TemplateForm", "TemplatesScreen"]
