"""Set a conversation's priority: `1`-`4` at once, or arrows and enter."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from inboxtui.screens.picker import key_hint

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")


class PriorityModal(ModalScreen[str | None]):
    """-> "low" | "normal" | "high" | "urgent", or None on escape.

    Choosing the current priority returns it too; the caller decides whether
    that is a no-op.
    """

    CSS_PATH = "priority.tcss"
    AUTO_FOCUS = "#priorities"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="priority.cancel"),
        *(
            Binding(str(key), f"choose({key - 1})", name.capitalize(), id=f"priority.{name}")
            for key, name in enumerate(PRIORITIES, 1)
        ),
    ]

    def __init__(self, current: str) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text("Priority"), id="title")
            yield OptionList(
                *(
                    Option(
                        Text.assemble(
                            (str(key), "bold"),
                            f"  {name:<8}",
                            ("✓ current" if name == self._current else "", "dim"),
                        ),
                        id=name,
                    )
                    for key, name in enumerate(PRIORITIES, 1)
                ),
                id="priorities",
                markup=False,
            )
            yield Label(
                key_hint(("1-4", "set"), ("enter", "choose"), ("esc", "cancel")),
                id="hint",
            )

    def on_mount(self) -> None:
        if self._current in PRIORITIES:
            self.query_one("#priorities", OptionList).highlighted = PRIORITIES.index(self._current)

    def action_choose(self, index: int) -> None:
        self.dismiss(PRIORITIES[index])

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected, "#priorities")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose(event.option_index)
