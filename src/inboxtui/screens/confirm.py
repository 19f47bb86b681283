"""Ask before something destructive or large: `y`/enter confirm, `n`/escape cancel.

The message is shown as plain, sanitised text (it may quote data). The buttons are for
the mouse only and never take focus, so enter always means yes.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from inboxtui.screens.picker import key_hint
from inboxtui.text import sanitize


class _MouseButton(Button, can_focus=False):
    """A button that leaves the keyboard to the screen's bindings."""


class ConfirmModal(ModalScreen[bool]):
    """-> True to go ahead, False to cancel."""

    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, message: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self._message = message
        self._yes = yes
        self._no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(sanitize(self._message)), id="message")
            with Horizontal(id="buttons"):
                yield _MouseButton(Text(self._yes), variant="primary", id="yes")
                yield _MouseButton(Text(self._no), id="no")
            yield Label(key_hint(("y/enter", "yes"), ("n/esc", "no")), id="hint")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")
