"""Write an internal note: a multi-line box where enter is a newline and ctrl+s saves."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea

from inboxtui.screens.picker import key_hint


class NoteModal(ModalScreen[str | None]):
    """-> the note (surrounding blank space trimmed), or None on escape."""

    CSS_PATH = "note.tcss"
    AUTO_FOCUS = "#note"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="note.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="note.cancel"),
    ]

    def __init__(self, title: str = "Internal note") -> None:
        super().__init__()
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self._title), id="title")
            yield TextArea(id="note", soft_wrap=True, show_line_numbers=False)
            yield Label(id="error")
            yield Label(
                key_hint(("ctrl+s", "save"), ("enter", "new line"), ("esc", "cancel")),
                id="hint",
            )

    def on_mount(self) -> None:
        self._set_error("")

    def _set_error(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(Text(message))
        error.display = bool(message)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._set_error("")

    def action_save(self) -> None:
        text = self.query_one("#note", TextArea).text.strip()
        if not text:
            self._set_error("the note is empty")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
