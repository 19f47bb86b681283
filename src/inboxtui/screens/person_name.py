"""Name a person (`n` on the profile): one line, enter saves, esc cancels.

The name is checked by the service (unique in any case); its refusal is shown
as a notification by the profile screen, the box already closed.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from inboxtui.person_names import MAX_NAME, clean_person_name
from inboxtui.screens.picker import key_hint


class PersonNameModal(ModalScreen[str | None]):
    """-> the new name (cleaned), or None on escape."""

    AUTO_FOCUS = "#name"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="person_name.cancel"),
    ]
    DEFAULT_CSS = """
    PersonNameModal { align: center middle; }
    PersonNameModal > #dialog {
        width: 60; max-width: 100%; height: auto; padding: 0 1;
        border: round $accent; background: $surface;
    }
    PersonNameModal #title { text-style: bold; width: 100%; padding-bottom: 1; }
    PersonNameModal #error { color: $text-error; width: 100%; }
    PersonNameModal #hint { color: $text-muted; width: 100%; padding-top: 1; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text("Name this person"), id="title")
            yield Input(value=clean_person_name(self._current), max_length=MAX_NAME, id="name")
            yield Label(id="error")
            yield Label(key_hint(("enter", "save"), ("esc", "cancel")), id="hint")

    def on_mount(self) -> None:
        self.query_one("#error", Label).display = False

    @on(Input.Submitted, "#name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = clean_person_name(event.value)
        if not name:
            error = self.query_one("#error", Label)
            error.update(Text("type a name"))
            error.display = True
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
