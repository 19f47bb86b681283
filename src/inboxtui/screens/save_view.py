"""Save the current filter as a view: a name, and whether the team sees it too."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label

from inboxtui.screens.picker import key_hint
from inboxtui.services.views import MAX_NAME


class SaveViewModal(ModalScreen[tuple[str, bool] | None]):
    """-> (name, shared with the team), or None on escape."""

    CSS_PATH = "save_view.tcss"
    AUTO_FOCUS = "#name"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save_view.cancel"),
        Binding("ctrl+t", "toggle_team", "Team", id="save_view.team", priority=True),
    ]

    def __init__(self, query: str, name: str = "") -> None:
        super().__init__()
        self.query_text = query
        self.initial_name = name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text("Save the filter as a view"), id="title")
            yield Label(Text(self.query_text), id="query")
            yield Input(self.initial_name, placeholder="name", max_length=MAX_NAME, id="name")
            yield Checkbox("share with the team", id="team")
            yield Label(id="error")
            yield Label(
                key_hint(("enter", "save"), ("ctrl+t", "team / mine"), ("esc", "cancel")),
                id="hint",
            )

    def on_mount(self) -> None:
        self._set_error("")

    def _set_error(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(Text(message))
        error.display = bool(message)

    def on_input_changed(self) -> None:
        self._set_error("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if not name:
            self._set_error("a view needs a name")
            return
        self.dismiss((name, self.query_one("#team", Checkbox).value))

    def action_toggle_team(self) -> None:
        self.query_one("#team", Checkbox).toggle()

    def action_cancel(self) -> None:
        self.dismiss(None)
